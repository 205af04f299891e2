"""VPT-shallow and VPT-deep on a frozen point transformer."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from modalprompt.core.model import PromptModel
from modalprompt.pointcloud.heads import (
    TrainableCls,
    check_point_backbone,
    classification_head,
    frozen_patches,
)
from modalprompt.pointcloud.vpt.config import _VptConfig

__all__ = ["VptShallowModel", "VptDeepModel"]


def _tokens(layers: int, count: int, dim: int) -> nn.Parameter:
    value = torch.zeros(layers, count, dim)
    nn.init.trunc_normal_(value, std=0.02)
    return nn.Parameter(value)


class _VptModel(PromptModel):
    layers_with_prompts = 1

    def __init__(self, backbone: nn.Module, config: _VptConfig) -> None:
        check_point_backbone(backbone)
        super().__init__(backbone, config)
        dim = backbone.config.trans_dim
        layers = (
            backbone.config.depth if self.layers_with_prompts is None else self.layers_with_prompts
        )
        self.cls = TrainableCls(backbone)
        self.prompts = _tokens(layers, config.num_prompts, dim)
        self.prompt_pos = _tokens(layers, config.num_prompts, dim)
        self.head = classification_head(2 * dim, config.num_classes, config.head_dropout)

    def forward(self, points: Tensor) -> Tensor:
        """Logits ``(B, num_classes)`` from ``(B, N, 3)`` points; head on cls ‖ max over patches."""
        x = self.backbone.norm(self.encode(points))
        groups = self.backbone.config.num_group
        return self.head(torch.cat([x[:, 0], x[:, 1 : 1 + groups].max(dim=1).values], -1))

    def encode(self, points: Tensor) -> Tensor:
        raise NotImplementedError


class VptShallowModel(_VptModel):
    """Prompts after the patch tokens at the input: ``[cls, patches, prompts]`` in every block."""

    def encode(self, points: Tensor) -> Tensor:
        tokens, pos, _ = frozen_patches(self.backbone, points)
        x, pos = self.cls.prepend(tokens, pos)
        b = x.size(0)
        x = torch.cat([x, self.prompts[0].expand(b, -1, -1)], 1)
        pos = torch.cat([pos, self.prompt_pos[0].expand(b, -1, -1)], 1)
        return self.backbone.blocks(x, pos)


class VptDeepModel(_VptModel):
    """At every block ``i``: ``[cls, patches] + prompts_i`` (the previous prompts are dropped)."""

    layers_with_prompts = None  # one set per block

    def encode(self, points: Tensor) -> Tensor:
        tokens, pos, _ = frozen_patches(self.backbone, points)
        x, pos = self.cls.prepend(tokens, pos)
        b, keep = x.size(0), x.size(1)
        for i, block in enumerate(self.backbone.blocks.blocks):
            x = torch.cat([x[:, :keep], self.prompts[i].expand(b, -1, -1)], 1)
            x = block(x + torch.cat([pos, self.prompt_pos[i].expand(b, -1, -1)], 1))
        return x
