"""EPT's configuration (registered as ``ept``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modalprompt.core.config import check_bool, check_float, check_int
from modalprompt.core.registry import register_method
from modalprompt.nlp.prompt_tuning.config import PromptTuningConfig

__all__ = ["EptConfig"]


@register_method(
    "ept",
    domain="nlp",
    description="EPT: short prompt + low-rank input offset (DePT), prompt fusion, gated subspaces",
    model="modalprompt.nlp.ept.model:EptModel",
    tiny_case="modalprompt.nlp.prompt_tuning.testing:tiny_case",
    extra="nlp",
    tiny={
        "num_virtual_tokens": 3,
        "max_length": 7,
        "rank": 2,
        "num_spaces": 2,
        "space_rank": 4,
        "task": "classification",
        "init": "vocab",
    },
)
@dataclass(kw_only=True)
class EptConfig(PromptTuningConfig):
    """EPT (Lan et al., AAAI 2025) on a frozen Hugging Face encoder, decoder or encoder-decoder.

    Every field of :class:`~modalprompt.nlp.prompt_tuning.config.PromptTuningConfig` keeps its
    meaning for the short prompt (``num_virtual_tokens`` is its length ``m``; ``init`` its
    initialisation). The paper publishes no defaults; these are DePT's (T5-base, PT-100 budget).

    Args:
        max_length: ``s``: inputs must be padded/truncated to exactly this many tokens (the
            low-rank offset is position-wise; DePT's default 256).
        rank: ``r`` of the offset ``A (s×r) · B (r×d)`` (DePT: 30 with m=60).
        lora_alpha: The offset is scaled by ``lora_alpha / sqrt(rank)`` (DePT's choice).
        num_spaces: ``N``, subspaces of the multi-space projection.
        space_rank: ``k``, rank of each subspace map and of the fusion's query/key projections.
        fusion: Enrich the short prompt with the low-rank knowledge by attention.
        projection: Multi-space projection with the gating network.
        low_rank_lr_scale: The low-rank offset, fusion and projection train at the trainer's
            ``lr`` times this; the short prompt (and head) at ``lr``. Default 1/60 = DePT's pair
            3e-1 (prompt) / 5e-3 (low rank).

    Use :meth:`for_budget` to size ``rank`` for a vanilla prompt-tuning parameter budget.
    """

    num_virtual_tokens: int = 60
    max_length: int = 256
    rank: int = 30
    lora_alpha: float = 8.0
    num_spaces: int = 4
    space_rank: int = 8
    fusion: bool = True
    projection: bool = True
    low_rank_lr_scale: float = 5e-3 / 3e-1

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self, "max_length", minimum=1)
        check_int(self, "rank", minimum=1)
        check_float(self, "lora_alpha", minimum=0.0, inclusive=False)
        check_int(self, "num_spaces", minimum=1)
        check_int(self, "space_rank", minimum=1)
        check_bool(self, "fusion")
        check_bool(self, "projection")
        check_float(self, "low_rank_lr_scale", minimum=0.0, inclusive=False)

    @classmethod
    def for_budget(
        cls, hidden_size: int, budget_tokens: int = 100, *, count_extras: bool = True, **fields: Any
    ) -> EptConfig:
        """A config whose ``rank`` fills a vanilla prompt of ``budget_tokens`` tokens.

        Args:
            hidden_size: ``d`` of the backbone.
            budget_tokens: Length of the vanilla prompt to match (``budget_tokens·d`` parameters).
            count_extras: Count the fusion and projection parameters in the budget (False gives
                DePT's sizing, ``m·d + r·(s + d)``, e.g. m=60, s=256, d=768, PT-100 → r=30).
            **fields: Any other config field (``num_virtual_tokens``, ``max_length``, ...).
        """
        from modalprompt.nlp.ept.prompt import dept_sizes_for_budget, ept_sizes_for_budget

        base = cls(**{**fields, "rank": 1})
        if count_extras:
            rank = ept_sizes_for_budget(
                hidden_size,
                base.max_length,
                budget_tokens,
                base.num_virtual_tokens,
                base.num_spaces,
                base.space_rank,
                base.fusion,
                base.projection,
            )
        else:
            rank = dept_sizes_for_budget(
                hidden_size, base.max_length, budget_tokens, base.num_virtual_tokens
            )
        return base.replace(rank=rank)
