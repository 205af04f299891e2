"""Point-MAE pre-training on the core Trainer: a run that dies mid-epoch resumes from its last
checkpoint to the uninterrupted run's encoder, bitwise, and reports the same epoch losses."""

from __future__ import annotations

import pytest
import torch

from modalprompt.pointcloud.backbones import PointTransformer, PointTransformerConfig
from modalprompt.pointcloud.datasets import SyntheticShapes
from modalprompt.pointcloud.pretrain import point_mae
from modalprompt.pointcloud.pretrain.point_mae import pretrain_point_mae
from tests.pointcloud.test_backbone import TINY


class Crash(RuntimeError):
    pass


def _pretrain(run_dir, resume_from=None):
    torch.manual_seed(0)  # the same encoder initialisation in every "process"
    encoder = PointTransformer(PointTransformerConfig(**TINY))
    data = SyntheticShapes(24, num_points=128, seed=0)
    result = pretrain_point_mae(
        encoder,
        data,
        epochs=3,
        batch_size=8,
        lr=2e-3,
        run_dir=run_dir,
        save_every=2,
        resume_from=resume_from,
    )
    return encoder, result


def test_killed_pretraining_resumes_bitwise(tmp_path, monkeypatch):
    whole, expected = _pretrain(tmp_path / "whole")
    forward, calls = point_mae.PointMAE.forward, [0]

    def crashing(self, points):
        calls[0] += 1
        if calls[0] == 6:  # epoch 2, after checkpoint-4
            raise Crash
        return forward(self, points)

    monkeypatch.setattr(point_mae.PointMAE, "forward", crashing)
    with pytest.raises(Crash):
        _pretrain(tmp_path / "broken")
    monkeypatch.setattr(point_mae.PointMAE, "forward", forward)
    assert (tmp_path / "broken" / "checkpoint-4").is_dir()
    resumed, got = _pretrain(tmp_path / "broken", resume_from="latest")
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert got.losses == expected.losses and len(expected.losses) == 3
