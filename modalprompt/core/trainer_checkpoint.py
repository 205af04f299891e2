"""What a training checkpoint holds, and how it is written and read back (no pickle).

``<output_dir>/checkpoint-<step>/``:

* ``model.safetensors``: the trainable state (``prompt_state_dict()``);
* ``best.safetensors``: the best evaluated state so far (so ``restore_best`` survives a resume);
* ``optimizer.safetensors`` + the optimizer's non-tensor state in ``trainer_state.json``;
* ``rng.safetensors``: torch/numpy generator states (python's is in the JSON);
* ``trainer_state.json``: counters, scheduler, grad scaler, early-stopping state.

Folders are assembled under a temporary name and renamed into place, so a crash mid-save leaves
the previous checkpoint intact.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from modalprompt.core.io import (
    atomic_save_tensors,
    atomic_write_json,
    load_tensors,
    make_staging_dir,
    read_json,
    replace_dir_atomically,
)

__all__ = [
    "TrainerState",
    "save_trainer_checkpoint",
    "load_trainer_checkpoint",
    "latest_checkpoint",
    "optimizer_state_to_flat",
    "optimizer_state_from_flat",
]

_CKPT = re.compile(r"^checkpoint-(\d+)$")


@dataclasses.dataclass
class TrainerState:
    """Counters that say exactly where training is.

    ``epoch`` is the epoch in progress and ``batch_in_epoch`` the number of its micro-batches
    already consumed, so a resumed run continues with the very next batch.
    """

    global_step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    best_metric: float | None = None
    best_step: int | None = None
    evals_without_improvement: int = 0


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
) -> Path:
    """Write ``directory/checkpoint-<step>`` atomically and prune old checkpoints."""
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
            staging / "trainer_state.json",
            {
                "state": dataclasses.asdict(state),
                "optimizer": opt_meta,
                "scheduler": scheduler.state_dict(),
                "grad_scaler": scaler_state,
                "rng": rng_scalars,
            },
        )
        replace_dir_atomically(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    checkpoints = sorted(_list_checkpoints(directory))
    for _, old in checkpoints[:-total_limit]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def _list_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    if not directory.is_dir():
        return []
    found = []
    for child in directory.iterdir():
        match = _CKPT.match(child.name)
        if match and (child / "trainer_state.json").is_file():
            found.append((int(match.group(1)), child))
    return found


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The complete checkpoint with the highest step in ``directory``, or None."""
    found = _list_checkpoints(Path(directory))
    return max(found)[1] if found else None


def load_trainer_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint folder into plain values and tensors (on CPU)."""
    path = Path(path)
    if not (path / "trainer_state.json").is_file():
        raise FileNotFoundError(
            f"resume_from: {path} is not a trainer checkpoint (no trainer_state.json)"
        )
    meta = read_json(path / "trainer_state.json")
    best_file = path / "best.safetensors"
    return {
        "state": TrainerState(**meta["state"]),
        "model": load_tensors(path / "model.safetensors"),
        "best": load_tensors(best_file) if best_file.is_file() else None,
        "optimizer": optimizer_state_from_flat(
            meta["optimizer"], load_tensors(path / "optimizer.safetensors")
        ),
        "scheduler": meta["scheduler"],
        "grad_scaler": meta["grad_scaler"],
        "rng": (meta["rng"], load_tensors(path / "rng.safetensors")),
    }
