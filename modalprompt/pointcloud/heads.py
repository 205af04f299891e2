"""Pieces the point-cloud prompt methods share: the official classification head, trainable
copies of the cls token and its position, and the feature pooling choices."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from modalprompt.pointcloud.backbones.point_transformer import PointTransformer

__all__ = ["classification_head", "HeadBatchNorm", "TrainableCls", "check_point_backbone"]


class HeadBatchNorm(nn.BatchNorm1d):
    """``BatchNorm1d`` that also trains on a batch of one example.

    Batch statistics of one value per channel are undefined (torch raises "Expected more than 1
    value per channel"), so a training batch of size 1 (e.g. the last, partial batch of an
    epoch) is normalised with the running statistics, which it leaves unchanged, as in eval
    mode. The official Point-MAE loaders avoid the case with ``drop_last=True``, which silently
    never trains on some examples; we keep them. Same parameters and buffers as ``BatchNorm1d``.
    """

    def forward(self, input: Tensor) -> Tensor:
        if self.training and input.dim() == 2 and input.size(0) == 1:
            return nn.functional.batch_norm(
                input, self.running_mean, self.running_var, self.weight, self.bias,
                False, 0.0, self.eps,
            )  # fmt: skip
        return super().forward(input)


def classification_head(in_dim: int, num_classes: int, dropout: float = 0.5) -> nn.Sequential:
    """Point-MAE's ``cls_head_finetune``: 2 × (Linear 256 + BN + ReLU + Dropout), then Linear
    (BN: :class:`HeadBatchNorm`, which accepts a one-example training batch)."""
    return nn.Sequential(
        nn.Linear(in_dim, 256),
        HeadBatchNorm(256),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(256, 256),
        HeadBatchNorm(256),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(256, num_classes),
    )


class TrainableCls(nn.Module):
    """Trainable copies of the backbone's ``cls_token`` and ``cls_pos`` (the official IDPT/VPT
    code trains both while the rest of the backbone stays frozen)."""

    def __init__(self, backbone: PointTransformer) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(backbone.cls_token.detach().clone())
        self.cls_pos = nn.Parameter(backbone.cls_pos.detach().clone())

    def prepend(self, tokens: Tensor, pos: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, G, D)`` patch tokens and positions → with the cls slot first ``(B, 1+G, D)``."""
        b = tokens.size(0)
        return (
            torch.cat([self.cls_token.expand(b, -1, -1), tokens], 1),
            torch.cat([self.cls_pos.expand(b, -1, -1), pos], 1),
        )


def check_point_backbone(backbone: nn.Module) -> None:
    if not isinstance(backbone, PointTransformer):
        raise TypeError(
            f"backbone: expected a modalprompt PointTransformer, got {type(backbone).__name__}"
        )


@torch.no_grad()
def frozen_patches(backbone: PointTransformer, points: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Patch tokens ``(B, G, D)``, their positions ``(B, G, D)`` and centres ``(B, G, 3)`` from
    the frozen tokenizer."""
    neighborhood, centers = backbone.group(points)
    return backbone.patch_tokens(neighborhood), backbone.pos_embed(centers), centers
