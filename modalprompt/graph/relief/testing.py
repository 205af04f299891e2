"""Tiny RELIEF case for the contract tests."""

from __future__ import annotations

from typing import Any

from modalprompt.core.testing import TinyCase
from modalprompt.graph.synthetic import procedural_graphs, tiny_gnn

__all__ = ["tiny_case"]


def tiny_case(spec: Any, seed: int = 0) -> TinyCase:
    """The contract-test case of ``relief``."""
    from torch_geometric.data import Batch

    config = spec.config_cls.from_dict({**spec.tiny, "method": spec.name, "num_outputs": 2})
    graphs = procedural_graphs(6, num_tasks=2, seed=seed)
    return TinyCase(tiny_gnn(seed=seed), config, Batch.from_data_list(graphs))
