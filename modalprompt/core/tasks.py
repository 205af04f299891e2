"""Tasks: named recipes that build a backbone and datasets, for the CLI and the demo.

A domain registers tasks from its own ``tasks.py`` (imported lazily by name), e.g.::

    @register_task("pointcloud/synthetic_shapes", description="...", methods=("idpt", ...))
    def synthetic_shapes(num_points: int = 1024, ...) -> Task: ...

``modalprompt train --config run.yaml`` then builds the task the file names, wraps its backbone
with the method, and trains with the core :class:`~modalprompt.core.trainer.Trainer`.

A task's arguments are its builder's keyword parameters. :func:`check_task_args` checks names and
types against the builder's signature and annotations before anything is built; the builder then
checks values (ranges, folders) before it reads data. A builder may declare a ``method``
parameter: it then receives the run's method name (to pick the backbone form the method takes),
and a run file cannot set it.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import sys
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from torch import nn
from torch.utils.data import Dataset

from modalprompt.core.registry import MODALITIES

__all__ = [
    "Task",
    "TaskSpec",
    "TaskArgumentError",
    "register_task",
    "get_task",
    "get_task_spec",
    "list_tasks",
    "check_task_args",
    "shared_data_dir",
    "progress",
]

_TASK_MODULES = tuple(f"modalprompt.{name}.tasks" for name in MODALITIES)
_RESERVED_ARGS = frozenset({"method"})


@dataclasses.dataclass
class Task:
    """Everything a run needs besides the method.

    Args:
        backbone: The (pre-trained) backbone the method wraps.
        train_data: Training set.
        eval_data: Validation set (model selection / early stopping).
        test_data: Held-out test set (reported, never used for selection).
        collate_fn: Batch builder for all three sets (None: the model's ``collator()`` when it
            has one, else torch's default).
        config_overrides: Method-config values the task fixes (e.g. ``num_classes``).
        metric: The metric that selects the best state.
        prepare: Called once on a freshly built model before training, for data-dependent state
            the model saves with itself (Point-PEFT's memory bank, GraphCLIP's class texts).
        extras: Further data a multi-phase method's entry point needs (e.g. an unlabelled pool).
    """

    backbone: nn.Module
    train_data: Dataset
    eval_data: Dataset | None = None
    test_data: Dataset | None = None
    collate_fn: Callable[[list], Any] | None = None
    config_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    metric: str = "accuracy"
    prepare: Callable[[nn.Module], None] | None = None
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """What the registry knows about one task.

    Args:
        name: ``"<domain>/<task>"``.
        builder: Builds the :class:`Task` from keyword arguments.
        description: One line for ``modalprompt list --tasks``.
        methods: The registered methods whose model the task's backbone can take (None: not
            declared).
    """

    name: str
    builder: Callable[..., Task]
    description: str
    methods: tuple[str, ...] | None

    @property
    def domain(self) -> str:
        return self.name.split("/", 1)[0]

    def parameters(self) -> dict[str, inspect.Parameter]:
        """The arguments a run file may set (``task_args``), by name."""
        params = inspect.signature(self.builder).parameters
        return {n: p for n, p in params.items() if n not in _RESERVED_ARGS}


class TaskArgumentError(ValueError):
    """A task argument is unknown or has the wrong type; ``key`` names it (None: several)."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


_TASKS: dict[str, TaskSpec] = {}
#: Every domain task ever registered: a domain module registers once (at import), so the
#: registry is refilled from here if ``_TASKS`` was swapped (tests patch it).
_DOMAIN_SPECS: list[TaskSpec] = []


def register_task(
    name: str, *, description: str, methods: Sequence[str] | None = None
) -> Callable[[Callable[..., Task]], Callable[..., Task]]:
    """Register a task builder under ``"<domain>/<name>"``.

    Args:
        name: ``"<domain>/<task>"``.
        description: One line.
        methods: Registry names of the methods the task's backbone can take (None: not
            declared; the method's model then checks the backbone when it is built).
    """
    if "/" not in name:
        raise ValueError(f"register_task: name must be '<domain>/<task>', got {name!r}")
    if methods is not None and not methods:
        raise ValueError(f"register_task({name!r}): methods must name at least one method")

    def decorate(builder: Callable[..., Task]) -> Callable[..., Task]:
        accepted = tuple(methods) if methods is not None else None
        spec = TaskSpec(name, builder, description, accepted)
        _TASKS[name] = spec
        if builder.__module__ in _TASK_MODULES:
            _DOMAIN_SPECS.append(spec)
        return builder

    return decorate


