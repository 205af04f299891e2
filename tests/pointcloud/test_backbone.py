import pytest
import torch

import modalprompt as mp
from modalprompt.pointcloud.backbones import (
    PointTransformer,
    PointTransformerConfig,
    load_official_checkpoint,
)
from modalprompt.pointcloud.datasets import SyntheticShapes
from modalprompt.pointcloud.pretrain.chamfer import chamfer_distance
from modalprompt.pointcloud.pretrain.point_mae import pretrain_point_mae

TINY = dict(trans_dim=32, depth=2, num_heads=2, encoder_dims=32, num_group=8, group_size=8)


def test_paper_size_parameter_count_and_official_names():
    model = PointTransformer()
    assert sum(p.numel() for p in model.parameters()) == 21_825_792  # Point-MAE without its head
    names = set(model.state_dict())
    for name in (
        "encoder.first_conv.0.weight",
        "encoder.first_conv.1.running_mean",
        "encoder.second_conv.3.weight",
        "pos_embed.2.weight",
        "cls_token",
        "cls_pos",
        "blocks.blocks.11.attn.qkv.weight",
        "blocks.blocks.0.mlp.fc2.bias",
        "norm.weight",
    ):
        assert name in names
    assert "blocks.blocks.0.attn.qkv.bias" not in names  # qkv_bias=False, as the official


def _official_pretrain_state(source: PointTransformer) -> dict:
    """What Point-MAE's pretrain.pth holds: MAE_encoder.* (no cls), plus decoder tensors."""
    state = {
        f"module.MAE_encoder.{k}": v.clone()
        for k, v in source.state_dict().items()
        if not k.startswith("cls_")
    }
    state["module.MAE_decoder.blocks.0.norm1.weight"] = torch.ones(32)
    state["module.mask_token"] = torch.zeros(1, 1, 32)
    return state


def test_official_point_mae_checkpoint_loads_through_one_mapping(tmp_path):
    source = PointTransformer(PointTransformerConfig(**TINY))
    path = tmp_path / "pretrain.pth"
    torch.save({"base_model": _official_pretrain_state(source), "epoch": 300}, path)
    target = PointTransformer(PointTransformerConfig(**TINY))
    report = load_official_checkpoint(target, path)
    assert report["missing"] == ["cls_pos", "cls_token"]
    assert (
        "MAE_decoder.blocks.0.norm1.weight" in report["ignored"]
        and "mask_token" in report["ignored"]
    )
    for key, value in source.state_dict().items():
        if not key.startswith("cls_"):
            assert torch.equal(target.state_dict()[key], value), key


def test_point_bert_names_and_reduce_dim(tmp_path):
    config = PointTransformerConfig(**{**TINY, "encoder_dims": 16})
    source = PointTransformer(config)
    assert source.state_dict()["reduce_dim.weight"].shape == (32, 16)
    state = {f"transformer_q.{k}": v for k, v in source.state_dict().items()}
    state["transformer_k.cls_token"] = torch.zeros(1)
    target = PointTransformer(config)
    report = load_official_checkpoint(target, {"base_model": state}["base_model"])
    assert report["missing"] == [] and report["ignored"] == ["transformer_k.cls_token"]
    points = torch.randn(2, 64, 3)
    torch.testing.assert_close(source.eval()(points), target.eval()(points))


def test_wrong_sizes_are_explained(tmp_path):
    source = PointTransformer(PointTransformerConfig(**TINY))
    target = PointTransformer(PointTransformerConfig(**{**TINY, "depth": 3}))
    with pytest.raises(ValueError, match=r"missing \['blocks.blocks.2"):
        load_official_checkpoint(target, source.state_dict())
    wide = PointTransformer(PointTransformerConfig(**{**TINY, "trans_dim": 64, "encoder_dims": 64}))
    with pytest.raises(ValueError, match="shape mismatches"):
        load_official_checkpoint(wide, source.state_dict())
    with pytest.raises(FileNotFoundError):
        load_official_checkpoint(target, tmp_path / "none.pth")


def test_chamfer_distance_by_hand():
    a = torch.tensor([[[0.0, 0, 0], [1, 0, 0]]])
    b = torch.tensor([[[0.0, 0, 0], [0, 2, 0], [1, 0, 1]]])
    # a->b: 0, 1 ; b->a: 0, 4, 1
    assert chamfer_distance(a, b).item() == pytest.approx(0.5 + 5 / 3)
    assert chamfer_distance(a, a).item() == 0.0


def test_point_mae_pretraining_lowers_the_loss_and_writes_a_loadable_checkpoint(tmp_path):
    encoder = PointTransformer(PointTransformerConfig(**TINY))
    data = SyntheticShapes(32, num_points=128, seed=0)
    result = pretrain_point_mae(
        encoder, data, epochs=6, batch_size=8, lr=2e-3, output=tmp_path / "enc.safetensors"
    )
    assert result.losses[-1] < result.losses[0] * 0.8
    fresh = PointTransformer(PointTransformerConfig(**TINY))
    assert load_official_checkpoint(fresh, result.checkpoint)["missing"] == []
    points = torch.randn(2, 128, 3)
    torch.testing.assert_close(fresh.eval()(points), encoder.eval()(points))
    assert (tmp_path / "enc.json").is_file()


@pytest.mark.parametrize(("method", "trainable"), [("idpt", 1_696_783), ("point_peft", 710_719)])
def test_paper_size_trainable_budgets(method, trainable):
    """IDPT: the paper's 1.7M (7.7%); Point-PEFT: 0.7M, the official set without unused blocks."""
    model = mp.get_prompt_model(PointTransformer(), mp.get_config(method, num_classes=15))
    counted = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    assert counted == trainable
    assert 0.07 < counted / total < 0.08 if method == "idpt" else 0.03 < counted / total < 0.035
