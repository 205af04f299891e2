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


def _csr(edge_index: Tensor, num_nodes: int) -> tuple[Tensor, Tensor]:
    """Undirected CSR adjacency ``(rowptr (N+1,), col (2E,))`` (both directions of each edge)."""
    row = torch.cat([edge_index[0], edge_index[1]])
    col = torch.cat([edge_index[1], edge_index[0]])
    order = torch.argsort(row, stable=True)
    counts = torch.bincount(row, minlength=num_nodes)
    rowptr = torch.zeros(num_nodes + 1, dtype=torch.long)
    rowptr[1:] = torch.cumsum(counts, 0)
    return rowptr, col[order]


def _hop_distances(center: int, max_hops: int, rowptr: Tensor, col: Tensor) -> Tensor:
    """Breadth-first hop distance from ``center`` (-1 beyond ``max_hops``), ``(N,)``.

    Only the frontier's adjacency lists are read, so one call costs the size of the
    neighbourhood, not of the whole graph.
    """
    dist = torch.full((rowptr.numel() - 1,), -1, dtype=torch.long)
    dist[center] = 0
    frontier = torch.tensor([center])
    for hop in range(1, max_hops + 1):
        starts, counts = rowptr[frontier], rowptr[frontier + 1] - rowptr[frontier]
        total = int(counts.sum())
        if total == 0:
            break
        offsets = torch.arange(total) - torch.repeat_interleave(
            torch.cumsum(counts, 0) - counts, counts
        )
        neighbours = col[torch.repeat_interleave(starts, counts) + offsets].unique()
        frontier = neighbours[dist[neighbours] < 0]
        if frontier.numel() == 0:
            break
        dist[frontier] = hop
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
    adjacency: tuple[Tensor, Tensor] | None = None,
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
        adjacency: ``data``'s undirected CSR ``(rowptr, col)`` when already built (
            :func:`khop_subgraphs` builds it once for all centres).

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
    rowptr, col = adjacency if adjacency is not None else _csr(data.edge_index, n)
    dist = _hop_distances(center, num_hops + max_extra_hops, rowptr, col)
    hops = num_hops
    # grow hop by hop while too small (stops early when the component is exhausted)
    while int(((dist >= 0) & (dist <= hops)).sum()) < min_nodes and hops < dist.max():
        hops += 1
    subset = ((dist >= 0) & (dist <= hops)).nonzero().view(-1)
    dist = dist[subset]
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
    adjacency = _csr(data.edge_index, data.num_nodes)
    return [khop_subgraph(data, int(c), num_hops, adjacency=adjacency, **kwargs) for c in centers]
