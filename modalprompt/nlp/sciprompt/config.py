"""SciPrompt's configuration (registered as ``sciprompt``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from modalprompt.core.config import (
    ConfigError,
    PromptConfig,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_sequence,
    check_type,
)
from modalprompt.core.registry import register_method
from modalprompt.nlp.prompt_finetune.config import check_label_words
from modalprompt.nlp.templates import parse_template

__all__ = ["SciPromptConfig"]

TEMPLATE = "The field of this study is related to : {mask} . {text_a}"


@register_method(
    "sciprompt",
    domain="nlp",
    description="Knowledge-augmented weighted verbalizer with calibration and pruning (SciPrompt)",
    model="modalprompt.nlp.sciprompt.model:SciPromptModel",
    tiny_case="modalprompt.nlp.sciprompt.testing:tiny_case",
    extra="nlp",
)
@dataclass(kw_only=True)
class SciPromptConfig(PromptConfig):
    """SciPrompt (You et al., EMNLP 2024): prompt-based classification of scientific text with
    retrieved, filtered label terms per class, aggregated by trainable score-initialised weights;
    calibrated by the [MASK] prior over a support set, which also prunes improbable terms (KPT).

    Args:
        template: Template in :mod:`modalprompt.nlp.templates` syntax (official:
            ``The field of this study is related to: {mask}. {text_a}``).
        label_words: Per class (label order), its label terms; the official files put the class
            name first (see :func:`~modalprompt.nlp.sciprompt.terms.read_label_terms` and
            :meth:`from_terms`).
        label_word_scores: Per class, one correlation score per term (initial weights ``α``);
            None gives every term weight 1.
        class_names: Optional name per class (label order), used in reports and errors.
        tokenizer: Hub name or local folder of the tokenizer; None means the model is given
            ``tokenizer=``.
        verbalizer: ``"weighted"`` (SciPrompt) or ``"soft"`` (SciPrompt-Soft: a new
            ``Linear(hidden, C)`` head initialised from score-weighted term embeddings).
        zero_shot: True: nothing trains (backbone and weights frozen); calibrate, then predict.
        freeze_backbone: False: full prompt-based fine-tuning (official); True: only the
            verbalizer (weights or soft head) trains.
        train_weights: Whether ``α`` is trainable (paper: yes; the official scripts give its
            optimizer lr 0, i.e. they stay at the scores).
        weight_lr: Learning rate of the verbalizer's parameters; None uses the trainer's lr.
        calibrate: Use contextual calibration after :meth:`SciPromptModel.calibrate`.
        candidate_frac: Pruning: terms with a sub-token in this bottom fraction of the
            vocabulary's prior logits are removed at calibration (0.5; 0 disables pruning).
        drop_unmappable: True drops terms the tokenizer maps to [UNK] or to nothing (counted in
            ``model.dropped_terms``); False raises on them.
        multi_token: Sub-token handler of multi-token terms (``mean``, official).
        term_scoring: How a term is scored: ``"mask_logits"`` (official, KPT's rule: its
            sub-tokens' logits at the one answer position, combined by ``multi_token``) or
            ``"teacher_forced"`` (causal LMs, zero-shot only: the term's exact log-probability as
            the continuation of the template, every sub-token conditioned on the ones before it;
            each example runs once and every kept term from its KV cache, so the cost grows with
            the terms' total length; see ``benchmarks/text_mlm.py`` for what it changes).
        pred_temp: Temperature on ``α`` at evaluation (1.0).
        max_length: Tokens per example including special tokens (official 256).
    """

    template: str = TEMPLATE
    label_words: tuple[tuple[str, ...], ...] = (("computer", "software"), ("chemistry",))
    label_word_scores: tuple[tuple[float, ...], ...] | None = None
    class_names: tuple[str, ...] | None = None
    tokenizer: str | None = None
    verbalizer: str = "weighted"
    zero_shot: bool = False
    freeze_backbone: bool = False
    train_weights: bool = True
    weight_lr: float | None = None
    calibrate: bool = True
    candidate_frac: float = 0.5
    drop_unmappable: bool = True
    multi_token: str = "mean"
    term_scoring: str = "mask_logits"
    pred_temp: float = 1.0
    max_length: int = 256

    def __post_init__(self) -> None:
        super().__post_init__()
        name = type(self).__name__
        check_type(self, "template", str)
        try:
            parse_template(self.template)
        except ValueError as err:
            raise ConfigError(f"{name}.template: {err}") from None
        check_label_words(self)
        self._check_scores()
        check_sequence(self, "class_names", str, optional=True)
        if self.class_names is not None and len(self.class_names) != len(self.label_words):
            raise ConfigError(
                f"{name}.class_names: {len(self.class_names)} names for "
                f"{len(self.label_words)} classes of label_words"
            )
        check_type(self, "tokenizer", (str, type(None)))
        check_choice(self, "verbalizer", ("weighted", "soft"))
        for flag in ("zero_shot", "freeze_backbone", "train_weights", "calibrate"):
            check_bool(self, flag)
        check_bool(self, "drop_unmappable")
        check_float(self, "weight_lr", minimum=0.0, optional=True)
        check_float(self, "candidate_frac", minimum=0.0, maximum=1.0)
        if self.candidate_frac >= 1.0:
            raise ConfigError(f"{name}.candidate_frac: got 1.0; expected a value in [0, 1)")
        check_choice(self, "multi_token", ("first", "mean", "max"))
        check_choice(self, "term_scoring", ("mask_logits", "teacher_forced"))
        if self.term_scoring == "teacher_forced" and not (
            self.zero_shot and self.verbalizer == "weighted"
        ):
            raise ConfigError(
                f"{name}.term_scoring: 'teacher_forced' scores terms without gradients, for a "
                "zero-shot weighted verbalizer (zero_shot=True, verbalizer='weighted'); got "
                f"zero_shot={self.zero_shot}, verbalizer={self.verbalizer!r}"
            )
        check_float(self, "pred_temp", minimum=0.0, inclusive=False)
        check_int(self, "max_length", minimum=3)
        if self.zero_shot and self.verbalizer == "soft":
            raise ConfigError(
                f"{name}.zero_shot: the soft verbalizer's head must be trained; use "
                "verbalizer='weighted' for zero-shot"
            )

    def _check_scores(self) -> None:
        scores = self.label_word_scores
        if scores is None:
            return
        name = f"{type(self).__name__}.label_word_scores"
        if not isinstance(scores, list | tuple) or len(scores) != len(self.label_words):
            raise ConfigError(
                f"{name}: expected one list of scores per class ({len(self.label_words)}), "
                f"got {scores!r}"
            )
        rows = []
        for c, (row, words) in enumerate(zip(scores, self.label_words)):
            ok = isinstance(row, list | tuple) and all(
                isinstance(s, int | float) and not isinstance(s, bool) and math.isfinite(s)
                for s in row
            )
            if not ok or len(row) != len(words):
                raise ConfigError(
                    f"{name}: class {c} has {len(words)} label words, so needs {len(words)} "
                    f"finite scores; got {row!r}"
                )
            rows.append(tuple(float(s) for s in row))
        self.label_word_scores = tuple(rows)

    @classmethod
    def from_terms(cls, terms: Any, **kwargs: Any) -> SciPromptConfig:
        """A config whose label words and scores are a
        :class:`~modalprompt.nlp.sciprompt.terms.LabelTerms`' terms and scores."""
        names = tuple(str(c) for c in terms.classes)
        kwargs.setdefault("class_names", names)
        return cls(label_words=terms.terms, label_word_scores=terms.scores, **kwargs)

    @property
    def num_classes(self) -> int:
        """Number of classes (``len(label_words)``)."""
        return len(self.label_words)
