"""Tiny backbones and data for the core tests (no domain code)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import TensorDataset


class TinyBackbone(nn.Module):
    """Linear → BatchNorm → ReLU → Dropout: has buffers that drift if it is not kept in eval."""

    feature_dim = 8

    def __init__(self, in_dim: int = 4) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, 8)
        self.norm = nn.BatchNorm1d(8)
        self.dropout = nn.Dropout(0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(torch.relu(self.norm(self.linear(x))))


def make_backbone(seed: int = 0, in_dim: int = 4) -> TinyBackbone:
    torch.manual_seed(seed)
    backbone = TinyBackbone(in_dim)
    # give BatchNorm non-trivial statistics, as a pre-trained network has
    backbone.train()
    with torch.no_grad():
        backbone(torch.randn(64, in_dim) * 2 + 1)
    return backbone.eval()


def make_dataset(n: int = 96, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    return TensorDataset(x, y)
