"""`TrainingArguments`: every knob of the :class:`~modalprompt.core.trainer.Trainer`, validated."""

from __future__ import annotations

import dataclasses

from modalprompt.core.config import (
    ConfigError,
    check_bool,
    check_choice,
    check_float,
    check_int,
    check_sequence,
)

__all__ = ["TrainingArguments"]


@dataclasses.dataclass(kw_only=True)
class TrainingArguments:
    """How to train: optimisation, schedule, evaluation, checkpoints, logging.

    Args:
        output_dir: Folder for ``metrics.jsonl``, checkpoints and the final model; None keeps
            everything in memory (no checkpoints, no resume).
        max_epochs: Passes over the training data (ignored when ``max_steps`` is set).
        max_steps: Optimizer steps in all; overrides ``max_epochs``.
        batch_size: Examples per micro-batch (per process under DDP).
        eval_batch_size: Examples per evaluation batch (default: ``batch_size``).
        grad_accumulation_steps: Micro-batches per optimizer step.
        drop_last: Drop the last incomplete training batch of each epoch.
        shuffle: Shuffle the training data every epoch (the order depends only on seed and epoch).
        optimizer: ``"adamw"``, ``"adam"`` or ``"sgd"``.
        lr: Default learning rate (a parameter group may set its own ``"lr"``).
        weight_decay: Default weight decay.
        betas: Adam(W) betas.
        momentum: SGD momentum.
        scheduler: ``"constant"``, ``"linear"`` (decay to 0) or ``"cosine"`` (to 0), after warmup.
        warmup_steps: Linear warmup steps (takes precedence over ``warmup_ratio`` when > 0).
        warmup_ratio: Warmup as a fraction of all optimizer steps.
        max_grad_norm: Clip the global gradient norm to this; None disables clipping.
        eval_strategy: ``"epoch"``, ``"steps"`` or ``"no"``.
        eval_every: Evaluate every this many epochs / steps (by ``eval_strategy``).
        metric: Name of the validation metric that selects the best state and early-stops.
        greater_is_better: Whether a larger ``metric`` is better.
        early_stopping_patience: Evaluations without improvement before stopping; None never stops.
        restore_best: Load the best evaluated state at the end of training.
        save_every: Checkpoint every this many optimizer steps (needs ``output_dir``); None
            checkpoints at the end of every epoch; 0 writes no checkpoints (no resume). A
            checkpoint is also written when training ends (except with 0).
        save_total_limit: Checkpoints of this run kept on disk (oldest deleted first; another
            run's are never touched).
        overwrite_output_dir: Start a new run in an ``output_dir`` that holds another run's
            checkpoints, deleting them; without it such a folder is refused.
        resume_with_changes: Resume from a checkpoint although these arguments differ from the
            ones it was saved with: the new values take effect (the schedule is rebuilt over the
            new number of steps) and each change is reported. Without it a change is an error.
        seed: Seed of python, numpy and torch at the start of a fresh run, and of the data order.
        deterministic: Ask torch for deterministic kernels (``use_deterministic_algorithms``).
        precision: ``"no"``, ``"fp16"`` or ``"bf16"``; mixed precision is used on CUDA only.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        num_workers: DataLoader workers (bitwise resume needs 0 when data loading draws randomness).
        log_every: Log the training loss every this many optimizer steps.
        verbose: Show progress bars (only on a terminal) and print evaluation results.
        tensorboard: Also log to TensorBoard when it is installed and ``output_dir`` is set.
    """

    output_dir: str | None = None
    max_epochs: int = 10
    max_steps: int | None = None
    batch_size: int = 32
    eval_batch_size: int | None = None
    grad_accumulation_steps: int = 1
    drop_last: bool = False
    shuffle: bool = True
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = 0.9
    scheduler: str = "constant"
    warmup_steps: int = 0
    warmup_ratio: float = 0.0
    max_grad_norm: float | None = 1.0
    eval_strategy: str = "epoch"
    eval_every: int = 1
    metric: str = "accuracy"
    greater_is_better: bool = True
    early_stopping_patience: int | None = None
    restore_best: bool = True
    save_every: int | None = None
    save_total_limit: int = 2
    overwrite_output_dir: bool = False
    resume_with_changes: bool = False
    seed: int = 0
    deterministic: bool = False
    precision: str = "no"
    device: str = "auto"
    num_workers: int = 0
    log_every: int = 10
    verbose: bool = True
    tensorboard: bool = True

    def __post_init__(self) -> None:
        check_int(self, "max_epochs", minimum=1)
        check_int(self, "max_steps", minimum=1, optional=True)
        check_int(self, "batch_size", minimum=1)
        check_int(self, "eval_batch_size", minimum=1, optional=True)
        check_int(self, "grad_accumulation_steps", minimum=1)
        check_choice(self, "optimizer", ("adamw", "adam", "sgd"))
        check_float(self, "lr", minimum=0.0, inclusive=False)
        check_float(self, "weight_decay", minimum=0.0)
        check_sequence(self, "betas", (int, float), min_length=2)
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(
                f"TrainingArguments.betas: got {self.betas!r}; expected two numbers in [0, 1)"
            )
        check_float(self, "momentum", minimum=0.0, maximum=1.0)
        check_choice(self, "scheduler", ("constant", "linear", "cosine"))
        check_int(self, "warmup_steps", minimum=0)
        check_float(self, "warmup_ratio", minimum=0.0, maximum=1.0)
        check_float(self, "max_grad_norm", minimum=0.0, inclusive=False, optional=True)
        check_choice(self, "eval_strategy", ("epoch", "steps", "no"))
        check_int(self, "eval_every", minimum=1)
        check_int(self, "early_stopping_patience", minimum=1, optional=True)
        check_int(self, "save_every", minimum=0, optional=True)
        check_int(self, "save_total_limit", minimum=1)
        check_int(self, "seed", minimum=0)
        check_choice(self, "precision", ("no", "fp16", "bf16"))
        check_int(self, "num_workers", minimum=0)
        check_int(self, "log_every", minimum=1)
        for name in (
            "drop_last",
            "shuffle",
            "greater_is_better",
            "restore_best",
            "deterministic",
            "verbose",
            "tensorboard",
            "overwrite_output_dir",
            "resume_with_changes",
        ):
            check_bool(self, name)
        if not isinstance(self.metric, str) or not self.metric:
            raise ConfigError(
                f"TrainingArguments.metric: got {self.metric!r}; expected a metric name"
            )
        if not isinstance(self.device, str):
            raise ConfigError(f"TrainingArguments.device: got {self.device!r}; expected a string")

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
