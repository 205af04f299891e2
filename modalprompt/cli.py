"""The ``modalprompt`` command line: ``list``, ``train``, ``eval``, ``demo``, ``bench``."""

from __future__ import annotations

import argparse
import json
import runpy
import sys
from pathlib import Path
from typing import Any

__all__ = ["main"]

RUN_FILE_KEYS = {"method", "config", "task", "task_args", "training", "output_dir"}


def _read_run_file(path: str) -> dict[str, Any]:
    """A run file (JSON or YAML): method, config, task, task_args, training, output_dir."""
    file = Path(path)
    if not file.is_file():
        raise SystemExit(f"--config: no such file {path}")
    text = file.read_text(encoding="utf-8")
    if file.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise SystemExit(f"--config: {path} must hold a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - RUN_FILE_KEYS)
    if unknown:
        raise SystemExit(
            f"--config: unknown key(s) {unknown} in {path}; valid keys: {sorted(RUN_FILE_KEYS)}"
        )
    for key in ("method", "task"):
        if key not in data:
            raise SystemExit(f"--config: {path} needs a '{key}' entry")
    return data


def _build(run: dict[str, Any]):
    import modalprompt as mp
    from modalprompt.core.tasks import get_task

    task = get_task(run["task"], **run.get("task_args", {}))
    config = mp.get_config(run["method"], **{**task.config_overrides, **run.get("config", {})})
    training = {"metric": task.metric, **run.get("training", {})}
    if run.get("output_dir"):
        training["output_dir"] = run["output_dir"]
    return task, config, mp.TrainingArguments(**training)


def cmd_list(args: argparse.Namespace) -> int:
    from modalprompt.core.registry import get_method_spec, list_methods

    names = list_methods(args.domain)
    width = max((len(n) for n in names), default=4)
    for name in names:
        spec = get_method_spec(name)
        print(f"{name:<{width}}  {spec.domain:<10}  {spec.description}")
    if args.tasks:
        from modalprompt.core.tasks import list_tasks

        print()
        for name, desc in list_tasks().items():
            print(f"{name}  {desc}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import modalprompt as mp

    run = _read_run_file(args.config)
    task, config, training = _build(run)
    model = mp.get_prompt_model(task.backbone, config)
    model.print_trainable_parameters()
    trainer = mp.Trainer(
        model,
        training,
        train_data=task.train_data,
        eval_data=task.eval_data,
        collate_fn=task.collate_fn,
    )
    trainer.fit(resume_from=args.resume_from)
    if task.test_data is not None:
        print(json.dumps({"test": trainer.evaluate(task.test_data)}, indent=2))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import modalprompt as mp

    run = _read_run_file(args.config)
    task, _, training = _build(run)
    model = mp.PromptModel.from_pretrained(task.backbone, args.model)
    data = {"train": task.train_data, "eval": task.eval_data, "test": task.test_data}[args.split]
    if data is None:
        raise SystemExit(f"--split: task {run['task']!r} has no {args.split} set")
    trainer = mp.Trainer(
        model,
        training.__class__(**{**training.to_dict(), "output_dir": None}),
        train_data=task.train_data,
        collate_fn=task.collate_fn,
    )
    print(json.dumps({args.split: trainer.evaluate(data)}, indent=2))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from modalprompt.demo import run_demo

    run_demo(quick=args.quick)
    return 0


def _benchmarks_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "benchmarks"


def cmd_bench(args: argparse.Namespace) -> int:
    script = _benchmarks_dir() / f"{args.name}.py"
    if not script.is_file():
        known = sorted(p.stem for p in _benchmarks_dir().glob("*.py") if not p.stem.startswith("_"))
        raise SystemExit(f"bench: no benchmark {args.name!r}; available: {known}")
    sys.argv = [str(script)] + (["--quick"] if args.quick else [])
    runpy.run_path(str(script), run_name="__main__")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modalprompt",
        description="Prompt tuning of frozen pre-trained models on graphs, point clouds and text.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list the registered methods (name, domain, one line each)")
    p.add_argument("--domain", choices=["graph", "pointcloud", "nlp"], help="only this domain")
    p.add_argument("--tasks", action="store_true", help="also list the tasks run files can name")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser(
        "train",
        help="train a method on a task described by a JSON/YAML run file",
        description="Run file keys: method, config (method overrides), task, "
        "task_args, training (TrainingArguments fields), output_dir.",
    )
    p.add_argument("--config", required=True, help="run file (.json, .yaml or .yml)")
    p.add_argument(
        "--resume-from",
        default=None,
        help="checkpoint folder, or 'latest' to continue from output_dir",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="evaluate a saved model on a task's split")
    p.add_argument("--config", required=True, help="the run file the model was trained with")
    p.add_argument("--model", required=True, help="folder written by save_pretrained")
    p.add_argument("--split", default="test", choices=["train", "eval", "test"])
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("demo", help="a few-minute tour on built-in data; prints a results table")
    p.add_argument("--quick", action="store_true", help="a smaller run (under a minute)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("bench", help="run benchmarks/NAME.py and print its comparison table")
    p.add_argument("name", help="benchmark name (file stem in benchmarks/)")
    p.add_argument("--quick", action="store_true", help="reduced run, about a minute, same table")
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