def _load_task_modules() -> None:
    for module in _TASK_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            # The domain's optional dependencies are not installed; a missing module of our
            # own is a bug and is raised.
            if err.name and err.name.startswith("modalprompt"):
                raise
    for spec in _DOMAIN_SPECS:
        _TASKS.setdefault(spec.name, spec)


def list_tasks(domain: str | None = None) -> dict[str, str]:
    """``{name: description}`` of every registered task (of ``domain`` only, if given)."""
    _load_task_modules()
    return {
        name: spec.description
        for name, spec in sorted(_TASKS.items())
        if domain is None or spec.domain == domain
    }


def get_task_spec(name: str) -> TaskSpec:
    """The :class:`TaskSpec` of ``name``; an unknown name lists the known ones."""
    _load_task_modules()
    if name not in _TASKS:
        raise KeyError(f"unknown task {name!r}; known tasks: {sorted(_TASKS)}")
    return _TASKS[name]


def check_task_args(name: str, args: Any, /) -> dict[str, Any]:
    """Check ``args`` against task ``name``'s signature and annotations (nothing is built).

    Raises:
        TaskArgumentError: not a mapping, an unknown or reserved argument, or a wrong type.
    """
    spec = get_task_spec(name)
    if args is None:
        return {}
    if not isinstance(args, dict):
        raise TaskArgumentError(
            f"task_args: expected a mapping of argument names to values for task {name!r}, "
            f"got {type(args).__name__}"
        )
    params = spec.parameters()
    allowed = ", ".join(f"{n}: {_hint_text(p.annotation)}" for n, p in params.items())
    for key in args:
        if key not in params:
            raise TaskArgumentError(
                f"task_args.{key}: task {name!r} has no argument {key!r}; allowed: {allowed}",
                key=key,
            )
    hints = typing.get_type_hints(spec.builder)
    for key, value in args.items():
        hint = hints.get(key, Any)
        if not _matches(value, hint):
            raise TaskArgumentError(
                f"task_args.{key}: got {value!r} ({type(value).__name__}); expected "
                f"{_hint_text(hint)}",
                key=key,
            )
    return dict(args)


def get_task(name: str, /, method: str | None = None, **kwargs: Any) -> Task:
    """Build task ``name`` with ``kwargs`` (checked first); ``method`` goes to builders that
    declare it. An unknown name lists the known ones."""
    spec = get_task_spec(name)
    kwargs = check_task_args(name, kwargs)
    if "method" in inspect.signature(spec.builder).parameters:
        kwargs["method"] = method
    return spec.builder(**kwargs)


def shared_data_dir() -> Path:
    """The shared real-data folder: ``$MODALPROMPT_SHARED_DATA``, else ``../shared/data`` beside
    the project checkout (it may not exist; real-data tasks say so when they need it)."""
    env = os.environ.get("MODALPROMPT_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3] / "shared" / "data"


def progress(message: str) -> None:
    """One ``[modalprompt] ...`` progress line on stderr (stdout keeps the results)."""
    print(f"[modalprompt] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- type checking
def _matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` (read from JSON/YAML) fits annotation ``hint`` (simple forms only)."""
    if hint is Any or hint is inspect.Parameter.empty:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if origin in (list, tuple, Sequence) or hint in (list, tuple):
        if not isinstance(value, list | tuple):
            return False
        item_hints = [h for h in typing.get_args(hint) if h is not Ellipsis]
        return len(item_hints) != 1 or all(_matches(v, item_hints[0]) for v in value)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _hint_text(hint: Any) -> str:
    if hint is inspect.Parameter.empty or hint is Any:
        return "any value"
    if isinstance(hint, str):
        return hint
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return str(hint).replace("typing.", "")
