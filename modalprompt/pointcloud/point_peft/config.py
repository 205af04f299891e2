"""Point-PEFT's configuration (registered as ``point_peft``); defaults of the ScanObjectNN model."""

from __future__ import annotations

from dataclasses import dataclass

from modalprompt.core.config import ConfigError, PromptConfig, check_float, check_int
from modalprompt.core.registry import register_method


@register_method(
    "point_peft",
    domain="pointcloud",
    description="Memory-bank prompts + geometry-aware adapters (Point-PEFT)",
    model="modalprompt.pointcloud.point_peft.model:PointPeftModel",
    extra="pointcloud",
    tiny={
        "num_classes": 3,
        "prompt_layers": 1,
        "top_k": 2,
        "num_prompts": 4,
        "ga_groups": 4,
        "ga_group_size": 3,
        "ga_heads": 2,
    },
)
@dataclass(kw_only=True)
class PointPeftConfig(PromptConfig):
    """Point-PEFT.

    Args:
        num_classes: Classes of the head.
        prompt_layers: Blocks (from the first) that get Point-prior prompts (official: 6).
        num_prompts: Prompt tokens; must equal ``top_k + 2`` (query feature, weighted bank
            feature, the ``top_k`` bank features).
        top_k: Bank features retrieved per instance (official: 8).
        prompt_dropout: Dropout on the learnable prompt embeddings (official: 0.1).
        bank_adapter_dim: Bottleneck of the adapter on the retrieved features (official: 8).
        adapter_dim: Bottleneck of the serial adapter on each block's MLP output and of the
            adapter on all tokens (official: 16).
        adapter_scale: Weight of the serial adapter (official: 0.7).
        ga_groups / ga_group_size: Token neighbourhoods of the GA-Adapter (official: 64 / 16).
        ga_heads / ga_head_dim: The GA-Adapter's shared local attention (official: 6 × 3).
        center_coef / propagate_coef: Weights of the centre token and of the propagated
            neighbourhood features (official: 0.3 / 0.3).
        head_dropout: Dropout in the head (official: 0.5).
    """

    num_classes: int = 15
    prompt_layers: int = 6
    num_prompts: int = 10
    top_k: int = 8
    prompt_dropout: float = 0.1
    bank_adapter_dim: int = 8
    adapter_dim: int = 16
    adapter_scale: float = 0.7
    ga_groups: int = 64
    ga_group_size: int = 16
    ga_heads: int = 6
    ga_head_dim: int = 3
    center_coef: float = 0.3
    propagate_coef: float = 0.3
    head_dropout: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in (
            "num_classes",
            "prompt_layers",
            "num_prompts",
            "top_k",
            "bank_adapter_dim",
            "adapter_dim",
            "ga_groups",
            "ga_group_size",
            "ga_heads",
            "ga_head_dim",
        ):
            check_int(self, name, minimum=2 if name == "num_classes" else 1)
        if self.num_prompts != self.top_k + 2:
            raise ConfigError(
                f"PointPeftConfig.num_prompts: got {self.num_prompts}; expected top_k + 2 = "
                f"{self.top_k + 2} (query feature, weighted bank feature, top_k bank features)"
            )
        for name in ("prompt_dropout", "head_dropout"):
            check_float(self, name, minimum=0.0, maximum=0.99)
        for name in ("adapter_scale", "center_coef", "propagate_coef"):
            check_float(self, name, minimum=0.0)
