"""Checkpointing half of the :class:`~modalprompt.core.trainer.Trainer`: save, resume, claim.

* Saving refuses a state holding NaN/inf (nothing is written, the last good checkpoint is named).
* Each run has an id written into its checkpoints; a new run refuses an ``output_dir`` that holds
  another run's checkpoints unless ``overwrite_output_dir`` is set, and prunes only its own.
* Resuming compares the saved training arguments (and training-data size) with the current
  ones: identical ones resume exactly; a change is an error naming each difference unless
  ``resume_with_changes`` is set, in which case the new values take effect (new optimizer
  hyper-parameters, the schedule rebuilt over the new total) and a warning lists them.
* Resuming a finished run trains nothing, and says so.
"""

from __future__ import annotations

import dataclasses
import shutil
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from modalprompt.core.seeding import capture_rng_state, restore_rng_state
from modalprompt.core.trainer_checkpoint import (
    TrainerState,
    checkpoint_folders,
    checkpoint_run_id,
    latest_checkpoint,
    load_trainer_checkpoint,
    non_finite_tensors,
    save_trainer_checkpoint,
    training_args_changes,
)

__all__ = ["CheckpointingMixin", "NonFiniteLossError"]


class NonFiniteLossError(RuntimeError):
    """The loss or the gradient norm became NaN/inf; the last good checkpoint is kept."""


def _trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """What a checkpoint of ``model`` holds: a PromptModel's ``prompt_state_dict``; for another
    module its trained parameters and its buffers (BatchNorm statistics change in training and
    a resume without them would not continue the same run)."""
    if hasattr(model, "prompt_state_dict"):
        return model.prompt_state_dict()
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    trained = dict(model.named_parameters())
    return {
        name: trained.get(name, value)
        for name, value in model.state_dict(keep_vars=True).items()
        if name not in frozen
    }


