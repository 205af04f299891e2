"""Random walk with restart (RWR) subgraph sampling, vectorised over many target nodes."""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.utils import k_hop_subgraph, subgraph, to_undirected

__all__ = ["rwr_subgraphs"]


def rwr_subgraphs(
    edge_index: Tensor,
    num_nodes: int,
    targets: Tensor,
    walk_steps: int = 64,
    restart: float = 0.5,
    max_nodes: int = 64,
    min_nodes: int = 2,
    hops: int = 2,
    generator: torch.Generator | None = None,
) -> list[tuple[Tensor, Tensor, int]]:
    """One RWR subgraph per target: all walks advance together, one step per loop iteration.

    As in the official sampler, edges are the transitions the walk traversed (made undirected);
    restart jumps add no edge. Departures: a walk from a node with no neighbours stays put; when
    a walk visits fewer than ``min_nodes`` nodes, the ``hops``-hop ego graph is used instead (the
    official code leaves single-node subgraphs); and a subgraph is capped at ``max_nodes`` nodes
    (the target first, then nodes in order of first visit).

    Returns:
        ``(nodes, local_edge_index, center)`` per target: global node ids ``(n_i,)``, edges
        ``(2, e_i)`` in local ids, and the target's local index (always 0).
    """
    if targets.numel() == 0:
        return []
    if not 0.0 <= restart < 1.0:
        raise ValueError(f"restart: expected a probability in [0, 1), got {restart}")
    if max_nodes < 1 or min_nodes < 1:
        raise ValueError(f"max_nodes and min_nodes must be >= 1, got {max_nodes}, {min_nodes}")
    device = edge_index.device
    targets = targets.to(device).long()
    row, col = edge_index
    order = torch.argsort(row)
    row, col = row[order], col[order]
    deg = torch.bincount(row, minlength=num_nodes)
    ptr = torch.zeros(num_nodes + 1, dtype=torch.long, device=device)
    ptr[1:] = torch.cumsum(deg, 0)
    t = targets.numel()
    cur = targets.clone()
    steps_src, steps_dst = [], []
    for _ in range(walk_steps):
        d = deg[cur]
        u = torch.rand(t, generator=generator).to(device)
        pick = (u * d.clamp(min=1).float()).long().clamp(max=(d - 1).clamp(min=0))
        nxt = torch.where(d > 0, col[(ptr[cur] + pick).clamp(max=max(col.numel() - 1, 0))], cur)
        steps_src.append(cur)
        steps_dst.append(nxt)
        jump = torch.rand(t, generator=generator).to(device) < restart
        cur = torch.where(jump, targets, nxt)
    src = torch.stack(steps_src, 1)  # (T, S)
    dst = torch.stack(steps_dst, 1)  # (T, S)
    out = []
    for i in range(t):
        center = int(targets[i])
        visited = [center]
        seen = {center}
        for v in dst[i].tolist():
            if v not in seen and len(visited) < max_nodes:
                seen.add(v)
                visited.append(v)
        if len(visited) < min_nodes:
            nodes, _, _, _ = k_hop_subgraph(center, hops, edge_index, num_nodes=num_nodes)
            rest = [v for v in nodes.tolist() if v != center][: max_nodes - 1]
            visited = [center, *rest]
            nodes_t = torch.tensor(visited, device=device)
            local, _ = subgraph(nodes_t, edge_index, relabel_nodes=True, num_nodes=num_nodes)
            out.append((nodes_t, local, 0))
            continue
        nodes_t = torch.tensor(visited, device=device)
        mapping = torch.full((num_nodes,), -1, dtype=torch.long, device=device)
        mapping[nodes_t] = torch.arange(len(visited), device=device)
        s, d_ = mapping[src[i]], mapping[dst[i]]
        keep = (s >= 0) & (d_ >= 0) & (s != d_)
        local = torch.stack([s[keep], d_[keep]])
        local = to_undirected(local, num_nodes=len(visited)) if local.numel() else local
        out.append((nodes_t, local, 0))
    return out
