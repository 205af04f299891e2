"""RELIEF's policy networks: per-node actors, a pooled critic, and the K-member ensemble.

The state encoder is the frozen pre-trained GNN itself ("GNN-based policy"); the actors are
small per-node MLP heads on its node embeddings.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.distributions import Categorical, Normal

from modalprompt.graph.relief.activations import FastTanh, fast_tanh

__all__ = ["DiscreteActor", "ContinuousActor", "PooledCritic", "PolicyEnsemble"]


def _orthogonal(layer: nn.Linear, gain: float) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, gain=gain)
    nn.init.zeros_(layer.bias)
    return layer


class DiscreteActor(nn.Module):
    """Node-choice logits: MLP ``d_h -> d_h/2 -> d_h/4 -> 1`` (Tanh) applied to every node.

    Orthogonal init with gain sqrt(2), last layer 0.01 (as the official code).

    Shapes:
        h: ``(B, N_max, d_h)``; mask: ``(B, N_max)`` → logits ``(B, N_max)`` (-inf on padding).
    """

    def __init__(self, hidden: int) -> None:
        super().__init__()
        a, b = max(1, hidden // 2), max(1, hidden // 4)
        self.net = nn.Sequential(
            _orthogonal(nn.Linear(hidden, a), math.sqrt(2)),
            FastTanh(),
            _orthogonal(nn.Linear(a, b), math.sqrt(2)),
            FastTanh(),
            _orthogonal(nn.Linear(b, 1), 0.01),
        )

    def forward(self, h: Tensor, mask: Tensor) -> Tensor:
        logits = self.net(h).squeeze(-1)
        return logits.masked_fill(~mask, float("-inf"))


class ContinuousActor(nn.Module):
    """Prompt-vector mean: MLP ``d_h -> d_h/2 -> d_h/2 -> d_x`` (Tanh), ``mu = max_z * tanh(.)``.

    Shapes:
        h: ``(B, N_max, d_h)``; node: ``(B,)`` → mu ``(B, d_x)``.
    """

    def __init__(self, hidden: int, prompt_dim: int, max_z: float) -> None:
        super().__init__()
        a = max(1, hidden // 2)
        self.max_z = max_z
        self.net = nn.Sequential(
            _orthogonal(nn.Linear(hidden, a), math.sqrt(2)),
            FastTanh(),
            _orthogonal(nn.Linear(a, a), math.sqrt(2)),
            FastTanh(),
            _orthogonal(nn.Linear(a, prompt_dim), 0.01),
        )

    def forward(self, h: Tensor, node: Tensor) -> Tensor:
        rows = h[torch.arange(h.size(0), device=h.device), node]  # (B, d_h)
        return self.max_z * fast_tanh(self.net(rows))


class PooledCritic(nn.Module):
    """State value from pooled node embeddings: ``[mean ‖ max]`` over valid nodes → MLP → 1.

    Differs from the official code: it flattens the ``(N_max, d_h)`` padded state into one
    vector (39,600 inputs for BBBP, 147,600 for SIDER), so its size grows with ``N_max`` and it
    depends on node order. Pooling keeps the critic small and permutation-invariant.

    Shapes:
        h: ``(B, N_max, d_h)``; mask: ``(B, N_max)`` → value ``(B,)``.
    """

    def __init__(self, hidden: int, pooling: str = "meanmax") -> None:
        super().__init__()
        self.pooling = pooling
        width = hidden * (2 if pooling == "meanmax" else 1)
        self.net = nn.Sequential(
            nn.Linear(width, hidden),
            nn.ReLU(),
            nn.Linear(hidden, max(1, hidden // 2)),
            nn.ReLU(),
            nn.Linear(max(1, hidden // 2), 1),
        )
        for layer in self.net:
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)

    def forward(self, h: Tensor, mask: Tensor) -> Tensor:
        m = mask.unsqueeze(-1).to(h.dtype)
        mean = (h * m).sum(1) / m.sum(1).clamp(min=1)
        pooled = mean
        if self.pooling == "meanmax":
            maxed = h.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1)
            pooled = torch.cat([mean, torch.nan_to_num(maxed, neginf=0.0)], dim=-1)
        return self.net(pooled).squeeze(-1)


class PolicyEnsemble(nn.Module):
    """K (node actor, prompt actor) members and the joint policy deployed at test time.

    Joint policy (official code): node distribution = L1-normalised element-wise max of the
    members' node probabilities; prompt vector = mean of the members' means at that node.

    Args:
        hidden: ``d_h``. prompt_dim: ``d_x``. max_z: prompt bound. size: ``K``.
    """

    def __init__(self, hidden: int, prompt_dim: int, max_z: float, size: int) -> None:
        super().__init__()
        self.discrete = nn.ModuleList(DiscreteActor(hidden) for _ in range(size))
        self.continuous = nn.ModuleList(
            ContinuousActor(hidden, prompt_dim, max_z) for _ in range(size)
        )
        self.max_z = max_z
        self.register_buffer("log_std", torch.zeros(()), persistent=True)

    def __len__(self) -> int:
        return len(self.discrete)

    def set_log_std(self, value: float) -> None:
        self.log_std.fill_(value)

    def member(self, i: int, h: Tensor, mask: Tensor) -> Categorical:
        return Categorical(logits=self.discrete[i](h, mask))

    def prompt_distribution(self, i: int, h: Tensor, node: Tensor) -> Normal:
        mu = self.continuous[i](h, node)
        return Normal(mu, self.log_std.exp().expand_as(mu))

    def ensemble_node_probs(self, h: Tensor, mask: Tensor) -> Tensor:
        """``(B, N_max)`` normalised element-wise max of the members' node probabilities."""
        probs = torch.stack([self.member(i, h, mask).probs for i in range(len(self))]).amax(0)
        return probs / probs.sum(-1, keepdim=True)

    def ensemble_prompt_mean(self, h: Tensor, node: Tensor) -> Tensor:
        return torch.stack([self.continuous[i](h, node) for i in range(len(self))]).mean(0)

    @torch.no_grad()
    def act_joint(
        self, h: Tensor, mask: Tensor, deterministic: bool, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Joint-policy action: node sampled (or argmax) from the ensemble, mean prompt vector."""
        probs = self.ensemble_node_probs(h, mask)
        if deterministic:
            node = probs.argmax(-1)
        else:
            node = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        return node, self.ensemble_prompt_mean(h, node)
