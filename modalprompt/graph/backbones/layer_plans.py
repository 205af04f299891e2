"""Repeated encodes of the same molecules through a frozen GNN, with the graph work done once.

RELIEF's rollouts re-encode the same batch of molecules after every prompt step (one step per
atom), and validation does so every epoch; each encode recomputed every layer's self loops,
bond-embedding lookups and GCN normalisation, over a quarter of the time of a CPU rollout on the
official GCN. For the GIN, GCN and GraphSAGE layers of Hu et al. a layer is affine in its input
once the graph is fixed: ``out_i = sum_j A_ij (W x_j + b) + c_i``. GCN: ``A`` the normalised
adjacency with self loops, ``c_i = sum_j A_ij e_ij``, and ``W x_j + b`` computed by the layer's
own ``linear``, so that RELIEF's :class:`~modalprompt.graph.relief.row_cache.RowCachedLinears`
still serves the rows a prompt did not reach; GraphSAGE: the same with the mean, then
L2-normalised; GIN: ``A`` the adjacency, ``c_i = sum_j e_ji``, then the MLP. A
:class:`LayerPlan` holds ``A`` (sparse CSR) and ``c`` for one layer and one batch, and
:class:`PlanCache` keeps the plans of the last batch seen twice, so a one-off batch (training,
a single evaluation) costs nothing extra.

Plans are used only where they give the same result as the layers' own forward (up to the
order of floating-point sums): no autocast, float32/float64 inputs, and no layer parameter
that could receive a gradient; the cache is keyed on the batch's ``edge_index`` and
``edge_attr`` objects (held by weak reference, so a new batch never matches a freed one) and
their in-place versions, and on every layer parameter's identity and version, so a weight
changed by an optimiser or ``load_state_dict`` invalidates it.
"""

from __future__ import annotations

import dataclasses
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["LayerPlan", "PlanCache", "sparse_rows"]


@dataclasses.dataclass
class LayerPlan:
    """One layer on one fixed batch: ``out = adjacency @ f(x) + constant``.

    Shapes:
        adjacency: ``(N, N)`` sparse CSR; constant: ``(N, D)``.
    """

    adjacency: Tensor
    constant: Tensor


def sparse_rows(rows: Tensor, cols: Tensor, values: Tensor, num_nodes: int) -> Tensor:
    """``(N, N)`` sparse CSR matrix with ``values`` at ``(rows, cols)``, duplicates summed (as
    message passing sums the messages of parallel edges)."""
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        matrix = torch.sparse_coo_tensor(
            torch.stack([rows, cols]), values, (num_nodes, num_nodes)
        ).coalesce()
        return matrix.to_sparse_csr()


class PlanCache:
    """The layer plans of the most recent batch that was encoded twice (see the module doc)."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._refs: tuple[weakref.ref, ...] = ()
        self._plans: list[LayerPlan] | None = None

    def __reduce__(self) -> tuple[type[PlanCache], tuple[()]]:
        # a copied or pickled model (deepcopy, torch.save of the module, worker processes)
        # starts with an empty cache: weak references cannot be pickled, plans are rebuilt
        return PlanCache, ()

    def clear(self) -> None:
        self._key, self._refs, self._plans = None, (), None

    def get(
        self,
        layers: Sequence[nn.Module],
        h: Tensor,
        data: Any,
        build: Callable[[], list[LayerPlan]],
    ) -> list[LayerPlan] | None:
        """The plans for ``data`` when they may be used: built on the second encode of the same
        batch, None on the first (the caller runs its layers as usual) and whenever a plan
        would not give the layers' own result."""
        if torch.is_autocast_enabled(h.device.type) or h.dtype not in (
            torch.float32,
            torch.float64,
        ):
            return None
        params = [p for layer in layers for p in layer.parameters()]
        if torch.is_grad_enabled() and any(p.requires_grad for p in params):
            return None
        edge_index, edge_attr = data.edge_index, data.edge_attr
        key = (
            edge_index._version,
            edge_attr._version,
            int(h.size(0)),
            h.device,
            h.dtype,
            tuple((id(p), p._version) for p in params),
        )
        same = (
            self._key == key
            and len(self._refs) == 2
            and self._refs[0]() is edge_index
            and self._refs[1]() is edge_attr
        )
        if not same:  # first sight of this batch: remember it, plan nothing yet
            self._key, self._refs, self._plans = (
                key,
                (weakref.ref(edge_index), weakref.ref(edge_attr)),
                None,
            )
            return None
        if self._plans is None:
            with torch.no_grad():
                self._plans = build()
        return self._plans
