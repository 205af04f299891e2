"""What input-space graph prompts (GPF, GPF-plus, RELIEF) need from a frozen GNN.

GPF, GPF-plus and RELIEF add the prompt in the GNN's *input* space: for the molecule GIN of Hu et
al. that is the atom embedding ``x_embedding1(atom) + x_embedding2(chirality)``; for node-level
GNNs it is the raw (e.g. SVD-reduced) node features. A backbone serves them when it has:

* ``prompt_dim``: width ``d_x`` of the input space (the prompt vectors' size);
* ``out_dim``: width ``d_h`` of its node embeddings;
* ``embed_inputs(data) -> (N, d_x)``;
* ``encode(x, data) -> (N, d_h)``: the network from that input space on.

:class:`InputSpaceGNN` adapts a plain feature GNN ``gnn(x, edge_index) -> (N, d_h)``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from modalprompt.core.validation import float_dtype

__all__ = [
    "PromptableGNN",
    "check_promptable",
    "check_edge_index",
    "check_node_features",
    "InputSpaceGNN",
]


@runtime_checkable
class PromptableGNN(Protocol):
    prompt_dim: int
    out_dim: int

    def embed_inputs(self, data: Any) -> Tensor: ...

    def encode(self, x: Tensor, data: Any) -> Tensor: ...


def check_promptable(gnn: Any) -> None:
    """Raise a TypeError naming what is missing when ``gnn`` cannot host input-space prompts."""
    missing = [
        n for n in ("prompt_dim", "out_dim", "embed_inputs", "encode") if not hasattr(gnn, n)
    ]
    if missing:
        raise TypeError(
            f"backbone: {type(gnn).__name__} lacks {missing}; input-space graph prompts (GPF, "
            "GPF-plus, RELIEF, GraphCLIP) need a GNN with prompt_dim, out_dim, embed_inputs(data) "
            "and encode(x, data) (wrap a feature GNN in InputSpaceGNN)"
        )


def check_edge_index(data: Any, num_nodes: int | None = None) -> None:
    """Raise naming ``data.edge_index`` unless it is a ``(2, E)`` integer tensor of node indices
    in ``[0, N)`` (``N`` = ``num_nodes`` or ``data.num_nodes``); PyG would otherwise fail deep in
    a scatter (``dim_size``) or an index, or silently read another graph's node."""
    edge_index = getattr(data, "edge_index", None)
    if not isinstance(edge_index, Tensor):
        raise TypeError(
            f"data.edge_index: expected a (2, E) integer tensor, got {type(edge_index).__name__}"
        )
    if edge_index.dtype != torch.long:  # PyG's scatter needs int64 indices
        raise TypeError(
            f"data.edge_index: expected integer node indices of dtype torch.long (int64), got "
            f"{edge_index.dtype}"
        )
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"data.edge_index: expected shape (2, E), got {tuple(edge_index.shape)}")
    n = int(data.num_nodes if num_nodes is None else num_nodes)
    if edge_index.numel() and bool(((edge_index < 0) | (edge_index >= n)).any()):
        bad = edge_index[(edge_index < 0) | (edge_index >= n)]
        raise ValueError(
            f"data.edge_index: node indices must lie in [0, {n}) for {n} nodes, found "
            f"{sorted(set(bad.tolist()))[:5]}"
        )


def check_node_features(data: Any, width: int) -> Tensor:
    """``data.x`` checked as ``(N, width)`` finite real features (``N >= 1``); with
    :func:`check_edge_index` run on ``data``. Returns ``data.x`` unchanged."""
    x = getattr(data, "x", None)
    if not isinstance(x, Tensor) or x.dtype == torch.bool or x.is_complex():
        found = f"{x.dtype} tensor" if isinstance(x, Tensor) else type(x).__name__
        raise TypeError(f"data.x: expected (N, {width}) real node features, got {found}")
    if x.dim() != 2 or x.size(1) != width:
        raise ValueError(
            f"data.x: expected (N, {width}) node features (the backbone's input width), got "
            f"{tuple(x.shape)}"
        )
    if x.size(0) == 0:
        raise ValueError("data.x: no nodes (N = 0); a batch needs at least one node")
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        rows = (~torch.isfinite(x)).any(1).nonzero().view(-1)
        raise ValueError(f"data.x: NaN or inf features at node(s) {rows[:10].tolist()}")
    check_edge_index(data, x.size(0))
    return x


class InputSpaceGNN(nn.Module):
    """Wraps ``gnn(x, edge_index) -> (N, d_h)`` on raw node features ``data.x`` of width ``in_dim``.

    Args:
        gnn: The encoder (e.g. a PyG ``GIN``/``GCN``/``GAT`` model).
        in_dim: Width of ``data.x`` (``prompt_dim``).
        out_dim: Width of the encoder's output.
    """

    def __init__(self, gnn: nn.Module, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.gnn, self.prompt_dim, self.out_dim = gnn, in_dim, out_dim

    def embed_inputs(self, data: Any) -> Tensor:
        """``data.x`` checked (:func:`check_node_features`, edges included) and cast to the
        wrapped GNN's float dtype (float64 or integer features → float32 for a float32 GNN)."""
        x = check_node_features(data, self.prompt_dim)
        return x.to(float_dtype(self) or torch.float32)

    def encode(self, x: Tensor, data: Any) -> Tensor:
        return self.gnn(x, data.edge_index)

    def forward(self, data: Any) -> Tensor:
        return self.encode(self.embed_inputs(data), data)
