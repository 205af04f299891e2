"""Checks at the library's boundary: a bad batch is named here, never deep inside torch.

Every check raises a ``ValueError`` (a value out of range, a wrong shape) or a ``TypeError`` (a
wrong type or dtype) whose message names the argument, what was found and what was expected.
The domains add their own and use these: ``graph.promptable.check_node_features`` /
``check_edge_index`` and ``graph.backbones.molecule_gin.check_molecule_data``,
``nlp.injection.check_input_ids`` / ``check_token_tensor`` / ``check_generation_length``, the
point transformer's ``points`` check.

Rules for inputs of another dtype, per entry point:

* class labels: integer tensors, or floats holding whole numbers (cast to ``long``); a
  fractional, negative or too large label is refused; multilabel graph targets are 0, 1 or NaN;
* the core methods (``linear_probe``, ``full_finetune``) on any backbone: floating tensors are
  cast to the dtype of the backbone's floating parameters (:func:`match_float_dtype`), so
  float64 arrays from numpy work on a float32 model; integer inputs are left to the backbone;
* point clouds: coordinates (float64, integers) are cast to the backbone's dtype;
* graphs: node features are cast to the GNN's float dtype; atom and bond indices of the molecule
  GNNs must be integers and ``edge_index`` must be ``torch.long`` (never rounded or cast);
* text: token ids and token type ids must be integers (a float id is refused, never rounded);
  an attention mask may be bool, integer or float but holds only 0 and 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["check_class_labels", "check_batch_size", "float_dtype", "match_float_dtype"]


def _describe(x: Any) -> str:
    if isinstance(x, Tensor):
        return f"a {x.dtype} tensor of shape {tuple(x.shape)}"
    return type(x).__name__


def check_class_labels(
    labels: Any, num_classes: int, *, batch_size: int | None = None, name: str = "labels"
) -> Tensor:
    """``labels`` as a ``long`` tensor ``(B,)`` of class indices in ``[0, num_classes)``.

    Args:
        labels: ``(B,)`` (or ``(B, 1)``) class indices; integer dtype, or a float dtype holding
            whole numbers.
        num_classes: ``C``.
        batch_size: ``B`` the predictions have, when known.
        name: Argument name used in error messages.

    Raises:
        TypeError: not a tensor, or a bool/complex dtype.
        ValueError: empty, a count other than ``batch_size``, a fractional, NaN or out-of-range
            value.
    """
    if not isinstance(labels, Tensor):
        raise TypeError(f"{name}: expected a tensor of class indices, got {_describe(labels)}")
    if labels.dtype == torch.bool or labels.is_complex():
        raise TypeError(f"{name}: expected integer class indices, got {_describe(labels)}")
    if labels.dim() > 1 and labels.numel() != labels.size(0):
        raise ValueError(
            f"{name}: expected one class index per example, shape (B,), got {tuple(labels.shape)}"
        )
    flat = labels.reshape(-1)
    if flat.numel() == 0:
        raise ValueError(f"{name}: empty batch (0 labels); a batch needs at least one example")
    if batch_size is not None and flat.numel() != batch_size:
        raise ValueError(
            f"{name}: expected {batch_size} labels (one per example), got {flat.numel()}"
        )
    if labels.is_floating_point():
        whole = torch.isfinite(flat) & (flat == flat.round())
        if not bool(whole.all()):
            found = flat[~whole][:5].tolist()
            raise ValueError(
                f"{name}: class indices must be whole numbers, found {found} ({labels.dtype})"
            )
    flat = flat.long()
    bad = (flat < 0) | (flat >= num_classes)
    if bool(bad.any()):
        found = sorted(set(flat[bad].tolist()))[:5]
        raise ValueError(
            f"{name}: class indices must lie in [0, {num_classes}) for {num_classes} classes, "
            f"found {found}"
        )
    return flat


def check_batch_size(size: int, name: str = "inputs") -> None:
    """Refuse an empty batch by name (a loss over zero examples is NaN, not an error)."""
    if size == 0:
        raise ValueError(f"{name}: empty batch (0 examples); a batch needs at least one example")


def float_dtype(module: nn.Module) -> torch.dtype | None:
    """The dtype of ``module``'s first floating parameter or buffer (None when it has none)."""
    for tensor in (*module.parameters(), *module.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return None


def match_float_dtype(inputs: Any, dtype: torch.dtype | None) -> Any:
    """``inputs`` with every floating tensor (also inside lists, tuples and mappings) cast to
    ``dtype``; other values unchanged. ``dtype=None`` changes nothing."""
    if dtype is None:
        return inputs
    if isinstance(inputs, Tensor):
        return inputs.to(dtype) if inputs.is_floating_point() and inputs.dtype != dtype else inputs
    if isinstance(inputs, Mapping):
        return {k: match_float_dtype(v, dtype) for k, v in inputs.items()}
    if isinstance(inputs, list | tuple) and not hasattr(inputs, "_fields"):
        return type(inputs)(match_float_dtype(v, dtype) for v in inputs)
    return inputs
