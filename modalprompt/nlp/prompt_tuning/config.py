"""Vanilla prompt tuning's configuration (registered as ``prompt_tuning``)."""

from __future__ import annotations

from dataclasses import dataclass

from modalprompt.core.config import (
    ConfigError,
    PromptConfig,
    check_bool,
    check_choice,
    check_int,
    check_sequence,
    check_type,
)
from modalprompt.core.registry import register_method

INITS = ("random", "vocab", "text")
TASKS = ("lm", "classification")
PLACEMENTS = ("before_text", "start")


@register_method(
    "prompt_tuning",
    domain="nlp",
    description="Vanilla prompt tuning: trainable soft tokens prepended to the input (Lester 2021)",
    model="modalprompt.nlp.prompt_tuning.model:PromptTuningModel",
    tiny_case="modalprompt.nlp.prompt_tuning.testing:tiny_case",
    extra="nlp",
    tiny={"num_virtual_tokens": 4, "task": "classification", "init": "vocab"},
)
@dataclass(kw_only=True)
class PromptTuningConfig(PromptConfig):
    """Vanilla prompt tuning (Lester et al., 2021) on any Hugging Face encoder, decoder or
    encoder-decoder model; the backbone is frozen.

    Args:
        num_virtual_tokens: ``n``, soft tokens prepended to the input (PEFT's name; paper: 5–150).
        init: ``"random"`` (normal with the std of the word embeddings; PEFT's RANDOM uses std 1),
            ``"vocab"`` (embeddings of ``n`` token ids drawn uniformly with ``seed``; PEFT's
            SAMPLE_VOCAB) or ``"text"`` (embeddings of ``init_text``'s tokens, repeated or
            truncated to ``n``; PEFT's TEXT).
        init_text: The text for ``init="text"``; tokenised with the ``tokenizer`` given to the
            model, which records the ids in ``init_token_ids``.
        init_token_ids: Token ids for ``init="text"`` (filled from ``init_text``, or given).
        task: ``"lm"`` (the backbone's own LM head and loss: masked, causal or seq2seq LM) or
            ``"classification"`` (a ``...ForSequenceClassification`` backbone; a trainable copy
            of its ``classifier``/``score`` head is trained with the prompt, as PEFT's SEQ_CLS).
        train_head: For ``"classification"``: train the head copy (False keeps it frozen).
        placement: Decoder-only backbones: ``"before_text"`` (virtual tokens right before each
            row's first real token; correct with left padding) or ``"start"`` (PEFT's layout).
    """

    num_virtual_tokens: int = 20
    init: str = "random"
    init_text: str | None = None
    init_token_ids: tuple[int, ...] | None = None
    task: str = "lm"
    train_head: bool = True
    placement: str = "before_text"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self, "num_virtual_tokens", minimum=1)
        check_choice(self, "init", INITS)
        if self.init_text is not None:
            check_type(self, "init_text", str)
        check_sequence(self, "init_token_ids", int, min_length=1, optional=True)
        if self.init == "text" and not self.init_text and self.init_token_ids is None:
            raise ConfigError(
                "PromptTuningConfig.init_text: init='text' needs a non-empty init_text "
                "(or init_token_ids)"
            )
        if self.init != "text" and (self.init_text is not None or self.init_token_ids):
            raise ConfigError(
                f"PromptTuningConfig.init: got {self.init!r}, but init_text/init_token_ids are "
                "only used with init='text'"
            )
        check_choice(self, "task", TASKS)
        check_bool(self, "train_head")
        check_choice(self, "placement", PLACEMENTS)
