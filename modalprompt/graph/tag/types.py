"""The text-attributed graph type."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch_geometric.data import Data

__all__ = ["TextAttributedGraph"]


@dataclass
class TextAttributedGraph:
    """A PyG graph whose nodes carry text, with the names (and descriptions) of its classes.

    Args:
        data: ``Data`` with ``edge_index`` ``(2, E)``, ``y`` ``(N,)`` (``-1`` = unlabelled) and
            ``num_nodes``; ``x`` is optional (text embeddings are computed from ``texts``).
        texts: One non-empty string per node.
        class_names: One name per class (``y`` indexes it).
        class_descriptions: Optional longer text per class name (zero-shot prompts use it).

    Raises:
        ValueError: when a node has no text, ``class_names`` is empty, a label is out of range,
            or a class has no description while descriptions are given.
    """

    data: Data
    texts: list[str]
    class_names: list[str]
    class_descriptions: dict[str, str] | None = None

    def __post_init__(self) -> None:
        n = int(self.data.num_nodes)
        if len(self.texts) != n:
            raise ValueError(f"texts: expected one text per node ({n}), got {len(self.texts)}")
        empty = [i for i, t in enumerate(self.texts) if not isinstance(t, str) or not t.strip()]
        if empty:
            raise ValueError(f"texts: {len(empty)} node(s) without text, e.g. node ids {empty[:5]}")
        if not self.class_names:
            raise ValueError("class_names: empty; a TAG needs at least one class name")
        y = getattr(self.data, "y", None)
        if y is not None and y.numel():
            top = int(y.max())
            if top >= len(self.class_names):
                raise ValueError(
                    f"data.y: label {top} has no class name ({len(self.class_names)} given)"
                )
        if self.class_descriptions is not None:
            missing = [c for c in self.class_names if c not in self.class_descriptions]
            if missing:
                raise ValueError(
                    f"class_descriptions: no description for class(es) {missing}; "
                    "give one per class name or pass None"
                )

    @property
    def num_nodes(self) -> int:
        return int(self.data.num_nodes)

    @property
    def labels(self) -> torch.Tensor:
        """``(N,)`` long labels."""
        return self.data.y.long()

    def class_texts(self, template: str = "this node belongs to {}") -> list[str]:
        """Zero-shot class prompts: ``template`` filled with the name, plus the description."""
        if "{}" not in template:
            raise ValueError(f"template: must contain '{{}}', got {template!r}")
        out = []
        for c in self.class_names:
            text = template.format(c)
            if self.class_descriptions is not None:
                text += " which refers to " + self.class_descriptions[c]
            out.append(text)
        return out
