"""GraphCLIP's pre-training objective: symmetric InfoNCE plus the invariant-learning surrogate."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn import functional as F
from torch_geometric.data import Batch
from torch_geometric.utils import dropout_edge

__all__ = ["clip_loss", "augment", "adversarial_step"]


def clip_loss(graph_emb: Tensor, text_emb: Tensor, logit_scale: Tensor) -> Tensor:
    """``½[CE(s·ĝt̂ᵀ, I) + CE(s·t̂ĝᵀ, I)]`` with ``s = exp(logit_scale)`` (clamped at 100).

    Shapes:
        graph_emb, text_emb: ``(B, d)`` paired row by row → scalar.
    """
    if graph_emb.shape != text_emb.shape:
        raise ValueError(
            f"graph and text embeddings must match, got {tuple(graph_emb.shape)} and "
            f"{tuple(text_emb.shape)} (does the text encoder's dimension match the projector?)"
        )
    g, t = F.normalize(graph_emb, dim=-1), F.normalize(text_emb, dim=-1)
    logits = logit_scale.exp().clamp(max=100.0) * g @ t.t()
    labels = torch.arange(g.size(0), device=g.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))


def augment(batch: Batch, feat_mask: float = 0.3, edge_drop: float = 0.2, generator=None) -> Batch:
    """Official ``graph_aug``: zero whole feature columns with prob ``feat_mask``, drop edges."""
    out = batch.clone()
    keep = (torch.rand(out.x.size(1), generator=generator) >= feat_mask).to(out.x)
    out.x = out.x * keep
    out.edge_index, _ = dropout_edge(out.edge_index, p=edge_drop, training=True)
    return out


def adversarial_step(
    loss_fn: Callable[[Tensor], Tensor],
    x: Tensor,
    steps: int = 3,
    step_size: float = 1e-2,
    init: float = 1e-2,
    backward: Callable[[Tensor], None] | None = None,
) -> Tensor:
    """FLAG-style min-max surrogate of the official ``adversarial_aug_train``.

    ``δ ~ U(-init, init)``; ``steps`` times: ``loss/steps`` is back-propagated (gradients of the
    model accumulate, as officially) and ``δ ← δ + step_size·sign(∇δ)``. Returns the last loss.
    ``backward``: how a loss is back-propagated (default ``loss.backward()``; a mixed-precision
    step passes its scaled backward: the sign of ``∇δ`` does not depend on the scale).
    """
    delta = torch.empty_like(x).uniform_(-init, init).requires_grad_(True)
    loss = x.new_zeros(())
    for _ in range(steps):
        loss = loss_fn(x + delta) / steps
        if backward is None:
            loss.backward()
        else:
            backward(loss)
        with torch.no_grad():
            delta += step_size * delta.grad.sign()
        delta.grad = None
    return loss.detach() * steps
