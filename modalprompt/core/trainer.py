"""`Trainer`: the one training loop every method uses.

The model supplies the work (``training_step`` → ``{"loss": ...}``, ``validation_step`` →
per-example outputs, ``compute_metrics`` → numbers; or ``step_fn``/``eval_fn`` given here), the
trainer supplies the rest: parameter groups with their own learning rates, warmup + schedules,
clipping, evaluation with early stopping and restore of the best state, metrics.jsonl /
TensorBoard, checkpoints that resume exactly where a killed run stopped, a NaN/inf guard,
seeding, AMP on CUDA and DDP under ``torchrun``.

Methods with several phases (RELIEF's policy and head phases, PCP's stages) compose trainers:
each phase gets its own :class:`Trainer` (own parameter groups, step function and data) and
``train_steps(n)`` advances it ``n`` optimizer steps at a time.

Exact resume: the data order of epoch ``e`` depends only on ``(seed, e)``, skipped batches are
never loaded, and every random generator is restored, so a resumed CPU run ends bitwise equal to
an uninterrupted one (with ``num_workers=0``). A resume compares the training arguments with the
saved ones: a change is an error unless ``resume_with_changes`` is set (then the new values take
effect). Each run has an id written into its checkpoints; a new run refuses a folder holding
another run's checkpoints, and prunes only its own. No checkpoint holding NaN/inf is written.
``fit`` leaves the caller's random generators as they were.
"""

from __future__ import annotations

import math
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, IterableDataset

from modalprompt.core.callbacks import Callback, MetricsLogger, ProgressBar
from modalprompt.core.device import autocast, resolve_device, to_device
from modalprompt.core.distributed import DistributedContext, all_reduce_mean, distributed_context
from modalprompt.core.evaluation import gather_outputs
from modalprompt.core.optim import build_optimizer, build_scheduler
from modalprompt.core.seeding import capture_rng_state, restore_rng_state, seed_everything
from modalprompt.core.trainer_checkpoint import (
    TrainerState,
    latest_checkpoint,
    remove_staging_debris,
)
from modalprompt.core.trainer_resume import (
    CheckpointingMixin,
    NonFiniteLossError,
    _clone_cpu,
    _load_trainable_state,
    _trainable_state,
)
from modalprompt.core.training_args import TrainingArguments

__all__ = ["Trainer", "NonFiniteLossError"]

StepFn = Callable[[Any], Mapping[str, torch.Tensor]]


class _StepModule(nn.Module):
    """Routes ``forward`` to the step function, so DDP sees (and syncs) the training step."""

    def __init__(self, model: nn.Module, step_fn: StepFn) -> None:
        super().__init__()
        self.model = model
        self.step_fn = step_fn

    def forward(self, batch: Any) -> Mapping[str, torch.Tensor]:
        return self.step_fn(batch)


