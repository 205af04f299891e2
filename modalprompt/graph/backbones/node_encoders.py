"""Node-level PyG encoders (GIN, GCN, GAT) for tasks run on induced k-hop subgraphs.

RELIEF's node-level backbone is a 2-layer PyG ``GINConv`` (MLP Linear-ReLU-Linear), hidden 128,
mean-pooled over the target node's subgraph; GCN and GAT share the interface.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.nn import (
    GATConv,
    GCNConv,
    GINConv,
    global_add_pool,
    global_max_pool,
    global_mean_pool,
)

from modalprompt.core.validation import float_dtype
from modalprompt.graph.promptable import check_edge_index, check_node_features

_ACTIVATIONS = {"relu": F.relu, "leaky_relu": F.leaky_relu}
_POOLS = {"mean": global_mean_pool, "sum": global_add_pool, "max": global_max_pool}


def pool_graphs(h: Tensor, batch: Tensor | None, pooling: str = "mean") -> Tensor:
    """Pool node embeddings per graph.

    Shapes:
        h: (N, D), batch: (N,) or ``None`` (one graph) → (B, D)
    """
    if pooling not in _POOLS:
        raise ValueError(f"pooling: expected one of {sorted(_POOLS)}, got {pooling!r}")
    return _POOLS[pooling](h, batch)


class NodeEncoder(nn.Module):
    """Stack of PyG convolutions: ``forward(data)`` → node embeddings.

    Args:
        in_dim: input feature size (RELIEF: 100 SVD features).
        hidden: embedding size (RELIEF: 128).
        num_layers: number of convolutions (RELIEF: 2).
        conv: ``"gin"``, ``"gcn"`` or ``"gat"``.
        dropout: dropout between layers.
        heads: attention heads for GAT (outputs averaged, so the width stays ``hidden``).
        activation: ``"relu"`` or ``"leaky_relu"`` between layers (RELIEF's official node-level
            GIN uses leaky ReLU, slope 0.01; :func:`load_relief_node_checkpoint` sets it).

    Shapes:
        data.x: (N, in_dim), data.edge_index: (2, E) → (N, hidden)
    """

    def __init__(
        self,
        in_dim: int,
        hidden: int = 128,
        num_layers: int = 2,
        conv: str = "gin",
        dropout: float = 0.0,
        heads: int = 1,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        if conv not in ("gin", "gcn", "gat"):
            raise ValueError(f"conv: expected 'gin', 'gcn' or 'gat', got {conv!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation: expected one of {sorted(_ACTIVATIONS)}, got {activation!r}"
            )
        self.activation = activation
        if num_layers < 1:
            raise ValueError(f"num_layers: expected >= 1, got {num_layers}")
        self.in_dim, self.hidden, self.dropout = in_dim, hidden, dropout
        self.prompt_dim, self.out_dim = in_dim, hidden  # input-space prompts (PromptableGNN)
        self.convs = nn.ModuleList()
        for layer in range(num_layers):
            d_in = in_dim if layer == 0 else hidden
            if conv == "gin":
                mlp = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
                self.convs.append(GINConv(mlp))
            elif conv == "gcn":
                self.convs.append(GCNConv(d_in, hidden))
            else:
                self.convs.append(GATConv(d_in, hidden, heads=heads, concat=False))

    def forward(self, data: Data, x: Tensor | None = None) -> Tensor:
        """Embed nodes; ``x`` overrides ``data.x`` (e.g. features with a prompt added)."""
        if x is None:
            x = self.embed_inputs(data)
        elif x.dim() != 2 or x.size(1) != self.in_dim:
            raise ValueError(f"x: expected shape (N, {self.in_dim}), got {tuple(x.shape)}")
        else:
            check_edge_index(data, x.size(0))
        for i, conv in enumerate(self.convs):
            x = conv(x, data.edge_index)
            if i < len(self.convs) - 1:
                x = F.dropout(_ACTIVATIONS[self.activation](x), self.dropout, self.training)
        return x

    def embed_inputs(self, data: Data) -> Tensor:
        """The input space feature prompts are added to: ``data.x`` ``(N, in_dim)`` checked
        (:func:`~modalprompt.graph.promptable.check_node_features`, edges included) and cast to
        the encoder's float dtype (float64 or integer features → float32 for a float32 model)."""
        x = check_node_features(data, self.in_dim)
        return x.to(float_dtype(self) or torch.float32)

    def encode(self, x: Tensor, data: Data) -> Tensor:
        """Node embeddings ``(N, hidden)`` from (prompted) input features ``x`` ``(N, in_dim)``."""
        return self(data, x)

    def pool(self, h: Tensor, batch: Tensor | None, pooling: str = "mean") -> Tensor:
        """Graph embeddings from node embeddings (see ``pool_graphs``)."""
        return pool_graphs(h, batch, pooling)
