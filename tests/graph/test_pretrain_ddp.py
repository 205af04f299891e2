"""Graph and GraphCLIP pre-training across two gloo processes (torchrun): gradients are averaged,
so both ranks end with the same weights; rank 0 alone writes the metrics and checkpoints; the
data-dependent skips (too few context pairs) and edge chunk counts never desynchronise the
ranks (a desynchronised collective would hang: the test's timeout catches it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

pytest.importorskip("torch_geometric")
pytest.importorskip("rdkit")

from modalprompt.core.io import load_tensors  # noqa: E402
from tests._subprocess import run_torchrun  # noqa: E402

SCRIPT = Path(__file__).with_name("_ddp_pretrain_script.py")


@pytest.mark.slow
def test_pretraining_on_two_processes_keeps_the_ranks_in_step(tmp_path):
    result = run_torchrun(SCRIPT, tmp_path, timeout=300)
    stdout, stderr = result.stdout, result.stderr
    assert result.returncode == 0, stdout[-2000:] + stderr[-4000:]
    for name in ("attr_masking", "context_pred", "edge_pred", "graphclip"):
        rank0 = load_tensors(tmp_path / f"{name}.rank0.safetensors")
        rank1 = load_tensors(tmp_path / f"{name}.rank1.safetensors")
        params = [k for k in rank0 if "running_" not in k and "num_batches" not in k]
        assert all(torch.equal(rank0[k], rank1[k]) for k in params), name
        init = load_tensors(tmp_path / f"{name}.init0.safetensors")
        assert not all(torch.equal(rank0[k], init[k]) for k in params), name  # it trained
        losses = [line for line in stdout.splitlines() if f" {name} losses " in line]
        assert len(losses) == 2 and losses[0].split("losses")[1] == losses[1].split("losses")[1]
        rows = [
            json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().split("\n") if x
        ]
        epochs = [r["epoch"] for r in rows if "epoch" in r]
        assert epochs == [1, 2], name  # one writer: each epoch row once
        assert sorted(p.name for p in (tmp_path / name / "phase_checkpoints").iterdir()) == [
            "checkpoint-1", "checkpoint-2",
        ]  # fmt: skip
