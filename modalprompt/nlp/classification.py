"""Prompt-based classification on any Hugging Face masked LM (LM-BFF / PET / OpenPrompt style).

``PromptForClassification`` wraps a masked LM, a :class:`~modalprompt.nlp.templates.Template` and a
verbalizer: the MLM logits at the mask position go through the verbalizer to class logits.
:class:`PromptCollator` tokenises lazily, batch by batch, in the ``DataLoader`` (OpenPrompt's
``PromptDataLoader`` tokenises the whole dataset eagerly in its constructor).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from modalprompt.core.validation import check_class_labels
from modalprompt.nlp.injection import check_input_ids, check_prompt_length, check_token_tensor
from modalprompt.nlp.templates import Template
from modalprompt.nlp.verbalizers import Verbalizer

__all__ = [
    "MaskedLMPrompt",
    "PromptForClassification",
    "PromptCollator",
    "check_answer_is_last",
    "check_masked_lm",
    "is_decoder",
    "load_masked_lm",
]


def load_masked_lm(name_or_path: str | Path, **kwargs: Any) -> tuple[nn.Module, Any]:
    """``AutoModelForMaskedLM`` and ``AutoTokenizer`` from a hub name or a local folder."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    model = AutoModelForMaskedLM.from_pretrained(str(name_or_path), **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(str(name_or_path))
    return model, tokenizer


def check_masked_lm(backbone: nn.Module) -> None:
    """Raise unless ``backbone`` is a Hugging Face masked or causal LM with an LM head."""
    if not hasattr(backbone, "get_input_embeddings") or not hasattr(
        backbone, "get_output_embeddings"
    ):
        raise TypeError(
            f"backbone: expected a Hugging Face masked or causal LM, got {type(backbone).__name__}"
        )
    if backbone.get_output_embeddings() is None:
        raise ValueError(
            "backbone: the model has no LM head (use AutoModelForMaskedLM / AutoModelForCausalLM)"
        )


def check_answer_is_last(mask_positions: Tensor, input_ids: Tensor) -> None:
    """A decoder reads the answer after the last column: every row's ``mask_positions`` must be
    ``L - 1`` (left padding), else a clear error naming the argument."""
    if bool((mask_positions != input_ids.shape[1] - 1).any()):
        raise ValueError(
            "mask_positions: a decoder reads the answer after the last column, but some "
            "rows end earlier; pad on the left (PromptCollator does for decoder templates)"
        )


def is_decoder(backbone: nn.Module) -> bool:
    """Whether ``backbone`` is a decoder-only causal LM (its templates end at the answer slot)."""
    from modalprompt.nlp.injection import architecture_kind

    try:
        return architecture_kind(backbone) == "decoder"
    except TypeError:
        return False


