"""BayesPrompt's text features and the prompt vectors drawn from particles.

A text's feature is the mean of its *input* (static) token embeddings. The official code averages
over all 256 positions including padding (``AvgPool1d``), which makes a feature depend on the
sentence length; here padding is masked out.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["mean_input_embeddings", "abstraction_vector"]


@torch.no_grad()
def mean_input_embeddings(
    embeddings: nn.Embedding, input_ids: Tensor, attention_mask: Tensor
) -> Tensor:
    """Mask-aware mean of input embeddings.

    Shapes:
        input_ids, attention_mask: ``(B, L)`` → ``(B, D)``.
    """
    if input_ids.shape != attention_mask.shape:
        raise ValueError(
            f"attention_mask: expected the shape of input_ids {tuple(input_ids.shape)}, "
            f"got {tuple(attention_mask.shape)}"
        )
    mask = attention_mask.unsqueeze(-1).to(embeddings.weight.dtype)
    summed = (embeddings(input_ids) * mask).sum(1)
    return summed / mask.sum(1).clamp(min=1)


def abstraction_vector(
    particles: Tensor,
    num_samples: int,
    generator: torch.Generator | None = None,
    deterministic: bool = False,
) -> Tensor:
    """The prompt vector: mean of ``num_samples`` particles drawn uniformly without replacement
    (the official procedure), or of all particles when ``deterministic`` (for evaluation that
    does not change from run to run; the official evaluation redraws before every batch).

    Shapes:
        particles: ``(n, D)`` → ``(D,)``.
    """
    n = particles.size(0)
    if deterministic:
        return particles.mean(0)
    if not 1 <= num_samples:
        raise ValueError(f"num_samples: expected >= 1, got {num_samples}")
    chosen = torch.randperm(n, generator=generator)[: min(num_samples, n)].to(particles.device)
    return particles[chosen].mean(0)
