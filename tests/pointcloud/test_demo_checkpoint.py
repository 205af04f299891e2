"""The Point-MAE checkpoint shipped for ``modalprompt demo`` loads, fits its config, is verified."""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("safetensors")
torch = pytest.importorskip("torch")

from modalprompt.core.io import CorruptFileError, load_tensors, read_json  # noqa: E402
from modalprompt.pointcloud.demo_checkpoint import (  # noqa: E402
    CHECKPOINT_DIR,
    CONFIG_NAME,
    SETTINGS,
    WEIGHTS_NAME,
    load_demo_backbone,
)


def test_shipped_checkpoint_loads_and_matches_its_config():
    if not (CHECKPOINT_DIR / WEIGHTS_NAME).is_file():
        pytest.skip(f"no shipped checkpoint at {CHECKPOINT_DIR}")
    config = read_json(CHECKPOINT_DIR / CONFIG_NAME)
    assert {k: config["backbone"][k] for k in SETTINGS["backbone"]} == SETTINGS["backbone"]
    assert config["corpus"] == SETTINGS["corpus"] and config["pretrain"] == SETTINGS["pretrain"]
    assert config["losses"][-1] < config["losses"][0]  # pre-training did something
    backbone = load_demo_backbone()
    assert not backbone.training
    assert {k: getattr(backbone.config, k) for k in config["backbone"]} == config["backbone"]
    stored = load_tensors(CHECKPOINT_DIR / WEIGHTS_NAME)
    state = backbone.state_dict()
    assert set(stored) == set(state)
    for name, tensor in stored.items():
        assert state[name].dtype in (torch.float32, torch.int64, torch.long)
        assert torch.equal(state[name], tensor.to(state[name].dtype)), name
    points = torch.rand(2, config["corpus"]["num_points"], 3)
    assert backbone(points).shape[0] == 2


def test_a_changed_checkpoint_file_is_refused(tmp_path):
    if not (CHECKPOINT_DIR / WEIGHTS_NAME).is_file():
        pytest.skip(f"no shipped checkpoint at {CHECKPOINT_DIR}")
    copy = tmp_path / "ckpt"
    shutil.copytree(CHECKPOINT_DIR, copy)
    data = bytearray((copy / WEIGHTS_NAME).read_bytes())
    data[-3] ^= 0xFF
    (copy / WEIGHTS_NAME).write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=WEIGHTS_NAME):
        load_demo_backbone(copy)
    with pytest.raises(FileNotFoundError, match="demo_checkpoint"):
        load_demo_backbone(tmp_path / "missing")
