"""The command line: every registered method trains a few steps from a tiny run file and is
evaluated from its saved model; bad run files fail before any work with file, line and what is
allowed; ``list`` shows the tasks; ``bench`` says where the benchmarks are.

Tiny runs use the procedural tasks and tiny backbones, so the whole file stays well under a minute
of CPU time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import modalprompt as mp
from modalprompt import cli
from modalprompt.core.tasks import get_task, get_task_spec, list_tasks

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY_POINTS = {
    "num_classes": 3,
    "shots": 2,
    "val_size": 6,
    "test_size": 6,
    "num_points": 64,
    "backbone": {
        "trans_dim": 32,
        "depth": 2,
        "num_heads": 2,
        "encoder_dims": 32,
        "num_group": 8,
        "group_size": 8,
    },
}
TINY_GRAPHS = {"num_train": 6, "num_val": 4, "num_test": 4}
TINY_TAG = {"num_classes": 3, "nodes_per_class": 8, "shots": 2, "num_val": 2, "num_test": 6}
TINY_TEXT = {"num_train": 6, "num_val": 4, "num_test": 4}
_NO_KEYS = ("num_classes", "num_outputs", "max_nodes", "task", "max_length")


def _tiny(method: str, **extra: Any) -> dict[str, Any]:
    """The method's registered tiny overrides without what the task fixes, plus ``extra``."""
    tiny = {k: v for k, v in mp.get_method_spec(method).tiny.items() if k not in _NO_KEYS}
    return {**tiny, **extra}


#: method -> (task, task_args, config); every registered method must have one.
TINY_RUNS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    **{
        m: ("pointcloud/synthetic_shapes", TINY_POINTS, _tiny(m))
        for m in ("idpt", "point_peft", "vpt_shallow", "vpt_deep", "linear_probe", "full_finetune")
    },
    "gpf": ("graph/synthetic", TINY_GRAPHS, {}),
    "gpf_plus": ("graph/synthetic", TINY_GRAPHS, _tiny("gpf_plus")),
    "relief": (
        "graph/synthetic",
        TINY_GRAPHS,
        _tiny("relief", total_epochs=1, skip_epochs=0, graphs_per_rollout=2, update_epochs=1),
    ),
    "graphclip": ("graph/synthetic_tag", {**TINY_TAG, "text_dim": 16, "hidden": 16}, {}),
    "prompt_tuning": ("nlp/synthetic_reviews", TINY_TEXT, _tiny("prompt_tuning")),
    "ept": ("nlp/synthetic_reviews", {**TINY_TEXT, "max_length": 12}, _tiny("ept")),
    "iapt": ("nlp/synthetic_reviews", TINY_TEXT, _tiny("iapt")),
    "prompt_finetune": ("nlp/synthetic_reviews", TINY_TEXT, {}),
    "sciprompt": ("nlp/synthetic_reviews", TINY_TEXT, {"candidate_frac": 0.0}),
    "pcp": ("nlp/synthetic_reviews", TINY_TEXT, {"ft_steps": 2, "mlm_max_steps": 2}),
    "bayesprompt": (
        "nlp/synthetic_relations",
        {"num_train": 6, "num_val": 3, "num_test": 3},
        {"svgd_iterations": 5},
    ),
}


def _write(folder: Path, run: dict[str, Any], name: str = "run.yaml") -> str:
    path = folder / name
    path.write_text(yaml.safe_dump(run, sort_keys=False), encoding="utf-8")
    return str(path)


def _tiny_run(method: str, output_dir: Path) -> dict[str, Any]:
    task, task_args, config = TINY_RUNS[method]
    return {
        "method": method,
        "task": task,
        "task_args": task_args,
        "config": config,
        "training": {"max_steps": 2, "batch_size": 4, "tensorboard": False, "verbose": False},
        "output_dir": str(output_dir),
    }


def test_every_method_has_a_tiny_run():
    assert set(TINY_RUNS) == set(mp.list_methods())
    for method, (task, _, _) in TINY_RUNS.items():
        assert method in get_task_spec(task).methods, f"{task} does not take {method}"


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("method", sorted(TINY_RUNS), ids=str)
def test_method_trains_and_evaluates_from_the_cli(method, tmp_path, capsys):
    out = tmp_path / "out"
    config = _write(tmp_path, _tiny_run(method, out))
    assert cli.main(["train", "--config", config]) == 0
    assert (out / "model").is_dir()
    assert cli.main(["eval", "--config", config, "--split", "test"]) == 0
    printed = capsys.readouterr()
    assert "[modalprompt] building task" in printed.err
    tail = printed.out[printed.out.rindex('{\n  "test"') :]
    assert json.loads(tail)["test"], "eval printed no metrics"


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("method", ["relief", "pcp", "bayesprompt"])
def test_multi_phase_methods_resume_from_the_cli(method, tmp_path, capsys):
    """A finished run resumed trains nothing more; a new run in the same folder is refused."""
    out = tmp_path / "out"
    config = _write(tmp_path, _tiny_run(method, out))
    assert cli.main(["train", "--config", config]) == 0
    phases = out / "pcp_phases" if method == "pcp" else out  # PCP and TAPT share output_dir
    rows = (phases / "metrics.jsonl").read_text()
    assert (phases / "phase_checkpoints").is_dir()
    with pytest.warns(UserWarning, match="nothing is left"):
        assert cli.main(["train", "--config", config, "--resume-from", "latest"]) == 0
    assert (phases / "metrics.jsonl").read_text() == rows
    with pytest.raises(ValueError, match="already holds checkpoints"):
        cli.main(["train", "--config", config])


