import pytest
import torch

import modalprompt as mp
from modalprompt.pointcloud.testing import tiny_backbone


def _model(**overrides):
    base = dict(
        num_classes=3,
        prompt_layers=1,
        top_k=2,
        num_prompts=4,
        ga_groups=4,
        ga_group_size=3,
        ga_heads=2,
    )
    torch.manual_seed(0)
    return mp.get_prompt_model(
        tiny_backbone(), mp.get_config("point_peft", **{**base, **overrides})
    )


def test_samples_never_see_each_others_neighbourhoods():
    model = _model().eval()
    points = torch.randn(3, 64, 3)
    out = model(points)
    changed = points.clone()
    changed[1:] = torch.randn(2, 64, 3) * 3  # the official first blocks would leak these into row 0
    torch.testing.assert_close(model(changed)[0], out[0])


def test_memory_bank_retrieval_is_parameter_free_attention():
    model = _model().eval()
    data = [(torch.randn(64, 3), 0) for _ in range(6)]
    bank = model.build_memory_bank(data, batch_size=4)
    assert bank.shape == (6, 32)
    torch.testing.assert_close(bank.norm(dim=-1), torch.ones(6))
    points = torch.randn(2, 64, 3)
    prompt = model.bank_prompt(points)
    q = model.query_features(points)
    sims = torch.nn.functional.normalize(q, dim=-1) @ bank.T
    top, idx = sims.topk(2)
    torch.testing.assert_close(prompt[:, 0], q)
    torch.testing.assert_close(prompt[:, 2:], bank[idx])
    torch.testing.assert_close(
        prompt[:, 1], (torch.softmax(top, -1).unsqueeze(1) @ bank[idx])[:, 0]
    )
    assert "memory_bank" in model.prompt_state_dict()  # saved with the prompt


def test_save_and_reload_with_a_bank(tmp_path):
    model = _model().eval()
    model.build_memory_bank([(torch.randn(64, 3), 0) for _ in range(5)])
    model.save_pretrained(tmp_path / "peft")
    again = mp.PromptModel.from_pretrained(model.backbone, tmp_path / "peft")
    points = torch.randn(2, 64, 3)
    assert torch.equal(again.memory_bank, model.memory_bank)
    assert torch.equal(again(points), model(points))


def test_bias_deltas_start_at_zero_and_config_checks():
    model = _model()
    assert all(float(p.detach().abs().sum()) == 0 for p in model.deltas.parameters())
    with pytest.raises(ValueError, match="top_k \\+ 2"):
        mp.get_config("point_peft", top_k=8, num_prompts=9)
    with pytest.raises(ValueError, match="ga_groups"):
        _model(ga_groups=9)
