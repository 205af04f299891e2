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


def test_each_block_is_the_frozen_block_with_its_deltas_and_serial_adapter():
    """Reference built from the frozen block's own modules (its attention, not re-derived):
    ``x1 = x + attn(norm1(x) + d.norm1) + d.proj``, ``h = fc2(act(fc1(norm2(x1) + d.norm2)
    + d.fc1)) + d.fc2``, out ``x1 + h + adapter_scale * serial(h)``."""
    model = _model(adapter_scale=0.5).eval()
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 7, model.backbone.config.trans_dim, generator=g)
    for i, block in enumerate(model.backbone.blocks.blocks):
        d = model.deltas[i]
        with torch.no_grad():
            for p in d.parameters():  # non-zero deltas (they start at zero)
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
        mlp = block.mlp
        x1 = x + block.attn(block.norm1(x) + d.norm1) + d.proj
        h = mlp.fc2(mlp.act(mlp.fc1(block.norm2(x1) + d.norm2) + d.fc1)) + d.fc2
        expected = x1 + h + 0.5 * model.serial_adapters[i](h)
        torch.testing.assert_close(model._block(i, x), expected)
        with torch.no_grad():
            for p in d.parameters():
                p.zero_()
        model.config.adapter_scale = 0.0
        torch.testing.assert_close(model._block(i, x), block(x))  # no deltas: the frozen block
        model.config.adapter_scale = 0.5


def test_geometry_adapter_adds_inverse_distance_propagated_local_features():
    """By hand per sample with plain indexing: max-pooled neighbourhoods after the group
    attention, plus ``center_coef`` times the sub-centre token, propagated to every token with
    weights proportional to ``1 / |c_g - c_s|^2`` and added with ``propagate_coef``."""
    model = _model(center_coef=0.3, propagate_coef=0.4).eval()
    g = torch.Generator().manual_seed(5)
    dim, num = model.backbone.config.trans_dim, 10
    tokens = torch.randn(2, num, dim, generator=g)
    centers = torch.randn(2, num, 3, generator=g)
    sub, neighbours, weights = model._geometry(centers.double())  # exact zeros at sub-centres
    for b in range(2):
        squared = ((centers[b][:, None] - centers[b][sub[b]][None]).double() ** 2).sum(-1)
        inverse = 1.0 / (squared + 1e-8)  # a token on a sub-centre takes (almost) all its weight
        torch.testing.assert_close(weights[b], inverse / inverse.sum(-1, keepdim=True))
    weights = weights.float()
    out = model._ga_adapter(0, tokens, (sub, neighbours, weights))
    for b in range(2):
        groups = tokens[b][neighbours[b]]  # (S, K, D)
        groups = groups + model.ga_attention(model.ga_norm(groups))
        local = torch.nn.functional.gelu(model.ga_pool_norms[0](groups.max(dim=1).values))
        local = local + 0.3 * tokens[b][sub[b]]
        torch.testing.assert_close(out[b], tokens[b] + 0.4 * weights[b] @ local)