class Trainer(CheckpointingMixin):
    """Train ``model`` on ``train_data``; evaluate on ``eval_data``.

    Args:
        model: A :class:`~modalprompt.core.model.PromptModel` (or any module when ``step_fn``
            and, for evaluation, ``eval_fn`` are given).
        args: :class:`TrainingArguments` (defaults when None).
        train_data: A map-style ``Dataset``, or a ``DataLoader`` over one (its dataset,
            ``collate_fn`` and ``batch_size`` are reused; shuffling follows ``args.shuffle``).
        eval_data: The same for evaluation, or None.
        collate_fn: Builds a batch from a list of examples (default: torch's).
        step_fn: ``batch -> {"loss": Tensor, ...}``; default ``model.training_step``.
        eval_fn: ``batch -> {name: per-example Tensor}``; default ``model.validation_step``.
        metrics_fn: concatenated eval outputs ``-> {name: float}``; default
            ``model.compute_metrics``.
        param_groups: Optimizer groups; default ``model.param_groups()`` (or all trainable
            parameters).
        callbacks: Extra :class:`Callback` objects.
    """

    def __init__(
        self,
        model: nn.Module,
        args: TrainingArguments | None = None,
        *,
        train_data: Dataset | DataLoader,
        eval_data: Dataset | DataLoader | None = None,
        collate_fn: Callable[[list], Any] | None = None,
        step_fn: StepFn | None = None,
        eval_fn: StepFn | None = None,
        metrics_fn: Callable[[Mapping[str, torch.Tensor]], dict[str, float]] | None = None,
        param_groups: Sequence[dict[str, Any]] | None = None,
        callbacks: Iterable[Callback] = (),
    ) -> None:
        self.args = args = args or TrainingArguments()
        self.device = resolve_device(args.device)
        self.dist: DistributedContext = distributed_context(self.device.type)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        self.model = model.to(self.device)
        self.step_fn = step_fn or getattr(model, "training_step", None)
        if self.step_fn is None:
            raise TypeError("step_fn: the model has no training_step, so pass step_fn")
        self.eval_fn = eval_fn or getattr(model, "validation_step", None)
        self.metrics_fn = metrics_fn or getattr(model, "compute_metrics", None)
        self.train_dataset, self.collate_fn = self._unpack_data(
            train_data, collate_fn, "train_data"
        )
        self.eval_dataset, self.eval_collate_fn = (
            self._unpack_data(eval_data, collate_fn, "eval_data")
            if eval_data is not None
            else (None, None)
        )
        if self.eval_dataset is not None and (self.eval_fn is None or self.metrics_fn is None):
            raise TypeError("eval_data was given but there is no eval_fn/metrics_fn to score it")

        groups = (
            param_groups
            if param_groups is not None
            else (
                model.param_groups()
                if hasattr(model, "param_groups")
                else [{"params": model.parameters()}]
            )
        )
        self.optimizer = build_optimizer(list(groups), args)
        self.batches_per_epoch = self._num_batches()
        steps_per_epoch = math.ceil(self.batches_per_epoch / args.grad_accumulation_steps)
        self.total_steps = args.max_steps or args.max_epochs * steps_per_epoch
        if args.warmup_steps and args.warmup_steps >= self.total_steps:
            how = (
                f"max_steps={args.max_steps}"
                if args.max_steps
                else f"max_epochs={args.max_epochs} x {steps_per_epoch} steps per epoch"
            )
            raise ValueError(
                f"TrainingArguments.warmup_steps: got {args.warmup_steps}, but this run has only "
                f"{self.total_steps} optimizer steps ({how}), so the learning rate would never "
                f"reach lr={args.lr}; expected fewer than {self.total_steps} warmup steps"
            )
        self.scheduler = build_scheduler(self.optimizer, args, self.total_steps)
        use_scaler = args.precision == "fp16" and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if use_scaler else None

        step_module = _StepModule(self.model, self.step_fn)
        self._step_module = (
            DistributedDataParallel(
                step_module, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
            if self.dist.enabled
            else step_module
        )
        self.output_dir = Path(args.output_dir) if args.output_dir else None
        self.callbacks: list[Callback] = [ProgressBar(args.verbose and self.dist.is_main)]
        if self.output_dir is not None and self.dist.is_main:
            self.callbacks.append(MetricsLogger(self.output_dir, tensorboard=args.tensorboard))
        self.callbacks.extend(callbacks)
        self.state = TrainerState()
        self.best_state: dict[str, torch.Tensor] | None = None
        self.should_stop = False
        self.last_metrics: dict[str, float] = {}
        self.run_id: str | None = None  # written into each checkpoint; a resume takes it over
        self._started = False
        self._window: list[float] = []

    # ---------------------------------------------------------------------------------- data
    def _unpack_data(self, data, collate_fn, name):
        if isinstance(data, DataLoader):
            if isinstance(data.dataset, IterableDataset):
                raise TypeError(
                    f"{name}: iterable datasets are not supported (need len and indexing)"
                )
            return data.dataset, collate_fn or data.collate_fn
        if (
            isinstance(data, IterableDataset)
            or not hasattr(data, "__getitem__")
            or not hasattr(data, "__len__")
        ):
            raise TypeError(
                f"{name}: expected a map-style Dataset or a DataLoader, got {type(data).__name__}"
            )
        if len(data) == 0:
            raise ValueError(f"{name}: the dataset is empty")
        return data, collate_fn

    def _sampler(self, dataset, shuffle: bool, epoch: int) -> DistributedSampler:
        sampler = DistributedSampler(
            dataset,
            num_replicas=self.dist.world_size,
            rank=self.dist.rank,
            shuffle=shuffle,
            seed=self.args.seed,
            drop_last=False,
        )
        sampler.set_epoch(epoch)
        return sampler

    def _num_batches(self) -> int:
        per_rank = len(self._sampler(self.train_dataset, False, 0))
        full, rest = divmod(per_rank, self.args.batch_size)
        return full + (1 if rest and not self.args.drop_last else 0)

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        indices = list(self._sampler(self.train_dataset, self.args.shuffle, epoch))
        size = self.args.batch_size
        batches = [indices[i : i + size] for i in range(0, len(indices), size)]
        if self.args.drop_last and batches and len(batches[-1]) < size:
            batches.pop()
        return batches

    def _loader(self, dataset, batches: list[list[int]], collate_fn, epoch: int = 0) -> DataLoader:
        # A private generator: creating a DataLoader iterator otherwise draws from torch's global
        # RNG, which would make a resumed run (one more iterator) diverge from an uninterrupted one.
        generator = torch.Generator().manual_seed(self.args.seed * 1_000_003 + epoch)
        return DataLoader(
            dataset,
            batch_sampler=batches,
            collate_fn=collate_fn,
            num_workers=self.args.num_workers,
            generator=generator,
        )

    def _in_order(self, dataset) -> list[list[int]]:
        """Every index of ``dataset`` in order, in batches of the evaluation batch size."""
        size = self.args.eval_batch_size or self.args.batch_size
        return [list(range(i, min(i + size, len(dataset)))) for i in range(0, len(dataset), size)]

    # ------------------------------------------------------------------------------ training
    def fit(self, resume_from: str | Path | None = None) -> TrainerState:
        """Train until ``max_steps`` / ``max_epochs`` or early stopping; returns the final state.

        Args:
            resume_from: A checkpoint folder, or ``"latest"`` for the newest intact one in
                ``output_dir`` (a corrupt newer one is skipped with a warning; with none, a
                warning says so and a new run starts at step 0).

        The caller's random generators (python, numpy, torch) are left as they were: training
        draws from the seeded (or restored) state and the caller's state comes back afterwards.

        A method that trains in several phases (its model overrides
        :meth:`~modalprompt.core.model.PromptModel.fit_phases`: RELIEF) runs its plan instead,
        with this trainer's data and arguments.
        """
        phased = getattr(self.model, "fit_phases", None)
        if phased is not None:  # a method with a plan of phases trains by it
            state = phased(self, resume_from)
            if state is not None:
                return state
        caller_rng = capture_rng_state()
        try:
            self._start(resume_from)
            self._run(stop_step=self.total_steps)
            return self._finish()
        finally:
            restore_rng_state(*caller_rng)

    def train_steps(self, num_steps: int) -> TrainerState:
        """Advance ``num_steps`` optimizer steps (crossing epochs as needed), for phase-alternating
        methods. Evaluation, logging and checkpoints happen as in :meth:`fit`. Unlike
        :meth:`fit`, the global random generators are left as training leaves them (the
        method's own loop draws from them between phases); the first call seeds them."""
        if num_steps < 1:
            raise ValueError(f"num_steps: expected >= 1, got {num_steps}")
        self._start(None)
        self._run(stop_step=self.state.global_step + num_steps, ignore_epochs=True)
        return self.state

    def _start(self, resume_from) -> None:
        if self._started:
            return
        self._started = True
        if resume_from == "latest":
            if self.output_dir is None:
                raise ValueError("resume_from='latest' needs args.output_dir")
            found = latest_checkpoint(self.output_dir)
            if found is None:
                warnings.warn(
                    f"resume_from='latest': nothing to resume from, {self.output_dir} holds no "
                    "intact checkpoint; starting a new run at step 0",
                    stacklevel=3,
                )
            resume_from = found
        if resume_from is not None:
            self._restore(Path(resume_from))
            self._claim_output_dir(resuming=True)
        else:
            self._claim_output_dir(resuming=False)
            self.run_id = self.run_id or uuid.uuid4().hex[:12]
            seed_everything(self.args.seed, self.args.deterministic)
            self._prepare_model()
        if self.output_dir is not None and self.dist.is_main:
            remove_staging_debris(self.output_dir)  # folders of saves killed mid-write
        for cb in self.callbacks:
            cb.on_fit_start(self)

    def _prepare_model(self) -> None:
        """A new run: the model's data-dependent initialisation (``prepare_fit``) over every
        training example, in order and unsharded, so that every process computes the same."""
        prepare = getattr(self.model, "prepare_fit", None)
        if prepare is None:
            return
        loader = self._loader(
            self.train_dataset, self._in_order(self.train_dataset), self.collate_fn
        )
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            prepare(to_device(batch, self.device) for batch in loader)
        self.model.train(was_training)

    def _run(self, stop_step: int, ignore_epochs: bool = False) -> None:
        args, state = self.args, self.state
        self.model.train()
        while not self.should_stop and state.global_step < stop_step:
            if not ignore_epochs and args.max_steps is None and state.epoch >= args.max_epochs:
                break
            batches = self._epoch_batches(state.epoch)
            loader = self._loader(
                self.train_dataset, batches[state.batch_in_epoch :], self.collate_fn, state.epoch
            )
            for batch in loader:
                self._micro_step(batch, len(batches))
                if self.should_stop or state.global_step >= stop_step:
                    break
            if state.batch_in_epoch >= len(batches):
                self._end_epoch()

    def _micro_step(self, batch: Any, epoch_len: int) -> None:
        args, state = self.args, self.state
        batch = to_device(batch, self.device)
        with autocast(self.device, args.precision):
            outputs = self._step_module(batch)
        loss = outputs["loss"]
        if not torch.isfinite(loss.detach()).all():
            self._non_finite(f"loss is {loss.item()}")
        scaled = loss / args.grad_accumulation_steps
        (self.scaler.scale(scaled) if self.scaler else scaled).backward()
        self._window.append(float(loss.detach()))
        state.batch_in_epoch += 1
        if state.batch_in_epoch % args.grad_accumulation_steps and state.batch_in_epoch < epoch_len:
            return
        grad_norm = self._optimizer_step()
        state.global_step += 1
        logs: dict[str, Any] = {"step": state.global_step, "epoch": state.epoch}
        if state.global_step % args.log_every == 0 or state.global_step == self.total_steps:
            mean_loss = all_reduce_mean(
                torch.tensor(sum(self._window) / len(self._window)), self.dist
            )
            logs.update(loss=float(mean_loss), grad_norm=grad_norm)
            logs.update(
                {
                    f"lr/{g.get('name', i)}": g["lr"]
                    for i, g in enumerate(self.optimizer.param_groups)
                }
            )
            self._window.clear()
        for cb in self.callbacks:
            cb.on_step_end(self, logs)
        if args.eval_strategy == "steps" and state.global_step % args.eval_every == 0:
            self.evaluate_and_track()
        if args.save_every and state.global_step % args.save_every == 0:
            self.save_checkpoint()

    def _optimizer_step(self) -> float:
        args = self.args
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        max_norm = args.max_grad_norm if args.max_grad_norm is not None else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        if self.scaler is not None:  # fp16: inf gradients are expected now and then; skip the step
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            if not math.isfinite(grad_norm):
                self._non_finite(f"gradient norm is {grad_norm}")
            self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return grad_norm

    def _non_finite(self, what: str) -> None:
        kept = self._last_good()
        raise NonFiniteLossError(
            f"{what} at step {self.state.global_step + 1} (epoch {self.state.epoch}); "
            "training stopped "
            f"before the bad update was applied{kept}. Lower the learning rate, enable clipping "
            "(max_grad_norm) or check the data for NaN/inf (to resume with a new lr, pass "
            "resume_with_changes=True)."
        )

    def _end_epoch(self) -> None:
        self.state.epoch += 1
        self.state.batch_in_epoch = 0
        if self.args.eval_strategy == "epoch" and self.state.epoch % self.args.eval_every == 0:
            self.evaluate_and_track()
        if self.output_dir is not None and self.args.save_every is None:
            self.save_checkpoint()  # the default: one checkpoint per epoch
        for cb in self.callbacks:
            cb.on_epoch_end(self)

    # ---------------------------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self, data: Dataset | DataLoader | None = None) -> dict[str, float]:
        """Metrics of ``data`` (default: ``eval_data``); every process scores the whole set."""
        if data is None:
            dataset, collate = self.eval_dataset, self.eval_collate_fn
        else:
            dataset, collate = self._unpack_data(data, self.collate_fn, "data")
        if dataset is None:
            raise ValueError("evaluate: no data given and the trainer has no eval_data")
        was_training = self.model.training
        self.model.eval()

        def batch_outputs() -> Iterable[Mapping[str, torch.Tensor]]:
            for batch in self._loader(dataset, self._in_order(dataset), collate):
                with autocast(self.device, self.args.precision):
                    yield self.eval_fn(to_device(batch, self.device))

        try:
            outputs = gather_outputs(batch_outputs())
        finally:
            self.model.train(was_training)
        return self.metrics_fn(outputs)

    def evaluate_and_track(self) -> dict[str, float] | None:
        """Evaluate, keep the best state, and count patience for early stopping."""
        if self.eval_dataset is None:
            return None
        metrics = self.evaluate()
        if self.dist.enabled:
            # Ranks may score slightly differently (BatchNorm buffers are per-rank between
            # broadcasts); deciding on their mean keeps best-state and early-stopping decisions
            # identical on every rank, so no rank stops or restores alone.
            metrics = {
                key: float(
                    all_reduce_mean(
                        torch.tensor(float(v), dtype=torch.float64, device=self.device), self.dist
                    )
                )
                for key, v in metrics.items()
            }
        name = self.args.metric
        if name not in metrics:
            raise KeyError(
                f"TrainingArguments.metric={name!r} is not among the metrics {sorted(metrics)}"
            )
        value, state = metrics[name], self.state
        better = state.best_metric is None or (
            value > state.best_metric if self.args.greater_is_better else value < state.best_metric
        )
        if better:
            state.best_metric, state.best_step = value, state.global_step
            state.evals_without_improvement = 0
            self.best_state = _clone_cpu(_trainable_state(self.model))
        else:
            state.evals_without_improvement += 1
            patience = self.args.early_stopping_patience
            if patience is not None and state.evals_without_improvement >= patience:
                self.should_stop = True
        self.last_metrics = metrics
        for cb in self.callbacks:
            cb.on_evaluate(self, metrics)
        if self.args.verbose and self.dist.is_main:
            shown = ", ".join(f"{k}={v:.4f}" for k, v in metrics.items())
            print(f"[step {state.global_step} epoch {state.epoch}] eval: {shown}")
        return metrics

    def _finish(self) -> TrainerState:
        self.state.finished = True
        if self.output_dir is not None and self.args.save_every != 0:
            self.save_checkpoint()
        if self.args.restore_best and self.best_state is not None:
            _load_trainable_state(self.model, self.best_state)
        if (
            self.output_dir is not None
            and self.dist.is_main
            and hasattr(self.model, "save_pretrained")
        ):
            self._refuse_non_finite({"model": _trainable_state(self.model)}, "the final model")
            self.model.save_pretrained(self.output_dir / "model")
        for cb in self.callbacks:
            cb.on_fit_end(self)
        self.model.eval()
        return self.state
