"""`modalprompt pretrain`: run files for Point-MAE and the graph strategies train, write a
checkpoint the task reads back, resume; mistakes fail before any work with file and line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("torch_geometric")

from modalprompt import cli  # noqa: E402
from modalprompt.cli import RunFileError  # noqa: E402
from modalprompt.cli_pretrain import check_pretrain_run  # noqa: E402
from tests.test_cli import TINY_GRAPHS, TINY_POINTS  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


def _write(folder: Path, run: dict[str, Any]) -> str:
    path = folder / "pretrain.yaml"
    path.write_text(yaml.safe_dump(run, sort_keys=False), encoding="utf-8")
    return str(path)


def _point_mae(out: Path) -> dict[str, Any]:
    return {
        "strategy": "point_mae",
        "task": "pointcloud/synthetic_shapes",
        "task_args": TINY_POINTS,
        "options": {"epochs": 2, "batch_size": 2, "save_every": 1},
        "output_dir": str(out),
    }


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_point_mae_pretrains_resumes_and_its_checkpoint_feeds_the_task(tmp_path, capsys):
    out = tmp_path / "out"
    config = _write(tmp_path, _point_mae(out))
    assert cli.main(["pretrain", "--config", config]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["strategy"] == "point_mae" and len(printed["epoch_losses"]) == 2
    assert (out / "backbone.safetensors").is_file() and (out / "run" / "metrics.jsonl").is_file()
    assert cli.main(["pretrain", "--config", config, "--resume-from", "latest"]) == 0
    assert json.loads(capsys.readouterr().out) == printed  # finished: nothing trained again
    run = {
        "method": "linear_probe",
        "task": "pointcloud/synthetic_shapes",
        "task_args": {**TINY_POINTS, "checkpoint": str(out / "backbone.safetensors")},
        "training": {"max_steps": 1, "batch_size": 2, "tensorboard": False, "verbose": False},
    }
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(run), encoding="utf-8")
    assert cli.main(["train", "--config", str(path)]) == 0


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("strategy", ["edge_pred", "infomax"])
def test_graph_strategy_pretrains_from_a_run_file(strategy, tmp_path, capsys):
    out = tmp_path / "out"
    run = {
        "strategy": strategy,
        "task": "graph/synthetic",
        "task_args": TINY_GRAPHS,
        "options": {"epochs": 2, "batch_size": 3},
        "output_dir": str(out),
    }
    assert cli.main(["pretrain", "--config", _write(tmp_path, run)]) == 0
    assert len(json.loads(capsys.readouterr().out)["epoch_losses"]) == 2
    assert (out / "backbone.safetensors").is_file()
    assert (out / "run" / "phase_checkpoints").is_dir()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"strategy": "magic"}, r":1: strategy: unknown 'magic'"),
        ({"task": "graph/synthetic"}, r":2: task: 'point_mae' pre-trains a pointcloud backbone"),
        ({"options": {"epochz": 1}}, r"options: unknown option\(s\) \['epochz'\].*allowed: \["),
        ({"extra": 1}, r"unknown key\(s\) \['extra'\]"),
        ({"output_dir": None}, r"output_dir: expected a non-empty string"),
    ],
)
def test_mistakes_fail_before_any_work_naming_file_and_line(tmp_path, change, message):
    run = {**_point_mae(tmp_path / "never"), **change}
    path = _write(tmp_path, run)
    with pytest.raises(RunFileError, match=message):
        cli.main(["pretrain", "--config", path])
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize(
    "path", sorted((REPO_ROOT / "examples" / "configs" / "pretrain").glob("*.yaml")), ids=str
)
def test_example_pretraining_run_files_are_valid(path):
    check_pretrain_run(cli.read_run_file(str(path)))
