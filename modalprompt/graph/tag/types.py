"""The text-attributed graph type."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch_geometric.data import Data

__all__ = ["TextAttributedGraph", "check_node_texts", "check_class_texts", "class_prompts"]


def check_node_texts(texts: Sequence[str | None]) -> None:
    """Raise a ValueError naming the node ids whose text is missing (None) or blank."""
    empty = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
    if empty:
        raise ValueError(
            f"texts: {len(empty)} node(s) without text (empty or None), e.g. node ids "
            f"{empty[:5]}; give every node a text or drop those nodes"
        )


def check_class_texts(
    class_names: Sequence[str], class_descriptions: Mapping[str, str] | None = None
) -> None:
    """Raise a ValueError naming the problem when class names or descriptions are unusable.

    Checks: at least one class name; every name a non-empty string, no duplicates; when
    descriptions are given, a non-empty one for every class name.
    """
    if class_names is None or len(class_names) == 0:
        raise ValueError("class_names: empty; a TAG needs at least one class name")
    bad = [i for i, c in enumerate(class_names) if not isinstance(c, str) or not c.strip()]
    if bad:
        raise ValueError(f"class_names: class(es) at position(s) {bad} have an empty name")
    dup = sorted({c for c in class_names if list(class_names).count(c) > 1})
    if dup:
        raise ValueError(f"class_names: duplicated name(s) {dup}")
    if class_descriptions is not None:
        missing = [
            c
            for c in class_names
            if not isinstance(class_descriptions.get(c), str) or not class_descriptions[c].strip()
        ]
        if missing:
            raise ValueError(
                f"class_descriptions: no description for class(es) {missing}; "
                "give one per class name or pass None"
            )


def class_prompts(
    class_names: Sequence[str],
    class_descriptions: Mapping[str, str] | None = None,
    template: str = "this node belongs to {}",
) -> list[str]:
    """Zero-shot class prompts: ``template`` filled with each name, plus
    ``" which refers to " + description`` when descriptions are given (official eval.py)."""
    check_class_texts(class_names, class_descriptions)
    if not isinstance(template, str) or "{}" not in template:
        raise ValueError(f"template: must contain '{{}}', got {template!r}")
    out = []
    for c in class_names:
        text = template.format(c)
        if class_descriptions is not None:
            text += " which refers to " + class_descriptions[c]
        out.append(text)
    return out


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
        check_node_texts(self.texts)
        check_class_texts(self.class_names, self.class_descriptions)
        y = getattr(self.data, "y", None)
        if y is not None and y.numel():
            top, low = int(y.max()), int(y.min())
            if low < -1:
                raise ValueError(f"data.y: label {low} is invalid (use -1 for unlabelled nodes)")
            if top >= len(self.class_names):
                raise ValueError(
                    f"data.y: label {top} has no class name ({len(self.class_names)} given)"
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
        return class_prompts(self.class_names, self.class_descriptions, template)
