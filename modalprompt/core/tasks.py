"""Tasks: named recipes that build a backbone and datasets, for the CLI and the demo.

A domain registers tasks from its own ``tasks.py`` (imported lazily by name), e.g.::

    @register_task("pointcloud/synthetic_shapes", description="...")
    def synthetic_shapes(num_points: int = 1024, ...) -> Task: ...

``modalprompt train --config run.yaml`` then builds the task the file names, wraps its backbone
with the method, and trains with the core :class:`~modalprompt.core.trainer.Trainer`.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

from torch import nn
from torch.utils.data import Dataset

__all__ = ["Task", "register_task", "get_task", "list_tasks"]

_TASK_MODULES = ("modalprompt.pointcloud.tasks", "modalprompt.graph.tasks", "modalprompt.nlp.tasks")


@dataclasses.dataclass
class Task:
    """Everything a run needs besides the method.

    Args:
        backbone: The (pre-trained) backbone the method wraps.
        train_data: Training set.
        eval_data: Validation set (model selection / early stopping).
        test_data: Held-out test set (reported, never used for selection).
        collate_fn: Batch builder for all three sets (None: torch's default).
        config_overrides: Method-config values the task fixes (e.g. ``num_classes``).
        metric: The metric that selects the best state.
    """

    backbone: nn.Module
    train_data: Dataset
    eval_data: Dataset | None = None
    test_data: Dataset | None = None
    collate_fn: Callable[[list], Any] | None = None
    config_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    metric: str = "accuracy"


_TASKS: dict[str, tuple[Callable[..., Task], str]] = {}


def register_task(
    name: str, *, description: str
) -> Callable[[Callable[..., Task]], Callable[..., Task]]:
    """Register a task builder under ``"<domain>/<name>"``."""
    if "/" not in name:
        raise ValueError(f"register_task: name must be '<domain>/<task>', got {name!r}")

    def decorate(builder: Callable[..., Task]) -> Callable[..., Task]:
        _TASKS[name] = (builder, description)
        return builder

    return decorate


def _load_task_modules() -> None:
    for module in _TASK_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            # The domain has no tasks yet, or its optional dependencies are not installed;
            # a missing module of our own is a bug and is raised.
            if err.name and err.name.startswith("modalprompt") and err.name != module:
                raise


def list_tasks() -> dict[str, str]:
    """``{name: description}`` of every registered task."""
    _load_task_modules()
    return {name: desc for name, (_, desc) in sorted(_TASKS.items())}


def get_task(name: str, **kwargs: Any) -> Task:
    """Build task ``name`` with ``kwargs``; an unknown name lists the known ones."""
    _load_task_modules()
    if name not in _TASKS:
        raise KeyError(f"unknown task {name!r}; known tasks: {sorted(_TASKS)}")
    return _TASKS[name][0](**kwargs)
