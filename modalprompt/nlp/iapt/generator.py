"""IAPT's per-layer soft-prompt generator.

For layer ``l`` with the instruction's hidden states ``H`` (padding masked)::

    D  = H W_down                      (n, m)      bottleneck, m << d
    a  = softmax_n(D w_att + mask)     (n, l_sp)   self-attention pooling weights
    S  = LayerNorm(a^T D)              (l_sp, m)
    P  = R_l(S) W_up                   (l_sp, d)   R_l: this layer's rational activation

IAPT has no official code; this follows the paper's description (bottleneck, self-attention
pooling to four tokens, learned rational activation per layer, optional cross-layer sharing of the
projections). Our choices, where the paper is silent: pooling scores are a linear map of the
down-projected states (one learned query per soft token); the pooled summary is layer-normalised
before the rational activation, because a rational function's numerator grows like ``|x|^(p-q)``
and unnormalised pooled states would put it far outside the range its coefficients were fitted
on; the up-projection starts small (std 1e-3) so training starts near the frozen model.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from modalprompt.nlp.iapt.rational import RationalActivation

__all__ = ["IaptPromptGenerator"]


class IaptPromptGenerator(nn.Module):
    """Soft tokens for one layer from the instruction's hidden states.

    Args:
        hidden_size: ``d`` of the backbone.
        bottleneck: ``m``.
        num_tokens: ``l_sp`` (the paper: 4).
        down: A shared down-projection (cross-layer sharing), or None to own one.
        up: A shared up-projection, or None to own one.
        rational_degrees: ``(p, q)`` of the rational activation. activation_init: its start.

    Shapes:
        hidden: ``(B, n, d)``; mask: ``(B, n)`` (1 = instruction token) → ``(B, l_sp, d)``.
    """

    def __init__(
        self,
        hidden_size: int,
        bottleneck: int,
        num_tokens: int = 4,
        down: nn.Linear | None = None,
        up: nn.Linear | None = None,
        rational_degrees: tuple[int, int] = (5, 4),
        activation_init: str = "gelu",
    ) -> None:
        super().__init__()
        if bottleneck < 1 or num_tokens < 1:
            raise ValueError(
                f"bottleneck and num_tokens must be >= 1, got {bottleneck}, {num_tokens}"
            )
        self.down = down if down is not None else nn.Linear(hidden_size, bottleneck)
        self.up = up if up is not None else self._make_up(bottleneck, hidden_size)
        self.pool_scores = nn.Linear(bottleneck, num_tokens, bias=False)
        self.norm = nn.LayerNorm(bottleneck)
        self.activation = RationalActivation(*rational_degrees, init=activation_init)

    @staticmethod
    def _make_up(bottleneck: int, hidden_size: int) -> nn.Linear:
        up = nn.Linear(bottleneck, hidden_size)
        nn.init.normal_(up.weight, std=1e-3)
        nn.init.zeros_(up.bias)
        return up

    def forward(self, hidden: Tensor, mask: Tensor) -> Tensor:
        if hidden.dim() != 3 or mask.shape != hidden.shape[:2]:
            raise ValueError(
                f"hidden (B, n, d) and mask (B, n) expected, got {tuple(hidden.shape)} and "
                f"{tuple(mask.shape)}"
            )
        if not bool(mask.bool().any(dim=1).all()):
            raise ValueError("mask: every sample needs at least one instruction token")
        reduced = self.down(hidden)  # (B, n, m)
        scores = self.pool_scores(reduced).masked_fill(~mask.bool().unsqueeze(-1), float("-inf"))
        weights = torch.softmax(scores, dim=1)  # (B, n, l_sp): over the instruction tokens
        pooled = self.norm(weights.transpose(1, 2) @ reduced)  # (B, l_sp, m)
        return self.up(self.activation(pooled))  # (B, l_sp, d)
