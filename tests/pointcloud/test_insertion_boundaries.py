"""Point-cloud switches at their boundaries: Point-PEFT's bank of exactly ``top_k`` features and
IDPT's insertion block (issue 22)."""

from __future__ import annotations

import pytest
import torch

import modalprompt as mp
from modalprompt.pointcloud.testing import tiny_backbone

DEPTH, GROUPS = 2, 8  # tiny_backbone: 2 blocks over 8 patches


def _peft(top_k=2):
    torch.manual_seed(0)
    config = mp.get_config(
        "point_peft",
        num_classes=3,
        prompt_layers=1,
        top_k=top_k,
        num_prompts=top_k + 2,
        ga_groups=4,
        ga_group_size=3,
        ga_heads=2,
    )
    return mp.get_prompt_model(tiny_backbone(), config).eval()


def test_a_bank_of_exactly_top_k_features_is_used():
    """Guards ``<`` vs ``<=`` in the fallback: a bank holding exactly ``top_k`` rows retrieves
    all of them (ordered by similarity), one row fewer falls back to the query repeated."""
    model = _peft(top_k=2)
    points = torch.randn(2, 64, 3, generator=torch.Generator().manual_seed(0))
    q = model.query_features(points)
    model.build_memory_bank([(torch.randn(64, 3), 0) for _ in range(2)])
    bank = model.memory_bank
    prompt = model.bank_prompt(points)
    sims = torch.nn.functional.normalize(q, dim=-1) @ bank.T
    order = sims.argsort(dim=-1, descending=True)
    torch.testing.assert_close(prompt[:, 2:], bank[order])
    weights = torch.softmax(sims.gather(1, order), -1)
    torch.testing.assert_close(prompt[:, 1], (weights.unsqueeze(1) @ bank[order])[:, 0])
    assert not torch.allclose(prompt[:, 2], q)

    model.memory_bank = bank[:1]  # top_k - 1 rows: not enough to retrieve from
    torch.testing.assert_close(model.bank_prompt(points), q.unsqueeze(1).expand(-1, 4, -1))


def _idpt(prompt_layer):
    torch.manual_seed(0)
    config = mp.get_config("idpt", num_classes=3, prompt_layer=prompt_layer, k=4)
    return mp.get_prompt_model(tiny_backbone(), config).eval()


@pytest.mark.parametrize("prompt_layer", [0, 1])
def test_idpt_inserts_its_prompt_before_block_prompt_layer(prompt_layer):
    """Guards the insertion block: blocks before ``prompt_layer`` see cls + patches, the rest
    cls + prompt + patches; the generator reads the patches that left block
    ``prompt_layer - 1`` (the raw tokens for 0) and its token sits right after cls."""
    model = _idpt(prompt_layer)
    blocks = model.backbone.blocks.blocks
    seen, produced = {}, []
    hooks = [
        block.register_forward_pre_hook(lambda m, args, i=i: seen.setdefault(i, args[0]))
        for i, block in enumerate(blocks)
    ]
    hooks.append(
        model.prompt_generator.register_forward_pre_hook(lambda m, a: produced.append(a[0]))
    )
    hooks.append(model.prompt_generator.register_forward_hook(lambda m, a, o: produced.append(o)))
    points = torch.randn(2, 64, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        model(points)
    for hook in hooks:
        hook.remove()
    lengths = [seen[i].size(1) for i in range(DEPTH)]
    assert lengths == [1 + GROUPS] * prompt_layer + [2 + GROUPS] * (DEPTH - prompt_layer)
    generator_input, prompt = produced
    assert generator_input.shape == (2, GROUPS, 32)
    # block prompt_layer's input is x + pos: the prompt token (index 1) carries prompt_pos
    torch.testing.assert_close(seen[prompt_layer][:, 1:2], prompt + model.prompt_pos)
    if prompt_layer > 0:  # the generator reads the output of the previous block
        previous = blocks[prompt_layer - 1]
        with torch.no_grad():
            out = previous(seen[prompt_layer - 1])
        torch.testing.assert_close(generator_input, out[:, 1:])


def test_idpt_prompt_layer_must_be_below_the_depth():
    _idpt(DEPTH - 1)  # the last block: allowed
    with pytest.raises(ValueError, match="prompt_layer"):
        _idpt(DEPTH)