def test_multi_phase_method_without_runner_is_refused(tmp_path, monkeypatch):
    monkeypatch.delitem(cli._RUNNERS, "relief")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as err:
        cli.main(["train", "--config", _write(tmp_path, _tiny_run("relief", out))])
    assert "'relief'" in str(err.value) and "fit_relief" in str(err.value)
    assert not out.exists(), "a refused method must not start any work"


def test_list_tasks_shows_every_domain(capsys):
    assert cli.main(["list", "--tasks"]) == 0
    printed = capsys.readouterr().out
    for name in ("pointcloud/shrec11", "graph/moleculenet", "nlp/lmbff", "nlp/semeval"):
        assert name in printed
    assert {n.split("/")[0] for n in list_tasks()} == {"pointcloud", "graph", "nlp"}


def test_list_domain_accepts_text_and_nlp(capsys):
    cli.main(["list", "--domain", "text"])
    text = capsys.readouterr().out
    cli.main(["list", "--domain", "nlp"])
    assert text == capsys.readouterr().out and "prompt_tuning" in text


# ---------------------------------------------------------------------------- bad run files
def _fails(tmp_path: Path, text: str, name: str = "run.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SystemExit) as err:
        cli.main(["train", "--config", str(path)])
    return str(err.value)


GOOD = "method: gpf\ntask: graph/synthetic\n"


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    message = _fails(tmp_path, GOOD + "config: {num_basis: 3\ntraining: {}\n")
    assert "run.yaml:4" in message and "YAML syntax error" in message


def test_json_syntax_error_names_line(tmp_path):
    message = _fails(tmp_path, '{\n  "method": "gpf",\n  "task": graph\n}\n', "run.json")
    assert "run.json:3" in message and "JSON syntax error" in message


def test_unknown_key_names_line_and_valid_keys(tmp_path):
    message = _fails(tmp_path, GOOD + "trainig: {max_steps: 2}\n")
    assert "run.yaml:3" in message and "['trainig']" in message and "training" in message


def test_method_the_backbone_cannot_take(tmp_path):
    message = _fails(tmp_path, "method: idpt\ntask: graph/synthetic\n")
    assert "run.yaml:1" in message and "cannot take" in message and "gpf_plus" in message


def test_unknown_task_and_method(tmp_path):
    assert "known tasks" in _fails(tmp_path, "method: gpf\ntask: graph/nope\n")
    assert "registered" in _fails(tmp_path, "method: gfp\ntask: graph/synthetic\n")


def test_task_argument_type_and_name(tmp_path):
    message = _fails(tmp_path, GOOD + "task_args:\n  num_train: many\n")
    assert "run.yaml:4" in message and "task_args.num_train" in message and "int" in message
    message = _fails(tmp_path, GOOD + "task_args:\n  shots: 3\n")
    assert "run.yaml:4" in message and "allowed: num_train: int, num_val: int, " in message


def test_task_argument_value_and_missing_folder(tmp_path):
    message = _fails(tmp_path, GOOD + "task_args:\n  num_train: 0\n")
    assert "run.yaml:4" in message and "num_train" in message and ">= 1" in message
    missing = tmp_path / "nowhere"
    message = _fails(
        tmp_path, f"method: idpt\ntask: pointcloud/shrec11\ntask_args:\n  root: {missing}\n"
    )
    assert "run.yaml:4" in message and "task_args.root" in message and "train.npz" in message


def test_task_argument_called_name_reaches_the_task(tmp_path):
    with pytest.raises(FileNotFoundError, match="task_args.root: no NOPE/raw folder"):
        get_task("graph/tu", name="NOPE", root=str(tmp_path))


def test_config_type_and_unknown_field(tmp_path):
    message = _fails(tmp_path, GOOD + "config:\n  head_layers: two\n")
    assert "run.yaml:4" in message and "head_layers" in message and "integer" in message
    message = _fails(tmp_path, GOOD + "config:\n  num_prompts: 3\n")
    assert "run.yaml:4" in message and "valid keys" in message


def test_training_type_and_unknown_field(tmp_path):
    message = _fails(tmp_path, GOOD + "training:\n  max_epochs: -1\n")
    assert "run.yaml:4" in message and "max_epochs" in message
    message = _fails(tmp_path, GOOD + "training:\n  epochs: 3\n")
    assert "run.yaml:3" in message and "valid keys" in message


def test_bench_without_checkout_says_where(monkeypatch):
    monkeypatch.setattr(cli, "_benchmarks_dir", lambda: None)
    with pytest.raises(SystemExit) as err:
        cli.main(["bench", "graph"])
    assert "benchmarks/" in str(err.value) and "MODALPROMPT_BENCHMARKS" in str(err.value)


# ----------------------------------------------------------------------- examples/configs
CONFIGS = sorted((REPO_ROOT / "examples" / "configs").glob("*.yaml"))


def test_examples_cover_every_method_on_a_real_and_a_procedural_task():
    procedural = {n for n in list_tasks() if "synthetic" in n}
    seen: dict[str, set[str]] = {}
    for path in CONFIGS:
        run = yaml.safe_load(path.read_text(encoding="utf-8"))
        kind = "procedural" if run["task"] in procedural else "real"
        seen.setdefault(run["method"], set()).add(kind)
    missing = {m for m in mp.list_methods() if seen.get(m) != {"real", "procedural"}}
    assert not missing, f"examples/configs lacks a real or procedural run file for {missing}"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_example_config_is_valid(path):
    cli.check_run(cli.read_run_file(str(path)))
