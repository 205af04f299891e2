"""Nested state (``state_dict()`` of optimizers, schedulers, trainers, generators) as JSON +
a flat tensor mapping, so a checkpoint holds it without pickle.

:func:`split_tensors` replaces every tensor (and numpy array) by a reference into a flat
``{name: Tensor}`` mapping and encodes what JSON cannot hold itself (tuples, dicts with non-string
keys such as an optimizer's integer parameter ids, numpy scalars); :func:`join_tensors` inverts
it exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["split_tensors", "join_tensors", "GeneratorState"]

_TENSOR, _ARRAY, _TUPLE, _ITEMS = "__tensor__", "__ndarray__", "__tuple__", "__items__"


def split_tensors(tree: Any, prefix: str = "") -> tuple[Any, dict[str, torch.Tensor]]:
    """``(json_value, tensors)`` for ``tree`` (dicts, lists, tuples, scalars, tensors, arrays).

    Raises:
        TypeError: ``tree`` holds a value that is neither of those (named by its path).
    """
    tensors: dict[str, torch.Tensor] = {}

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, torch.Tensor):
            key = f"{path}#{len(tensors)}"
            tensors[key] = node.detach().cpu().contiguous()
            return {_TENSOR: key}
        if isinstance(node, np.ndarray):
            key = f"{path}#{len(tensors)}"
            tensors[key] = torch.from_numpy(np.ascontiguousarray(node)).clone()
            return {_ARRAY: key}
        if isinstance(node, np.generic):
            return node.item()
        if node is None or isinstance(node, bool | int | float | str):
            return node
        if isinstance(node, tuple):
            return {_TUPLE: [walk(v, f"{path}/{i}") for i, v in enumerate(node)]}
        if isinstance(node, list):
            return [walk(v, f"{path}/{i}") for i, v in enumerate(node)]
        if isinstance(node, dict):
            if all(isinstance(k, str) for k in node) and not (
                {_TENSOR, _ARRAY, _TUPLE, _ITEMS} & set(node)
            ):
                return {k: walk(v, f"{path}/{k}") for k, v in node.items()}
            return {
                _ITEMS: [[walk(k, f"{path}/key"), walk(v, f"{path}/{k}")] for k, v in node.items()]
            }
        raise TypeError(
            f"state at {path or '/'}: cannot store a {type(node).__name__} in a checkpoint; "
            "expected tensors, numpy arrays, numbers, strings, None, lists, tuples or dicts"
        )

    return walk(tree, prefix), tensors


def join_tensors(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`split_tensors`.

    Raises:
        KeyError: a referenced tensor is missing from ``tensors``.
    """
    if isinstance(value, list):
        return [join_tensors(v, tensors) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {_TENSOR}:
        return tensors[value[_TENSOR]]
    if set(value) == {_ARRAY}:
        return tensors[value[_ARRAY]].numpy().copy()
    if set(value) == {_TUPLE}:
        return tuple(join_tensors(v, tensors) for v in value[_TUPLE])
    if set(value) == {_ITEMS}:
        return {join_tensors(k, tensors): join_tensors(v, tensors) for k, v in value[_ITEMS]}
    return {k: join_tensors(v, tensors) for k, v in value.items()}


class GeneratorState:
    """A ``torch.Generator`` as an object with ``state_dict`` / ``load_state_dict``."""

    def __init__(self, generator: torch.Generator) -> None:
        self.generator = generator

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"state": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.generator.set_state(state["state"].to(torch.uint8).cpu())
