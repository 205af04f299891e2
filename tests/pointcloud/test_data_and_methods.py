import numpy as np
import pytest
import torch

import modalprompt as mp
from modalprompt.pointcloud.datasets import Shrec11, SyntheticShapes, read_modelnet_txt
from modalprompt.pointcloud.testing import tiny_backbone


def test_synthetic_shapes_are_deterministic_normalised_and_balanced():
    ds = SyntheticShapes(24, num_points=256, seed=3)
    a, label = ds[5]
    b, _ = SyntheticShapes(24, num_points=256, seed=3)[5]
    assert torch.equal(a, b) and a.shape == (256, 3) and a.dtype == torch.float32
    assert a.norm(dim=1).max().item() == pytest.approx(1.0, abs=1e-5)
    assert not torch.equal(a, SyntheticShapes(24, num_points=256, seed=4)[5][0])
    assert np.bincount([ds[i][1] for i in range(24)]).tolist() == [3] * 8
    with pytest.raises(ValueError, match="unknown"):
        SyntheticShapes(classes=("sphere", "blob"))


def test_shrec_and_modelnet_readers_on_real_files(shared_data):
    root = shared_data / "pointcloud"
    train = Shrec11(root / "shrec11", "train", num_points=512)
    assert len(train) == 480 and len(train.class_names) == 30
    points, label = train[0]
    assert points.shape == (512, 3) and 0 <= label < 30
    chair = read_modelnet_txt(root / "modelnet40_sample" / "chair" / "chair_0391.txt")
    assert chair.shape == (10000, 3) and np.abs(chair).max() < 1.0
    with pytest.raises(FileNotFoundError, match="no test.npz"):
        Shrec11(root, "test")


def test_idpt_prompt_depends_on_the_instance_and_vpt_deep_replaces_prompts():
    idpt = mp.get_prompt_model(
        tiny_backbone(), mp.get_config("idpt", num_classes=3, prompt_layer=1, k=4)
    )
    idpt.eval()
    seen = []
    handle = idpt.prompt_generator.register_forward_hook(lambda m, i, o: seen.append(o))
    idpt(torch.randn(2, 64, 3))
    handle.remove()
    assert seen[0].shape == (2, 1, 32) and not torch.allclose(seen[0][0], seen[0][1])
    with pytest.raises(ValueError, match="prompt_layer"):
        mp.get_prompt_model(tiny_backbone(), mp.get_config("idpt", num_classes=3, prompt_layer=2))
    deep = mp.get_prompt_model(
        tiny_backbone(), mp.get_config("vpt_deep", num_classes=3, num_prompts=2)
    )
    assert deep.prompts.shape == (2, 2, 32)  # one set per block
    with torch.no_grad():
        out = deep.encode(torch.randn(1, 64, 3))
    assert out.shape == (1, 1 + 8 + 2, 32)


def test_linear_probe_and_full_finetune_use_the_pooled_features():
    probe = mp.get_prompt_model(tiny_backbone(), mp.get_config("linear_probe", num_classes=4))
    assert probe.head[1].in_features == 64  # cls ‖ max over patches
    assert probe(torch.randn(3, 64, 3)).shape == (3, 4)
