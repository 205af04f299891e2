"""Device handling: choose the device once, move batches of any structure, autocast only on CUDA."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["resolve_device", "module_device", "to_device", "autocast"]


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/None → CUDA when available, else CPU; anything else is checked and returned.

    Raises:
        ValueError: ``device`` names CUDA but no CUDA device is available.
    """
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {device!r} was requested but CUDA is not available here")
    return resolved


def module_device(module: nn.Module) -> torch.device:
    """Device of a module's first parameter (or buffer); CPU for a module with neither."""
    for tensor in module.parameters():
        return tensor.device
    for tensor in module.buffers():
        return tensor.device
    return torch.device("cpu")


def to_device(batch: Any, device: torch.device | str, non_blocking: bool = False) -> Any:
    """Move every tensor inside ``batch`` to ``device``.

    Handles tensors, mappings (incl. ``transformers.BatchEncoding``), lists, tuples,
    namedtuples, dataclasses, and anything with a ``.to(device)`` method (PyG ``Data``/``Batch``).
    """
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if hasattr(batch, "to") and hasattr(batch, "keys") and not isinstance(batch, Mapping):
        return batch.to(device, non_blocking=non_blocking)  # PyG Data / Batch
    if isinstance(batch, Mapping):
        moved = {k: to_device(v, device, non_blocking) for k, v in batch.items()}
        try:
            return type(batch)(moved)
        except TypeError:
            return moved
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(to_device(v, device, non_blocking) for v in batch))
    if isinstance(batch, list | tuple):
        return type(batch)(to_device(v, device, non_blocking) for v in batch)
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        changes = {
            f.name: to_device(getattr(batch, f.name), device, non_blocking)
            for f in dataclasses.fields(batch)
            if f.init
        }
        return dataclasses.replace(batch, **changes)
    if hasattr(batch, "to") and callable(batch.to):
        return batch.to(device)
    return batch


@contextlib.contextmanager
def autocast(device: torch.device, precision: str = "no") -> Iterator[None]:
    """Mixed precision on CUDA only (``"fp16"`` / ``"bf16"``); a no-op on CPU or for ``"no"``."""
    if precision == "no" or torch.device(device).type != "cuda":
        yield
        return
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    with torch.autocast(device_type="cuda", dtype=dtype):
        yield
