"""Training in phases: a method's stages as a plan the core runs, logs, checkpoints and resumes.

A method with several stages (RELIEF: head warm-up, then per epoch a policy phase and a head
phase; PCP: pseudo-labelling, continued pre-training, prompt fine-tuning) declares them::

    plan = [
        Phase("head_warmup", step=warm_step, batches=lambda r: range(20)),
        Repeat(epochs, [
            Phase("policy", step=ppo_step, batches=rollout_batches, begin=set_schedule),
            Phase("head", step=head_step, batches=lambda r: range(5), end=validate),
        ]),
    ]
    PhaseRunner(plan, state={"model": ModuleState(model), "ppo": ppo, ...},
                output_dir="runs/x", seed=0).run(resume_from="latest")

What each phase gets (as a one-phase :class:`~modalprompt.core.trainer.Trainer` run does):

* a progress bar per phase (on a terminal), and with ``verbose`` one line per finished phase;
* ``metrics.jsonl`` rows tagged with ``phase`` and ``round`` (one per ``log_every`` steps of
  numbers the step returned, one for what ``end`` returned);
* a NaN/inf guard: a non-finite number returned by a step or by ``end`` stops the run with
  :class:`~modalprompt.core.trainer.NonFiniteLossError` naming the phase, round and step and the
  last good checkpoint; no checkpoint holding NaN/inf is written;
* a checkpoint after every phase (``<output_dir>/phase_checkpoints/checkpoint-<k>``, ``k``
  phases done): the ``state_dict()`` of every object in ``state`` (model, every optimizer,
  trainers, generators, the method's own bookkeeping), every RNG, the position in the plan and
  the number of metrics rows, as safetensors + JSON with a SHA-256 manifest, written atomically.

The unit of resume is the phase: a run killed inside phase ``k + 1`` resumes from the state saved
when phase ``k`` ended and runs phase ``k + 1`` again from its start, so the resumed run ends
bitwise equal to an uninterrupted one on CPU (every step draws only from state that is saved:
the global RNGs and the generators in ``state``), and ``metrics.jsonl`` first drops the rows the
killed run wrote after that checkpoint, so no row is repeated. Long stages should be split into
rounds (``Repeat``) so that a kill loses little. A phase whose step runs a core
:class:`~modalprompt.core.trainer.Trainer` (``trainer.train_steps(1)``) keeps that trainer's
clipping, schedule, AMP on CUDA and DDP; give the trainer to ``state`` and its optimizer,
scheduler and counters are checkpointed with the rest. A hand-written step gets the same from
:class:`~modalprompt.core.mixed_precision.MixedPrecision` (autocast and loss scaling on CUDA; put
it in ``state`` for its scaler) and, under ``torchrun``, from ``distributed=`` here plus
:func:`~modalprompt.core.distributed.shard_for_rank` and
:func:`~modalprompt.core.distributed.average_gradients` in the step (graph and GraphCLIP
pre-training do this).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import shutil
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from modalprompt.core.distributed import DistributedContext
from modalprompt.core.io import (
    CorruptFileError,
    atomic_save_tensors,
    atomic_write_bytes,
    atomic_write_json,
    load_tensors,
    make_staging_dir,
    move_aside_previous_run,
    read_json,
    replace_dir_atomically,
    verify_manifest,
    write_manifest,
)
from modalprompt.core.seeding import capture_rng_state, restore_rng_state, seed_everything
from modalprompt.core.state_tree import join_tensors, split_tensors
from modalprompt.core.trainer_checkpoint import non_finite_tensors
from modalprompt.core.trainer_resume import NonFiniteLossError

__all__ = [
    "Phase",
    "Repeat",
    "PhaseRunner",
    "ModuleState",
    "ValueState",
    "EpochLoss",
    "SettingsState",
    "Stateful",
]

CHECKPOINTS = "phase_checkpoints"
#: Seconds between plain progress lines of a verbose run when stderr is not a terminal.
PROGRESS_INTERVAL = 10.0
_STATE_JSON, _STATE_TENSORS, _RNG_TENSORS = "phases.json", "state.safetensors", "rng.safetensors"
_FILES = (_STATE_JSON, _STATE_TENSORS, _RNG_TENSORS)


class Stateful(Protocol):
    def state_dict(self) -> Any: ...
    def load_state_dict(self, state: Any) -> Any: ...


@dataclasses.dataclass
class Phase:
    """One stage of a method's training.

    Args:
        name: Shown in progress and written into every metrics row (``"policy"``, ``"head"``).
        step: One unit of work on one item of ``batches``; returns numbers to log (tensors or
            floats; may be empty). It updates what it trains itself (its own optimizers, or a
            core ``Trainer``'s ``train_steps(1)``).
        batches: ``round -> iterable`` of the items this phase works on in that round (a
            ``range`` of step indices, batches of data, rollout jobs). Called when the phase
            starts, after ``begin``; it may draw from generators in the runner's ``state``.
        begin: ``round -> None``, called first (e.g. set a schedule for this round).
        end: ``round -> numbers or None``, called after the last item (e.g. evaluate); what it
            returns becomes one metrics row.
    """

    name: str
    step: Callable[[Any], Mapping[str, Any] | None]
    batches: Callable[[int], Iterable[Any]]
    begin: Callable[[int], None] | None = None
    end: Callable[[int], Mapping[str, Any] | None] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Phase.name: expected a non-empty string, got {self.name!r}")
        for field in ("step", "batches"):
            if not callable(getattr(self, field)):
                raise TypeError(f"Phase({self.name!r}).{field}: expected a callable")


@dataclasses.dataclass
class Repeat:
    """``phases`` in order, ``times`` times (round ``0 .. times - 1``)."""

    times: int
    phases: Sequence[Phase]

    def __post_init__(self) -> None:
        if isinstance(self.times, bool) or not isinstance(self.times, int) or self.times < 0:
            raise ValueError(f"Repeat.times: expected an integer >= 0, got {self.times!r}")
        if not self.phases or not all(isinstance(p, Phase) for p in self.phases):
            raise TypeError("Repeat.phases: expected a non-empty list of Phase")


class ModuleState:
    """A module's trained state for the runner: ``prompt_state_dict`` when it has one (what a
    :class:`~modalprompt.core.model.PromptModel` adds to its frozen backbone), else its
    ``state_dict``."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def state_dict(self) -> dict[str, torch.Tensor]:
        if hasattr(self.module, "prompt_state_dict"):
            return self.module.prompt_state_dict()
        return self.module.state_dict()

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        if hasattr(self.module, "load_prompt_state_dict"):
            self.module.load_prompt_state_dict(state)
        else:
            self.module.load_state_dict(dict(state))


