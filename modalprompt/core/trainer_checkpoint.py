"""What a training checkpoint holds, and how it is written and read back (no pickle).

``<output_dir>/checkpoint-<step>/``:

* ``model.safetensors``: the trainable state (``prompt_state_dict()``);
* ``best.safetensors``: the best evaluated state so far (so ``restore_best`` survives a resume);
* ``optimizer.safetensors`` + the optimizer's non-tensor state in ``trainer_state.json``;
* ``rng.safetensors``: torch/numpy generator states (python's is in the JSON);
* ``trainer_state.json``: counters, scheduler, grad scaler, early-stopping state, the id of the
  run that wrote it, its training arguments and the size of its training data;
* ``manifest.json``: size and SHA-256 of every other file, written last and checked on load.

Folders are assembled under a temporary name and renamed into place, so a crash mid-save leaves
the previous checkpoint intact. A run prunes only its own checkpoints.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch

from modalprompt.core.io import (
    CorruptFileError,
    atomic_save_tensors,
    atomic_write_json,
    load_tensors,
    make_staging_dir,
    read_json,
    recoverable_dir,
    replace_dir_atomically,
    verify_manifest,
    write_manifest,
)

__all__ = [
    "TrainerState",
    "save_trainer_checkpoint",
    "load_trainer_checkpoint",
    "latest_checkpoint",
    "checkpoint_folders",
    "remove_staging_debris",
    "checkpoint_run_id",
    "training_args_changes",
    "non_finite_tensors",
    "optimizer_state_to_flat",
    "optimizer_state_from_flat",
]

_CKPT = re.compile(r"^checkpoint-(\d+)$")
_OLD = re.compile(r"^\.checkpoint-(\d+)\.old$")  # left by a save killed between its renames
_STAGING = re.compile(r"^\.checkpoint-\d+\.[A-Za-z0-9_]{8}$")  # left by a save killed mid-write
STATE_NAME = "trainer_state.json"
_FILES = ("model.safetensors", "optimizer.safetensors", "rng.safetensors", STATE_NAME)

# Training arguments that change neither the trajectory nor the result, so a resume may change
# them freely (where files go, what is shown, how often checkpoints are written).
RESUME_NEUTRAL = frozenset(
    {
        "output_dir",
        "verbose",
        "tensorboard",
        "log_every",
        "save_every",
        "save_total_limit",
        "num_workers",
        "device",
        "eval_batch_size",
        "overwrite_output_dir",
        "resume_with_changes",
    }
)


@dataclasses.dataclass
class TrainerState:
    """Counters that say exactly where training is.

    ``epoch`` is the epoch in progress and ``batch_in_epoch`` the number of its micro-batches
    already consumed, so a resumed run continues with the very next batch. ``finished`` is set
    when ``fit`` ended (all steps done or early stopping): resuming such a checkpoint trains
    nothing.
    """

    global_step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_metric: float | None = None
    best_step: int | None = None
    evals_without_improvement: int = 0
    finished: bool = False


def optimizer_state_to_flat(
    optimizer: torch.optim.Optimizer,
) -> tuple[dict, dict[str, torch.Tensor]]:
    """Split an optimizer's state dict into JSON-able values and a flat tensor mapping."""
    state_dict = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, per_param in state_dict["state"].items():
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{pid}.{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return {"param_groups": state_dict["param_groups"], "scalars": scalars}, tensors


def optimizer_state_from_flat(meta: dict, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Inverse of :func:`optimizer_state_to_flat`."""
    state: dict[int, dict[str, Any]] = {}
    for name, tensor in tensors.items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = tensor
    for pid, values in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(values)
    return {"state": state, "param_groups": meta["param_groups"]}


def non_finite_tensors(tensors: dict[str, torch.Tensor]) -> list[str]:
    """Names of the floating-point tensors in ``tensors`` that hold NaN or inf."""
    return [
        name
        for name, t in tensors.items()
        if t.is_floating_point() and not bool(torch.isfinite(t).all())
    ]


def save_trainer_checkpoint(
    directory: Path,
    *,
    model_state: dict[str, torch.Tensor],
    best_state: dict[str, torch.Tensor] | None,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler_state: dict[str, Any] | None,
    state: TrainerState,
    rng: tuple[dict[str, Any], dict[str, torch.Tensor]],
    total_limit: int,
    run_id: str,
    training_args: dict[str, Any],
    data: dict[str, int],
) -> Path:
    """Write ``directory/checkpoint-<step>`` atomically and prune this run's old checkpoints.

    ``run_id`` marks the checkpoint as this run's; ``training_args`` and ``data`` (sizes of the
    training data) let a resume tell whether anything changed since.
    """
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"checkpoint-{state.global_step}"
    staging = make_staging_dir(target)
    try:
        atomic_save_tensors(staging / "model.safetensors", model_state)
        if best_state is not None:
            atomic_save_tensors(staging / "best.safetensors", best_state)
        opt_meta, opt_tensors = optimizer_state_to_flat(optimizer)
        atomic_save_tensors(staging / "optimizer.safetensors", opt_tensors)
        rng_scalars, rng_tensors = rng
        atomic_save_tensors(staging / "rng.safetensors", rng_tensors)
        atomic_write_json(
            staging / STATE_NAME,
            {
                "run_id": run_id,
                "training_args": training_args,
                "data": data,
                "state": dataclasses.asdict(state),
                "optimizer": opt_meta,
                "scheduler": scheduler.state_dict(),
                "grad_scaler": scaler_state,
                "rng": rng_scalars,
            },
        )
        write_manifest(staging)
        replace_dir_atomically(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    own = sorted(
        (step, path)
        for step, path in checkpoint_folders(directory)
        if path != target and checkpoint_run_id(path) == run_id
    )
    for _, old in own[: max(0, len(own) - (total_limit - 1))]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def checkpoint_folders(directory: str | Path) -> list[tuple[int, Path]]:
    """``(step, folder)`` of every ``checkpoint-<step>`` in ``directory`` (complete or not),
    and of every ``.checkpoint-<step>.old`` whose ``checkpoint-<step>`` is missing (the previous
    version a save killed between its two renames left aside)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found, names = [], {child.name for child in directory.iterdir()}
    for child in directory.iterdir():
        match = _CKPT.match(child.name)
        old = _OLD.match(child.name)
        if match and child.is_dir():
            found.append((int(match.group(1)), child))
        elif old and child.is_dir() and f"checkpoint-{old.group(1)}" not in names:
            found.append((int(old.group(1)), child))
    return sorted(found)


def remove_staging_debris(directory: str | Path) -> None:
    """Delete the hidden ``.checkpoint-<step>.<random>`` folders of saves killed before their
    rename (incomplete by construction; a complete checkpoint is never among them)."""
    directory = Path(directory)
    if directory.is_dir():
        for child in directory.iterdir():
            if _STAGING.match(child.name) and child.is_dir():
                shutil.rmtree(child, ignore_errors=True)


def checkpoint_run_id(path: str | Path) -> str | None:
    """The id of the run that wrote checkpoint ``path`` (None when unreadable or too old)."""
    try:
        meta = json.loads((Path(path) / STATE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    run_id = meta.get("run_id") if isinstance(meta, dict) else None
    return run_id if isinstance(run_id, str) else None


def _problem(path: Path) -> str | None:
    """Why checkpoint ``path`` cannot be resumed from, or None when it is complete and intact."""
    try:
        if not verify_manifest(path, required=_FILES):
            missing = [name for name in _FILES if not (path / name).is_file()]
            if missing:
                return f"incomplete (no {', '.join(missing)})"
        read_json(path / STATE_NAME)
    except (CorruptFileError, OSError) as err:
        return str(err)
    return None


def latest_checkpoint(directory: str | Path, run_id: str | None = None) -> Path | None:
    """The newest complete, intact checkpoint in ``directory`` (of run ``run_id`` when given).

    A newer checkpoint that is corrupt or incomplete is skipped with a warning saying why.

    Raises:
        ValueError: ``run_id`` is None and the folder holds checkpoints of several runs, so
            "latest" is ambiguous.
    """
    candidates = checkpoint_folders(directory)
    if run_id is None:
        runs: dict[str | None, list[str]] = {}
        for _, path in candidates:
            runs.setdefault(checkpoint_run_id(path), []).append(path.name)
        known = {k: v for k, v in runs.items() if k is not None}
        if len(known) > 1:
            listing = "; ".join(f"run {k}: {', '.join(v)}" for k, v in sorted(known.items()))
            raise ValueError(
                f"resume_from='latest': {directory} holds checkpoints of {len(known)} runs "
                f"({listing}); pass the checkpoint folder to resume from explicitly"
            )
    else:
        candidates = [(s, p) for s, p in candidates if checkpoint_run_id(p) == run_id]
    for _, path in reversed(candidates):
        problem = _problem(path)
        if problem is None:
            if path.name.startswith("."):
                warnings.warn(
                    f"using {path}: a save of {path.name[1:-4]} was interrupted after moving "
                    "this previous version aside",
                    stacklevel=2,
                )
            return path
        warnings.warn(f"skipping checkpoint {path}: {problem}", stacklevel=2)
    return None


def load_trainer_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint folder into plain values and tensors (on CPU), verifying its manifest.

    Raises:
        FileNotFoundError: ``path`` is not a checkpoint folder.
        CorruptFileError: a file is corrupt, truncated or malformed (the message names it).
    """
    path = recoverable_dir(Path(path))
    if not (path / STATE_NAME).is_file():
        raise FileNotFoundError(
            f"resume_from: {path} is not a trainer checkpoint (no {STATE_NAME})"
        )
    verify_manifest(path, required=_FILES)
    meta = read_json(path / STATE_NAME)
    best_file = path / "best.safetensors"
    tensors = {
        "model": load_tensors(path / "model.safetensors"),
        "best": load_tensors(best_file) if best_file.is_file() else None,
        "optimizer": load_tensors(path / "optimizer.safetensors"),
        "rng": load_tensors(path / "rng.safetensors"),
    }
    try:
        return {
            "path": path,
            "run_id": meta.get("run_id"),
            "training_args": meta.get("training_args"),
            "data": meta.get("data"),
            "state": TrainerState(**meta["state"]),
            "model": tensors["model"],
            "best": tensors["best"],
            "optimizer": optimizer_state_from_flat(meta["optimizer"], tensors["optimizer"]),
            "scheduler": meta["scheduler"],
            "grad_scaler": meta["grad_scaler"],
            "rng": (meta["rng"], tensors["rng"]),
        }
    except (AttributeError, KeyError, TypeError, ValueError) as err:
        raise CorruptFileError(
            f"{path / STATE_NAME}: malformed ({type(err).__name__}: {err}); expected the "
            "'state', 'optimizer', 'scheduler', 'grad_scaler' and 'rng' entries a trainer "
            "checkpoint holds"
        ) from err


def training_args_changes(
    saved_args: dict[str, Any],
    current_args: dict[str, Any],
    saved_data: dict[str, int] | None = None,
    current_data: dict[str, int] | None = None,
) -> list[str]:
    """Each difference (``"lr: 0.01 -> 1e-05"``) between the training arguments and data sizes
    a checkpoint was saved with and the current ones, ignoring :data:`RESUME_NEUTRAL` fields."""
    current_args = json.loads(json.dumps(current_args))  # tuples -> lists, as saved
    missing = object()
    changes = []
    for key in sorted((set(saved_args) | set(current_args)) - RESUME_NEUTRAL):
        old, new = saved_args.get(key, missing), current_args.get(key, missing)
        if old != new:
            show = [("(unset)" if v is missing else repr(v)) for v in (old, new)]
            changes.append(f"{key}: {show[0]} -> {show[1]}")
    for key in sorted(set(saved_data or {}) & set(current_data or {})):
        if saved_data[key] != current_data[key]:
            changes.append(f"{key}: {saved_data[key]} -> {current_data[key]}")
    return changes
