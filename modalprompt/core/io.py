"""Atomic, pickle-free file writing: JSON and safetensors.

Every file the library writes goes to a temporary file in the destination folder, is flushed and
``fsync``-ed, then ``os.replace``-d over the target, so a crash leaves either the old file or the
new one, never half of one. Tensors are stored with safetensors only.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_save_tensors",
    "load_tensors",
    "read_json",
    "replace_dir_atomically",
    "make_staging_dir",
]


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temp file + fsync + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            # mkstemp makes the file 0600; give it the permissions a plain open() would
            os.fchmod(handle.fileno(), 0o666 & ~_UMASK)
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented, key-sorted JSON, atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


def read_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def atomic_save_tensors(
    path: str | Path, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None
) -> None:
    """Save a flat ``{name: tensor}`` mapping as safetensors, atomically.

    Tensors are detached, moved to CPU and made contiguous; tensors that share memory are cloned
    (safetensors refuses aliasing).
    """
    seen_storages: set[int] = set()
    clean: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"tensors[{name!r}]: expected a torch.Tensor, got {type(tensor)}")
        t = tensor.detach().to("cpu")
        storage = t.untyped_storage().data_ptr() if t.numel() else None
        if storage in seen_storages or not t.is_contiguous():
            t = t.clone()
        elif storage is not None:
            seen_storages.add(storage)
        clean[name] = t
    atomic_write_bytes(path, save(clean, metadata=dict(metadata) if metadata else None))


def load_tensors(path: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Load a safetensors file written by :func:`atomic_save_tensors`."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no safetensors file at {path}")
    return load_file(str(path), device=str(device))


def make_staging_dir(target: Path) -> Path:
    """An empty folder beside ``target`` to assemble it in (ordinary permissions, unlike
    ``mkdtemp``'s 0700), for :func:`replace_dir_atomically`."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    os.chmod(staging, 0o777 & ~_UMASK)
    return staging


def replace_dir_atomically(staging: Path, target: Path) -> None:
    """Move a fully written ``staging`` folder to ``target``, replacing any previous one.

    The old folder is renamed aside first and deleted only after the new one is in place.
    """
    target = Path(target)
    backup = target.with_name(f".{target.name}.old")
    if backup.exists():
        shutil.rmtree(backup)
    if target.exists():
        os.replace(target, backup)
    os.replace(staging, target)
    _fsync_dir(target.parent)
    if backup.exists():
        shutil.rmtree(backup)
