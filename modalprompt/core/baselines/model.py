"""Models of the shared baselines."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from modalprompt.core.baselines.config import _HeadConfig
from modalprompt.core.model import PromptModel, split_batch
from modalprompt.core.validation import float_dtype, match_float_dtype

_WIDTH_ATTRIBUTES = ("feature_dim", "out_dim", "embed_dim", "hidden_size")


def infer_feature_dim(backbone: nn.Module, config: _HeadConfig) -> int:
    """``config.feature_dim``, or the first width attribute the backbone (or its config) has."""
    if config.feature_dim is not None:
        return config.feature_dim
    for owner in (backbone, getattr(backbone, "config", None)):
        for attr in _WIDTH_ATTRIBUTES:
            value = getattr(owner, attr, None)
            if isinstance(value, int) and value > 0:
                return value
    raise ValueError(
        f"feature_dim: {type(backbone).__name__} has none of the attributes {_WIDTH_ATTRIBUTES}; "
        "set feature_dim in the config"
    )


class _HeadModel(PromptModel):
    def __init__(self, backbone: nn.Module, config: _HeadConfig) -> None:
        super().__init__(backbone, config)
        self.head = nn.Sequential(
            nn.Dropout(config.dropout),
            nn.Linear(infer_feature_dim(backbone, config), config.num_classes),
        )

    def features(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """Backbone features ``(B, D)``; floating inputs are first cast to the backbone's float
        dtype (float64 numpy data on a float32 backbone), see :mod:`modalprompt.core.validation`."""
        dtype = float_dtype(self.backbone)
        args, kwargs = match_float_dtype(args, dtype), match_float_dtype(kwargs, dtype)
        feats = self.backbone(*args, **kwargs)
        if not isinstance(feats, torch.Tensor) or feats.ndim != 2:
            shape = tuple(feats.shape) if isinstance(feats, torch.Tensor) else type(feats).__name__
            raise ValueError(f"backbone: expected (B, D) features from forward, got {shape}")
        return feats

    def forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        """Class logits ``(B, num_classes)``."""
        return self.head(self.features(*args, **kwargs))


class LinearProbeModel(_HeadModel):
    """Linear probe: frozen backbone features ``(B, D)`` → trainable linear head."""

    def features(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        with torch.no_grad():  # the backbone is frozen: keep no activations for backward
            return super().features(*args, **kwargs)


class FullFinetuneModel(_HeadModel):
    """Full fine-tuning: the backbone is trained with the head (``train_backbone = True``)."""

    train_backbone = True

    def training_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """Cross-entropy; a one-example batch is refused by name when a BatchNorm of the trained
        backbone is in train mode (torch's BatchNorm cannot normalise one example)."""
        _, labels = split_batch(batch)
        if isinstance(labels, torch.Tensor) and labels.numel() == 1:
            norms = [
                name
                for name, module in self.backbone.named_modules()
                if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.training
            ]
            if norms:
                raise ValueError(
                    f"batch: 1 example, but the backbone's BatchNorm {norms[0]!r} is trained and "
                    "needs more than one per batch; set TrainingArguments(drop_last=True) or "
                    "another batch_size"
                )
        return super().training_step(batch)

    def param_groups(self) -> list[dict[str, Any]]:
        """The backbone at ``lr * backbone_lr_scale`` (``lr_scale``), the head at ``lr``."""
        return [
            {"params": list(self.head.parameters()), "name": "head"},
            {
                "params": list(self.backbone.parameters()),
                "name": "backbone",
                "lr_scale": self.config.backbone_lr_scale,
            },
        ]
