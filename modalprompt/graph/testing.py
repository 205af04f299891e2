"""The graph domain's contract-test case (GPF, GPF-plus, RELIEF): a random tiny GIN and a
batch of six procedural graphs with two binary tasks (no files, no pre-trained weights)."""

from __future__ import annotations

from typing import Any

from modalprompt.core.testing import TinyCase

__all__ = ["tiny_case"]


def tiny_case(spec: Any, seed: int = 0) -> TinyCase:
    """The case of ``spec`` (its ``tiny`` overrides applied, e.g. ``num_outputs``)."""
    from torch_geometric.data import Batch

    from modalprompt.graph.synthetic import procedural_graphs, tiny_gnn

    config = spec.config_cls.from_dict({**spec.tiny, "method": spec.name})
    graphs = procedural_graphs(6, num_tasks=2, seed=seed)
    return TinyCase(tiny_gnn(seed=seed), config, Batch.from_data_list(graphs))
