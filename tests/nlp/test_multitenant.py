"""Mixed-tenant batches: each row equals its tenant (prompt tuning / EPT / none) run alone."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")

import modalprompt as mp  # noqa: E402
from modalprompt.nlp.multitenant import MultiTenantPromptModel  # noqa: E402
from modalprompt.nlp.tiny_models import tiny_bert_classifier, tiny_causal_lm, tiny_t5  # noqa: E402

L = 6
NAMES = ["pt4", "ept", "pt2", "pt4", "__base__", "ept"]


@pytest.fixture(scope="module", autouse=True)
def _import_model_modules_once():
    tiny_bert_classifier(), tiny_causal_lm("gpt2"), tiny_causal_lm("llama")


def _tenants(backbone, **common):
    g = torch.Generator().manual_seed(5)
    tenants = {
        "pt4": mp.get_prompt_model(
            backbone, mp.get_config("prompt_tuning", num_virtual_tokens=4, seed=1, **common)
        ),
        "pt2": mp.get_prompt_model(
            backbone, mp.get_config("prompt_tuning", num_virtual_tokens=2, seed=2, **common)
        ),
        "ept": mp.get_prompt_model(
            backbone,
            mp.get_config(
                "ept", num_virtual_tokens=3, max_length=L, rank=2, space_rank=4, **common
            ),
        ),
    }
    with torch.no_grad():  # trained-looking: offsets, projections and heads all differ
        for p in tenants["ept"].ept.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        for model in tenants.values():
            if model.head is not None:
                for p in model.head.parameters():
                    p.add_(torch.randn(p.shape, generator=g))
    return {k: v.eval() for k, v in tenants.items()}


def _batch(side: str, vocab: int):
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab, (len(NAMES), L), generator=g)
    mask = torch.ones_like(ids)
    for row, real in ((1, 4), (2, 2), (4, 3), (5, 5)):
        mask[row, real:], ids[row, real:] = 0, 0
        if side == "left":
            ids[row], mask[row] = ids[row].roll(L - real), mask[row].roll(L - real)
    return ids, mask


def _assert_rows_equal_tenants_alone(logits, backbone, tenants, names, ids, mask):
    """Row ``r`` of the mixed batch's real-token logits equals tenant ``names[r]`` run alone
    (``__base__``: the backbone alone, unpadded)."""
    for row, name in enumerate(names):
        real = mask[row].bool()
        if name == "__base__":
            alone = backbone(ids[row : row + 1, real]).logits[0]
        else:
            model = tenants[name]
            out = model(input_ids=ids[row : row + 1], attention_mask=mask[row : row + 1])
            alone = model.text_logits(out)[0, real]
        torch.testing.assert_close(logits[row, real], alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_mixed_lm_batch_equals_each_tenant_alone(arch):
    backbone = tiny_causal_lm(arch)
    tenants = _tenants(backbone)
    server = MultiTenantPromptModel(tenants)
    ids, mask = _batch("left", 64)
    with torch.no_grad():
        logits = server.text_logits(server(ids, NAMES, attention_mask=mask))
        _assert_rows_equal_tenants_alone(logits, backbone, tenants, NAMES, ids, mask)


def test_mixed_classification_batch_uses_each_tenants_prompt_and_head():
    backbone = tiny_bert_classifier(num_labels=3)
    tenants = _tenants(backbone, task="classification")
    server = MultiTenantPromptModel(tenants)
    names = [n if n != "__base__" else "pt2" for n in NAMES]
    ids, mask = _batch("right", backbone.config.vocab_size)
    with torch.no_grad():
        logits = server(ids, names, attention_mask=mask, token_type_ids=torch.zeros_like(ids))
        for row, name in enumerate(names):
            alone = tenants[name](input_ids=ids[row : row + 1], attention_mask=mask[row : row + 1])
            torch.testing.assert_close(logits[row], alone[0], atol=1e-5, rtol=1e-5)
        same = server(ids, ["pt4"] * len(names), attention_mask=mask)
    assert not torch.allclose(logits, same, atol=1e-3)


def test_mixed_generation_equals_each_tenant_alone():
    backbone = tiny_causal_lm("gpt2")
    tenants = _tenants(backbone)
    server = MultiTenantPromptModel(tenants)
    ids, mask = _batch("left", 64)
    kw = {"max_new_tokens": 4, "do_sample": False, "pad_token_id": 0}
    for use_cache in (True, False):
        tokens = server.generate(ids, NAMES, attention_mask=mask, use_cache=use_cache, **kw)
        for row, name in enumerate(NAMES):
            if name == "__base__":
                real = mask[row].bool()
                alone = backbone.generate(ids[row : row + 1, real], **kw)[0, real.sum() :]
            else:
                alone = tenants[name].generate(
                    ids[row : row + 1], attention_mask=mask[row : row + 1], **kw
                )[0, L:]
            assert torch.equal(tokens[row, L:], alone), (row, name, use_cache)


def test_bad_tenants_and_names_are_refused():
    backbone = tiny_causal_lm("gpt2")
    tenants = _tenants(backbone)
    server = MultiTenantPromptModel(tenants)
    ids = torch.randint(5, 64, (2, L))
    with pytest.raises(ValueError, match="unknown tenants \\['nope'\\]"):
        server(ids, ["pt4", "nope"])
    with pytest.raises(ValueError, match="2 names for a batch of 3"):
        server(torch.randint(5, 64, (3, L)), ["pt4", "pt2"])
    with pytest.raises(ValueError, match="tenant 'ept'.*max_length"):
        server(torch.randint(5, 64, (2, L - 1)), ["ept", "pt2"])
    other = mp.get_prompt_model(tiny_causal_lm("gpt2"), mp.get_config("prompt_tuning"))
    with pytest.raises(ValueError, match="different backbone"):
        MultiTenantPromptModel({**tenants, "other": other})
    t5 = tiny_t5()
    t5_tenants = {
        f"n{n}": mp.get_prompt_model(t5, mp.get_config("prompt_tuning", num_virtual_tokens=n))
        for n in (2, 3)
    }
    with pytest.raises(ValueError, match="group rows by prompt length"):
        MultiTenantPromptModel(t5_tenants)(
            ids, ["n2", "n3"], decoder_input_ids=torch.zeros(2, 1, dtype=torch.long)
        )


def test_mixed_prompt_lengths_on_roberta_keep_its_position_offset():
    from modalprompt.nlp.tiny_models import tiny_roberta

    backbone = tiny_roberta(vocab_size=64)
    tenants = {
        f"n{n}": mp.get_prompt_model(
            backbone, mp.get_config("prompt_tuning", num_virtual_tokens=n, seed=n)
        ).eval()
        for n in (2, 5)
    }
    server = MultiTenantPromptModel(tenants)
    ids, mask = _batch("right", 64)
    ids = ids[:3].masked_fill(mask[:3] == 0, 1)  # RoBERTa's pad id is 1
    mask, names = mask[:3], ["n2", "n5", "n2"]
    with torch.no_grad():
        logits = server.text_logits(server(ids, names, attention_mask=mask))
        for row, name in enumerate(names):
            model, real = tenants[name], mask[row].bool()
            out = model(input_ids=ids[row : row + 1], attention_mask=mask[row : row + 1])
            alone = model.text_logits(out)[0, real]
            torch.testing.assert_close(logits[row, real], alone, atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------------- IAPT tenants
IAPT_NAMES = ["iapt", "pt4", "__base__", "iapt2", "ept", "iapt"]


def _with_iapt(backbone, **common):
    """The prompt-tuning / EPT tenants plus two IAPT tenants (3 and 5 tokens) whose generators
    write clearly non-zero tokens."""
    tenants = _tenants(backbone, **common)
    g = torch.Generator().manual_seed(7)
    for name, k, seed in (("iapt", 3, 1), ("iapt2", 5, 2)):
        model = mp.get_prompt_model(
            backbone, mp.get_config("iapt", num_tokens=k, bottleneck=4, seed=seed, **common)
        )
        with torch.no_grad():
            for generator in model.generators:
                generator.up.weight.copy_(torch.randn(generator.up.weight.shape, generator=g))
            if model.head is not None:
                for p in model.head.parameters():
                    p.add_(torch.randn(p.shape, generator=g))
        tenants[name] = model.eval()
    return tenants


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_iapt_rows_in_a_mixed_lm_batch_equal_each_tenant_alone(arch):
    backbone = tiny_causal_lm(arch)
    tenants = _with_iapt(backbone)
    server = MultiTenantPromptModel(tenants)
    ids, mask = _batch("left", 64)
    with torch.no_grad():
        logits = server.text_logits(server(ids, IAPT_NAMES, attention_mask=mask))
        _assert_rows_equal_tenants_alone(logits, backbone, tenants, IAPT_NAMES, ids, mask)
        # the generators matter: without its tenant's tokens the row changes
        other = server.text_logits(server(ids, ["pt4"] * len(IAPT_NAMES), attention_mask=mask))
    assert not torch.allclose(logits[0, mask[0].bool()], other[0, mask[0].bool()], atol=1e-3)


def test_iapt_rows_in_a_mixed_classification_batch_use_their_generators_and_head():
    backbone = tiny_bert_classifier(num_labels=3)
    tenants = _with_iapt(backbone, task="classification")
    server = MultiTenantPromptModel(tenants)
    names = [n if n != "__base__" else "pt2" for n in IAPT_NAMES]
    ids, mask = _batch("right", backbone.config.vocab_size)
    with torch.no_grad():
        logits = server(ids, names, attention_mask=mask, token_type_ids=torch.zeros_like(ids))
        for row, name in enumerate(names):
            alone = tenants[name](input_ids=ids[row : row + 1], attention_mask=mask[row : row + 1])
            torch.testing.assert_close(logits[row], alone[0], atol=1e-5, rtol=1e-5)


def test_iapt_rows_in_mixed_generation_equal_each_tenant_alone_with_and_without_cache():
    backbone = tiny_causal_lm("llama")
    tenants = _with_iapt(backbone)
    server = MultiTenantPromptModel(tenants)
    ids, mask = _batch("left", 64)
    kw = {"max_new_tokens": 4, "do_sample": False, "pad_token_id": 0}
    runs = {}
    for use_cache in (True, False):
        tokens = server.generate(ids, IAPT_NAMES, attention_mask=mask, use_cache=use_cache, **kw)
        for row, name in enumerate(IAPT_NAMES):
            if name == "__base__":
                real = mask[row].bool()
                alone = backbone.generate(ids[row : row + 1, real], **kw)[0, real.sum() :]
            else:
                alone = tenants[name].generate(
                    ids[row : row + 1], attention_mask=mask[row : row + 1], **kw
                )[0, L:]
            new = tokens[row, L:]  # a row alone stops at <eos>; in the batch it is then padded
            assert torch.equal(new[: alone.numel()], alone), (row, name, use_cache)
            assert bool((new[alone.numel() :] == 0).all()), (row, name, use_cache)
        runs[use_cache] = tokens
    assert torch.equal(runs[True], runs[False])


def test_iapt_tenant_generators_run_once_with_the_cache():
    from modalprompt.nlp.iapt import layers

    backbone = tiny_causal_lm("gpt2")
    tenants = _with_iapt(backbone)
    server = MultiTenantPromptModel(tenants)
    ids, mask = _batch("left", 64)
    calls = []
    original = layers.Insertion.masks_for

    def counting(self, hidden):
        masks = original(self, hidden)
        calls.append(masks is not None)
        return masks

    layers.Insertion.masks_for = counting
    try:
        server.generate(ids, IAPT_NAMES, attention_mask=mask, max_new_tokens=5, pad_token_id=0)
    finally:
        layers.Insertion.masks_for = original
    layers_count = backbone.config.num_hidden_layers
    assert sum(calls) == 2 * layers_count  # two IAPT tenants, prefill only
