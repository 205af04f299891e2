"""Atomic, pickle-free, verified file writing: JSON, safetensors and folder manifests.

Every file the library writes goes to a temporary file in the destination folder, is flushed and
``fsync``-ed, then ``os.replace``-d over the target, so a crash leaves either the old file or the
new one, never half of one. Tensors are stored with safetensors only.

Saved folders (models, training checkpoints) end with a ``manifest.json`` holding the size and
SHA-256 of every file, written last; :func:`verify_manifest` checks it on load, so a flipped or
truncated byte is an error naming the file instead of silently different values. Every read
error names the file and what was expected (:class:`CorruptFileError`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

__all__ = [
    "CorruptFileError",
    "MANIFEST_NAME",
    "write_manifest",
    "verify_manifest",
    "recoverable_dir",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_save_tensors",
    "load_tensors",
    "read_json",
    "replace_dir_atomically",
    "make_staging_dir",
    "move_aside_previous_run",
]


MANIFEST_NAME = "manifest.json"
_MANIFEST_FORMAT = "modalprompt-manifest-1"


class CorruptFileError(ValueError):
    """A saved file is missing, corrupt, truncated or not what was expected; the message names
    the file and what was expected."""


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
    """Parse a JSON file; a syntax error names the file, line and column."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as err:
        raise CorruptFileError(
            f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})"
        ) from err
    except UnicodeDecodeError as err:
        raise CorruptFileError(f"{path}: not UTF-8 text ({err}); expected a JSON file") from err


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
    try:
        return load_file(str(path), device=str(device))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:  # they name no file
        raise CorruptFileError(
            f"{path}: not a readable safetensors file ({type(err).__name__}: {err}); the file "
            "is truncated or corrupt"
        ) from err


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: str | Path) -> None:
    """Write ``folder/manifest.json``: size and SHA-256 of every other file in ``folder``.

    Call it last, once every file is in place: a folder with a valid manifest is complete.
    """
    folder = Path(folder)
    files = {
        child.name: {"size": child.stat().st_size, "sha256": _sha256(child)}
        for child in sorted(folder.iterdir())
        if child.is_file() and child.name != MANIFEST_NAME and not child.name.startswith(".")
    }
    atomic_write_json(folder / MANIFEST_NAME, {"format": _MANIFEST_FORMAT, "files": files})


def verify_manifest(folder: str | Path, required: tuple[str, ...] = ()) -> bool:
    """Check every file listed in ``folder/manifest.json`` against its size and SHA-256.

    Args:
        folder: A folder written with :func:`write_manifest`.
        required: Files the folder must list (e.g. the weights).

    Returns:
        True when verified; False when the folder has no manifest (written by an older
        version), after a warning.

    Raises:
        CorruptFileError: a listed file is missing, has another size or another hash, or the
            manifest itself is malformed; the message names the file.
    """
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not path.is_file():
        warnings.warn(
            f"{folder} has no {MANIFEST_NAME} (saved by an older version?); its files are "
            "loaded without checking their integrity",
            stacklevel=3,
        )
        return False
    manifest = read_json(path)
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or manifest.get("format") != _MANIFEST_FORMAT:
        raise CorruptFileError(
            f"{path}: expected an object with 'format': {_MANIFEST_FORMAT!r} and 'files', got "
            f"{str(manifest)[:80]}"
        )
    for name in required:
        if name not in files:
            raise CorruptFileError(f"{path}: does not list {name}, which this folder needs")
    for name, entry in sorted(files.items()):
        target = folder / name
        if not target.is_file():
            raise CorruptFileError(f"{target}: listed in {path} but missing")
        try:
            size, expected = int(entry["size"]), str(entry["sha256"])
        except (TypeError, KeyError, ValueError) as err:
            raise CorruptFileError(
                f"{path}: entry {name!r} needs 'size' and 'sha256', got {entry!r}"
            ) from err
        actual_size = target.stat().st_size
        if actual_size != size:
            raise CorruptFileError(
                f"{target}: {actual_size} bytes, but {size} were saved (per {MANIFEST_NAME}); "
                "the file is truncated or was changed after saving"
            )
        actual = _sha256(target)
        if actual != expected:
            raise CorruptFileError(
                f"{target}: SHA-256 {actual[:16]}... differs from the saved {expected[:16]}... "
                f"(per {MANIFEST_NAME}); the file is corrupt or was changed after saving"
            )
    return True


def _backup_of(target: Path) -> Path:
    return target.with_name(f".{target.name}.old")


def recoverable_dir(target: str | Path) -> Path:
    """``target``, or the previous version a save interrupted between its two renames left in
    the hidden ``.<name>.old`` folder beside it (with a warning saying where it is)."""
    target = Path(target)
    backup = _backup_of(target)
    if not target.exists() and backup.is_dir():
        warnings.warn(
            f"{target} is missing: a save was interrupted after moving the previous version "
            f"aside; using that previous version from {backup} (rename it to {target.name} to "
            "keep it)",
            stacklevel=3,
        )
        return backup
    return target


def make_staging_dir(target: Path) -> Path:
    """An empty folder beside ``target`` to assemble it in (ordinary permissions, unlike
    ``mkdtemp``'s 0700), for :func:`replace_dir_atomically`."""
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    os.chmod(staging, 0o777 & ~_UMASK)
    return staging


def replace_dir_atomically(staging: Path, target: Path) -> None:
    """Move a fully written ``staging`` folder to ``target``, replacing any previous one.

    The old folder is renamed aside first (to ``.<name>.old``) and deleted only after the new
    one is in place. When an earlier save died between the two renames, only that ``.old``
    folder holds the previous version: it is moved back first rather than deleted.
    """
    target = Path(target)
    backup = _backup_of(target)
    if backup.exists():
        if target.exists():
            shutil.rmtree(backup)
        else:
            os.replace(backup, target)
    if target.exists():
        os.replace(target, backup)
    os.replace(staging, target)
    _fsync_dir(target.parent)
    if backup.exists():
        shutil.rmtree(backup)


def move_aside_previous_run(path: Path) -> Path:
    """Rename an earlier run's log ``path`` (``metrics.jsonl``) to the first free
    ``metrics.previous-<k>.jsonl`` beside it (k = 1, 2, ...), so that a new run loses nothing;
    returns the new name."""
    k = 1
    while path.with_name(f"metrics.previous-{k}.jsonl").exists():
        k += 1
    target = path.with_name(f"metrics.previous-{k}.jsonl")
    path.rename(target)
    return target
