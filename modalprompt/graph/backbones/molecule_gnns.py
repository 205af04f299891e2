"""The GCN, GAT and GraphSAGE members of Hu et al.'s molecule GNN family (pretrain-gnns'
``chem/model.py``), beside the GIN of :mod:`~modalprompt.graph.backbones.molecule_gin`.

All share the GIN's atom embeddings, BatchNorm/ReLU/dropout between layers, JK options and the
per-layer bond embeddings with type-4 self loops (:class:`MoleculeConv`); only the convolution
differs, each as the official layer computes it (``i`` gathers from its neighbours ``j`` and
itself, ``e_ij`` is the bond embedding):

* ``gcn``: ``sum_j d_i^-1/2 d_j^-1/2 (W x_j + b + e_ij)`` with ``d`` the degree counted over the
  edges with the self loop; no bias after the sum.
* ``gat`` (2 heads): per head ``h``, ``m_j = (W x_j + b)_h + e_ij,h``, attention
  ``softmax_j(leaky_relu(a_h . [(W x_i + b)_h, m_j], 0.2))``, ``sum_j alpha_ij m_j``; heads are
  averaged and a bias added. Bond embeddings have width ``heads * emb_dim``.
* ``graphsage``: ``l2_normalise(mean_j (W x_j + b + e_ij))``.

State-dict names and shapes are the official ones, so the checkpoints in
``chem/model_architecture/*.pth`` load (:func:`~modalprompt.graph.backbones.from_pretrain_gnns`).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.utils import softmax

from modalprompt.graph.backbones.layer_plans import LayerPlan
from modalprompt.graph.backbones.molecule_gin import MoleculeConv, MoleculeGIN, MoleculeGINConv

__all__ = [
    "GNN_TYPES",
    "MoleculeGNN",
    "MoleculeGCNConv",
    "MoleculeGATConv",
    "MoleculeSAGEConv",
    "bn_signature",
    "signature_says",
]

GNN_TYPES = ("gin", "gcn", "gat", "graphsage")
BN_MOMENTUM = 0.1  # BatchNorm1d's default, the official models' too


class MoleculeGCNConv(MoleculeConv):
    """Official ``GCNConv``: symmetric-normalised sum of ``linear(x_j) + e_ij``.

    Shapes:
        x: ``(N, D)``; edge_index: ``(2, E)``; edge_attr: ``(E, 2)`` long → ``(N, D)``.
    """

    supports_plan = True

    def __init__(self, emb_dim: int) -> None:
        super().__init__(aggr="add")
        self.linear = nn.Linear(emb_dim, emb_dim)
        self.add_bond_embeddings(emb_dim)

    @staticmethod
    def normalisation(num_nodes: int, edge_index: Tensor, dtype: torch.dtype) -> Tensor:
        """``d_i^-1/2 d_j^-1/2`` per edge ``(E,)``, degrees of the gathering atoms counted over
        the edges with the self loop, as the official ``norm``."""
        ones = torch.ones(edge_index.size(1), dtype=dtype, device=edge_index.device)
        deg = torch.zeros(num_nodes, dtype=dtype, device=edge_index.device)
        deg.index_add_(0, edge_index[0], ones)
        inv_sqrt = deg.pow(-0.5).masked_fill(deg == 0, 0.0)
        return inv_sqrt[edge_index[0]] * inv_sqrt[edge_index[1]]

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        edge_index, edges = self.with_self_loops(x.size(0), edge_index, edge_attr)
        norm = self.normalisation(x.size(0), edge_index, x.dtype)
        return self.propagate(edge_index, x=self.linear(x), edge_attr=edges, norm=norm)

    def message(self, x_j: Tensor, edge_attr: Tensor, norm: Tensor) -> Tensor:
        return norm.unsqueeze(-1) * (x_j + edge_attr)

    def edge_weights(self, num_nodes: int, edge_index: Tensor, dtype: torch.dtype) -> Tensor:
        return self.normalisation(num_nodes, edge_index, dtype)

    def forward_planned(self, x: Tensor, plan: LayerPlan) -> Tensor:
        # through the module, so that RELIEF's RowCachedLinears still serves unchanged rows
        return plan.adjacency.to(x.dtype) @ self.linear(x) + plan.constant.to(x.dtype)


class MoleculeGATConv(MoleculeConv):
    """Official ``GATConv``: ``heads`` attention heads over ``linear(x_j) + e_ij``, averaged.

    Shapes:
        x: ``(N, D)``; edge_index: ``(2, E)``; edge_attr: ``(E, 2)`` long → ``(N, D)``.
    """

    def __init__(self, emb_dim: int, heads: int = 2, negative_slope: float = 0.2) -> None:
        super().__init__(aggr="add", node_dim=0)
        self.emb_dim, self.heads, self.negative_slope = emb_dim, heads, negative_slope
        # registration order = the official state dict's: att, bias, weight_linear, edges
        self.att = nn.Parameter(torch.empty(1, heads, 2 * emb_dim))
        self.bias = nn.Parameter(torch.zeros(emb_dim))
        self.weight_linear = nn.Linear(emb_dim, heads * emb_dim)
        self.add_bond_embeddings(heads * emb_dim)
        nn.init.xavier_uniform_(self.att)  # glorot, as the official reset_parameters

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        edge_index, edges = self.with_self_loops(x.size(0), edge_index, edge_attr)
        h = self.weight_linear(x).view(-1, self.heads, self.emb_dim)
        edges = edges.view(-1, self.heads, self.emb_dim)
        out = self.propagate(edge_index, x=h, edge_attr=edges)  # (N, heads, emb_dim)
        return out.mean(dim=1) + self.bias

    def message(
        self, x_i: Tensor, x_j: Tensor, edge_attr: Tensor, index: Tensor, size_i: int | None
    ) -> Tensor:
        m = x_j + edge_attr  # (E, heads, emb_dim)
        alpha = (torch.cat([x_i, m], dim=-1) * self.att).sum(dim=-1)  # (E, heads)
        alpha = softmax(
            nn.functional.leaky_relu(alpha, self.negative_slope), index, num_nodes=size_i
        )
        return m * alpha.unsqueeze(-1)


class MoleculeSAGEConv(MoleculeConv):
    """Official ``GraphSAGEConv``: L2-normalised mean of ``linear(x_j) + e_ij``.

    Shapes:
        x: ``(N, D)``; edge_index: ``(2, E)``; edge_attr: ``(E, 2)`` long → ``(N, D)``.
    """

    supports_plan = True

    def __init__(self, emb_dim: int) -> None:
        super().__init__(aggr="mean")
        self.linear = nn.Linear(emb_dim, emb_dim)
        self.add_bond_embeddings(emb_dim)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        edge_index, edges = self.with_self_loops(x.size(0), edge_index, edge_attr)
        out = self.propagate(edge_index, x=self.linear(x), edge_attr=edges)
        return nn.functional.normalize(out, p=2.0, dim=-1)

    def edge_weights(self, num_nodes: int, edge_index: Tensor, dtype: torch.dtype) -> Tensor:
        rows = edge_index[0]  # the mean over each gathering atom's edges (its self loop: >= 1)
        deg = torch.zeros(num_nodes, dtype=dtype, device=rows.device)
        deg.index_add_(0, rows, torch.ones(rows.numel(), dtype=dtype, device=rows.device))
        return 1.0 / deg[rows]

    def forward_planned(self, x: Tensor, plan: LayerPlan) -> Tensor:
        out = plan.adjacency.to(x.dtype) @ self.linear(x) + plan.constant.to(x.dtype)
        return nn.functional.normalize(out, p=2.0, dim=-1)

    def message(self, x_j: Tensor, edge_attr: Tensor) -> Tensor:
        return x_j + edge_attr


class MoleculeGNN(MoleculeGIN):
    """Hu et al.'s molecule GNN with any of their convolutions (official ``GNN(gnn_type=...)``).

    Args:
        num_layer: Layers (>= 2; the checkpoints have 5). emb_dim: Width (300).
        jk: ``"last"``, ``"concat"``, ``"max"`` or ``"sum"`` jumping knowledge.
        drop_ratio: Dropout after every layer.
        gnn_type: ``"gin"``, ``"gcn"``, ``"gat"`` or ``"graphsage"``.
        heads: Attention heads of ``"gat"`` (the official 2).

    Embeds inputs, encodes and serves input-space prompts exactly as :class:`MoleculeGIN`.

    Shapes:
        data.x: ``(N, 2)`` long; data.edge_index: ``(2, E)``; data.edge_attr: ``(E, 2)`` long →
        ``(N, emb_dim)`` (``(N, (num_layer + 1) * emb_dim)`` for ``jk="concat"``).
    """

    def __init__(
        self,
        num_layer: int = 5,
        emb_dim: int = 300,
        jk: str = "last",
        drop_ratio: float = 0.0,
        gnn_type: str = "gin",
        heads: int = 2,
    ) -> None:
        if gnn_type not in GNN_TYPES:
            raise ValueError(f"gnn_type: expected one of {GNN_TYPES}, got {gnn_type!r}")
        if heads < 1:
            raise ValueError(f"heads: expected >= 1, got {heads}")
        self.gnn_type, self.heads = gnn_type, heads  # read by _make_conv during __init__
        super().__init__(num_layer=num_layer, emb_dim=emb_dim, jk=jk, drop_ratio=drop_ratio)

    def _make_conv(self, emb_dim: int) -> MoleculeConv:
        if self.gnn_type == "gat":
            return MoleculeGATConv(emb_dim, heads=self.heads)
        return {"gin": MoleculeGINConv, "gcn": MoleculeGCNConv, "graphsage": MoleculeSAGEConv}[
            self.gnn_type
        ](emb_dim)

    def checkpoint_problem(self, state: dict[str, Tensor]) -> str:
        """As :meth:`MoleculeGIN.checkpoint_problem`, and a GCN/GraphSAGE state whose BatchNorm
        statistics say it is the other one (their names and shapes are the same)."""
        problem = super().checkpoint_problem(state)
        if problem or self.gnn_type not in ("gcn", "graphsage"):
            return problem
        signature = bn_signature(state, self.num_layer)
        says = signature_says(signature)
        if says is not None and says != self.gnn_type:
            rounded = [round(v, 3) for v in signature or []]
            return (
                f"its BatchNorm statistics say {says!r}, not {self.gnn_type!r}: mean squared "
                f"output norm per layer {rounded} (GraphSAGE L2-normalises: 1.0 everywhere); "
                "the names and shapes of the two are the same"
            )
        return ""

    def describe(self) -> str:
        return (
            f"MoleculeGNN(gnn_type={self.gnn_type!r}, num_layer={self.num_layer}, "
            f"emb_dim={self.emb_dim})"
        )


def bn_signature(state: dict[str, Tensor], num_layer: int) -> list[float] | None:
    """Per layer, ``sum_d (running_var_d + running_mean_d^2)``: the BatchNorm's estimate of the
    mean squared norm of the convolution's output, or None where a BatchNorm never ran. With
    ``num_batches_tracked`` the initial statistics' share (``0.9^t`` at PyTorch's momentum 0.1)
    is removed, so a few training batches already read true.

    GraphSAGE L2-normalises every atom's output, so a trained GraphSAGE reads 1.0 at every
    layer (the official ``graphsage_contextpred.pth``: 1.000 x 5); a GCN, whose keys and shapes
    are the same, reads thousands (``gcn_contextpred.pth``: 2,142 to 57,234). It tells the two
    apart from the file alone.
    """
    values = []
    for i in range(num_layer):
        tracked = state.get(f"batch_norms.{i}.num_batches_tracked")
        var = state.get(f"batch_norms.{i}.running_var")
        mean = state.get(f"batch_norms.{i}.running_mean")
        if var is None or mean is None or (tracked is not None and int(tracked) == 0):
            return None
        var, mean = var.double(), mean.double()
        if tracked is not None:  # remove what is left of the initial (mean 0, var 1) statistics
            left = (1.0 - BN_MOMENTUM) ** int(tracked)
            var, mean = (var - left) / (1.0 - left), mean / (1.0 - left)
        values.append(float((var + mean**2).sum()))
    return values


def signature_says(signature: list[float] | None) -> str | None:
    """``"graphsage"`` when every layer's BatchNorm saw unit-norm outputs (within 0.8-1.25),
    ``"gcn"`` when one layer's are clearly not (outside 0.5-2), else None (undecided: absent
    statistics of an untrained model, or a small GCN whose outputs happen to be near unit norm).
    """
    if signature is None:
        return None
    if all(0.8 < value < 1.25 for value in signature):
        return "graphsage"
    return "gcn" if any(not 0.5 < value < 2.0 for value in signature) else None
