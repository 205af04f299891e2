"""BayesPrompt's configuration (registered as ``bayesprompt``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modalprompt.core.config import (
    ConfigError,
    PromptConfig,
    check_choice,
    check_float,
    check_int,
)
from modalprompt.core.registry import register_method


@register_method(
    "bayesprompt",
    domain="nlp",
    description="Prompt rows from SVGD particles of a GMM of the target domain (BayesPrompt)",
    model="modalprompt.nlp.bayesprompt.model:BayesPromptModel",
    tiny_case="modalprompt.nlp.bayesprompt.testing:tiny_case",
    extra="nlp",
    tiny={
        "num_classes": 3,
        "vocab_size": 64,
        "mask_token_id": 4,
        "label_word_ids": [[5], [6, 7], [8]],
        "svgd_iterations": 20,
        "na_class": 0,
    },
)
@dataclass(kw_only=True)
class BayesPromptConfig(PromptConfig):
    """BayesPrompt (Li et al., ICLR 2024, arXiv:2401.14166) on KnowPrompt-style relation
    extraction with a masked LM (or a causal LM, the answer slot last); the whole model is
    fine-tuned, as in the official code.

    Args:
        num_classes: Relations ``K`` (one virtual answer token each).
        vocab_size: The backbone's vocabulary size ``V``; the added tokens get ids ``V..``.
        mask_token_id: The tokenizer's mask token id (defaults are RoBERTa's); None for a causal
            LM, whose answer slot is the next token after the prompt (no mask token).
        label_word_ids: Per relation, the token ids whose mean embedding initialises its answer
            token (see :meth:`from_relations`); None starts them at the mean embedding.
        na_class: Id of the "no relation" class (``Other`` in SemEval), excluded from micro-F1;
            None scores every class.
        svgd_iterations / svgd_step: SVGD schedule (official: 1000, 0.01).
        gmm_reg_covar: Added to the GMM covariance diagonals (official: 0.1).
        num_components: GMM components; None = ``min(#domain features, K)`` (official).
        collection_epochs: Plain KnowPrompt epochs before the particles are computed (official: 1).
        num_samples: Particles averaged per prompt vector; None = ``min(#particles, K)``.
        eval_mode: ``"sample"`` (official: a fresh draw per batch; here seeded, so repeatable) or
            ``"mean"`` (the average of all particles).
    """

    num_classes: int = 19
    vocab_size: int = 50265
    mask_token_id: int | None = 50264
    label_word_ids: tuple[tuple[int, ...], ...] | None = None
    na_class: int | None = 0
    svgd_iterations: int = 1000
    svgd_step: float = 0.01
    gmm_reg_covar: float = 0.1
    num_components: int | None = None
    collection_epochs: int = 1
    num_samples: int | None = None
    eval_mode: str = "sample"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self, "num_classes", minimum=2)
        check_int(self, "vocab_size", minimum=1)
        check_int(self, "mask_token_id", minimum=0, maximum=self.vocab_size - 1, optional=True)
        if self.label_word_ids is not None:
            words = self.label_word_ids
            if (
                not isinstance(words, list | tuple)
                or len(words) != self.num_classes
                or not all(
                    isinstance(w, list | tuple)
                    and w
                    and all(isinstance(i, int) and 0 <= i < self.vocab_size for i in w)
                    for w in words
                )
            ):
                raise ConfigError(
                    f"BayesPromptConfig.label_word_ids: got {words!r}; expected {self.num_classes} "
                    f"non-empty lists of token ids below vocab_size={self.vocab_size}"
                )
            self.label_word_ids = tuple(tuple(w) for w in words)
        check_int(self, "na_class", minimum=0, maximum=self.num_classes - 1, optional=True)
        check_int(self, "svgd_iterations", minimum=0)
        check_float(self, "svgd_step", minimum=0.0, inclusive=False)
        check_float(self, "gmm_reg_covar", minimum=0.0, inclusive=False)
        check_int(self, "num_components", minimum=1, optional=True)
        check_int(self, "collection_epochs", minimum=1)
        check_int(self, "num_samples", minimum=1, optional=True)
        check_choice(self, "eval_mode", ("sample", "mean"))

    @classmethod
    def from_relations(
        cls, rel2id: Mapping[str, int], tokenizer: Any, **overrides: Any
    ) -> BayesPromptConfig:
        """Config for the relations of ``rel2id``: answer tokens initialised from their names
        (:func:`~modalprompt.nlp.bayesprompt.relations.relation_label_words`). Pass the
        backbone's tokenizer before any tokens were added to it."""
        from modalprompt.nlp.bayesprompt.relations import relation_label_words

        ordered = sorted(rel2id, key=rel2id.get)
        words = [
            tuple(tokenizer(relation_label_words(r), add_special_tokens=False)["input_ids"])
            for r in ordered
        ]
        na = next((rel2id[n] for n in ("Other", "no_relation", "NA") if n in rel2id), None)
        return cls(
            num_classes=len(ordered),
            vocab_size=len(tokenizer),
            label_word_ids=words,
            na_class=na,
            mask_token_id=tokenizer.mask_token_id,
            **overrides,
        )