class PromptCollator:
    """Collate function: wrap examples in the template and tokenise them, one batch at a time.

    Args:
        template: the bound template.
        max_length: maximum length including special tokens (text fields are truncated, never
            the mask).
        label_key: the example key holding the label (examples without it give no ``labels``).
        label_map: optional mapping raw label → class index (e.g. ``{"entailment": 0, ...}``);
            without it labels must already be integers.
        pad_to_max_length: pad every batch to ``max_length`` (EPT's position-wise offset needs a
            fixed length; step times then compare like with like), not to the batch's longest.

    Examples are mappings with ``text_a`` and, as the template needs, ``text_b`` / ``meta``.
    The returned batch holds ``input_ids``, ``attention_mask``, ``soft_ids`` (all (B, L)),
    ``mask_positions`` (B,), ``labels`` (B,) and ``num_truncated`` (B,). A decoder template's
    batches are padded on the left, so every row's answer position is the last column.
    """

    def __init__(
        self,
        template: Template,
        max_length: int = 128,
        label_key: str = "label",
        label_map: Mapping[Any, int] | None = None,
        pad_to_max_length: bool = False,
    ) -> None:
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 3:
            raise ValueError(f"max_length: expected an integer >= 3, got {max_length!r}")
        self.pad_to_max_length = bool(pad_to_max_length)
        self.template = template
        self.max_length = max_length
        self.label_key = label_key
        self.label_map = dict(label_map) if label_map is not None else None
        pad = template.tokenizer.pad_token_id
        self.pad_id = 0 if pad is None else pad

    def _label(self, raw: Any) -> int:
        if self.label_map is not None:
            if raw not in self.label_map:
                raise ValueError(f"label: {raw!r} is not in label_map {sorted(self.label_map)}")
            return self.label_map[raw]
        if isinstance(raw, bool) or not isinstance(raw, int | float | str | Tensor):
            raise TypeError(f"label: expected an integer class index, got {raw!r}")
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = float("nan")
        if not value.is_integer() or not 0 <= value < 2**31:
            raise ValueError(
                f"label: expected a class index >= 0 (an integer below 2**31), got {raw!r}; give "
                "label_map for string labels"
            )
        return int(value)

    def __call__(self, examples: Sequence[Mapping[str, Any]]) -> dict[str, Tensor]:
        if not examples:
            raise ValueError("examples: PromptCollator got an empty batch")
        for i, example in enumerate(examples):
            if not isinstance(example, Mapping):
                raise TypeError(
                    f"examples[{i}]: expected a mapping with 'text_a' (and 'label'), got "
                    f"{type(example).__name__}"
                )
        encoded = [self.template.encode(e, self.max_length) for e in examples]
        length = max(len(e.input_ids) for e in encoded)
        if self.pad_to_max_length:
            length = self.max_length
        b = len(encoded)
        input_ids = torch.full((b, length), self.pad_id, dtype=torch.long)
        attention = torch.zeros((b, length), dtype=torch.long)
        soft_ids = torch.full((b, length), -1, dtype=torch.long)
        left = self.template.decoder  # a decoder reads the answer at the last column
        for i, e in enumerate(encoded):
            n = len(e.input_ids)
            cols = slice(length - n, length) if left else slice(0, n)
            input_ids[i, cols] = torch.tensor(e.input_ids)
            attention[i, cols] = 1
            soft_ids[i, cols] = torch.tensor(e.soft_ids)
        shift = [length - len(e.input_ids) if left else 0 for e in encoded]
        batch = {
            "input_ids": input_ids,
            "attention_mask": attention,
            "soft_ids": soft_ids,
            "mask_positions": torch.tensor([e.mask_position + s for e, s in zip(encoded, shift)]),
            "num_truncated": torch.tensor([e.num_truncated for e in encoded]),
        }
        if all(ex.get(self.label_key) is not None for ex in examples):
            batch["labels"] = torch.tensor([self._label(ex[self.label_key]) for ex in examples])
        return batch


