"""Seeding and random-state capture, so CPU runs are bitwise reproducible and resumable."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

__all__ = ["seed_everything", "seeded", "capture_rng_state", "restore_rng_state"]


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed python, numpy and torch (all devices); optionally demand deterministic kernels."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def capture_rng_state() -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The state of every global generator as (JSON-able values, tensors) — no pickle needed."""
    py_version, py_state, py_gauss = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    scalars = {
        "python": [py_version, list(py_state), py_gauss],
        "numpy": [np_kind, int(np_pos), int(np_has_gauss), float(np_gauss)],
        "cuda_devices": torch.cuda.device_count() if torch.cuda.is_available() else 0,
    }
    tensors = {
        "torch_cpu": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np_keys.astype(np.int64)),
    }
    for i in range(scalars["cuda_devices"]):
        tensors[f"torch_cuda_{i}"] = torch.cuda.get_rng_state(i)
    return scalars, tensors


def restore_rng_state(scalars: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    py_version, py_state, py_gauss = scalars["python"]
    random.setstate((py_version, tuple(py_state), py_gauss))
    np_kind, np_pos, np_has_gauss, np_gauss = scalars["numpy"]
    keys = tensors["numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state((np_kind, keys, np_pos, np_has_gauss, np_gauss))
    torch.set_rng_state(tensors["torch_cpu"])
    if torch.cuda.is_available():
        for i in range(min(scalars.get("cuda_devices", 0), torch.cuda.device_count())):
            torch.cuda.set_rng_state(tensors[f"torch_cuda_{i}"], i)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Inside, python, numpy and torch draw from ``seed``; on exit the caller's generators are
    exactly as they were (nothing drawn inside leaks out, nothing outside leaks in).

    :func:`~modalprompt.core.registry.get_prompt_model` builds every method in here with
    ``config.seed``, so a method's new parameters depend on its config only.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    python_state, numpy_state = random.getstate(), np.random.get_state()
    # CUDA generators are saved (and seeded) only once CUDA is in use: seeding them earlier would
    # initialise CUDA in CPU-only programs
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    devices = list(range(torch.cuda.device_count())) if cuda else []
    with torch.random.fork_rng(devices=devices):
        try:
            random.seed(seed)
            np.random.seed(seed % 2**32)
            if cuda:
                torch.manual_seed(seed)
            else:
                torch.default_generator.manual_seed(seed)
            yield
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)
