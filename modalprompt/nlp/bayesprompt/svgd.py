"""Stein variational gradient descent, vectorised in torch (BayesPrompt's particle update).

``phi(theta_i) = (1/n) sum_j [k(theta_j, theta_i) grad log p(theta_j)
+ grad_{theta_j} k(theta_j, theta_i)]``
with the RBF kernel ``k(x, y) = exp(-||x - y||^2 / (2 h^2))`` and the median heuristic
``h = sqrt(0.5 * median(D^2) / log(n + 1))``; the step is AdaGrad with momentum as in the
official code: ``G = 0.9 G + 0.1 phi^2`` (``G = phi^2`` at the first iteration),
``theta += step * phi / (1e-6 + sqrt(G))``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["rbf_kernel", "svgd_direction", "run_svgd"]


def rbf_kernel(particles: Tensor) -> tuple[Tensor, Tensor]:
    """Kernel matrix ``(n, n)`` and ``sum_j grad_{theta_j} k(theta_j, theta_i)`` ``(n, D)``."""
    n = particles.size(0)
    sq = torch.cdist(particles, particles).pow(2)  # (n, n)
    median = sq.flatten().median() if n > 1 else sq.new_tensor(1.0)
    h2 = 0.5 * median / math.log(n + 1)
    h2 = h2.clamp(min=1e-12)
    kernel = torch.exp(-sq / (2 * h2))
    # grad_{theta_j} k(theta_j, theta_i) = -k (theta_j - theta_i) / h^2 ; summed over j
    grad = (kernel.sum(1, keepdim=True) * particles - kernel @ particles) / h2
    return kernel, grad


def svgd_direction(particles: Tensor, score: Tensor) -> Tensor:
    """The SVGD update direction ``phi`` ``(n, D)`` given ``score = grad log p`` ``(n, D)``."""
    kernel, repulsion = rbf_kernel(particles)
    return (kernel @ score + repulsion) / particles.size(0)


def run_svgd(
    particles: Tensor,
    score_fn: Callable[[Tensor], Tensor],
    *,
    iterations: int = 1000,
    step_size: float = 0.01,
    momentum: float = 0.9,
) -> Tensor:
    """Move ``particles`` ``(n, D)`` towards the density whose score ``score_fn`` gives."""
    if particles.dim() != 2 or particles.size(0) < 1:
        raise ValueError(f"particles: expected (n >= 1, D), got {tuple(particles.shape)}")
    if iterations < 0 or step_size <= 0:
        raise ValueError(
            f"iterations >= 0 and step_size > 0 expected, got {iterations}, {step_size}"
        )
    theta = particles.clone()
    history = None
    for _ in range(iterations):
        phi = svgd_direction(theta, score_fn(theta))
        history = phi**2 if history is None else momentum * history + (1 - momentum) * phi**2
        theta = theta + step_size * phi / (1e-6 + history.sqrt())
    return theta
