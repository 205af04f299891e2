"""GraphCLIP's contrastive pre-training as per-epoch core phases: killed inside an epoch, it
resumes to the uninterrupted run's encoder and temperature, bitwise."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("torch_geometric")

from modalprompt.graph.graphclip import pretrain as pretrain_module  # noqa: E402
from modalprompt.graph.graphclip.encoder import GraphClipEncoder  # noqa: E402
from modalprompt.graph.graphclip.pretrain import pretrain_graphclip  # noqa: E402
from tests.graph.graphclip.test_graphclip import _setup  # noqa: E402


class Crash(RuntimeError):
    pass


def _run(run_dir, resume_from=None):
    _, sources, _, _ = _setup()
    torch.manual_seed(0)
    encoder = GraphClipEncoder(32, hidden=16, out_dim=32, num_layers=1, heads=2)
    result = pretrain_graphclip(
        encoder, sources, epochs=3, batch_size=16, run_dir=run_dir, resume_from=resume_from
    )
    return encoder, result


def test_killed_pretraining_resumes_bitwise(tmp_path, monkeypatch):
    whole, expected = _run(tmp_path / "whole")
    step, calls = pretrain_module.adversarial_step, [0]

    def crashing(*args, **kwargs):
        calls[0] += 1
        if calls[0] == 9:  # inside epoch 2 (96 subgraphs: 6 batches of 16 per epoch)
            raise Crash
        return step(*args, **kwargs)

    monkeypatch.setattr(pretrain_module, "adversarial_step", crashing)
    with pytest.raises(Crash):
        _run(tmp_path / "broken")
    monkeypatch.setattr(pretrain_module, "adversarial_step", step)
    assert (tmp_path / "broken" / "phase_checkpoints" / "checkpoint-1").is_dir()
    resumed, got = _run(tmp_path / "broken", resume_from="latest")
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert got.losses == expected.losses and got.logit_scale == expected.logit_scale
    rows = [json.loads(x) for x in (tmp_path / "broken" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows if "epoch_loss" in r] == [1, 2, 3]