class ValueState:
    """A plain value (dicts, lists, numbers, tensors) the method keeps between phases, e.g. its
    history and the best state so far; read and replace it through ``.value``."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def state_dict(self) -> Any:
        return self.value

    def load_state_dict(self, state: Any) -> None:
        self.value = copy.deepcopy(state)  # never shares lists with the source


class SettingsState(ValueState):
    """The settings a run started with (numbers, strings, bools), kept in its checkpoints so
    that resuming with different ones is refused by name instead of silently mixing two runs.

    ``load_state_dict`` raises a ValueError naming the first setting that differs (or is
    missing on one side), with the saved and the current value.
    """

    def __init__(self, **settings: Any) -> None:
        super().__init__(dict(settings))

    def load_state_dict(self, state: Any) -> None:
        saved = dict(state)
        for key in sorted(set(saved) | set(self.value)):
            have, want = saved.get(key, "(not saved)"), self.value.get(key, "(not set)")
            if have != want:
                raise ValueError(
                    f"resume_from: the checkpoint was saved with {key}={have!r}, this run has "
                    f"{key}={want!r}; resume with the settings the run started with"
                )


class EpochLoss(ValueState):
    """The running mean loss of the current epoch and the means of the finished ones, kept in
    the phase checkpoints (what a per-epoch training phase's ``begin`` / ``step`` / ``end``
    book-keep): ``start()`` in ``begin``, ``add(loss, weight)`` per step, ``finish()`` in
    ``end`` returns the epoch's weighted mean and appends it to ``losses``."""

    def __init__(self) -> None:
        super().__init__({"losses": [], "total": 0.0, "weight": 0.0})

    @property
    def losses(self) -> list[float]:
        """The mean loss of every finished epoch, in order."""
        return list(self.value["losses"])

    @property
    def weight(self) -> float:
        """The weight added since ``start()`` (steps, or examples when weighted by them)."""
        return float(self.value["weight"])

    def start(self) -> None:
        self.value.update(total=0.0, weight=0.0)

    def add(self, loss: float, weight: float = 1.0) -> None:
        self.value["total"] += loss * weight
        self.value["weight"] += weight

    def finish(self) -> float:
        mean = self.value["total"] / self.value["weight"] if self.value["weight"] else 0.0
        self.value["losses"].append(mean)
        return mean