class MaskedLMPrompt:
    """Mixin with the template + verbalizer machinery on a masked LM ``self.backbone``.

    Shared by :class:`PromptForClassification` (a plain ``nn.Module``) and the registered
    ``prompt_finetune`` / ``pcp`` prompt models (:class:`~modalprompt.core.model.PromptModel`
    subclasses), so the mask-position logic exists once. A class using it sets ``backbone``
    and calls :meth:`_init_prompt` in its ``__init__``.
    """

    backbone: nn.Module
    template: Template
    verbalizer: Verbalizer
    soft_embeds: nn.Parameter

    def _init_prompt(self, backbone: nn.Module, template: Template, verbalizer: Verbalizer) -> None:
        """Check ``backbone``, store template and verbalizer, create ``soft_embeds`` (S, H)."""
        check_masked_lm(backbone)
        if is_decoder(backbone) != template.decoder:
            kind = "a causal LM" if is_decoder(backbone) else "a masked LM"
            raise ValueError(
                f"template: {type(backbone).__name__} is {kind} but the template was built for "
                f"{'a decoder' if template.decoder else 'a masked LM'}; build it with "
                f"Template(..., decoder={is_decoder(backbone)})"
            )
        self.template = template
        self.verbalizer = verbalizer
        emb = backbone.get_input_embeddings().weight
        soft = torch.empty(template.num_soft, emb.shape[1], dtype=emb.dtype)
        with torch.no_grad():
            std = emb.float().std().item()
            for i, tok in enumerate(template.soft_init_ids):
                soft[i] = emb[tok].detach() if tok >= 0 else torch.randn(emb.shape[1]) * std
        self.soft_embeds = nn.Parameter(soft.to(emb.device))
        self._hidden: Tensor | None = None
        if verbalizer.needs_hidden:
            backbone.get_output_embeddings().register_forward_hook(self._capture_hidden)

    def _capture_hidden(self, module: nn.Module, args: tuple, output: Any) -> None:
        self._hidden = args[0]

    def _embed(self, input_ids: Tensor, soft_ids: Tensor | None) -> Tensor:
        embeds = self.backbone.get_input_embeddings()(input_ids)
        if soft_ids is not None and self.soft_embeds.shape[0] and (soft_ids >= 0).any():
            where = soft_ids >= 0
            soft = self.soft_embeds.to(embeds.dtype)[soft_ids.clamp(min=0)]
            embeds = torch.where(where.unsqueeze(-1), soft, embeds)
        return embeds

    def mask_outputs(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        mask_positions: Tensor,
        soft_ids: Tensor | None = None,
        token_type_ids: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Vocabulary logits (B, V) at the mask, and the MLM head's hidden state (B, H) or None.

        The logits are OpenPrompt's ``forward_without_verbalize`` (used for calibration).
        """
        check_input_ids(self.backbone, input_ids)
        batch, length = input_ids.shape
        if (
            not isinstance(mask_positions, Tensor)
            or mask_positions.shape != (batch,)
            or mask_positions.is_floating_point()
            or mask_positions.dtype == torch.bool
        ):
            found = (
                f"{mask_positions.dtype} {tuple(mask_positions.shape)}"
                if isinstance(mask_positions, Tensor)
                else type(mask_positions).__name__
            )
            raise ValueError(f"mask_positions: expected ({batch},) integer positions, got {found}")
        if not isinstance(attention_mask, Tensor) or attention_mask.shape != (batch, length):
            found = tuple(attention_mask.shape) if isinstance(attention_mask, Tensor) else None
            raise ValueError(f"attention_mask: expected shape {(batch, length)}, got {found}")
        check_token_tensor(self.backbone, attention_mask, "attention_mask", (batch, length))
        if token_type_ids is not None:
            check_token_tensor(self.backbone, token_type_ids, "token_type_ids", (batch, length))
        if soft_ids is not None and (
            not isinstance(soft_ids, Tensor)
            or soft_ids.shape != (batch, length)
            or soft_ids.dtype != torch.long
            or bool(((soft_ids < -1) | (soft_ids >= self.soft_embeds.shape[0])).any())
        ):
            found = (
                f"{soft_ids.dtype} {tuple(soft_ids.shape)}"
                if isinstance(soft_ids, Tensor)
                else type(soft_ids).__name__
            )
            raise ValueError(
                f"soft_ids: expected {(batch, length)} long ids in [-1, "
                f"{self.soft_embeds.shape[0]}) (-1: a real token), got {found}"
            )
        if bool(((mask_positions < 0) | (mask_positions >= length)).any()):
            raise ValueError(
                f"mask_positions: expected positions in [0, {length}) of the input, found "
                f"{sorted(set(mask_positions.tolist()))[:5]}"
            )
        try:  # a collator's max_length past the backbone's positions
            check_prompt_length(self.backbone, 0, input_ids.size(1))
        except ValueError as err:
            raise ValueError(f"{err} (PromptCollator's max_length sets the length)") from None
        kwargs = {"attention_mask": attention_mask}
        if token_type_ids is not None and not self.template.decoder:
            kwargs["token_type_ids"] = token_type_ids
        if self.template.decoder:
            # the answer slot is every row's last column (left padding): the LM head runs there only
            check_answer_is_last(mask_positions, input_ids)
            kwargs["logits_to_keep"] = 1
            mask_positions = torch.zeros_like(mask_positions) - 1
        self._hidden = None
        out = self.backbone(inputs_embeds=self._embed(input_ids, soft_ids), **kwargs)
        rows = torch.arange(input_ids.shape[0], device=input_ids.device)
        logits = out.logits[rows, mask_positions]
        hidden = self._hidden[rows, mask_positions] if self._hidden is not None else None
        self._hidden = None
        return logits, hidden

    def class_logits(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        mask_positions: Tensor,
        soft_ids: Tensor | None = None,
        token_type_ids: Tensor | None = None,
    ) -> Tensor:
        """``(B, C)`` class scores: the verbalizer on the answer position's vocabulary logits."""
        mask_logits, hidden = self.mask_outputs(
            input_ids, attention_mask, mask_positions, soft_ids, token_type_ids
        )
        return self.verbalizer(mask_logits, hidden)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        mask_positions: Tensor,
        soft_ids: Tensor | None = None,
        labels: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        **unused: Any,
    ) -> dict[str, Tensor]:
        """Class logits (and the cross-entropy ``loss`` when ``labels`` are given).

        Returns:
            ``{"logits": (B, C)}`` plus ``"loss"`` (scalar) with labels.
        """
        logits = self.class_logits(
            input_ids, attention_mask, mask_positions, soft_ids, token_type_ids
        )
        out = {"logits": logits}
        if labels is not None:
            labels = check_class_labels(labels, logits.size(-1), batch_size=logits.size(0))
            out["loss"] = nn.functional.cross_entropy(logits.float(), labels)
        return out

    @torch.no_grad()
    def calibrate(self, batches: Any) -> Tensor:
        """Register the mean [MASK] logits over ``batches`` (e.g. unlabelled data) as the prior.

        Args:
            batches: an iterable of collated batches (a ``DataLoader`` with
                :class:`PromptCollator`).

        Returns:
            The (V,) mean mask logits that were registered.
        """
        was_training = self.training
        self.eval()
        total, count = None, 0
        device = self.soft_embeds.device
        for batch in batches:
            logits, _ = self.mask_outputs(
                batch["input_ids"].to(device),
                batch["attention_mask"].to(device),
                batch["mask_positions"].to(device),
                batch["soft_ids"].to(device) if "soft_ids" in batch else None,
            )
            total = logits.sum(0) if total is None else total + logits.sum(0)
            count += logits.shape[0]
        if not count:
            raise ValueError("batches: calibration needs at least one example")
        prior = total / count
        self.verbalizer.register_calibration(prior)
        self.train(was_training)
        return prior


