"""VPT configurations (registered as ``vpt_shallow`` and ``vpt_deep``)."""

from __future__ import annotations

from dataclasses import dataclass

from modalprompt.core.config import PromptConfig, check_float, check_int
from modalprompt.core.registry import register_method

_MODEL = "modalprompt.pointcloud.vpt.model"


@dataclass(kw_only=True)
class _VptConfig(PromptConfig):
    """Static prompt tokens.

    Args:
        num_classes: Classes of the head.
        num_prompts: Prompt tokens (per layer for ``vpt_deep``); official: 10.
        head_dropout: Dropout in the head (official: 0.5).
    """

    num_classes: int = 40
    num_prompts: int = 10
    head_dropout: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self, "num_classes", minimum=2)
        check_int(self, "num_prompts", minimum=1)
        check_float(self, "head_dropout", minimum=0.0, maximum=0.99)


@register_method(
    "vpt_shallow",
    domain="pointcloud",
    description="Static prompt tokens at the input",
    model=f"{_MODEL}:VptShallowModel",
    extra="pointcloud",
    tiny={"num_classes": 3, "num_prompts": 2},
)
@dataclass(kw_only=True)
class VptShallowConfig(_VptConfig):
    """VPT-shallow: ``num_prompts`` learnable tokens (and positions) after the cls token."""


@register_method(
    "vpt_deep",
    domain="pointcloud",
    description="Fresh static prompt tokens at every block",
    model=f"{_MODEL}:VptDeepModel",
    extra="pointcloud",
    tiny={"num_classes": 3, "num_prompts": 2},
)
@dataclass(kw_only=True)
class VptDeepConfig(_VptConfig):
    """VPT-deep: per block, the previous prompts are dropped and fresh ones appended."""
