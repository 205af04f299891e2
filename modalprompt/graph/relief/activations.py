"""Activations with a faster CPU path than PyTorch's own kernel.

``torch.tanh`` on CPU runs at about 0.46 G elements/s on this project's reference machine (one
thread, torch 2.13), ten times slower than ``torch.sigmoid``; RELIEF's actors apply it to every
node at every rollout step, where it cost as much time as all their linear layers together.
``tanh(x) = 2 * sigmoid(2x) - 1`` is the same function; in float32 the identity's absolute
error is below 2e-7 (``torch.tanh``'s own is 6e-8), ``sigmoid`` saturates to exactly 0 or 1 so
the range stays [-1, 1]; its gradient is within 4e-7 (``torch.tanh``: 7e-8). On CUDA
``torch.tanh`` is used as is.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["fast_tanh", "FastTanh"]


def fast_tanh(x: Tensor) -> Tensor:
    """``tanh(x)``, elementwise, any shape; ``2 * sigmoid(2x) - 1`` off CUDA."""
    if x.is_cuda:
        return torch.tanh(x)
    s = torch.sigmoid(x * 2)
    if s.requires_grad:  # sigmoid's backward needs its output untouched
        return s * 2 - 1
    return s.mul_(2).sub_(1)


class FastTanh(nn.Module):
    """``nn.Tanh`` computed by :func:`fast_tanh` (no parameters; drop-in in state dicts)."""

    def forward(self, x: Tensor) -> Tensor:
        return fast_tanh(x)
