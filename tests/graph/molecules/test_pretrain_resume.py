"""Graph pre-training as core phases (one per epoch): a run that dies mid-epoch resumes from its
last finished epoch to the uninterrupted run's weights, bitwise, with the same epoch losses and
no metrics row twice; a NaN loss stops it before the update."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("torch_geometric")
pytest.importorskip("rdkit")

from modalprompt.core.trainer import NonFiniteLossError  # noqa: E402
from modalprompt.graph import pretrain as pretrain_module  # noqa: E402
from modalprompt.graph.backbones import MoleculeGIN  # noqa: E402
from modalprompt.graph.datasets.molecules import smiles_to_graph  # noqa: E402
from modalprompt.graph.pretrain import pretrain  # noqa: E402
from tests.graph.molecules.test_pretrain import SMILES  # noqa: E402


class Crash(RuntimeError):
    pass


def _run(strategy, run_dir, resume_from=None):
    torch.manual_seed(0)
    gin = MoleculeGIN(num_layer=2, emb_dim=16)
    graphs = [smiles_to_graph(s) for s in SMILES]
    result = pretrain(
        gin,
        strategy,
        graphs,
        epochs=3,
        batch_size=6,
        lr=3e-3,
        run_dir=run_dir,
        resume_from=resume_from,
        log_every=1,
    )
    return gin, result


def _rows(folder):
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    ("strategy", "task"), [("attr_masking", "_AttrMasking"), ("context_pred", "_ContextPred")]
)
def test_killed_pretraining_resumes_bitwise(tmp_path, monkeypatch, strategy, task):
    whole, expected = _run(strategy, tmp_path / "whole")
    cls = getattr(pretrain_module, task)
    forward, calls = cls.forward, [0]

    def crashing(self, *args):
        calls[0] += 1
        if calls[0] == 5:  # inside epoch 2 (3 batches per epoch)
            raise Crash
        return forward(self, *args)

    monkeypatch.setattr(cls, "forward", crashing)
    with pytest.raises(Crash):
        _run(strategy, tmp_path / "broken")
    monkeypatch.setattr(cls, "forward", forward)
    resumed, got = _run(strategy, tmp_path / "broken", resume_from="latest")
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert got.losses == expected.losses and len(got.losses) == 3
    assert _rows(tmp_path / "broken") == _rows(tmp_path / "whole")
    assert [r["epoch"] for r in _rows(tmp_path / "whole") if "epoch_loss" in r] == [1, 2, 3]


def test_nan_loss_stops_before_the_update(tmp_path, monkeypatch):
    forward = pretrain_module._AttrMasking.forward
    monkeypatch.setattr(
        pretrain_module._AttrMasking,
        "forward",
        lambda self, *a: forward(self, *a) * float("nan"),
    )
    with pytest.raises(NonFiniteLossError, match=r"phase 'attr_masking' \(round 0, step 1\)"):
        _run("attr_masking", tmp_path)
