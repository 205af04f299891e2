"""Tiny GPF / GPF-plus cases for the contract tests."""

from __future__ import annotations

from typing import Any

from modalprompt.core.testing import TinyCase

__all__ = ["tiny_case"]


def tiny_case(spec: Any, seed: int = 0) -> TinyCase:
    from torch_geometric.data import Batch

    from modalprompt.graph.synthetic import procedural_graphs, tiny_gnn

    config = spec.config_cls.from_dict({**spec.tiny, "method": spec.name})
    return TinyCase(
        tiny_gnn(seed=seed), config, Batch.from_data_list(procedural_graphs(6, num_tasks=2))
    )
