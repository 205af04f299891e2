"""Node classification as subgraph classification: RELIEF's node-level protocol.

RELIEF (``node_level/preprocess.py``) reduces the node features to 100 dimensions with a
truncated SVD, draws ``shots`` training nodes per class plus 500 validation and 500 test nodes,
and turns every chosen node into its induced k-hop subgraph with size limits (Cora 4 hops, 5-150
nodes; CiteSeer 3, 20-150; PubMed 2, 50-300). Each subgraph is then one "graph" whose label is
its centre's class, so graph prompts (GPF, GPF-plus, RELIEF) and the trainer treat node tasks like
graph tasks.

:func:`node_fewshot_task` does the whole preparation; :func:`svd_features` and
:func:`node_fewshot_split` are its two steps, usable alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor
from torch_geometric.data import Data

from modalprompt.core.fewshot import per_class_split
from modalprompt.graph.datasets.subgraphs import khop_subgraphs

__all__ = ["svd_features", "node_fewshot_split", "NodeTask", "node_fewshot_task", "HOP_LIMITS"]

#: RELIEF's per-dataset subgraph settings: ``(num_hops, min_nodes, max_nodes)``.
HOP_LIMITS: dict[str, tuple[int, int, int]] = {
    "cora": (4, 5, 150),
    "citeseer": (3, 20, 150),
    "pubmed": (2, 50, 300),
}


def svd_features(x: Tensor, dim: int = 100) -> Tensor:
    """Project node features on their top ``dim`` right singular vectors (``x V_dim``).

    RELIEF uses scikit-learn's ``TruncatedSVD`` (uncentred, randomised with 10 oversamples and
    a few power iterations). Large inputs take the same route here (``torch.svd_lowrank`` with a
    fixed seed, 7 power iterations, so the result is reproducible and close to exact); inputs
    whose smaller side is at most ``2 (dim + 10)`` use an exact SVD. Signs are fixed so that each
    component's largest-magnitude loading is positive.

    Shapes:
        x: ``(N, F)`` → ``(N, min(dim, N, F))``.
    """
    if x.dim() != 2:
        raise ValueError(f"x: expected an (N, F) feature matrix, got shape {tuple(x.shape)}")
    if dim < 1:
        raise ValueError(f"dim: expected >= 1, got {dim}")
    x = x.float()
    rank = min(x.shape)
    dim = min(dim, rank)
    if rank <= 2 * (dim + 10):
        v = torch.linalg.svd(x, full_matrices=False)[2][:dim].t()  # (F, dim)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            v = torch.svd_lowrank(x, q=dim + 10, niter=7)[2][:, :dim]
    sign = torch.sign(v.gather(0, v.abs().argmax(0, keepdim=True)))
    return x @ (v * sign)


def node_fewshot_split(
    y: Tensor,
    shots: int = 10,
    num_val: int = 500,
    num_test: int = 500,
    seed: int = 0,
) -> tuple[Tensor, Tensor, Tensor]:
    """``shots`` training nodes per class, then ``num_val`` and ``num_test`` from the rest.

    Returns:
        ``(train, val, test)`` node indices, disjoint; train is class by class.

    Raises:
        ValueError: a class has fewer than ``shots`` nodes, or too few nodes remain.
    """
    if y.dim() != 1:
        raise ValueError(f"y: expected one label per node, shape (N,), got {tuple(y.shape)}")
    if shots < 1:
        raise ValueError(f"shots: expected >= 1, got {shots}")
    (train_idx,), rest = per_class_split(y, [shots], seed, unit="nodes")
    if rest.numel() < num_val + num_test:
        raise ValueError(
            f"num_val + num_test: {num_val} + {num_test} nodes requested, only {rest.numel()} "
            "remain after the training shots"
        )
    return train_idx, rest[:num_val], rest[num_val : num_val + num_test]


@dataclass
class NodeTask:
    """Few-shot node classification as lists of centre-labelled subgraphs.

    Attributes:
        train, val, test: ``Data`` subgraphs (``x`` ``(n, d)``, ``edge_index``, ``y`` ``(1,)``,
            ``center`` 0, ``node_ids``).
        num_classes: Number of classes.
        feature_dim: ``d``, the node-feature width after the SVD.
        max_nodes: Largest subgraph over all three splits (RELIEF's ``N_max``).
        indices: The centre nodes of each split.
    """

    train: list[Data]
    val: list[Data]
    test: list[Data]
    num_classes: int
    feature_dim: int
    max_nodes: int
    indices: dict[str, Tensor] = field(default_factory=dict)


def node_fewshot_task(
    data: Data,
    *,
    num_hops: int,
    min_nodes: int = 1,
    max_nodes: int | None = None,
    shots: int = 10,
    num_val: int = 500,
    num_test: int = 500,
    svd_dim: int | None = 100,
    seed: int = 0,
) -> NodeTask:
    """RELIEF's node-level preparation of one graph (e.g. Planetoid Cora).

    Args:
        data: The full graph with ``x`` ``(N, F)``, ``edge_index`` and ``y`` ``(N,)``.
        num_hops, min_nodes, max_nodes: Subgraph settings (see :data:`HOP_LIMITS`).
        shots, num_val, num_test, seed: The split (see :func:`node_fewshot_split`).
        svd_dim: Reduce the features with :func:`svd_features` (``None`` keeps them).
    """
    if getattr(data, "y", None) is None or getattr(data, "x", None) is None:
        raise ValueError("data: node-level tasks need node features data.x and labels data.y")
    y = data.y.view(-1).long()
    x = svd_features(data.x, svd_dim) if svd_dim else data.x.float()
    graph = Data(x=x, edge_index=data.edge_index, y=y, num_nodes=data.num_nodes)
    train_idx, val_idx, test_idx = node_fewshot_split(y, shots, num_val, num_test, seed)
    limits = {"min_nodes": min_nodes, "max_nodes": max_nodes, "seed": seed}
    splits = {
        name: khop_subgraphs(graph, idx, num_hops, **limits)
        for name, idx in (("train", train_idx), ("val", val_idx), ("test", test_idx))
    }
    largest = max(g.num_nodes for gs in splits.values() for g in gs)
    return NodeTask(
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        num_classes=int(y.max()) + 1,
        feature_dim=int(x.size(1)),
        max_nodes=int(largest),
        indices={"train": train_idx, "val": val_idx, "test": test_idx},
    )
