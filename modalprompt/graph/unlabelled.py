"""Graphs for self-supervised pre-training: labels dropped, fields checked to batch together.

Pre-training never reads labels, and molecules of several datasets carry labels of different
widths (BBBP one task, Tox21 twelve, MUV seventeen), which PyG cannot concatenate into a batch.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from torch import Tensor

__all__ = ["unlabelled_graphs"]

LABEL_KEYS = ("y",)


def _layout(graph: Any) -> dict[str, tuple[int, ...] | str]:
    """Per field, what must agree across graphs to batch them: a tensor's shape without the
    dimension PyG concatenates along (``edge_index``: the last, others: the first), or the type
    of a non-tensor."""
    layout: dict[str, tuple[int, ...] | str] = {}
    for key, value in graph.items():
        if not isinstance(value, Tensor):
            layout[key] = type(value).__name__
            continue
        shape = list(value.shape)
        dim = graph.__cat_dim__(key, value)
        if dim is not None and value.dim() > 0:
            del shape[dim % value.dim()]
        layout[key] = tuple(shape)
    return layout


def unlabelled_graphs(graphs: Sequence[Any], name: str = "graphs") -> list:
    """Shallow copies of ``graphs`` without labels (``y``; the tensors are shared, not copied).

    Raises a ValueError naming the first graph whose other fields cannot batch with the first
    graph's (a missing or extra field, or another width), with both layouts.
    """
    out, reference = [], None
    for index, graph in enumerate(graphs):
        if any(key in graph for key in LABEL_KEYS):
            graph = copy.copy(graph)
            for key in LABEL_KEYS:
                if key in graph:
                    del graph[key]
        layout = _layout(graph)
        if reference is None:
            reference = layout
        elif layout != reference:
            differs = sorted(
                key for key in set(layout) | set(reference) if layout.get(key) != reference.get(key)
            )
            raise ValueError(
                f"{name}[{index}]: cannot share a batch with {name}[0]: field(s) {differs} differ "
                f"({ {k: layout.get(k, 'absent') for k in differs} } vs "
                f"{ {k: reference.get(k, 'absent') for k in differs} }; shapes without the "
                "batched dimension); labels y are dropped, every other field must agree"
            )
        out.append(graph)
    return out
