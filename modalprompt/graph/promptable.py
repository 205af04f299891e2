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

from torch import Tensor, nn

__all__ = ["PromptableGNN", "check_promptable", "InputSpaceGNN"]


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
            f"backbone: {type(gnn).__name__} lacks {missing}; RELIEF needs a GNN with prompt_dim, "
            "out_dim, embed_inputs(data) and encode(x, data) (wrap a feature GNN in InputSpaceGNN)"
        )


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
        x = data.x
        if x is None or x.dim() != 2 or x.size(1) != self.prompt_dim:
            shape = None if x is None else tuple(x.shape)
            raise ValueError(f"data.x: expected (N, {self.prompt_dim}) node features, got {shape}")
        return x.float()

    def encode(self, x: Tensor, data: Any) -> Tensor:
        return self.gnn(x, data.edge_index)

    def forward(self, data: Any) -> Tensor:
        return self.encode(self.embed_inputs(data), data)
