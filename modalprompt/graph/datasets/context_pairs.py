"""Substructure / context pairs of Hu et al.'s Context Prediction (pretrain-gnns
``ExtractSubstructureContextPair``).

Around a root atom at hop distance ``d(v)`` from every atom ``v``:

* substructure: the atoms with ``d <= k`` (``k`` = the main GNN's depth, 5), with the bonds
  among them; the root is its *center*;
* context: the atoms with ``r1 < d <= r2`` (4 < d <= 7 in the paper), with the bonds among them;
* anchors: the context atoms that are also in the substructure (``r1 < d <= k``).

A molecule with no atom beyond ``r1`` hops of the root has no context; the official collate
skips it, and :func:`context_pair` returns None for it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from modalprompt.graph.datasets.subgraphs import _csr, _hop_distances

__all__ = ["ContextPair", "ContextBatch", "context_pair", "collate_context_pairs"]


@dataclasses.dataclass
class ContextPair:
    """One molecule's pair; indices are local to each subgraph.

    Attributes:
        substruct: ``Data`` with ``x`` ``(n_s, 2)``, ``edge_index`` ``(2, e_s)``, ``edge_attr``
            ``(e_s, 2)``, and ``node_ids`` ``(n_s,)``: each atom's index in the molecule.
        center: The root's index in ``substruct``.
        context: Same fields for the context ring ``(n_c, ...)``.
        anchors: ``(A,)`` indices in ``context`` of the atoms shared with the substructure.
    """

    substruct: Any
    center: int
    context: Any
    anchors: Tensor


@dataclasses.dataclass
class ContextBatch:
    """A batch of ``B`` pairs: ``substruct`` and ``context`` are PyG ``Batch``es; ``center``
    ``(B,)`` and ``anchors`` ``(A,)`` index into their nodes; ``anchor_pair`` ``(A,)`` says which
    pair each anchor belongs to."""

    substruct: Any
    center: Tensor
    context: Any
    anchors: Tensor
    anchor_pair: Tensor

    @property
    def num_pairs(self) -> int:
        return int(self.center.numel())

    def to(self, device: str | torch.device) -> ContextBatch:
        return ContextBatch(
            self.substruct.to(device),
            self.center.to(device),
            self.context.to(device),
            self.anchors.to(device),
            self.anchor_pair.to(device),
        )


def _induced(data: Any, nodes: Tensor) -> Any:
    """The subgraph on ``nodes`` (ascending molecule order), bonds and their features kept."""
    from torch_geometric.data import Data

    mapping = torch.full((data.num_nodes,), -1, dtype=torch.long)
    mapping[nodes] = torch.arange(nodes.numel())
    local = mapping[data.edge_index]
    keep = (local >= 0).all(0)
    return Data(
        x=data.x[nodes], edge_index=local[:, keep], edge_attr=data.edge_attr[keep], node_ids=nodes
    )


def context_pair(data: Any, root: int, k: int = 5, r1: int = 4, r2: int = 7) -> ContextPair | None:
    """Hu et al.'s substructure (``d <= k``) and context (``r1 < d <= r2``) around ``root``.

    Args:
        data: A molecule graph (``x``, ``edge_index`` with both bond directions, ``edge_attr``).
        root: The root atom.
        k: Substructure radius (the main GNN's depth).
        r1, r2: Context ring radii; ``r1 < k`` so that anchors exist.

    Returns:
        The pair, or None when no atom lies beyond ``r1`` hops (no context).
    """
    n = int(data.num_nodes)
    if not 0 <= root < n:
        raise ValueError(f"root: expected an atom index in [0, {n}), got {root}")
    if not 0 <= r1 < k or r2 <= r1:
        raise ValueError(f"k, r1, r2: expected 0 <= r1 < k and r1 < r2, got {k}, {r1}, {r2}")
    if getattr(data, "edge_attr", None) is None:
        raise ValueError("data.edge_attr: expected (E, 2) bond features, got None")
    rowptr, col = _csr(data.edge_index, n)
    dist = _hop_distances(root, max(k, r2), rowptr, col)
    reached = dist >= 0
    context_nodes = (reached & (dist > r1) & (dist <= r2)).nonzero().view(-1)
    if context_nodes.numel() == 0:
        return None
    substruct_nodes = (reached & (dist <= k)).nonzero().view(-1)
    center = int((substruct_nodes == root).nonzero())
    anchors = (dist[context_nodes] <= k).nonzero().view(-1)
    return ContextPair(
        _induced(data, substruct_nodes), center, _induced(data, context_nodes), anchors
    )


def collate_context_pairs(pairs: Sequence[ContextPair]) -> ContextBatch:
    """Batch the pairs' substructures and contexts; ``center`` and ``anchors`` are offset into
    the batched nodes."""
    from torch_geometric.data import Batch

    if not pairs:
        raise ValueError("pairs: expected at least one pair, got none")
    substruct = Batch.from_data_list([p.substruct for p in pairs])
    context = Batch.from_data_list([p.context for p in pairs])
    center = substruct.ptr[:-1] + torch.tensor([p.center for p in pairs])
    anchors = torch.cat([p.anchors + context.ptr[i] for i, p in enumerate(pairs)])
    anchor_pair = torch.repeat_interleave(
        torch.arange(len(pairs)), torch.tensor([p.anchors.numel() for p in pairs])
    )
    return ContextBatch(substruct, center, context, anchors, anchor_pair)
