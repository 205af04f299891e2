"""PCP killed with SIGKILL inside continued pre-training resumes to the uninterrupted run's end,
bitwise: stage 1 is not repeated, stage 2 continues from its last checkpoint, and no metrics
row is written twice; resuming the finished run returns the same model from disk."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest
import torch

from modalprompt.core.io import load_tensors
from tests._subprocess import run_script  # noqa: E402

SCRIPT = Path(__file__).with_name("_pcp_kill_script.py")


def _run(out: Path, result: Path, *extra: str) -> subprocess.CompletedProcess:
    return run_script(SCRIPT, out, result, *extra)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a.keys() - {"calls"}:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.slow
def test_pcp_killed_in_continued_pretraining_resumes_bitwise(tmp_path):
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    done = _run(whole, tmp_path / "whole.safetensors")
    assert done.returncode == 0, done.stderr
    killed = _run(broken, tmp_path / "unused.safetensors", "--kill-at-mlm-step", "6")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (broken / "pcp_phases" / "phase_checkpoints" / "checkpoint-1").is_dir()  # stage 1
    assert sorted(p.name for p in (broken / "pcp_run").glob("checkpoint-*")) == [
        "checkpoint-2",
        "checkpoint-4",
    ]
    resumed = _run(broken, tmp_path / "resumed.safetensors", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    expected = load_tensors(tmp_path / "whole.safetensors")
    got = load_tensors(tmp_path / "resumed.safetensors")
    _same(expected, got)
    assert expected["calls"].tolist() == [8, 1]
    assert got["calls"].tolist() == [4, 0]  # steps 5-8 only; stage 1 not repeated
    _same(
        load_tensors(whole / "pcp_checkpoint" / "model.safetensors"),
        load_tensors(broken / "pcp_checkpoint" / "model.safetensors"),
    )
    for rows in ("pcp_phases/metrics.jsonl", "pcp_run/metrics.jsonl"):
        assert _lines(broken / rows) == _lines(whole / rows), rows
    assert [r["phase"] for r in _lines(whole / "pcp_phases" / "metrics.jsonl")] == [
        "pseudo_label",
        "continued_pretraining",
        "prompt_finetune",
    ]
    again = _run(broken, tmp_path / "again.safetensors", "--resume")  # finished: from disk
    assert again.returncode == 0, again.stderr
    assert "nothing is left" in again.stderr
    finished = load_tensors(tmp_path / "again.safetensors")
    _same(expected, finished)
    assert finished["calls"].tolist() == [0, 0]
