"""RELIEF killed with SIGKILL inside a policy phase resumes to the uninterrupted run's end,
bitwise, and its metrics.jsonl holds each row once."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest
import torch

pytest.importorskip("torch_geometric")
pytest.importorskip("stable_baselines3")

from modalprompt.core.io import load_tensors  # noqa: E402
from tests._subprocess import run_script  # noqa: E402

SCRIPT = Path(__file__).with_name("_relief_kill_script.py")


def _run(out: Path, result: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_script(SCRIPT, out, result, *extra)


def _rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_relief_killed_mid_policy_phase_resumes_bitwise(tmp_path):
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    done = _run(whole, tmp_path / "whole.safetensors")
    assert done.returncode == 0, done.stderr
    # 12 graphs, 2 members, 4 graphs per rollout: ~5 updates per epoch; update 8 is in epoch 2
    killed = _run(broken, tmp_path / "unused.safetensors", "--kill-at-update", "8")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    saved = sorted(p.name for p in (broken / "phase_checkpoints").iterdir())
    assert saved and all(name.startswith("checkpoint-") for name in saved)
    resumed = _run(broken, tmp_path / "resumed.safetensors", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    expected = load_tensors(tmp_path / "whole.safetensors")
    got = load_tensors(tmp_path / "resumed.safetensors")
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    assert _rows(broken) == _rows(whole)  # the killed run's rows after its checkpoint are gone
    phases = {row["phase"] for row in _rows(whole)}
    assert phases == {"policy", "head"}  # the warm-up logs nothing of its own
    epochs = [row["epoch"] for row in _rows(whole) if row["phase"] == "head"]
    assert epochs == [1, 2, 3, 4]


@pytest.mark.slow
def test_a_new_run_refuses_a_folder_with_another_runs_checkpoints(tmp_path):
    out = tmp_path / "run"
    assert _run(out, tmp_path / "a.safetensors").returncode == 0
    again = _run(out, tmp_path / "b.safetensors")
    assert again.returncode != 0 and "already holds checkpoints" in again.stderr
