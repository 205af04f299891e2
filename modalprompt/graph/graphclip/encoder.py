"""GraphGPS-style graph encoder of GraphCLIP (PyG ``GPSConv``: local SAGE + global attention)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.nn import GPSConv, SAGEConv, global_mean_pool

__all__ = ["GraphClipEncoder", "NodeLevelView"]


class GraphClipEncoder(nn.Module):
    """``x0 = Linear(x)``; ``num_layers`` × GPSConv; ``[mean_pool ‖ x_centre]`` → Linear → text dim.

    The official encoder (``models/gt.py``) concatenates a 32-d random-walk PE branch; here the
    PE branch is optional (``pe_dim > 0`` expects ``data.pe``) to keep tiny models tiny.

    Args:
        in_dim: Node-feature size (the text encoder's dimension; 384 for MiniLM).
        hidden: GPS channels (official 1024).
        out_dim: Projector output = text dimension.
        num_layers: GPSConv layers (official 12).
        heads: Attention heads (official 8).
        pe_dim: Random-walk PE size (official 32; 0 = no PE).

    Shapes:
        data: PyG ``Batch`` with ``x`` ``(N, in_dim)``, ``edge_index``, ``batch`` ``(N,)`` and
        ``center_index`` ``(B,)`` (global index of each centre node) → ``(B, out_dim)``.
    """

    def __init__(
        self,
        in_dim: int,
        hidden: int = 64,
        out_dim: int | None = None,
        num_layers: int = 2,
        heads: int = 4,
        pe_dim: int = 0,
    ) -> None:
        super().__init__()
        self.in_dim, self.prompt_dim = in_dim, in_dim
        self.out_dim = int(out_dim if out_dim is not None else in_dim)
        self.pe_dim = pe_dim
        pe_out = 8 if pe_dim else 0
        self.node_in = nn.Linear(in_dim, hidden - pe_out)
        if pe_dim:
            self.pe_norm = nn.BatchNorm1d(pe_dim)
            self.pe_in = nn.Linear(pe_dim, pe_out)
        self.convs = nn.ModuleList(
            GPSConv(hidden, SAGEConv(hidden, hidden), heads=heads, attn_type="multihead")
            for _ in range(num_layers)
        )
        self.projector = nn.Linear(2 * hidden, self.out_dim)

    def embed_inputs(self, data: Any) -> Tensor:
        """The input space a feature prompt is added to: ``data.x`` ``(N, in_dim)`` checked
        (:func:`~modalprompt.graph.promptable.check_node_features`, edges included) and cast to
        the encoder's float dtype (float64 or integer features → float32 for a float32 model)."""
        from modalprompt.core.validation import float_dtype
        from modalprompt.graph.promptable import check_node_features

        x = check_node_features(data, self.in_dim)
        return x.to(float_dtype(self) or torch.float32)

    def encode(self, x: Tensor, data: Any) -> Tensor:
        batch = getattr(data, "batch", None)
        if batch is None:
            batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
        h = self.node_in(x)
        if self.pe_dim:
            h = torch.cat([h, self.pe_in(self.pe_norm(data.pe))], dim=-1)
        for conv in self.convs:
            h = conv(h, data.edge_index, batch)
        num_graphs = int(data.center_index.numel())
        pooled = global_mean_pool(h, batch, num_graphs)
        return self.projector(torch.cat([pooled, h[data.center_index]], dim=-1))

    def forward(self, data: Any) -> Tensor:
        return self.encode(self.embed_inputs(data), data)


class NodeLevelView(nn.Module):
    """Let node-embedding prompt methods (GPF, GPF-plus, RELIEF) use a GraphCLIP encoder.

    Those methods call ``encode(x, data)`` expecting node embeddings ``(N, d_h)`` and mean-pool
    them per graph in their head; :class:`GraphClipEncoder` already returns one embedding per
    graph ``(B, out_dim)``. This view repeats each graph's embedding on its nodes, so the head's
    mean pooling gives back exactly the graph embedding.

    Shapes:
        ``embed_inputs(data)``: ``(N, in_dim)``; ``encode(x, data)``: ``(N, out_dim)``.
    """

    def __init__(self, encoder: GraphClipEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.prompt_dim, self.out_dim = encoder.prompt_dim, encoder.out_dim

    def embed_inputs(self, data: Any) -> Tensor:
        return self.encoder.embed_inputs(data)

    def encode(self, x: Tensor, data: Any) -> Tensor:
        batch = getattr(data, "batch", None)
        if batch is None:
            batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
        return self.encoder.encode(x, data)[batch]

    def forward(self, data: Any) -> Tensor:
        return self.encode(self.embed_inputs(data), data)
