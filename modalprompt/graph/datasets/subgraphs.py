"""Induced k-hop subgraphs around target nodes with size limits (RELIEF node-level preprocessing).

RELIEF (``node_level/preprocess.py``) turns each target node into its induced k-hop subgraph with
per-dataset limits, e.g. Cora 4-hop with 5-150 nodes. How the official script enforces the limits
is [inferred] here: a neighbourhood smaller than ``min_nodes`` grows one hop at a time (up to
``max_extra_hops`` extra hops); one larger than ``max_nodes`` keeps nodes in order of hop distance,
so the farthest hop is the one cut, with a seeded random choice inside that hop.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import k_hop_subgraph


def _hop_distances(center: int, num_hops: int, edge_index: Tensor, num_nodes: int) -> Tensor:
    dist = torch.full((num_nodes,), -1, dtype=torch.long)
    dist[center] = 0
    frontier = torch.zeros(num_nodes, dtype=torch.bool)
    frontier[center] = True
    row, col = edge_index
    for hop in range(1, num_hops + 1):
        reached = torch.zeros(num_nodes, dtype=torch.bool)
        reached[col[frontier[row]]] = True
        reached[row[frontier[col]]] = True
        new = reached & (dist < 0)
        dist[new] = hop
        frontier = new
    return dist


def khop_subgraph(
    data: Data,
    center: int,
    num_hops: int,
    *,
    min_nodes: int = 1,
    max_nodes: int | None = None,
    max_extra_hops: int = 3,
    seed: int = 0,
) -> Data:
    """Induced subgraph of the nodes within ``num_hops`` of ``center``, within size limits.

    Args:
        data: the full graph (``x``, ``edge_index``, optional ``y``).
        center: index of the target node.
        num_hops: hops k (Cora 4, CiteSeer 3, PubMed 2 in RELIEF).
        min_nodes: grow the neighbourhood hop by hop until it has at least this many nodes.
        max_nodes: keep at most this many nodes, nearest hops first (``None``: no limit).
        max_extra_hops: at most this many hops beyond ``num_hops`` when growing.
        seed: seed of the choice inside the hop that gets cut.

    Returns:
        ``Data`` with ``x``, ``edge_index`` relabelled, ``center`` (index of the target inside the
        subgraph, always 0), ``node_ids`` (original indices) and ``y`` = the target's label.

    Shapes:
        data.x: (N, F), data.edge_index: (2, E) → x: (n, F), edge_index: (2, e), node_ids: (n,)
    """
    n = data.num_nodes
    if not 0 <= center < n:
        raise ValueError(f"center: expected an index in [0, {n}), got {center}")
    if num_hops < 1:
        raise ValueError(f"num_hops: expected >= 1, got {num_hops}")
    if max_nodes is not None and max_nodes < max(min_nodes, 1):
        raise ValueError(f"max_nodes: expected >= min_nodes ({min_nodes}), got {max_nodes}")
    hops = num_hops
    subset, _, _, _ = k_hop_subgraph(center, hops, data.edge_index, num_nodes=n)
    while subset.numel() < min_nodes and hops < num_hops + max_extra_hops:
        hops += 1
        grown, _, _, _ = k_hop_subgraph(center, hops, data.edge_index, num_nodes=n)
        if grown.numel() == subset.numel():
            break  # the component is exhausted
        subset = grown
    dist = _hop_distances(center, hops, data.edge_index, n)[subset]
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(subset.numel(), generator=gen)
    order = order[torch.argsort(dist[order], stable=True)]  # by hop, random within a hop
    if max_nodes is not None:
        order = order[:max_nodes]
    nodes = subset[order]  # nodes[0] == center (the only node at distance 0)
    # relabel explicitly (node i of the subgraph is nodes[i]) rather than rely on PyG's order
    mapping = torch.full((n,), -1, dtype=torch.long)
    mapping[nodes] = torch.arange(nodes.numel())
    local = mapping[data.edge_index]
    edge_index = local[:, (local >= 0).all(0)]
    out = Data(x=data.x[nodes], edge_index=edge_index, node_ids=nodes, center=0)
    if getattr(data, "y", None) is not None:
        out.y = data.y[center].view(1)
    return out


def khop_subgraphs(data: Data, centers: Tensor | list[int], num_hops: int, **kwargs) -> list[Data]:
    """``khop_subgraph`` for each node in ``centers`` (keyword arguments as there)."""
    return [khop_subgraph(data, int(c), num_hops, **kwargs) for c in centers]
