"""GraphCLIP pre-training: graph–summary contrastive learning over several source graphs."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import nn
from torch_geometric.data import Batch, Data

from modalprompt.graph.graphclip.encoder import GraphClipEncoder
from modalprompt.graph.graphclip.objective import adversarial_step, augment, clip_loss

__all__ = ["PretrainResult", "pretrain_graphclip"]


@dataclass
class PretrainResult:
    """Loss per epoch, subgraphs per second, and the learned ``logit_scale``."""

    losses: list[float]
    subgraphs_per_second: float
    logit_scale: float


def pretrain_graphclip(
    encoder: GraphClipEncoder,
    sources: list[tuple[list[Data], torch.Tensor]],
    epochs: int = 5,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 1e-5,
    invariant: bool = True,
    seed: int = 88,
) -> PretrainResult:
    """Train ``encoder`` (and a learnable temperature) on (subgraphs, summary embeddings) pairs.

    Mini-batches are drawn from all source graphs pooled and shuffled, so in-batch negatives
    come from several graphs. With ``invariant`` each step uses the official recipe: augment
    (feature columns masked 0.3, edges dropped 0.2), then 3 FLAG ascent steps on the node
    features with the model's gradients accumulated. Departures: lr 1e-3 by default (official
    1e-5 at batch 7,200) and ``epochs`` epochs (the official loop runs ``epochs - 1``).

    Shapes:
        sources: per graph, ``graphs`` (T_k ``Data`` with ``center_index``) and ``(T_k, d)``.
    """
    if not sources:
        raise ValueError("sources: need at least one source graph")
    graphs = [g for gs, _ in sources for g in gs]
    texts = torch.cat([t for _, t in sources])
    if texts.size(-1) != encoder.out_dim:
        raise ValueError(
            f"text encoder dimension {texts.size(-1)} does not match the projector's output "
            f"{encoder.out_dim}; build GraphClipEncoder(out_dim={texts.size(-1)})"
        )
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
    opt = torch.optim.AdamW([*encoder.parameters(), logit_scale], lr=lr, weight_decay=weight_decay)
    encoder.train()
    losses, seen, start = [], 0, time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(graphs), generator=gen)
        total, count = 0.0, 0
        for i in range(0, len(order) - 1, batch_size):
            idx = order[i : i + batch_size]
            if idx.numel() < 2:
                continue
            batch = Batch.from_data_list([graphs[j] for j in idx.tolist()])
            target = texts[idx]
            opt.zero_grad()
            if invariant:
                aug = augment(batch, generator=gen)
                loss = adversarial_step(
                    lambda x, a=aug, t=target: clip_loss(encoder.encode(x, a), t, logit_scale),
                    aug.x,
                )
            else:
                loss = clip_loss(encoder(batch), target, logit_scale)
                loss.backward()
            opt.step()
            total += float(loss.detach()) * idx.numel()
            count += idx.numel()
        seen += count
        losses.append(total / max(count, 1))
    encoder.eval()
    rate = seen / max(time.perf_counter() - start, 1e-9)
    return PretrainResult(losses, rate, float(logit_scale.detach()))