class PromptForClassification(MaskedLMPrompt, nn.Module):
    """Masked LM + template + verbalizer → class logits.

    Args:
        backbone: a masked LM module (``AutoModelForMaskedLM``-like: ``get_input_embeddings``,
            ``get_output_embeddings`` and ``.logits``), or a hub name / local path to load one.
        template: the template (its soft tokens become trainable ``soft_embeds``).
        verbalizer: a :class:`~modalprompt.nlp.verbalizers.Verbalizer`.
        freeze_backbone: ``True``: backbone in eval mode with no gradients (prompt tuning, the
            verbalizer / soft tokens train); ``False``: full prompt-based fine-tuning (LM-BFF, PCP).

    Shapes:
        input_ids, attention_mask, soft_ids: (B, L); mask_positions: (B,) → logits (B, C).
    """

    def __init__(
        self,
        backbone: nn.Module | str | Path,
        template: Template,
        verbalizer: Verbalizer,
        freeze_backbone: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(backbone, (str, Path)):
            from transformers import AutoModelForMaskedLM

            backbone = AutoModelForMaskedLM.from_pretrained(str(backbone))
        check_masked_lm(backbone)
        self.backbone = backbone
        self.freeze_backbone = freeze_backbone
        self._init_prompt(backbone, template, verbalizer)
        if freeze_backbone:
            backbone.requires_grad_(False)
            backbone.eval()

    def train(self, mode: bool = True) -> PromptForClassification:
        """As ``nn.Module.train``, but a frozen backbone always stays in eval mode."""
        super().train(mode)
        if self.freeze_backbone:
            self.backbone.eval()
        return self
