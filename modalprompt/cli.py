"""The ``modalprompt`` command line: ``list``, ``train``, ``eval``, ``demo``, ``bench``.

A run file (YAML or JSON) names a method and a task::

    method: idpt
    task: pointcloud/synthetic_shapes
    task_args: {shots: 4, num_points: 256}
    config: {prompt_layer: 1}         # method hyper-parameters (PromptConfig fields)
    training: {max_epochs: 2}         # TrainingArguments fields
    output_dir: runs/idpt

Everything in it is checked before any data is read or model built: an error names the file,
the line and what is allowed (``run.yaml:4: config.prompt_layer: ...``).
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
import time
from pathlib import Path
from typing import Any

from modalprompt.core.registry import MODALITIES

__all__ = ["main", "RunFileError", "read_run_file", "check_run"]

RUN_FILE_KEYS = ("method", "task", "task_args", "config", "training", "output_dir")
DOMAIN_ALIASES = {"text": "nlp"}

#: Methods whose training needs more than the core Trainer's one phase, and the entry point that
#: trains them: ``train`` runs it (see the runners below) as core phases
#: (:mod:`modalprompt.core.phases`), so ``--resume-from latest`` works for them too. A method
#: listed here without a runner is refused with this entry point named.
MULTI_PHASE = {
    "relief": "modalprompt.graph.relief.fit_relief (examples/graph/relief.py)",
    "bayesprompt": "modalprompt.nlp.bayesprompt.fit_bayesprompt (examples/nlp/bayesprompt.py)",
    "pcp": "modalprompt.nlp.pcp.pipeline.run_pcp (examples/nlp/pcp.py)",
}


class RunFileError(SystemExit):
    """A run file is unreadable or wrong; the message starts with ``file:line:``."""


def _say(message: str) -> None:
    """Progress goes to stderr; stdout keeps the results (JSON metrics) for scripts."""
    from modalprompt.core.tasks import progress

    progress(message)


# ------------------------------------------------------------------------------ run files
def _yaml_lines(text: str) -> dict[tuple[str, ...], int]:
    """``{key path: 1-based line}`` of every mapping key in a YAML document."""
    import yaml

    lines: dict[tuple[str, ...], int] = {}

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = (*path, str(key.value))
                lines[sub] = key.start_mark.line + 1
                walk(value, sub)

    walk(yaml.compose(text), ())
    return lines


def _json_lines(text: str) -> dict[tuple[str, ...], int]:
    """Lines of the top-level keys and their sub-keys, found by their quoted names (a sub-key at
    its first occurrence after its section's key)."""
    import re

    rows = text.splitlines()
    found = [
        (n, m.group(1)) for n, row in enumerate(rows, 1) for m in re.finditer(r'"([^"]+)"\s*:', row)
    ]
    data = json.loads(text)
    lines: dict[tuple[str, ...], int] = {}
    for key, value in data.items() if isinstance(data, dict) else ():
        top = next((n for n, k in found if k == key), None)
        if top is None:
            continue
        lines[(key,)] = top
        for sub in value if isinstance(value, dict) else ():
            line = next((n for n, k in found if k == sub and n >= top), None)
            if line is not None:
                lines[(key, sub)] = line
    return lines


class RunFile(dict):
    """The parsed run file, with the file name and the line of every key."""

    def __init__(self, data: dict[str, Any], path: str, lines: dict[tuple[str, ...], int]):
        super().__init__(data)
        self.path, self.lines = path, lines

    def error(self, message: str, *path: str) -> RunFileError:
        """``RunFileError("<file>:<line>: <message>")`` at the deepest known key of ``path``."""
        line = None
        for depth in range(len(path), 0, -1):
            line = self.lines.get(tuple(path[:depth]))
            if line is not None:
                break
        where = f"{self.path}:{line}" if line else self.path
        return RunFileError(f"{where}: {message}")


def read_run_file(path: str) -> RunFile:
    """Parse a run file (JSON, or YAML for ``.yaml``/``.yml``), keeping the line of each key."""
    file = Path(path)
    if not file.is_file():
        raise RunFileError(f"--config: no such file {path}")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise RunFileError(f"{path}: not UTF-8 text (byte {err.start}: {err.reason})") from None
    if file.suffix in (".yaml", ".yml"):
        import yaml

        try:
            data, lines = yaml.safe_load(text), _yaml_lines(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else path
            problem = getattr(err, "problem", None) or str(err)
            raise RunFileError(f"{where}: YAML syntax error: {problem}") from None
    elif file.suffix == ".json":
        try:
            data, lines = json.loads(text), _json_lines(text)
        except json.JSONDecodeError as err:
            raise RunFileError(f"{path}:{err.lineno}: JSON syntax error: {err.msg}") from None
    else:
        raise RunFileError(f"--config: {path} must end in .yaml, .yml or .json")
    if not isinstance(data, dict):
        raise RunFileError(
            f"{path}: a run file holds a mapping with keys {list(RUN_FILE_KEYS)}, got "
            f"{type(data).__name__}"
        )
    return RunFile(data, path, lines)


def check_run(run: RunFile) -> None:
    """Check keys, method, task, their pairing, task_args, config and training; builds nothing.

    Raises:
        RunFileError: ``<file>:<line>: <what is wrong>; <what is allowed>``.
    """
    import modalprompt as mp
    from modalprompt.core.config import ConfigError
    from modalprompt.core.tasks import TaskArgumentError, check_task_args, get_task_spec

    unknown = [key for key in run if key not in RUN_FILE_KEYS]
    if unknown:
        raise run.error(
            f"unknown key(s) {unknown}; a run file has the keys {list(RUN_FILE_KEYS)}", unknown[0]
        )
    for key in ("method", "task"):
        if key not in run:
            raise run.error(f"missing key {key!r}; a run file needs 'method' and 'task'")
        if not isinstance(run[key], str):
            raise run.error(f"{key}: expected a name (a string), got {run[key]!r}", key)
    methods = mp.list_methods()
    if run["method"] not in methods:
        raise run.error(
            f"method: unknown method {run['method']!r}; registered: {methods}", "method"
        )
    try:
        spec = get_task_spec(run["task"])
    except KeyError as err:
        raise run.error(f"task: {err.args[0]}", "task") from None
    if spec.methods is not None and run["method"] not in spec.methods:
        raise run.error(
            f"method: {run['method']!r} cannot take the backbone of task {spec.name!r}; methods "
            f"for this task: {list(spec.methods)}",
            "method",
        )
    try:
        check_task_args(spec.name, run.get("task_args"))
    except TaskArgumentError as err:
        raise run.error(str(err), "task_args", *([err.key] if err.key else [])) from None
    for key in ("config", "training"):
        if not isinstance(run.get(key) or {}, dict):
            raise run.error(f"{key}: expected a mapping of names to values, got {run[key]!r}", key)
    config_cls = mp.get_method_spec(run["method"]).config_cls
    try:
        config_cls.from_dict(run.get("config") or {})
    except (ConfigError, TypeError, ValueError) as err:
        raise run.error(f"config: {err}", "config", _named_field(err, run.get("config"))) from None
    try:
        mp.TrainingArguments(**(run.get("training") or {}))
    except TypeError as err:
        valid = sorted(mp.TrainingArguments.__dataclass_fields__)
        raise run.error(f"training: {err}; valid keys: {valid}", "training") from None
    except ValueError as err:
        field = _named_field(err, run.get("training"))
        raise run.error(f"training: {err}", "training", field) from None
    if run.get("output_dir") is not None and not isinstance(run["output_dir"], str):
        raise run.error(
            f"output_dir: expected a folder name, got {run['output_dir']!r}", "output_dir"
        )


def _named_field(err: Exception, section: Any) -> str:
    """The key of ``section`` that ``err``'s message names (``Cls.field:`` or ``['field']``)."""
    message = str(err)
    for key in section or {}:
        if f".{key}:" in message or f"'{key}'" in message:
            return str(key)
    return ""


# ---------------------------------------------------------------------------------- build
def _build(run: RunFile, method: str):
    """The task (data and backbone), the method config and the training arguments."""
    import modalprompt as mp
    from modalprompt.core.tasks import get_task

    start = time.perf_counter()
    _say(f"building task {run['task']} for {method} (data and backbone)")
    try:
        task = get_task(run["task"], method=method, **(run.get("task_args") or {}))
    except (FileNotFoundError, ValueError) as err:
        message = str(err)
        if not message.startswith("task_args"):
            raise
        key = message.split(":", 1)[0].removeprefix("task_args").strip(".").split("/")[0]
        raise run.error(message, "task_args", key) from None
    except ImportError as err:
        raise SystemExit(f"task {run['task']!r} needs a package that is missing: {err}") from None
    sizes = ", ".join(
        f"{name} {len(data)}"
        for name, data in (
            ("train", task.train_data),
            ("eval", task.eval_data),
            ("test", task.test_data),
        )
        if data is not None
    )
    _say(f"task built in {time.perf_counter() - start:.1f} s: {sizes}")
    user = run.get("config") or {}
    for key, value in task.config_overrides.items():
        if key in user and user[key] != value:
            raise run.error(
                f"config.{key}: the task sets it to {value!r} (from its data or task_args), the "
                f"run file to {user[key]!r}; remove it from config",
                "config",
                key,
            )
    try:
        config = mp.get_config(method, **{**task.config_overrides, **user})
    except ValueError as err:
        raise run.error(f"config: {err}", "config") from None
    training = {"metric": task.metric, **(run.get("training") or {})}
    if run.get("output_dir"):
        training["output_dir"] = run["output_dir"]
    return task, config, mp.TrainingArguments(**training)


def _collate(task, model):
    if task.collate_fn is not None:
        return task.collate_fn
    return model.collator() if hasattr(model, "collator") else None


def _progress(every: float = 15.0) -> Any:
    """A callback printing a line at the first step, then every ``every`` seconds (the Trainer's
    bar shows only on a terminal; logs and CI see these lines)."""
    from modalprompt.core.callbacks import Callback

    class Progress(Callback):
        def __init__(self) -> None:
            self.last: float | None = None

        def _on_step_end(self, trainer: Any, logs: dict[str, Any]) -> None:
            now = time.perf_counter()
            if self.last is None or now - self.last >= every:
                self.last = now
                loss = f", loss {logs['loss']:.4f}" if "loss" in logs else ""
                step, epoch = trainer.state.global_step, trainer.state.epoch
                _say(f"step {step}/{trainer.total_steps}, epoch {epoch}{loss}")

    return Progress()


# ------------------------------------------------------------------------------- commands
def cmd_list(args: argparse.Namespace) -> int:
    from modalprompt.core.registry import get_method_spec, list_methods

    domain = DOMAIN_ALIASES.get(args.domain, args.domain)
    names = list_methods(domain)
    width = max((len(n) for n in names), default=4)
    for name in names:
        spec = get_method_spec(name)
        print(f"{name:<{width}}  {spec.domain:<10}  {spec.description}")
    if args.tasks:
        from modalprompt.core.tasks import get_task_spec, list_tasks

        tasks = list_tasks(domain)
        width = max((len(n) for n in tasks), default=4)
        print()
        for name, desc in tasks.items():
            print(f"{name:<{width}}  {desc}")
            methods = get_task_spec(name).methods
            print(f"{'':<{width}}  methods: {', '.join(methods) if methods else 'any'}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import modalprompt as mp

    run = read_run_file(args.config)
    check_run(run)
    method = run["method"]
    _say(f"{run.path}: {method} on {run['task']}")
    if method in MULTI_PHASE and method not in _RUNNERS:
        raise SystemExit(
            f"modalprompt train: {method!r} trains in several phases that the core Trainer does "
            f"not run yet; train it with {MULTI_PHASE[method]} (the run file is valid)"
        )
    task, config, training = _build(run, method)
    model = mp.get_prompt_model(task.backbone, config)
    model.print_trainable_parameters()
    if task.prepare is not None:
        task.prepare(model)
    collate = _collate(task, model)
    if method in _RUNNERS:
        if args.resume_from and not training.output_dir:
            raise SystemExit(f"--resume-from: {method!r} resumes from the run file's output_dir")
        trainer = _RUNNERS[method](model, task, training, collate, args.resume_from)
    else:
        trainer = mp.Trainer(
            model,
            training,
            train_data=task.train_data,
            eval_data=task.eval_data,
            collate_fn=collate,
            callbacks=[_progress()],
        )
        _say(f"training on {trainer.device}: {trainer.total_steps} optimizer steps")
        trainer.fit(resume_from=args.resume_from)
    if training.output_dir:
        _say(f"model saved in {Path(training.output_dir) / 'model'}")
    if task.test_data is not None:
        print(json.dumps({"test": trainer.evaluate(task.test_data)}, indent=2))
    return 0


def _run_relief(model, task, training, collate, resume_from=None):
    """RELIEF's alternating policy / head schedule (its config holds every hyper-parameter)."""
    import modalprompt as mp
    from modalprompt.graph.relief import fit_relief

    _say(
        "relief trains with fit_relief's schedule from its config (total_epochs, head_epochs, "
        "...); of training:, only output_dir, device, eval_batch_size and verbose are used"
    )
    fit_relief(
        model,
        task.train_data,
        task.eval_data or task.train_data,
        output_dir=training.output_dir,
        resume_from=resume_from,
        overwrite_output_dir=training.overwrite_output_dir,
        eval_batch_size=training.eval_batch_size,
        device=training.device,
        verbose=training.verbose,
    )
    args = mp.TrainingArguments(**{**training.to_dict(), "output_dir": None})
    return mp.Trainer(model, args, train_data=task.train_data, collate_fn=collate)


def _run_bayesprompt(model, task, training, collate, resume_from=None):
    """BayesPrompt: collection epochs, GMM fit + SVGD particles, then the remaining epochs."""
    from modalprompt.nlp.bayesprompt.train import fit_bayesprompt

    _say("bayesprompt: collection epoch(s), then the GMM and SVGD particles, then training")
    return fit_bayesprompt(
        model,
        task.train_data,
        task.eval_data,
        collate,
        training,
        domain_examples=task.extras.get("domain_examples"),
        resume_from=resume_from,
    )


def _run_pcp(model, task, training, collate, resume_from=None):
    """PCP's pipeline: pseudo-labelling, continued pre-training on the template-wrapped pool,
    prompt-based fine-tuning (``config.ft_*`` and ``config.mlm_*`` hold the schedules)."""
    import tempfile

    import modalprompt as mp
    from modalprompt.nlp.pcp.pipeline import run_pcp

    pool = task.extras.get("unlabeled")
    if not pool:
        raise SystemExit("pcp: the task provides no unlabelled pool (task extras 'unlabeled')")
    _say(
        f"pcp: stage 1 prompt FT, pseudo-labels for {len(pool)} unlabelled texts, continued "
        "pre-training, stage 3 prompt FT (schedules from config; training: is not used)"
    )
    output_dir = training.output_dir or tempfile.mkdtemp(prefix="modalprompt-pcp-")
    result = run_pcp(
        task.backbone,
        model.tokenizer,
        model.config,
        list(task.train_data),
        pool,
        output_dir,
        dev=list(task.eval_data) if task.eval_data is not None else None,
        device=training.device,
        verbose=training.verbose,
        resume_from=resume_from,
        overwrite_output_dir=training.overwrite_output_dir,
    )
    seconds = {k: round(v, 1) for k, v in result.stage_seconds.items()}
    _say(f"pcp stage times (s): {json.dumps(seconds)}")
    if training.output_dir:
        result.model.save_pretrained(Path(training.output_dir) / "model")
    args = mp.TrainingArguments(**{**training.to_dict(), "output_dir": None})
    return mp.Trainer(result.model, args, train_data=task.train_data, collate_fn=collate)


_RUNNERS = {"relief": _run_relief, "bayesprompt": _run_bayesprompt, "pcp": _run_pcp}


def cmd_eval(args: argparse.Namespace) -> int:
    import modalprompt as mp

    run = read_run_file(args.config)
    check_run(run)
    folder = args.model or (
        str(Path(run["output_dir"]) / "model") if run.get("output_dir") else None
    )
    if folder is None:
        raise SystemExit("--model: give the saved model's folder (the run file has no output_dir)")
    if not Path(folder).is_dir():
        raise SystemExit(f"--model: no saved model at {folder}; train first (modalprompt train)")
    task, _, training = _build(run, run["method"])
    model = mp.PromptModel.from_pretrained(task.backbone, folder)
    data = {"train": task.train_data, "eval": task.eval_data, "test": task.test_data}[args.split]
    if data is None:
        raise SystemExit(f"--split: task {run['task']!r} has no {args.split} set")
    trainer = mp.Trainer(
        model,
        training.__class__(**{**training.to_dict(), "output_dir": None}),
        train_data=task.train_data,
        collate_fn=_collate(task, model),
    )
    _say(f"evaluating {folder} on the {args.split} split ({len(data)} examples)")
    print(json.dumps({args.split: trainer.evaluate(data)}, indent=2))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from modalprompt.demo import DemoIncomplete, run_demo

    try:
        run_demo(quick=args.quick, out_dir=args.out)
    except DemoIncomplete as err:
        print(f"modalprompt demo: {err}", file=sys.stderr)
        return 1
    return 0


def _benchmarks_dir() -> Path | None:
    """``$MODALPROMPT_BENCHMARKS``, or ``benchmarks/`` of the source checkout this runs from."""
    env = os.environ.get("MODALPROMPT_BENCHMARKS")
    if env:
        return Path(env) if Path(env).is_dir() else None
    checkout = Path(__file__).resolve().parent.parent  # site-packages in a regular install
    if (checkout / "pyproject.toml").is_file() and (checkout / "benchmarks").is_dir():
        return checkout / "benchmarks"
    return None


def cmd_bench(args: argparse.Namespace) -> int:
    folder = _benchmarks_dir()
    if folder is None:
        raise SystemExit(
            "bench: the benchmarks are scripts in the source repository's benchmarks/ folder and "
            "are not installed with the package; run them from a checkout (python "
            f"benchmarks/{args.name}.py, or pip install -e .) or set MODALPROMPT_BENCHMARKS to "
            "that folder"
        )
    script = folder / f"{args.name}.py"
    if not script.is_file():
        known = sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))
        raise SystemExit(f"bench: no benchmark {args.name!r} in {folder}; available: {known}")
    _say(f"running {script}{' --quick' if args.quick else ''}")
    sys.argv = [str(script)] + (["--quick"] if args.quick else [])
    sys.path.insert(0, str(folder))  # as `python benchmarks/NAME.py` does: shared helpers import
    runpy.run_path(str(script), run_name="__main__")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modalprompt",
        description="Prompt tuning of frozen pre-trained models on graphs, point clouds and text.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="list the registered methods (name, domain, one line each)")
    p.add_argument(
        "--domain",
        choices=[*MODALITIES, *DOMAIN_ALIASES],
        help="only this domain ('text' and 'nlp' are the same)",
    )
    p.add_argument("--tasks", action="store_true", help="also list the tasks run files can name")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser(
        "train",
        help="train a method on a task described by a JSON/YAML run file",
        description="Run file keys: method, task, task_args (the task's arguments), config "
        "(method hyper-parameters), training (TrainingArguments fields), output_dir. "
        "`modalprompt list --tasks` shows the tasks and the methods each takes.",
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
    p.add_argument("--model", default=None, help="saved model folder (default: <output_dir>/model)")
    p.add_argument("--split", default="test", choices=["train", "eval", "test"])
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "demo",
        help="every method beside its baseline on built-in data (about 3 minutes on 2 CPU "
        "cores); prints the table, writes it and a figure to --out",
    )
    p.add_argument("--quick", action="store_true", help="a smaller run (under a minute)")
    p.add_argument(
        "--out", default="runs/demo", help="folder for table.md, table.csv and figure.png"
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("bench", help="run benchmarks/NAME.py and print its comparison table")
    p.add_argument("name", help="benchmark name (file stem in benchmarks/)")
    p.add_argument("--quick", action="store_true", help="reduced run, about a minute, same table")
    p.set_defaults(func=cmd_bench)

    from modalprompt.cli_pretrain import add_parser as add_pretrain_parser

    add_pretrain_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
