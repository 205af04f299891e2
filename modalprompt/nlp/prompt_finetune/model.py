"""`PromptFinetuneModel`: the registered prompt-based fine-tuning model (``prompt_finetune``).

It is :class:`~modalprompt.nlp.classification.PromptForClassification`'s machinery (the
:class:`~modalprompt.nlp.classification.MaskedLMPrompt` mixin: template, soft tokens, mask
logits, verbalizer) on a :class:`~modalprompt.core.model.PromptModel`, so it gets the library's
``save_pretrained`` / ``from_pretrained``, ``print_trainable_parameters`` and the core Trainer.
The template and verbalizer are rebuilt from the config and a tokenizer, so a checkpoint holds
only tensors and JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from modalprompt.core.model import PromptModel
from modalprompt.core.validation import check_class_labels
from modalprompt.nlp.classification import (
    MaskedLMPrompt,
    PromptCollator,
    check_masked_lm,
    is_decoder,
)
from modalprompt.nlp.prompt_finetune.config import PromptFinetuneConfig
from modalprompt.nlp.templates import Template
from modalprompt.nlp.verbalizers import ManualVerbalizer

__all__ = ["PromptFinetuneModel", "resolve_tokenizer"]


def resolve_tokenizer(tokenizer: Any, config: PromptFinetuneConfig) -> Any:
    """``tokenizer`` when given, else ``AutoTokenizer.from_pretrained(config.tokenizer)``."""
    if tokenizer is not None:
        return tokenizer
    if config.tokenizer is None:
        raise ValueError(
            "tokenizer: pass tokenizer=<the backbone's Hugging Face tokenizer> or set "
            "config.tokenizer to its name or local folder"
        )
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(config.tokenizer)


def _inject_lora(backbone: nn.Module, config: PromptFinetuneConfig) -> None:
    """PEFT LoRA adapters in ``backbone`` in place (its class unchanged), the only trainable
    parameters in it."""
    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError as err:
        raise ImportError(
            "config.lora_r: LoRA needs the peft package (pip install peft, or the nlp extra)"
        ) from err
    targets = list(config.lora_target_modules) if config.lora_target_modules else None
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
    )
    try:
        inject_adapter_in_model(lora, backbone)
    except ValueError as err:
        raise ValueError(
            f"config.lora_target_modules: {targets!r} could not be adapted in "
            f"{type(backbone).__name__} ({err})"
        ) from None
    for name, parameter in backbone.named_parameters():
        parameter.requires_grad_("lora_" in name)


class PromptFinetuneModel(MaskedLMPrompt, PromptModel):
    """Masked LM + template + manual verbalizer, trained with cross-entropy over classes.

    Args:
        backbone: A Hugging Face masked LM (``AutoModelForMaskedLM``) or causal LM (the template
            must then end with ``{mask}``: the answer is the next token, read at the last
            position with the LM head run there only; OpenPrompt's way with GPT-2).
        config: :class:`PromptFinetuneConfig`.
        tokenizer: The backbone's tokenizer; default loads ``config.tokenizer``.

    Attributes:
        train_backbone: True unless ``config.freeze_backbone`` (set per instance; the class
            default True makes ``from_pretrained`` accept a backbone whose weights differ from
            the fine-tuned ones, which the checkpoint holds).
        template, verbalizer, soft_embeds: see :class:`MaskedLMPrompt`.

    Shapes:
        input_ids, attention_mask, soft_ids: (B, L); mask_positions: (B,); labels: (B,)
        → ``{"logits": (B, C)}`` (+ ``"loss"``, a scalar, with labels).
    """

    train_backbone: ClassVar[bool] = True

    def __init__(
        self, backbone: nn.Module, config: PromptFinetuneConfig, tokenizer: Any = None
    ) -> None:
        lora = isinstance(config, PromptFinetuneConfig) and config.lora_r is not None
        if isinstance(config, PromptFinetuneConfig):
            # read by PromptModel.__init__; with LoRA the backbone's own weights stay frozen
            self.train_backbone = not config.freeze_backbone and not lora
        super().__init__(backbone, config)
        self.lora = lora
        if lora:
            _inject_lora(backbone, config)
        check_masked_lm(backbone)
        self.tokenizer = resolve_tokenizer(tokenizer, config)
        vocab = backbone.get_input_embeddings().num_embeddings
        if len(self.tokenizer) > vocab:
            raise ValueError(
                f"tokenizer: {len(self.tokenizer)} tokens but the backbone embeds only {vocab}; "
                "use the backbone's own tokenizer"
            )
        template = Template(config.template, self.tokenizer, decoder=is_decoder(backbone))
        verbalizer = ManualVerbalizer(
            self.tokenizer, [list(w) for w in config.label_words], multi_token=config.multi_token
        )
        self._init_prompt(backbone, template, verbalizer)

    @property
    def num_classes(self) -> int:
        """Number of classes ``C``."""
        return self.verbalizer.num_classes

    def prompt_state_dict(self) -> dict[str, Tensor]:
        """The prompt parts, plus the LoRA adapters inside the backbone when ``lora_r`` is set."""
        state = super().prompt_state_dict()
        if getattr(self, "lora", False):
            state.update(
                {
                    k: v
                    for k, v in self.state_dict().items()
                    if k.startswith("backbone.") and "lora_" in k
                }
            )
        return state

    def collator(
        self, max_length: int | None = None, label_map: Mapping[Any, int] | None = None
    ) -> PromptCollator:
        """A :class:`PromptCollator` for this model's template (``max_length`` from config)."""
        return PromptCollator(
            self.template, max_length=max_length or self.config.max_length, label_map=label_map
        )

    def training_step(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Cross-entropy of one collated batch (a mapping with ``labels``)."""
        if "labels" not in batch:
            raise KeyError(f"batch: training needs 'labels', got keys {sorted(batch)}")
        return {"loss": self(**batch)["loss"]}

    @torch.no_grad()
    def validation_step(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """``{"logits": (B, C), "labels": (B,)}`` of one collated batch."""
        if "labels" not in batch:
            raise KeyError(f"batch: evaluation needs 'labels', got keys {sorted(batch)}")
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        logits = self(**inputs)["logits"]
        labels = check_class_labels(batch["labels"], logits.size(-1), batch_size=logits.size(0))
        return {"logits": logits, "labels": labels}

    @torch.no_grad()
    def predict_proba(self, examples: Sequence[Mapping[str, Any]], batch_size: int = 32) -> Tensor:
        """Class probabilities (N, C) of ``examples`` (dicts with ``text_a`` [, ``text_b``]),
        in eval mode; labels in the examples are ignored."""
        if batch_size < 1:
            raise ValueError(f"batch_size: expected >= 1, got {batch_size}")
        was_training = self.training
        self.eval()
        collate = self.collator()
        device = self.device
        out = []
        for i in range(0, len(examples), batch_size):
            chunk = [{**e, "label": None} for e in examples[i : i + batch_size]]
            batch = collate(chunk)
            batch = {k: v.to(device) for k, v in batch.items()}
            out.append(self(**batch)["logits"].float().softmax(-1).cpu())
        self.train(was_training)
        if not out:
            return torch.empty(0, self.num_classes)
        return torch.cat(out)