def _clone_cpu(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def _load_trainable_state(model: nn.Module, state: Mapping[str, torch.Tensor]) -> None:
    if hasattr(model, "load_prompt_state_dict"):
        model.load_prompt_state_dict(state)
    else:
        missing = set(_trainable_state(model)) - set(state)
        if missing:
            raise ValueError(f"checkpoint lacks trainable tensors {sorted(missing)[:10]}")
        model.load_state_dict(dict(state), strict=False)


class CheckpointingMixin:
    """Save/resume methods of the trainer (mixed into :class:`~modalprompt.core.trainer.Trainer`,
    whose attributes they use)."""

    def state_dict(self) -> dict[str, Any]:
        """Everything of this trainer a phase checkpoint needs besides the model's weights
        (:class:`~modalprompt.core.phases.PhaseRunner`): optimizer, schedule, grad scaler,
        counters, the best state and the loss window, and whether training started (seeded)."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "grad_scaler": self.scaler.state_dict() if self.scaler else None,
            "state": dataclasses.asdict(self.state),
            "best_state": self.best_state,
            "window": list(self._window),
            "started": self._started,
            "should_stop": self.should_stop,
            "run_id": self.run_id,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Inverse of :meth:`state_dict` (the model's weights are restored separately)."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state["grad_scaler"]:
            self.scaler.load_state_dict(state["grad_scaler"])
        self.state = TrainerState(**state["state"])
        self.best_state = state["best_state"]
        self._window = [float(v) for v in state["window"]]
        self._started = bool(state["started"])
        self.should_stop = bool(state["should_stop"])
        self.run_id = state["run_id"]

    def _last_good(self) -> str:
        """``"; the last good checkpoint is <path>"`` for this run's newest intact checkpoint."""
        if self.output_dir is None or self.run_id is None:
            return ""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            last = latest_checkpoint(self.output_dir, run_id=self.run_id)
        return f"; the last good checkpoint is {last}" if last else ""

    def save_checkpoint(self) -> Path | None:
        """Write ``output_dir/checkpoint-<step>`` (main process only); returns its path.

        Raises:
            NonFiniteLossError: the state holds NaN/inf; nothing is written.
        """
        if self.output_dir is None:
            raise ValueError("save_checkpoint needs args.output_dir")
        if not self.dist.is_main:
            return None
        model_state = _trainable_state(self.model)
        optimizer_state = {
            f"{i}.{key}": value
            for i, per_param in enumerate(self.optimizer.state.values())
            for key, value in per_param.items()
            if isinstance(value, torch.Tensor)
        }
        self._refuse_non_finite(
            {"model": model_state, "best": self.best_state or {}, "optimizer": optimizer_state},
            f"checkpoint-{self.state.global_step}",
        )
        self.run_id = self.run_id or uuid.uuid4().hex[:12]
        return save_trainer_checkpoint(
            self.output_dir,
            model_state=model_state,
            best_state=self.best_state,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            scaler_state=self.scaler.state_dict() if self.scaler else None,
            state=self.state,
            rng=capture_rng_state(),
            total_limit=self.args.save_total_limit,
            run_id=self.run_id,
            training_args=self.args.to_dict(),
            data=self._data_record(),
        )

    def _refuse_non_finite(
        self, parts: Mapping[str, Mapping[str, torch.Tensor]], what: str
    ) -> None:
        bad = [
            f"{part}:{name}" for part, state in parts.items() for name in non_finite_tensors(state)
        ]
        if bad:
            raise NonFiniteLossError(
                f"NaN/inf in {len(bad)} tensor(s) of the trained state at step "
                f"{self.state.global_step} ({', '.join(bad[:5])}); {what} was not written"
                f"{self._last_good()}. Lower the learning rate, enable clipping (max_grad_norm) "
                "or check the data for NaN/inf (to resume with a new lr, pass "
                "resume_with_changes=True)."
            )

    def _data_record(self) -> dict[str, int]:
        return {"train_examples": len(self.train_dataset), "world_size": self.dist.world_size}

    def _claim_output_dir(self, resuming: bool) -> None:
        """A run may not mix with another run's checkpoints: refuse, or delete them when
        ``overwrite_output_dir`` is set. A new run counts every checkpoint folder as another
        run's; a resumed one only those with another known run id (a corrupt one of its own,
        skipped by ``"latest"``, is kept and later replaced)."""
        if self.output_dir is None:
            return
        others = []
        for _, path in checkpoint_folders(self.output_dir):
            owner = checkpoint_run_id(path)
            if (owner is not None or not resuming) and (
                self.run_id is None or owner != self.run_id
            ):
                others.append(path)
        if not others:
            return
        names = ", ".join(path.name for path in others[:5]) + (" ..." if len(others) > 5 else "")
        if not self.args.overwrite_output_dir:
            raise ValueError(
                f"output_dir: {self.output_dir} already holds checkpoints of another run "
                f"({names}); a new run there would mix with them. Continue that run with "
                "fit(resume_from='latest'), pass TrainingArguments(overwrite_output_dir=True) to "
                "delete them and start over, or choose another output_dir"
            )
        if self.dist.is_main:
            for path in others:
                shutil.rmtree(path, ignore_errors=True)
            warnings.warn(
                f"overwrite_output_dir: deleted another run's checkpoints in {self.output_dir} "
                f"({names})",
                stacklevel=4,
            )

    def _restore(self, path: Path) -> None:
        ckpt = load_trainer_checkpoint(path)
        path, saved_args = ckpt["path"], ckpt["training_args"]
        changes: list[str] = []
        if saved_args is None:
            warnings.warn(
                f"{path} was saved without its training arguments (by an older version); they "
                "cannot be compared with the current ones",
                stacklevel=4,
            )
        else:
            changes = training_args_changes(
                saved_args, self.args.to_dict(), ckpt["data"], self._data_record()
            )
        if changes and not self.args.resume_with_changes:
            raise ValueError(
                f"resume_from={str(path)!r}: the training arguments differ from the ones this "
                f"checkpoint was saved with: {'; '.join(changes)}. Use the saved values for an "
                "exact resume, or pass TrainingArguments(resume_with_changes=True) to continue "
                "with the new ones (the learning-rate schedule is then rebuilt over the new "
                "number of steps)"
            )
        try:
            _load_trainable_state(self.model, ckpt["model"])
        except ValueError as err:
            raise ValueError(f"resume_from={str(path)!r}: model.safetensors: {err}") from err
        try:
            if changes:
                self._load_optimizer_with_changes(ckpt, saved_args)
            else:
                self.optimizer.load_state_dict(ckpt["optimizer"])
                self.scheduler.load_state_dict(ckpt["scheduler"])
        except (KeyError, ValueError) as err:
            raise ValueError(
                f"resume_from={str(path)!r}: its optimizer state does not fit this model's "
                f"parameter groups ({type(err).__name__}: {err})"
            ) from err
        if self.scaler is not None and ckpt["grad_scaler"]:
            self.scaler.load_state_dict(ckpt["grad_scaler"])
        self.state = ckpt["state"]
        self.best_state = ckpt["best"]
        self.run_id = ckpt["run_id"] or uuid.uuid4().hex[:12]
        restore_rng_state(*ckpt["rng"])
        if changes:
            old_batch = saved_args.get("batch_size", self.args.batch_size)
            if old_batch != self.args.batch_size:  # keep the position in examples, not batches
                consumed = self.state.batch_in_epoch * old_batch
                self.state.batch_in_epoch = min(
                    consumed // self.args.batch_size, self.batches_per_epoch
                )
            self.state.finished = False
            self._set_schedule_step(self.state.global_step)
            warnings.warn(
                f"resuming {path} with changed training arguments: {'; '.join(changes)}. The new "
                f"values take effect; the schedule is rebuilt over {self.total_steps} steps "
                f"(now at step {self.state.global_step})",
                stacklevel=4,
            )
        if self.state.finished:
            self.should_stop = True
            warnings.warn(
                f"{path} is the end of a finished run (step {self.state.global_step}); nothing "
                "is left to train. To train further, raise max_epochs or max_steps and pass "
                "resume_with_changes=True",
                stacklevel=4,
            )

    def _load_optimizer_with_changes(self, ckpt: dict[str, Any], saved_args: dict) -> None:
        """Load the saved optimizer moments but keep the new hyper-parameters; a different
        optimizer starts from fresh moments. The scheduler built in ``__init__`` already covers
        the new total and is moved to the restored step."""
        fresh = [{k: v for k, v in g.items() if k != "params"} for g in self.optimizer.param_groups]
        if saved_args.get("optimizer") != self.args.optimizer:
            warnings.warn(
                f"optimizer changed from {saved_args.get('optimizer')!r} to "
                f"{self.args.optimizer!r}: its state (moments) starts afresh",
                stacklevel=5,
            )
            return
        self.optimizer.load_state_dict(ckpt["optimizer"])
        for group, values in zip(self.optimizer.param_groups, fresh):
            group.update(values)

    def _set_schedule_step(self, step: int) -> None:
        scheduler = self.scheduler
        scheduler.last_epoch = step
        lrs = [base * fn(step) for base, fn in zip(scheduler.base_lrs, scheduler.lr_lambdas)]
        for group, lr in zip(self.optimizer.param_groups, lrs):
            group["lr"] = lr
        scheduler._last_lr = lrs
