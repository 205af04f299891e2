"""Configs of the shared baselines (registered as ``linear_probe`` and ``full_finetune``)."""

from __future__ import annotations

from dataclasses import dataclass

from modalprompt.core.config import PromptConfig, check_float, check_int
from modalprompt.core.registry import register_method

_MODEL = "modalprompt.core.baselines.model"


@dataclass(kw_only=True)
class _HeadConfig(PromptConfig):
    """A classification head on ``(B, D)`` backbone features.

    Args:
        num_classes: Number of classes of the head (>= 2).
        feature_dim: Width ``D`` of the backbone's features; None reads it from the backbone's
            ``feature_dim``, ``out_dim``, ``embed_dim`` or ``hidden_size`` attribute.
        dropout: Dropout before the head.
    """

    num_classes: int = 2
    feature_dim: int | None = None
    dropout: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self, "num_classes", minimum=2)
        check_int(self, "feature_dim", minimum=1, optional=True)
        check_float(self, "dropout", minimum=0.0, maximum=1.0, inclusive=True)
        if self.dropout >= 1.0:
            raise ValueError(
                f"{type(self).__name__}.dropout: got {self.dropout}; expected a number in [0, 1)"
            )


@register_method(
    "linear_probe",
    domain="any",
    description="Linear head on frozen backbone features",
    model=f"{_MODEL}:LinearProbeModel",
    tiny={"num_classes": 3},
)
@dataclass(kw_only=True)
class LinearProbeConfig(_HeadConfig):
    """Linear probe: only the head is trained; the backbone is frozen."""


@register_method(
    "full_finetune",
    domain="any",
    description="Backbone and head both trained (upper baseline)",
    model=f"{_MODEL}:FullFinetuneModel",
    tiny={"num_classes": 3},
)
@dataclass(kw_only=True)
class FullFinetuneConfig(_HeadConfig):
    """Full fine-tuning: backbone and head are trained (the usual upper baseline).

    Args:
        backbone_lr_scale: The backbone's learning rate is the trainer's ``lr`` times this (the
            head keeps ``lr``); 1.0 trains both alike.
    """

    backbone_lr_scale: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_float(self, "backbone_lr_scale", minimum=0.0, inclusive=False)
