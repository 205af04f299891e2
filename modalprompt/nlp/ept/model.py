"""`EptModel`: EPT on a frozen Hugging Face model (vanilla prompt tuning plus EPT's extras).

What reaches the backbone, for inputs ``(B, s)`` padded to exactly ``max_length = s``:

* the input embeddings ``E`` ``(B, s, d)`` plus the low-rank offset ``c·A B`` ``(s, d)``, whose
  row ``j`` is added to the ``j``-th *real* (attended) token of each row and nothing to padding.
  With right padding this is DePT's position-wise sum on every real token (DePT also adds rows to
  the padding, which attention masks out anyway); with left padding the rows still follow the
  text, as :mod:`modalprompt.nlp.injection` keeps prompts next to the text;
* the reconstructed prompt ``P̂`` ``(m, d)`` (short prompt → fusion → gated multi-space
  projection, :class:`~modalprompt.nlp.ept.prompt.EptTransform`) prepended exactly as vanilla
  prompt tuning prepends its prompt (:func:`~modalprompt.nlp.injection.inject_prompt`).

So with a zero offset EPT *is* prompt tuning with prompt ``P̂``; :meth:`EptModel.get_prompt`
renders it. Two learning rates (DePT's recipe) come from :meth:`EptModel.param_groups`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from modalprompt.nlp.ept.config import EptConfig
from modalprompt.nlp.ept.prompt import EptTransform
from modalprompt.nlp.injection import (
    check_input_ids,
    check_prompt_length,
    check_token_tensor,
    generate_with_prompt,
)
from modalprompt.nlp.prompt_tuning.model import PromptTuningModel

__all__ = ["EptModel", "aligned_offset"]


def aligned_offset(offset: Tensor, attention_mask: Tensor) -> Tensor:
    """Row ``j`` of ``offset`` at each row's ``j``-th attended token, zeros at padding.

    Args:
        offset: ``(s, d)`` shared or ``(B, s, d)`` per sample.
        attention_mask: ``(B, s)``.

    Returns:
        ``(B, s, d)``.
    """
    mask = attention_mask.to(offset.device)
    batch, length = mask.shape
    rank = (mask.long().cumsum(1) - 1).clamp(min=0)  # (B, s): index among real tokens
    if offset.dim() == 2:
        offset = offset.unsqueeze(0).expand(batch, -1, -1)
    rows = offset.gather(1, rank.unsqueeze(-1).expand(-1, -1, offset.size(-1)))
    return rows * mask.unsqueeze(-1).to(rows.dtype)


class EptModel(PromptTuningModel):
    """EPT: a short prompt, a low-rank input offset, prompt fusion and multi-space projection.

    Args:
        backbone: As for :class:`~modalprompt.nlp.prompt_tuning.model.PromptTuningModel`.
        config: :class:`EptConfig`.
        tokenizer: Only for ``init="text"``.

    Attributes:
        prompt_embeddings: ``(m, d)`` the short prompt ``P_s`` (float32).
        ept: :class:`~modalprompt.nlp.ept.prompt.EptTransform` (offset ``A``, ``B``; fusion;
            projections and gate).
        head: As for prompt tuning (``task="classification"``).

    Shapes:
        input_ids / attention_mask / token_type_ids: ``(B, s)`` with ``s = config.max_length``.
        Outputs as prompt tuning's, with ``n = m`` virtual tokens.
    """

    gradient_exemptions = {  # see core.testing.check_prompt_model; all move once B / V_i move
        "ept.lora_a": "DePT's B (lora_b) starts at zero, so the offset A·B gives A no gradient",
        "ept.query.*": "fusion attends over the offset A·B, which is zero while B is zero",
        "ept.key.*": "fusion attends over the offset A·B, which is zero while B is zero",
        "ept.space_down": "the projections' V_i (space_up) start at zero, so U_i gets no gradient",
        "ept.gate.*": "the gate mixes the projections U_i V_i, all zero while V_i are zero",
    }

    def __init__(self, backbone: nn.Module, config: EptConfig, tokenizer: Any = None) -> None:
        super().__init__(backbone, config, tokenizer)
        check_prompt_length(backbone, config.num_virtual_tokens, config.max_length)
        hidden = self.prompt_embeddings.size(-1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.ept = EptTransform(
                hidden,
                config.max_length,
                config.rank,
                num_spaces=config.num_spaces,
                space_rank=config.space_rank,
                lora_alpha=config.lora_alpha,
                fusion=config.fusion,
                projection=config.projection,
            )

    @classmethod
    def from_peft(cls, backbone: nn.Module, directory: str | Path, **overrides: Any) -> Any:
        raise NotImplementedError(
            "EptModel.from_peft: PEFT has no EPT adapters; use PromptTuningModel.from_peft for "
            "PEFT prompt tuning, or EptModel.from_pretrained for a saved EPT model"
        )

    # ---------------------------------------------------------------------------- prompt
    def get_prompt(self, batch_size: int | None = None) -> Tensor:
        """The reconstructed prompt ``P̂`` ``(m, d)``, or ``(B, m, d)`` repeated."""
        prompt, _ = self.ept(self.prompt_embeddings)
        if batch_size is None:
            return prompt
        return prompt.unsqueeze(0).expand(batch_size, -1, -1)

    def get_offset(self) -> Tensor:
        """The low-rank offset ``c·A B``: ``(s, d)``."""
        return self.ept.offset()

    def offset_embeddings(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        offset: Tensor | None = None,
    ) -> Tensor:
        """Input embeddings plus the aligned offset (:func:`aligned_offset`): ``(B, s, d)``.

        Raises:
            ValueError: the inputs are not exactly ``max_length`` tokens long.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("input_ids / inputs_embeds: pass exactly one of them")
        if inputs_embeds is None:
            check_input_ids(self.backbone, input_ids)
            inputs_embeds = self.backbone.get_input_embeddings()(input_ids)
        batch, length = inputs_embeds.shape[:2]
        try:
            self.ept.check_length(length)
        except ValueError as err:
            raise ValueError(f"input_ids: {err}") from None
        if attention_mask is None:
            attention_mask = torch.ones(batch, length, dtype=torch.long)
        check_token_tensor(self.backbone, attention_mask, "attention_mask", (batch, length))
        offset = self.get_offset() if offset is None else offset
        if offset.dim() == 3 and offset.size(0) != batch:
            raise ValueError(
                f"offset: per-sample offsets for batch size {offset.size(0)}, inputs have {batch}"
            )
        if offset.shape[-2:] != (length, inputs_embeds.size(-1)):
            raise ValueError(
                f"offset: expected (s, d) = {(length, inputs_embeds.size(-1))}, "
                f"got {tuple(offset.shape)}"
            )
        shift = aligned_offset(offset.to(inputs_embeds.device), attention_mask)
        return inputs_embeds + shift.to(inputs_embeds.dtype)

    # --------------------------------------------------------------------------- forward
    def backbone_forward(
        self, prompt: Tensor | None = None, offset: Tensor | None = None, **inputs: Any
    ) -> Any:
        """Run the backbone with the offset added and the reconstructed prompt prepended.

        Args:
            prompt: Overrides ``P̂``: ``(m, d)`` or per-sample ``(B, m, d)``.
            offset: Overrides ``c·A B``: ``(s, d)`` or per-sample ``(B, s, d)``.
            **inputs: ``input_ids`` (or ``inputs_embeds``) ``(B, s)``, ``attention_mask``, ...
        """
        embeds = self.offset_embeddings(
            inputs.pop("input_ids", None),
            inputs.get("attention_mask"),
            inputs.pop("inputs_embeds", None),
            offset,
        )
        prompt = self.get_prompt() if prompt is None else prompt
        return super().backbone_forward(prompt=prompt, inputs_embeds=embeds, **inputs)

    @torch.no_grad()
    def generate(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, **generate_kwargs: Any
    ) -> Any:
        """``backbone.generate`` with EPT's offset and prompt; ``input_ids`` ``(B, s)`` padded to
        ``max_length`` (left padding for decoders). Generated tokens get no offset (the offset is
        only defined for the ``s`` input positions)."""
        embeds = self.offset_embeddings(input_ids, attention_mask)
        return generate_with_prompt(
            self.backbone,
            self.get_prompt(),
            input_ids,
            attention_mask,
            placement=self.config.placement,
            inputs_embeds=embeds,
            **generate_kwargs,
        )

    # ------------------------------------------------------------------------- optimizer
    def param_groups(self) -> list[dict[str, Any]]:
        """``prompt`` (short prompt, at ``lr``), ``low_rank`` (offset, fusion, projection, at
        ``lr · low_rank_lr_scale``) and ``head`` (at ``lr``), as DePT trains with two rates."""
        groups: list[dict[str, Any]] = [
            {"params": [self.prompt_embeddings], "name": "prompt"},
            {
                "params": [p for p in self.ept.parameters() if p.requires_grad],
                "name": "low_rank",
                "lr_scale": self.config.low_rank_lr_scale,
            },
        ]
        if self.head is not None:
            head = [p for p in self.head.parameters() if p.requires_grad]
            groups.append({"params": head, "name": "head"})
        return groups
