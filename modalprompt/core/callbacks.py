"""Trainer callbacks (stable-baselines3's template: public ``on_x`` calls overridable ``_on_x``).

A callback sees the :class:`~modalprompt.core.trainer.Trainer` and may set
``trainer.should_stop = True`` to end training after the current step.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modalprompt.core.io import atomic_write_bytes, move_aside_previous_run

if TYPE_CHECKING:
    from modalprompt.core.trainer import Trainer

__all__ = ["Callback", "MetricsLogger", "ProgressBar", "LambdaCallback"]


class Callback:
    """Base class; override the underscored hooks you need."""

    def on_fit_start(self, trainer: Trainer) -> None:
        self._on_fit_start(trainer)

    def on_step_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        self._on_step_end(trainer, logs)

    def on_evaluate(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        self._on_evaluate(trainer, metrics)

    def on_epoch_end(self, trainer: Trainer) -> None:
        self._on_epoch_end(trainer)

    def on_fit_end(self, trainer: Trainer) -> None:
        self._on_fit_end(trainer)

    def _on_fit_start(self, trainer: Trainer) -> None: ...
    def _on_step_end(self, trainer: Trainer, logs: dict[str, Any]) -> None: ...
    def _on_evaluate(self, trainer: Trainer, metrics: dict[str, float]) -> None: ...
    def _on_epoch_end(self, trainer: Trainer) -> None: ...
    def _on_fit_end(self, trainer: Trainer) -> None: ...


class LambdaCallback(Callback):
    """Callback from plain functions: ``LambdaCallback(on_step_end=lambda trainer, logs: ...)``."""

    def __init__(self, **hooks: Any) -> None:
        valid = {"on_fit_start", "on_step_end", "on_evaluate", "on_epoch_end", "on_fit_end"}
        unknown = set(hooks) - valid
        if unknown:
            raise ValueError(
                f"LambdaCallback: unknown hook(s) {sorted(unknown)}; valid: {sorted(valid)}"
            )
        self.hooks = hooks

    def _on_fit_start(self, trainer):
        self.hooks.get("on_fit_start", lambda t: None)(trainer)

    def _on_step_end(self, trainer, logs):
        self.hooks.get("on_step_end", lambda t, l: None)(trainer, logs)

    def _on_evaluate(self, trainer, metrics):
        self.hooks.get("on_evaluate", lambda t, m: None)(trainer, metrics)

    def _on_epoch_end(self, trainer):
        self.hooks.get("on_epoch_end", lambda t: None)(trainer)

    def _on_fit_end(self, trainer):
        self.hooks.get("on_fit_end", lambda t: None)(trainer)


class MetricsLogger(Callback):
    """Appends every training log and evaluation to ``<output_dir>/metrics.jsonl`` (and to
    TensorBoard when it is installed); only on the main process.

    The file holds one run's records, each step once: a resumed run first drops the records a
    killed run wrote after the checkpoint it resumes from (they are logged again), and a new
    run moves an earlier run's file aside to ``metrics.previous-<k>.jsonl``.
    """

    def __init__(self, output_dir: str | Path, tensorboard: bool = True) -> None:
        self.path = Path(output_dir) / "metrics.jsonl"
        self.want_tensorboard = tensorboard
        self.writer = None

    def _on_fit_start(self, trainer):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_file():
            step = trainer.state.global_step
            if step == 0:
                move_aside_previous_run(self.path)
            else:
                self._keep_until(step)
        if self.want_tensorboard and self.writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                return
            self.writer = SummaryWriter(str(self.path.parent / "tensorboard"))

    def _keep_until(self, step: int) -> None:
        """Drop the records after ``step`` (lines that do not parse are dropped too)."""
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    kept.append(line + "\n")
            except (ValueError, AttributeError):
                continue
        atomic_write_bytes(self.path, "".join(kept).encode("utf-8"))

    def _write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if isinstance(value, int | float) and key not in ("step", "epoch"):
                    self.writer.add_scalar(f"{record['split']}/{key}", value, record["step"])

    def _on_step_end(self, trainer, logs):
        if "loss" in logs:
            self._write({"split": "train", **logs})

    def _on_evaluate(self, trainer, metrics):
        self._write(
            {
                "split": "eval",
                "step": trainer.state.global_step,
                "epoch": trainer.state.epoch,
                **metrics,
            }
        )

    def _on_fit_end(self, trainer):
        if self.writer is not None:
            self.writer.flush()


class ProgressBar(Callback):
    """Progress over optimizer steps (main process only): a tqdm bar on a terminal; elsewhere
    (a pipe, a log file, a notebook's captured output) one plain line on stderr at most every
    ``interval`` seconds, ``[train] step 12/40 (30%), loss 0.5312, 35 s``, so a long run is
    never silent."""

    def __init__(self, enabled: bool = True, interval: float = 10.0) -> None:
        self.enabled = enabled
        self.interval = interval
        self.bar = None
        self._plain = False
        self._started = self._last = 0.0

    def _on_fit_start(self, trainer):
        from tqdm.auto import tqdm

        terminal = sys.stderr.isatty()
        self.bar = tqdm(
            total=trainer.total_steps,
            initial=trainer.state.global_step,
            unit="step",
            disable=not self.enabled or not terminal,
            leave=False,
        )
        self._plain = self.enabled and not terminal
        self._started = self._last = time.monotonic()

    def _on_step_end(self, trainer, logs):
        if self.bar is not None:
            self.bar.update(1)
            if "loss" in logs:
                self.bar.set_postfix(loss=f"{logs['loss']:.4f}")
        if self._plain and time.monotonic() - self._last >= self.interval:
            self._last = time.monotonic()
            step, total = trainer.state.global_step, trainer.total_steps
            loss = f", loss {logs['loss']:.4f}" if "loss" in logs else ""
            print(
                f"[train] step {step}/{total} ({100 * step / max(total, 1):.0f}%){loss}, "
                f"{self._last - self._started:.0f} s",
                file=sys.stderr,
                flush=True,
            )

    def _on_fit_end(self, trainer):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
