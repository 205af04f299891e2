"""The 5-layer GIN of Hu et al., "Strategies for Pre-training Graph Neural Networks" (ICLR 2020),
with snap-stanford/pretrain-gnns' state-dict names, so its published checkpoints
(``supervised_contextpred.pth``, ``infomax.pth``, ...) load from a local file.

Atoms enter as ``(atom type, chirality)`` index pairs and bonds as ``(bond type, direction)``
pairs (:func:`~modalprompt.graph.datasets.molecules.smiles_to_graph`); every layer adds self
loops with bond type 4, sums ``x_j + edge embedding`` over neighbours, applies a 2-layer MLP,
BatchNorm, ReLU (not after the last layer) and dropout.

For prompts in the input space (GPF, GPF-plus, RELIEF) it implements the
:mod:`~modalprompt.graph.promptable` protocol: ``embed_inputs`` is the atom embedding
``x_embedding1(type) + x_embedding2(chirality)`` and ``encode`` the layers after it.

The GCN, GAT and GraphSAGE layers of the same family subclass :class:`MoleculeConv` and
:class:`MoleculeGIN` in :mod:`~modalprompt.graph.backbones.molecule_gnns`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import add_self_loops

from modalprompt.graph.backbones.layer_plans import LayerPlan, PlanCache, sparse_rows

__all__ = [
    "MoleculeGIN",
    "MoleculeConv",
    "MoleculeGINConv",
    "load_pretrain_gnns_checkpoint",
    "read_checkpoint",
    "state_mismatch",
    "NUM_ATOM_TYPES",
    "NUM_CHIRALITY_TAGS",
    "NUM_BOND_TYPES",
    "NUM_BOND_DIRECTIONS",
    "SELF_LOOP_BOND_TYPE",
    "check_molecule_data",
]

NUM_ATOM_TYPES = 120  # 118 elements + the mask token of attribute masking (+1 spare, as official)
NUM_CHIRALITY_TAGS = 3
NUM_BOND_TYPES = 6  # single, double, triple, aromatic, self-loop, mask
NUM_BOND_DIRECTIONS = 3
SELF_LOOP_BOND_TYPE = 4


class MoleculeConv(MessagePassing):
    """Base of Hu et al.'s molecule convolutions: per-layer bond embeddings and self loops.

    Every official layer embeds a bond as ``edge_embedding1(type) + edge_embedding2(direction)``
    (width ``edge_dim``: the layer's width, ``heads * emb_dim`` for GAT) and first adds a self
    loop to every atom with bond type 4 (:data:`SELF_LOOP_BOND_TYPE`) and direction 0, appended
    after the molecule's own edges.

    Messages flow as in the PyG 1.0 the official code ran on: atom ``i = edge_index[0]`` gathers
    from ``j = edge_index[1]`` (PyG's ``flow="target_to_source"``). Molecules list both
    directions of every bond with the same features, where the two flows agree; they differ
    only on a one-way edge list.
    """

    supports_plan = False  # see layer_plans: True where the layer is affine in x given the graph

    def __init__(self, aggr: str = "add", **kwargs: Any) -> None:
        super().__init__(aggr=aggr, flow="target_to_source", **kwargs)

    def plan(self, num_nodes: int, edge_index: Tensor, edge_attr: Tensor) -> LayerPlan:
        """This layer on a fixed graph (:mod:`~modalprompt.graph.backbones.layer_plans`): the
        adjacency weighted by :meth:`edge_weights` over the edges with self loops, and the bond
        embeddings summed with the same weights.

        Shapes:
            edge_index: ``(2, E)``; edge_attr: ``(E, 2)`` long → adjacency ``(N, N)``, constant
            ``(N, edge_dim)``.
        """
        edge_index, edges = self.with_self_loops(num_nodes, edge_index, edge_attr)
        weight = self.edge_weights(num_nodes, edge_index, edges.dtype)
        rows, cols = edge_index
        constant = torch.zeros(num_nodes, edges.size(1), dtype=edges.dtype, device=edges.device)
        constant.index_add_(0, rows, weight.unsqueeze(-1) * edges)
        return LayerPlan(sparse_rows(rows, cols, weight, num_nodes), constant)

    def edge_weights(self, num_nodes: int, edge_index: Tensor, dtype: torch.dtype) -> Tensor:
        """Each edge's weight ``(E,)`` in the aggregation (edges with their self loops)."""
        raise NotImplementedError(f"{type(self).__name__} has no layer plan")

    def forward_planned(self, x: Tensor, plan: LayerPlan) -> Tensor:
        """``forward(x, ...)`` on the graph ``plan`` was made from."""
        raise NotImplementedError(f"{type(self).__name__} has no layer plan")

    def add_bond_embeddings(self, edge_dim: int) -> None:
        """Create ``edge_embedding1/2`` (called last by subclasses: the official state dicts
        list them after the layer's own weights)."""
        self.edge_embedding1 = nn.Embedding(NUM_BOND_TYPES, edge_dim)
        self.edge_embedding2 = nn.Embedding(NUM_BOND_DIRECTIONS, edge_dim)
        nn.init.xavier_uniform_(self.edge_embedding1.weight)
        nn.init.xavier_uniform_(self.edge_embedding2.weight)

    def with_self_loops(
        self, num_nodes: int, edge_index: Tensor, edge_attr: Tensor
    ) -> tuple[Tensor, Tensor]:
        """``(2, E + N)`` edges with the loops last and their bond embeddings ``(E + N, edge_dim)``.

        Shapes:
            edge_index: ``(2, E)``; edge_attr: ``(E, 2)`` long (bond type, direction).
        """
        edge_index, _ = add_self_loops(edge_index, num_nodes=num_nodes)
        loops = torch.zeros(num_nodes, 2, dtype=edge_attr.dtype, device=edge_attr.device)
        loops[:, 0] = SELF_LOOP_BOND_TYPE
        edge_attr = torch.cat([edge_attr, loops], dim=0)
        edges = self.edge_embedding1(edge_attr[:, 0]) + self.edge_embedding2(edge_attr[:, 1])
        return edge_index, edges


class MoleculeGINConv(MoleculeConv):
    """``mlp(sum_j (x_j + e_ji))`` over neighbours and a self loop (official ``GINConv``).

    Shapes:
        x: ``(N, D)``; edge_index: ``(2, E)``; edge_attr: ``(E, 2)`` long → ``(N, D)``.
    """

    supports_plan = True

    def __init__(self, emb_dim: int) -> None:
        super().__init__(aggr="add")
        self.mlp = nn.Sequential(
            nn.Linear(emb_dim, 2 * emb_dim), nn.ReLU(), nn.Linear(2 * emb_dim, emb_dim)
        )
        self.add_bond_embeddings(emb_dim)

    def forward(self, x: Tensor, edge_index: Tensor, edge_attr: Tensor) -> Tensor:
        edge_index, edges = self.with_self_loops(x.size(0), edge_index, edge_attr)
        return self.mlp(self.propagate(edge_index, x=x, edge_attr=edges))

    def message(self, x_j: Tensor, edge_attr: Tensor) -> Tensor:
        return x_j + edge_attr

    def edge_weights(self, num_nodes: int, edge_index: Tensor, dtype: torch.dtype) -> Tensor:
        return torch.ones(edge_index.size(1), dtype=dtype, device=edge_index.device)  # a sum

    def forward_planned(self, x: Tensor, plan: LayerPlan) -> Tensor:
        return self.mlp(plan.adjacency.to(x.dtype) @ x + plan.constant.to(x.dtype))


class MoleculeGIN(nn.Module):
    """Hu et al.'s GNN (``gnn_type="gin"``) returning node embeddings.

    Args:
        num_layer: Layers (>= 2; the papers use 5). emb_dim: Width (300).
        jk: ``"last"``, ``"concat"``, ``"max"`` or ``"sum"`` jumping knowledge.
        drop_ratio: Dropout after every layer.

    Differs from the official code: ``jk="sum"`` sums the layers (the official code sums them and
    then keeps only the first node's row).

    Shapes:
        data.x: ``(N, 2)`` long; data.edge_index: ``(2, E)``; data.edge_attr: ``(E, 2)`` long →
        ``(N, emb_dim)`` (``(N, (num_layer + 1) * emb_dim)`` for ``jk="concat"``).
    """

    def __init__(
        self, num_layer: int = 5, emb_dim: int = 300, jk: str = "last", drop_ratio: float = 0.0
    ) -> None:
        super().__init__()
        if num_layer < 2:
            raise ValueError(f"num_layer: expected >= 2, got {num_layer}")
        if jk not in ("last", "concat", "max", "sum"):
            raise ValueError(f"jk: expected 'last', 'concat', 'max' or 'sum', got {jk!r}")
        self.num_layer, self.emb_dim, self.jk, self.drop_ratio = num_layer, emb_dim, jk, drop_ratio
        self.x_embedding1 = nn.Embedding(NUM_ATOM_TYPES, emb_dim)
        self.x_embedding2 = nn.Embedding(NUM_CHIRALITY_TAGS, emb_dim)
        nn.init.xavier_uniform_(self.x_embedding1.weight)
        nn.init.xavier_uniform_(self.x_embedding2.weight)
        self.gnns = nn.ModuleList(self._make_conv(emb_dim) for _ in range(num_layer))
        self.batch_norms = nn.ModuleList(nn.BatchNorm1d(emb_dim) for _ in range(num_layer))
        self._plans = PlanCache()

    def describe(self) -> str:
        """``"MoleculeGIN(num_layer=5, emb_dim=300)"`` (names the model in errors)."""
        return f"{type(self).__name__}(num_layer={self.num_layer}, emb_dim={self.emb_dim})"

    def checkpoint_problem(self, state: dict[str, Tensor]) -> str:
        """Why ``state`` cannot load into this model (``""`` when it can): see
        :func:`state_mismatch`."""
        return state_mismatch(self.state_dict(), state)

    def _make_conv(self, emb_dim: int) -> MoleculeConv:
        """One layer's convolution (subclasses pick another of Hu et al.'s, see ``MoleculeGNN``)."""
        return MoleculeGINConv(emb_dim)

    @property
    def prompt_dim(self) -> int:
        return self.emb_dim

    @property
    def out_dim(self) -> int:
        return self.emb_dim * (self.num_layer + 1) if self.jk == "concat" else self.emb_dim

    def embed_inputs(self, data: Any) -> Tensor:
        """Atom embeddings ``(N, emb_dim)`` (where GPF and RELIEF add their prompts).

        ``data.x`` must be ``(N, 2)`` integer (atom type in ``[0, 120)``, chirality in
        ``[0, 3)``): float features are refused, never rounded; ``data.edge_index`` and
        ``data.edge_attr`` are checked too (:func:`check_molecule_data`)."""
        check_molecule_data(data)
        x = data.x
        return self.x_embedding1(x[:, 0].long()) + self.x_embedding2(x[:, 1].long())

    def encode(self, h: Tensor, data: Any) -> Tensor:
        """The layers after the atom embedding: ``(N, emb_dim)`` → node representations."""
        edge_attr = data.edge_attr
        if not isinstance(edge_attr, Tensor) or edge_attr.dim() != 2 or edge_attr.size(1) != 2:
            found = tuple(edge_attr.shape) if isinstance(edge_attr, Tensor) else edge_attr
            raise ValueError(
                "data.edge_attr: expected (E, 2) integer bond features (type, direction), got "
                f"{found}"
            )
        plans = self._layer_plans(h, data)
        bonds = edge_attr[:, :2].long() if plans is None else edge_attr
        layers = [h]
        for i in range(self.num_layer):
            conv = self.gnns[i]
            if plans is None:
                out = conv(layers[-1], data.edge_index, bonds)
            else:
                out = conv.forward_planned(layers[-1], plans[i])
            h = self.batch_norms[i](out)
            if i < self.num_layer - 1:
                h = torch.relu(h)
            layers.append(nn.functional.dropout(h, self.drop_ratio, training=self.training))
        if self.jk == "last":
            return layers[-1]
        if self.jk == "concat":
            return torch.cat(layers, dim=1)
        stacked = torch.stack(layers)
        return stacked.max(dim=0).values if self.jk == "max" else stacked.sum(dim=0)

    def _layer_plans(self, h: Tensor, data: Any) -> list[LayerPlan] | None:
        """Every layer's plan for this batch once it is encoded a second time (RELIEF's
        rollouts), else None (:mod:`~modalprompt.graph.backbones.layer_plans`)."""
        if not all(conv.supports_plan for conv in self.gnns):
            return None

        def build() -> list[LayerPlan]:
            bonds = data.edge_attr[:, :2].long()
            return [conv.plan(h.size(0), data.edge_index, bonds) for conv in self.gnns]

        return self._plans.get(self.gnns, h, data, build)

    def forward(self, data: Any) -> Tensor:
        return self.encode(self.embed_inputs(data), data)


_INTEGER = (torch.long, torch.int32, torch.int16, torch.int8, torch.uint8)


def _check_index_columns(
    name: str, values: Any, what: str, limits: tuple[int, ...], rows: str
) -> None:
    """``values`` ``(rows, len(limits))`` integer with column ``c`` in ``[0, limits[c])``."""
    width = len(limits)
    if not isinstance(values, Tensor) or values.dtype not in _INTEGER:
        found = f"{values.dtype} tensor" if isinstance(values, Tensor) else type(values).__name__
        raise TypeError(f"{name}: expected ({rows}, {width}) integer {what}, got {found}")
    if values.dim() != 2 or values.size(1) != width:
        raise ValueError(
            f"{name}: expected ({rows}, {width}) integer {what}, got {tuple(values.shape)}"
        )
    for column, limit in enumerate(limits):
        col = values[:, column]
        bad = (col < 0) | (col >= limit)
        if bool(bad.any()):
            raise ValueError(
                f"{name}: column {column} of the {what} must lie in [0, {limit}), found "
                f"{sorted(set(col[bad].tolist()))[:5]}"
            )


def check_molecule_data(data: Any) -> None:
    """Raise naming the field unless ``data`` is a molecule graph Hu et al.'s GNNs read:
    ``x`` ``(N, 2)`` integer (atom type < 120, chirality < 3), ``edge_index`` ``(2, E)`` in
    ``[0, N)`` and ``edge_attr`` ``(E, 2)`` integer (bond type < 6, direction < 3)."""
    from modalprompt.graph.promptable import check_edge_index

    x = getattr(data, "x", None)
    _check_index_columns(
        "data.x", x, "atom features (type, chirality)", (NUM_ATOM_TYPES, NUM_CHIRALITY_TAGS), "N"
    )
    if x.size(0) == 0:
        raise ValueError("data.x: no atoms (N = 0); a batch needs at least one atom")
    check_edge_index(data, x.size(0))
    edge_attr = getattr(data, "edge_attr", None)
    _check_index_columns(
        "data.edge_attr",
        edge_attr,
        "bond features (type, direction)",
        (NUM_BOND_TYPES, NUM_BOND_DIRECTIONS),
        "E",
    )
    if edge_attr.size(0) != data.edge_index.size(1):
        raise ValueError(
            f"data.edge_attr: expected one row per edge ({data.edge_index.size(1)}), got "
            f"{edge_attr.size(0)}"
        )


def read_checkpoint(source: str | Path | dict[str, Tensor]) -> dict[str, Tensor]:
    """The tensors of a pretrain-gnns ``.pth``, our safetensors file or a state dict.

    ``.pth`` files are read with ``torch.load(weights_only=True)`` only: a file that needs full
    unpickling (a pickled module, custom classes) is refused, never unpickled. ``module.`` and
    ``gnn.`` prefixes (DataParallel, ``GNN_graphpred``) are removed and the official
    ``GNN_graphpred`` head (``graph_pred_linear.*``, ``pool.*``) is dropped.
    """
    if not isinstance(source, dict):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"source: no checkpoint at {path}")
        if path.suffix == ".safetensors":
            from modalprompt.core.io import load_tensors

            source = load_tensors(path)
        else:
            try:
                source = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as error:  # pickle.UnpicklingError, without importing pickle here
                if type(error).__name__ != "UnpicklingError":
                    raise
                raise ValueError(
                    f"source: {path} needs full unpickling (it holds more than tensors: "
                    f"{str(error).splitlines()[0][:200]}); refused, a pickle can run code. Save "
                    "its state_dict() as a plain dict of tensors where the file is trusted"
                ) from None
        if not isinstance(source, dict) or not all(
            isinstance(k, str) and isinstance(v, Tensor) for k, v in source.items()
        ):
            raise ValueError(
                f"source: {path} is not a state dict (name -> tensor), got {type(source).__name__}"
            )
    state = {k.removeprefix("module.").removeprefix("gnn."): v for k, v in source.items()}
    return {k: v for k, v in state.items() if not k.startswith(("graph_pred_linear.", "pool."))}


def load_pretrain_gnns_checkpoint(
    model: MoleculeGIN, source: str | Path | dict[str, Tensor]
) -> None:
    """Load a pretrain-gnns ``.pth`` (``torch.load(weights_only=True)``) or our safetensors file.

    Accepts the plain GNN state dict the official scripts save, and ``gnn.``-prefixed keys of a
    ``GNN_graphpred`` state dict (its head keys are ignored), see :func:`read_checkpoint`. A
    checkpoint of another GNN type, depth or width raises a ValueError naming the first key that
    does not fit (with both shapes), then all missing, unexpected and mis-shaped keys.
    """
    state = read_checkpoint(source)
    own = model.state_dict()
    problem = model.checkpoint_problem(state)
    if problem:
        raise ValueError(f"source: checkpoint does not fit {model.describe()}: {problem}")
    model.load_state_dict({k: state[k].to(own[k].dtype) for k in own})


def state_mismatch(own: dict[str, Tensor], state: dict[str, Tensor]) -> str:
    """``""`` when ``state`` has exactly the keys and shapes of ``own``; otherwise the first key
    (in the model's order) that does not fit, with both shapes, then every missing, unexpected
    and mis-shaped key."""

    def shape(tensors: dict[str, Tensor], key: str) -> str:
        return str(tuple(tensors[key].shape)) if key in tensors else "absent"

    missing = [k for k in own if k not in state]
    unexpected = sorted(k for k in state if k not in own)
    wrong = [k for k in own if k in state and state[k].shape != own[k].shape]
    if not (missing or unexpected or wrong):
        return ""
    first = next((k for k in own if k in missing or k in wrong), None) or unexpected[0]
    return (
        f"first mismatching key {first}: checkpoint {shape(state, first)} vs model "
        f"{shape(own, first)}; missing {missing[:8]}, unexpected {unexpected[:8]}, mis-shaped "
        + str([f"{k}: {shape(state, k)} vs {shape(own, k)}" for k in wrong[:5]])
    )