def _phase_seed(seed: int, index: int, rank: int) -> int:
    """The global-RNG seed of phase ``index`` on ``rank`` in a distributed run."""
    return (seed * 1_000_003 + index * 9_973 + rank * 101) % (2**31 - 1)


def _entries(plan: Sequence[Phase | Repeat]) -> list[tuple[Phase, int]]:
    entries: list[tuple[Phase, int]] = []
    for item in plan:
        if isinstance(item, Phase):
            entries.append((item, 0))
        elif isinstance(item, Repeat):
            entries += [(p, r) for r in range(item.times) for p in item.phases]
        else:
            raise TypeError(f"plan: expected Phase or Repeat items, got {type(item).__name__}")
    return entries


def _numbers(out: Mapping[str, Any] | None, where: str) -> dict[str, Any]:
    if out is None:
        return {}
    if not isinstance(out, Mapping):
        raise TypeError(f"{where}: expected a mapping of numbers or None, got {type(out).__name__}")
    numbers: dict[str, Any] = {}
    for key, value in out.items():
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError(
                    f"{where}: {key!r} is a tensor of shape {tuple(value.shape)}; expected a "
                    "scalar to log"
                )
            value = value.item()
        numbers[key] = value
    return numbers


class PhaseRunner:
    """Runs a plan of :class:`Phase` / :class:`Repeat` with logging, checkpoints and resume.

    Args:
        plan: The phases in order.
        state: Everything a step changes that is not re-derived from the plan: ``{name: object
            with state_dict()/load_state_dict()}`` (use :class:`ModuleState` for a model,
            :class:`~modalprompt.core.state_tree.GeneratorState` for a ``torch.Generator``,
            :class:`ValueState` for plain bookkeeping; optimizers and core trainers as they are).
        output_dir: Where ``metrics.jsonl`` and ``phase_checkpoints/`` go; None: no files, no
            resume.
        seed: Seeds every RNG when a new run starts (a resume restores them instead).
        verbose: Print one line per finished phase (what ``end`` returned), and when stderr is
            not a terminal (no progress bar) a progress line every ``PROGRESS_INTERVAL`` s.
        log_every: Write a row every ``log_every`` steps of a phase (and always its last step).
        keep: Checkpoints of this run to keep (the newest).
        overwrite_output_dir: A new run deletes the checkpoints of an earlier run in
            ``output_dir`` instead of refusing to start.
        distributed: Where this process sits under ``torchrun``
            (:func:`~modalprompt.core.distributed.distributed_context`); None: one process.
            Every rank runs the plan; only rank 0 writes ``metrics.jsonl`` and checkpoints (all
            ranks resume from them). The steps do the data-parallel part themselves (shard the
            batches, average gradients); the runner re-seeds each rank's global RNGs at the start
            of every phase from ``(seed, phase index, rank)``, so ranks draw different dropout
            and augmentation noise, and a resumed distributed run repeats the uninterrupted one.
    """

    def __init__(
        self,
        plan: Sequence[Phase | Repeat],
        *,
        state: Mapping[str, Stateful],
        output_dir: str | Path | None = None,
        seed: int = 0,
        verbose: bool = False,
        log_every: int = 1,
        keep: int = 2,
        overwrite_output_dir: bool = False,
        distributed: DistributedContext | None = None,
    ) -> None:
        self.entries = _entries(plan)
        for name, obj in state.items():
            if not (
                callable(getattr(obj, "state_dict", None))
                and callable(getattr(obj, "load_state_dict", None))
            ):
                raise TypeError(
                    f"state[{name!r}]: a {type(obj).__name__} has no state_dict/load_state_dict; "
                    "wrap a module in ModuleState, a generator in GeneratorState, a value in "
                    "ValueState"
                )
        if isinstance(log_every, bool) or not isinstance(log_every, int) or log_every < 1:
            raise ValueError(f"log_every: expected an integer >= 1, got {log_every!r}")
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValueError(f"keep: expected an integer >= 1, got {keep!r}")
        self.state = dict(state)
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.seed, self.verbose, self.log_every, self.keep = seed, verbose, log_every, keep
        self.overwrite_output_dir = overwrite_output_dir
        self.ctx = distributed if distributed is not None else DistributedContext()
        self.done = 0  # phases of the plan finished
        self.rows_written = 0  # rows in metrics.jsonl that belong to this run
        self.rows: list[dict[str, Any]] = []  # rows written by this process
        self.run_id: str | None = None

    # -------------------------------------------------------------------------------- plan
    @property
    def plan_signature(self) -> list[str]:
        """``"name@round"`` of every phase in order (a resume checks it is unchanged)."""
        return [f"{phase.name}@{r}" for phase, r in self.entries]

    @property
    def checkpoint_dir(self) -> Path | None:
        return self.output_dir / CHECKPOINTS if self.output_dir is not None else None

    # --------------------------------------------------------------------------------- run
    def run(self, resume_from: str | Path | None = None) -> list[dict[str, Any]]:
        """Run the plan (the rest of it, when resuming); returns the rows this call logged.

        Args:
            resume_from: A checkpoint folder, or ``"latest"`` for the newest intact one under
                ``output_dir`` (none there: a warning, and a new run starts).
        """
        self._start(resume_from)
        for index in range(self.done, len(self.entries)):
            phase, round_ = self.entries[index]
            self._run_phase(phase, round_, index)
            self.done = index + 1
            if self.output_dir is not None and self.ctx.is_main:
                self.save_checkpoint()
        return self.rows

    def _start(self, resume_from: str | Path | None) -> None:
        if resume_from == "latest":
            if self.output_dir is None:
                raise ValueError("resume_from='latest' needs output_dir")
            found = self.latest_checkpoint()
            if found is None:
                warnings.warn(
                    f"resume_from='latest': {self.checkpoint_dir} holds no intact checkpoint; "
                    "starting a new run",
                    stacklevel=3,
                )
            resume_from = found
        if resume_from is not None:
            self._restore(Path(resume_from))
            return
        if self.ctx.is_main:
            self._claim_output_dir()
        self.run_id = uuid.uuid4().hex[:12]
        seed_everything(self.seed)

    def _run_phase(self, phase: Phase, round_: int, index: int) -> None:
        from tqdm.auto import tqdm

        if self.ctx.enabled:  # each rank its own noise, the same after a resume
            seed_everything(_phase_seed(self.seed, index, self.ctx.rank))
        if phase.begin is not None:
            phase.begin(round_)
        items = phase.batches(round_)
        total = len(items) if hasattr(items, "__len__") else None
        times = sum(1 for p, _ in self.entries if p is phase)
        desc = f"{phase.name} {round_ + 1}/{times}" if times > 1 else phase.name
        bar = tqdm(
            items,
            total=total,
            desc=desc,
            unit="step",
            leave=False,
            disable=not (sys.stderr.isatty() and self.ctx.is_main),
        )
        last: dict[str, Any] = {}
        count = 0
        plain = self.verbose and self.ctx.is_main and not sys.stderr.isatty()
        started = shown = time.monotonic()
        for count, item in enumerate(bar, start=1):
            where = f"phase {phase.name!r} (round {round_}, step {count})"
            last = _numbers(phase.step(item), where)
            self._guard(last, where)
            if plain and time.monotonic() - shown >= PROGRESS_INTERVAL:
                shown = time.monotonic()  # off a terminal: a line every PROGRESS_INTERVAL s
                of = f"/{total}" if total is not None else ""
                loss = f", loss {last['loss']:.4f}" if isinstance(last.get("loss"), float) else ""
                print(
                    f"[{desc}] step {count}{of}{loss}, {shown - started:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
            if last and count % self.log_every == 0:
                self._log({"phase": phase.name, "round": round_, "step": count, **last})
                last = {}
        bar.close()
        if last:
            self._log({"phase": phase.name, "round": round_, "step": count, **last})
        if phase.end is not None:
            where = f"phase {phase.name!r} (round {round_}, end)"
            summary = _numbers(phase.end(round_), where)
            self._guard(summary, where)
            if summary:
                self._log({"phase": phase.name, "round": round_, **summary})
                if self.verbose and self.ctx.is_main:
                    shown = " ".join(
                        f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in summary.items()
                    )
                    print(f"[{phase.name} {round_ + 1}/{times}] {shown}", flush=True)

    def _guard(self, numbers: Mapping[str, Any], where: str) -> None:
        bad = [
            f"{k}={v}" for k, v in numbers.items() if isinstance(v, float) and not math.isfinite(v)
        ]
        if bad:
            raise NonFiniteLossError(
                f"{where}: {', '.join(bad)}; training stopped{self._last_good()}. Lower the "
                "learning rate, enable clipping or check the data for NaN/inf"
            )

    def _last_good(self) -> str:
        if self.output_dir is None:
            return ""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            last = self.latest_checkpoint()
        return (
            f"; the last good checkpoint is {last}" if last else "; no checkpoint was written yet"
        )

    # ----------------------------------------------------------------------------- metrics
    @property
    def metrics_path(self) -> Path | None:
        return self.output_dir / "metrics.jsonl" if self.output_dir is not None else None

    def _log(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if self.metrics_path is None or not self.ctx.is_main:
            return
        self.metrics_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.metrics_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, sort_keys=True) + "\n")
        self.rows_written += 1

    def _keep_rows(self, count: int) -> None:
        """Drop the rows a killed run wrote after the checkpoint being resumed."""
        path = self.metrics_path
        if path is None or not path.is_file() or not self.ctx.is_main:
            return
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        if len(lines) > count:
            atomic_write_bytes(path, "".join(lines[:count]).encode("utf-8"))

    # -------------------------------------------------------------------------- checkpoints
    def _folders(self) -> list[tuple[int, Path]]:
        root = self.checkpoint_dir
        if root is None or not root.is_dir():
            return []
        found = []
        for child in root.iterdir():
            prefix, _, number = child.name.partition("-")
            if prefix == "checkpoint" and number.isdigit() and child.is_dir():
                found.append((int(number), child))
        return sorted(found)

    def latest_checkpoint(self) -> Path | None:
        """The newest intact checkpoint under ``output_dir`` (corrupt ones skipped, warned)."""
        for _, path in reversed(self._folders()):
            try:
                verify_manifest(path, required=_FILES)
                read_json(path / _STATE_JSON)
            except (CorruptFileError, OSError) as err:
                warnings.warn(f"skipping checkpoint {path}: {err}", stacklevel=2)
                continue
            return path
        return None

    def _claim_output_dir(self) -> None:
        if self.output_dir is None:
            return
        self.output_dir.mkdir(parents=True, exist_ok=True)
        folders = self._folders()
        if folders and not self.overwrite_output_dir:
            raise ValueError(
                f"output_dir: {self.output_dir} already holds checkpoints of a run "
                f"({', '.join(p.name for _, p in folders[:5])} in {CHECKPOINTS}/); continue it "
                "with resume_from='latest', pass overwrite_output_dir=True to delete them, or "
                "choose another output_dir"
            )
        if folders:
            shutil.rmtree(self.checkpoint_dir, ignore_errors=True)
        staging = self.checkpoint_dir
        if staging is not None and staging.is_dir():
            for child in staging.iterdir():  # saves killed before their rename
                if child.name.startswith(".") and child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
        path = self.metrics_path
        if path is not None and path.is_file():
            move_aside_previous_run(path)

    def save_checkpoint(self) -> Path:
        """Write ``phase_checkpoints/checkpoint-<phases done>`` atomically; prune older ones.

        Raises:
            NonFiniteLossError: a tensor of the state holds NaN/inf; nothing is written.
        """
        if self.checkpoint_dir is None:
            raise ValueError("save_checkpoint needs output_dir")
        tree, tensors = split_tensors({name: obj.state_dict() for name, obj in self.state.items()})
        bad = non_finite_tensors(tensors)
        if bad:
            raise NonFiniteLossError(
                f"NaN/inf in {len(bad)} tensor(s) of the state after {self.done} phases "
                f"({', '.join(bad[:5])}); the checkpoint was not written{self._last_good()}"
            )
        rng_scalars, rng_tensors = capture_rng_state()
        target = self.checkpoint_dir / f"checkpoint-{self.done}"
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = make_staging_dir(target)
        try:
            atomic_save_tensors(staging / _STATE_TENSORS, tensors)
            atomic_save_tensors(staging / _RNG_TENSORS, rng_tensors)
            atomic_write_json(
                staging / _STATE_JSON,
                {
                    "run_id": self.run_id,
                    "done": self.done,
                    "plan": self.plan_signature,
                    "rows": self.rows_written,
                    "state": tree,
                    "rng": rng_scalars,
                },
            )
            write_manifest(staging)
            replace_dir_atomically(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        for _, old in self._folders()[: -self.keep]:
            shutil.rmtree(old, ignore_errors=True)
        return target

    def _restore(self, path: Path) -> None:
        if not (path / _STATE_JSON).is_file():
            raise FileNotFoundError(
                f"resume_from: {path} is not a phase checkpoint (no {_STATE_JSON})"
            )
        verify_manifest(path, required=_FILES)
        meta = read_json(path / _STATE_JSON)
        try:
            plan, done, rows = meta["plan"], int(meta["done"]), int(meta["rows"])
            saved_state, rng_scalars = meta["state"], meta["rng"]
        except (KeyError, TypeError, ValueError) as err:
            raise CorruptFileError(
                f"{path / _STATE_JSON}: malformed ({type(err).__name__}: {err})"
            ) from err
        if plan != self.plan_signature:
            first = next(
                (i for i, (a, b) in enumerate(zip(plan, self.plan_signature)) if a != b),
                min(len(plan), len(self.plan_signature)),
            )
            raise ValueError(
                f"resume_from={str(path)!r}: the plan differs from the one this checkpoint was "
                f"saved with ({len(plan)} phases saved, {len(self.plan_signature)} now; first "
                f"difference at phase {first}: "
                f"{plan[first] if first < len(plan) else '(none)'} saved vs "
                f"{self.plan_signature[first] if first < len(self.plan_signature) else '(none)'} "
                "now); resume with the settings the run started with"
            )
        missing = sorted(set(self.state) - set(saved_state))
        unexpected = sorted(set(saved_state) - set(self.state))
        if missing or unexpected:
            raise ValueError(
                f"resume_from={str(path)!r}: the checkpoint holds state {sorted(saved_state)}, "
                f"this run has {sorted(self.state)}"
            )
        state = join_tensors(saved_state, load_tensors(path / _STATE_TENSORS))
        for name, obj in self.state.items():
            try:
                obj.load_state_dict(state[name])
            except (KeyError, ValueError, RuntimeError, TypeError) as err:
                raise ValueError(
                    f"resume_from={str(path)!r}: state[{name!r}] does not fit "
                    f"({type(err).__name__}: {err})"
                ) from err
        restore_rng_state(rng_scalars, load_tensors(path / _RNG_TENSORS))
        self.run_id = meta.get("run_id") or uuid.uuid4().hex[:12]
        self.done, self.rows_written = done, rows
        self._keep_rows(rows)
        if done == len(self.entries):
            warnings.warn(
                f"{path} is the end of a finished run ({done} phases); nothing is left to run",
                stacklevel=4,
            )
