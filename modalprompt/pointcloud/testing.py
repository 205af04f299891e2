"""Tiny point-cloud setups for the contract tests (no files, no pre-trained weights)."""

from __future__ import annotations

from typing import Any

import torch

from modalprompt.core.testing import TinyCase
from modalprompt.pointcloud.backbones import PointTransformer, PointTransformerConfig

__all__ = ["tiny_backbone", "tiny_case"]


def tiny_backbone(seed: int = 0) -> PointTransformer:
    """A 2-block, 32-wide point transformer over 8 patches of 8 points, BatchNorm warmed up."""
    torch.manual_seed(seed)
    backbone = PointTransformer(
        PointTransformerConfig(
            trans_dim=32, depth=2, num_heads=2, encoder_dims=32, num_group=8, group_size=8
        )
    )
    backbone.train()
    with torch.no_grad():
        backbone(torch.randn(4, 64, 3))
    return backbone.eval()


def tiny_case(spec: Any, seed: int = 0) -> TinyCase:
    config = spec.config_cls.from_dict({**spec.tiny, "method": spec.name})
    g = torch.Generator().manual_seed(seed)
    points = torch.randn(6, 64, 3, generator=g)
    labels = torch.randint(0, config.num_classes, (6,), generator=g)
    return TinyCase(tiny_backbone(seed), config, (points, labels))
