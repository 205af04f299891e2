"""``modalprompt pretrain --config run.yaml``: self-supervised pre-training from a run file.

A pre-training run file names a strategy and a task (whose training set is the corpus and whose
backbone is the model pre-trained), the strategy's options and the output folder::

    strategy: point_mae            # or a graph strategy: attr_masking, edge_pred, infomax,
    task: pointcloud/synthetic_shapes                  # graphcl, context_pred
    task_args: {shots: 40}
    options: {epochs: 10, batch_size: 32, lr: 0.001}   # keyword arguments of the strategy
    output_dir: runs/point_mae

The weights go to ``<output_dir>/backbone.safetensors`` (JSON settings beside them), readable by
the task's ``checkpoint`` argument; ``<output_dir>/run`` holds ``metrics.jsonl`` and the
checkpoints, so ``--resume-from latest`` continues a killed pre-training. Everything is checked
before anything is built.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import time
from pathlib import Path
from typing import Any

from modalprompt.cli import RunFile, _say, read_run_file

__all__ = ["PRETRAIN_KEYS", "STRATEGIES", "check_pretrain_run", "cmd_pretrain"]

PRETRAIN_KEYS = ("strategy", "task", "task_args", "options", "output_dir")

#: strategy -> (domain, "module:function", a method whose backbone form the task builds)
STRATEGIES: dict[str, tuple[str, str, str]] = {
    "point_mae": (
        "pointcloud",
        "modalprompt.pointcloud.pretrain.point_mae:pretrain_point_mae",
        "idpt",
    ),
    **{
        name: ("graph", "modalprompt.graph.pretrain:pretrain", "gpf")
        for name in ("attr_masking", "edge_pred", "infomax", "graphcl", "context_pred")
    },
}
# filled in by this command, never by the run file
_RESERVED = {
    "encoder",
    "backbone",
    "strategy",
    "data",
    "graphs",
    "output",
    "run_dir",
    "resume_from",
}


def _function(strategy: str) -> Any:
    module, name = STRATEGIES[strategy][1].split(":")
    return getattr(importlib.import_module(module), name)


def _options(strategy: str) -> list[str]:
    parameters = inspect.signature(_function(strategy)).parameters
    return [name for name in parameters if name not in _RESERVED]


def check_pretrain_run(run: RunFile) -> None:
    """Keys, strategy, task (and that it is of the strategy's domain), task_args, options and
    output_dir; builds nothing.

    Raises:
        RunFileError: ``<file>:<line>: <what is wrong>; <what is allowed>``.
    """
    from modalprompt.core.tasks import TaskArgumentError, check_task_args, get_task_spec

    unknown = [key for key in run if key not in PRETRAIN_KEYS]
    if unknown:
        raise run.error(
            f"unknown key(s) {unknown}; a pre-training run file has the keys {list(PRETRAIN_KEYS)}",
            unknown[0],
        )
    for key in ("strategy", "task", "output_dir"):
        if key not in run:
            raise run.error(
                f"missing key {key!r}; a pre-training run file needs 'strategy', 'task' and "
                "'output_dir'"
            )
        if not isinstance(run[key], str) or not run[key]:
            raise run.error(f"{key}: expected a non-empty string, got {run[key]!r}", key)
    strategy = run["strategy"]
    if strategy not in STRATEGIES:
        raise run.error(f"strategy: unknown {strategy!r}; known: {sorted(STRATEGIES)}", "strategy")
    try:
        spec = get_task_spec(run["task"])
    except KeyError as err:
        raise run.error(f"task: {err.args[0]}", "task") from None
    domain = STRATEGIES[strategy][0]
    if not spec.name.startswith(f"{domain}/"):
        raise run.error(
            f"task: {strategy!r} pre-trains a {domain} backbone, {spec.name!r} is not a "
            f"{domain} task",
            "task",
        )
    try:
        check_task_args(spec.name, run.get("task_args"))
    except TaskArgumentError as err:
        raise run.error(str(err), "task_args", *([err.key] if err.key else [])) from None
    options = run.get("options") or {}
    if not isinstance(options, dict):
        raise run.error(
            f"options: expected a mapping of names to values, got {options!r}", "options"
        )
    allowed = _options(strategy)
    wrong = [key for key in options if key not in allowed]
    if wrong:
        raise run.error(
            f"options: unknown option(s) {wrong} for {strategy!r}; allowed: {allowed}",
            "options",
            str(wrong[0]),
        )


def cmd_pretrain(args: argparse.Namespace) -> int:
    from modalprompt.core.tasks import get_task

    run = read_run_file(args.config)
    check_pretrain_run(run)
    strategy = run["strategy"]
    domain, _, method = STRATEGIES[strategy]
    out = Path(run["output_dir"])
    start = time.perf_counter()
    _say(f"{run.path}: {strategy} pre-training on {run['task']}; building the task")
    task = get_task(run["task"], method=method, **(run.get("task_args") or {}))
    _say(f"task built in {time.perf_counter() - start:.1f} s: {len(task.train_data)} examples")
    fn = _function(strategy)
    corpus = list(task.train_data) if domain == "graph" else task.train_data
    positional = (task.backbone, strategy, corpus) if domain == "graph" else (task.backbone, corpus)
    try:
        result = fn(
            *positional,
            **(run.get("options") or {}),
            output=out / "backbone.safetensors",
            run_dir=out / "run",
            resume_from=args.resume_from,
        )
    except (TypeError, ValueError) as err:
        raise SystemExit(f"{run.path}: options: {err}") from None
    _say(f"pre-trained in {time.perf_counter() - start:.1f} s; weights in {result.checkpoint}")
    print(json.dumps({"strategy": strategy, "epoch_losses": result.losses}, indent=2))
    return 0


def add_parser(sub: Any) -> None:
    """Register the ``pretrain`` sub-command on ``modalprompt``'s parser."""
    p = sub.add_parser(
        "pretrain",
        help="self-supervised pre-training of a task's backbone from a run file",
        description=f"Run file keys: {', '.join(PRETRAIN_KEYS)}. Strategies: "
        f"{', '.join(sorted(STRATEGIES))}.",
    )
    p.add_argument("--config", required=True, help="run file (.json, .yaml or .yml)")
    p.add_argument(
        "--resume-from",
        default=None,
        help="checkpoint folder, or 'latest' to continue from <output_dir>/run",
    )
    p.set_defaults(func=cmd_pretrain)
