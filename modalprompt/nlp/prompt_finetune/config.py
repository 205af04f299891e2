"""Configuration of plain prompt-based fine-tuning (registered as ``prompt_finetune``)."""

from __future__ import annotations

from dataclasses import dataclass

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
from modalprompt.nlp.templates import parse_template

__all__ = ["PromptFinetuneConfig", "check_label_words"]


def check_label_words(config: PromptConfig, name: str = "label_words") -> None:
    """Validate and normalise ``config.<name>`` to a tuple (one tuple of words per class)."""
    value = getattr(config, name)
    ok = isinstance(value, list | tuple) and len(value) >= 2
    rows: list[tuple[str, ...]] = []
    if ok:
        for row in value:
            words = (row,) if isinstance(row, str) else row
            if not isinstance(words, list | tuple) or not words:
                ok = False
                break
            if not all(isinstance(w, str) and w.strip() for w in words):
                ok = False
                break
            rows.append(tuple(words))
    if not ok:
        raise ConfigError(
            f"{type(config).__name__}.{name}: got {value!r}; expected at least 2 classes, each a "
            'non-empty list of non-empty words, e.g. [["terrible"], ["great"]]'
        )
    setattr(config, name, tuple(rows))


@register_method(
    "prompt_finetune",
    domain="nlp",
    description="Prompt-based fine-tuning: template + manual verbalizer on a masked LM (LM-BFF)",
    model="modalprompt.nlp.prompt_finetune.model:PromptFinetuneModel",
    tiny_case="modalprompt.nlp.prompt_finetune.testing:tiny_case",
    extra="nlp",
)
@dataclass(kw_only=True)
class PromptFinetuneConfig(PromptConfig):
    """Prompt-based fine-tuning (LM-BFF, Gao et al. 2021; PET): class logits are the masked LM's
    logits of the label words at the template's mask; cross-entropy over classes.

    Args:
        template: The template in :mod:`modalprompt.nlp.templates` syntax; exactly one
            ``{mask}`` (LM-BFF SST-2: ``"{text_a} It was {mask} ."``).
        label_words: Per class (in label order), its label words; several words per class are
            averaged (OpenPrompt ``ManualVerbalizer``).
        tokenizer: Hub name or local folder of the tokenizer; None means the model is given
            ``tokenizer=`` at construction (and at ``from_pretrained``).
        freeze_backbone: False: the whole masked LM is fine-tuned (LM-BFF / PCP). True: the
            backbone is frozen and only ``{soft}`` template tokens train (needs one).
        multi_token: How a multi-token label word is scored: ``first``, ``mean`` or ``max``.
        max_length: Tokens per example including special tokens (PCP: 128 single sentences,
            256 sentence pairs); text fields are truncated, never the template.
        lora_r: None: the whole backbone trains (LM-BFF). An integer: PEFT LoRA adapters of this
            rank are injected into the backbone, whose own weights stay frozen; only the
            adapters (and any ``{soft}`` tokens) train, and checkpoints hold only them.
        lora_alpha / lora_dropout: LoRA's scaling numerator and dropout (PEFT's meaning).
        lora_target_modules: Module names to adapt; None: PEFT's default for the architecture
            (``q_proj``/``v_proj`` on Llama, ``query``/``value`` on BERT).
    """

    template: str = "{text_a} It was {mask} ."
    label_words: tuple[tuple[str, ...], ...] = (("terrible",), ("great",))
    tokenizer: str | None = None
    freeze_backbone: bool = False
    multi_token: str = "first"
    max_length: int = 128
    lora_r: int | None = None
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    lora_target_modules: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_type(self, "template", str)
        try:
            parts = parse_template(self.template)
        except ValueError as err:
            raise ConfigError(f"{type(self).__name__}.template: {err}") from None
        check_label_words(self)
        check_type(self, "tokenizer", (str, type(None)))
        check_bool(self, "freeze_backbone")
        check_choice(self, "multi_token", ("first", "mean", "max"))
        check_int(self, "max_length", minimum=3)
        check_int(self, "lora_r", minimum=1, optional=True)
        check_float(self, "lora_alpha", minimum=0.0, inclusive=False)
        check_float(self, "lora_dropout", minimum=0.0, maximum=1.0)
        check_sequence(self, "lora_target_modules", str, min_length=1, optional=True)
        if (
            self.freeze_backbone
            and self.lora_r is None
            and not any(p.kind == "soft" for p in parts)
        ):
            raise ConfigError(
                f"{type(self).__name__}.freeze_backbone: True with template {self.template!r} "
                "leaves nothing to train; add {soft} tokens to the template or set "
                "freeze_backbone=False"
            )

    @property
    def num_classes(self) -> int:
        """Number of classes (``len(label_words)``)."""
        return len(self.label_words)
