"""Procedural graphs and a small frozen GNN: data and backbones for tests, demos and examples."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from modalprompt.graph.promptable import InputSpaceGNN

__all__ = ["procedural_graphs", "tiny_gnn"]


def procedural_graphs(
    num_graphs: int = 16,
    feature_dim: int = 8,
    min_nodes: int = 4,
    max_nodes: int = 12,
    num_tasks: int = 1,
    seed: int = 0,
    task_type: str = "multilabel",
) -> list[Any]:
    """Connected random graphs whose node features are shifted by their class.

    multilabel: ``y`` is ``(1, num_tasks)`` (task ``t`` is ``(class + t) % 2``, with a NaN in
    task 1 of every third graph when there are several tasks); multiclass: ``y`` is ``(1,)``.
    """
    from torch_geometric.data import Data

    g = torch.Generator().manual_seed(seed)
    graphs = []
    for i in range(num_graphs):
        n = int(torch.randint(min_nodes, max_nodes + 1, (1,), generator=g))
        chain = torch.arange(n - 1)
        extra = torch.randint(0, n, (2, max(1, n // 2)), generator=g)
        edges = torch.cat([torch.stack([chain, chain + 1]), extra], dim=1)
        edge_index = torch.cat([edges, edges.flip(0)], dim=1)
        label = i % 2
        x = torch.randn(n, feature_dim, generator=g) + 0.75 * label
        if task_type == "multiclass":
            y = torch.tensor([label])
        else:
            y = torch.tensor([[float((label + t) % 2) for t in range(num_tasks)]])
            if num_tasks > 1 and i % 3 == 0:
                y[0, 1] = float("nan")
        graphs.append(Data(x=x, edge_index=edge_index, y=y))
    return graphs


def tiny_gnn(feature_dim: int = 8, hidden: int = 16, seed: int = 0) -> nn.Module:
    """A 2-layer PyG GIN with BatchNorm (statistics warmed up), wrapped for input prompts."""
    from torch_geometric.data import Batch
    from torch_geometric.nn import GIN

    torch.manual_seed(seed)
    gnn = InputSpaceGNN(
        GIN(feature_dim, hidden, num_layers=2, norm="batch_norm"), feature_dim, hidden
    )
    gnn.train()
    with torch.no_grad():  # non-trivial BatchNorm statistics, as a pre-trained GNN has
        batch = Batch.from_data_list(procedural_graphs(8, feature_dim, seed=seed + 1))
        gnn(batch)
    return gnn.eval()
