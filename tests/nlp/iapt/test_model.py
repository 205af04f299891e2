"""IAPT model: generation with/without cache, where tokens go, instruction-only reading, leakage
guard, save/load of the full generator state."""

from __future__ import annotations

import copy
import tempfile

import pytest
import torch

pytest.importorskip("transformers")

import modalprompt as mp  # noqa: E402
from modalprompt.core.model import PromptModel  # noqa: E402
from modalprompt.nlp.iapt.model import IaptModel  # noqa: E402
from modalprompt.nlp.tiny_models import tiny_bert_classifier, tiny_causal_lm  # noqa: E402

K = 4


@pytest.fixture(scope="module", autouse=True)
def _import_model_modules_once():
    """Importing the transformers model modules takes seconds once; pay it in the setup."""
    tiny_bert_classifier(), tiny_causal_lm("gpt2"), tiny_causal_lm("llama")


def _iapt(backbone, **overrides) -> IaptModel:
    config = mp.get_config("iapt", bottleneck=8, **overrides)
    model = mp.get_prompt_model(backbone, config).eval()
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():  # a trained-looking generator: the tokens matter
        for gen in model.generators:
            gen.up.weight.copy_(torch.randn(gen.up.weight.shape, generator=g))
    return model


def _batch(side: str, vocab: int = 64):
    """(3, 6) ids/mask; rows have 6, 4 and 2 real tokens (same texts for both sides)."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab, (3, 6), generator=g)
    mask = torch.ones_like(ids)
    for row, real in ((1, 4), (2, 2)):
        mask[row, real:], ids[row, real:] = 0, 0
        if side == "left":
            ids[row], mask[row] = ids[row].roll(6 - real), mask[row].roll(6 - real)
    return ids, mask


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_generate_with_cache_equals_without_and_runs_generators_once(arch):
    model = _iapt(tiny_causal_lm(arch))
    ids, mask = _batch("left")
    kw = {"max_new_tokens": 5, "do_sample": False, "pad_token_id": 0}
    cached = model.generate(ids, attention_mask=mask, use_cache=True, **kw)
    assert model.last_generator_runs == 1
    uncached = model.generate(ids, attention_mask=mask, use_cache=False, **kw)
    assert model.last_generator_runs == 5
    assert torch.equal(cached, uncached) and torch.equal(cached[:, :6], ids)
    with torch.no_grad():
        first = model(input_ids=ids, attention_mask=mask).logits[:, -1].argmax(-1)
    assert torch.equal(cached[:, 6], first)
    plain = model.backbone.generate(ids, attention_mask=mask, **kw)  # hooks inactive outside
    assert not torch.equal(plain, cached)


@pytest.mark.parametrize("insertion", ["auto", "replace", "add"])
def test_inserted_tokens_change_only_the_slot_positions(insertion):
    backbone = tiny_causal_lm("gpt2")
    model = _iapt(backbone, insertion=insertion)
    assert model.additive_insertion == (insertion != "replace")  # auto: add on a decoder
    ids, mask = _batch("left")
    seen: dict[str, list[torch.Tensor]] = {"before": [], "after": []}

    def recorder(key):
        def hook(module, args, kwargs):
            seen[key].append((args[0] if args else kwargs["hidden_states"]).clone())

        return hook

    handles = []
    for layer in backbone.transformer.h:
        handles.append(
            layer.register_forward_pre_hook(recorder("before"), with_kwargs=True, prepend=True)
        )
        handles.append(layer.register_forward_pre_hook(recorder("after"), with_kwargs=True))
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask)
    for h in handles:
        h.remove()
    slots = out.injected.virtual_mask
    assert slots.sum(1).tolist() == [K] * 3
    assert slots[1].nonzero().flatten().tolist() == [2, 3, 4, 5]  # right before the text
    for layer, (before, after) in enumerate(zip(seen["before"], seen["after"])):
        changed = (before != after).any(-1)
        assert torch.equal(changed, slots), layer
        real = out.injected.kwargs["attention_mask"].bool() & ~slots
        with torch.no_grad():
            expected = model.generators[layer](before, real)
        if model.additive_insertion:
            expected = expected + before[slots].view(3, K, -1)
        torch.testing.assert_close(after[slots].view(3, K, -1), expected)


def test_auto_insertion_replaces_on_encoders():
    model = mp.get_prompt_model(
        tiny_bert_classifier(), mp.get_config("iapt", bottleneck=8, task="classification")
    )
    assert not model.additive_insertion
    with pytest.raises(mp.ConfigError, match="insertion"):
        mp.get_config("iapt", insertion="prepend")


def test_left_padded_rows_equal_each_row_alone():
    model = _iapt(tiny_causal_lm("llama"))
    ids, mask = _batch("left")
    with torch.no_grad():
        logits = model.text_logits(model(input_ids=ids, attention_mask=mask))
        for row in range(3):
            real = mask[row].bool()
            alone = model.text_logits(model(input_ids=ids[row : row + 1, real]))
            torch.testing.assert_close(logits[row, real], alone[0], atol=1e-5, rtol=1e-5)


def test_generators_read_only_the_instruction_and_labels_on_it_are_refused():
    model = _iapt(tiny_causal_lm("gpt2"))
    ids = torch.randint(5, 64, (2, 8), generator=torch.Generator().manual_seed(1))
    instruction = torch.zeros_like(ids)
    instruction[:, :5] = 1
    other = ids.clone()
    other[:, 5:] = (other[:, 5:] + 7) % 59 + 5  # a different response
    with torch.no_grad():
        a = model.text_logits(model(input_ids=ids, instruction_mask=instruction))
        b = model.text_logits(model(input_ids=other, instruction_mask=instruction))
        c = model.text_logits(model(input_ids=other))  # the response now feeds the generators
    assert torch.equal(a[:, :5], b[:, :5])  # same instruction → same tokens → same prefix
    assert not torch.allclose(b[:, :5], c[:, :5])
    labels = ids.masked_fill(instruction.bool(), -100)
    loss = model.training_step(
        {"input_ids": ids, "instruction_mask": instruction, "labels": labels}
    )["loss"]
    assert torch.isfinite(loss)
    with pytest.raises(
        ValueError,
        match=r"^labels: a causal-LM loss on instruction tokens would leak the targets \(every "
        r"instruction token sees soft tokens generated from the whole instruction\); pass "
        r"instruction_mask \(1 on the instruction, 0 on the response\)$",
    ):
        model(input_ids=ids, labels=ids)
    with pytest.raises(ValueError, match="leak the targets.*-100"):
        model(input_ids=ids, labels=ids, instruction_mask=instruction)


@pytest.mark.parametrize("share", [False, True])
def test_save_load_round_trip_keeps_the_full_generator_state(share):
    backbone = tiny_bert_classifier(num_labels=3)
    model = _iapt(backbone, task="classification", share_projections=share)
    with torch.no_grad():
        for p in model.generators.parameters():
            p.add_(torch.randn_like(p) * 0.1)  # rationals, pooling, norms all moved
    ids, mask = _batch("right", backbone.config.vocab_size)
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=mask)
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        fresh = copy.deepcopy(tiny_bert_classifier(num_labels=3))
        reloaded = PromptModel.from_pretrained(fresh, tmp).eval()
    assert isinstance(reloaded, IaptModel)
    state, again = model.prompt_state_dict(), reloaded.prompt_state_dict()
    assert set(state) == set(again)
    assert any("activation.denominator" in k for k in state)
    assert any("pool_scores" in k for k in state) and any(k.startswith("head.") for k in state)
    for key in state:
        assert torch.equal(state[key], again[key]), key
    if share:
        assert reloaded.generators[0].down is reloaded.generators[1].down
    with torch.no_grad():
        assert torch.equal(reloaded(input_ids=ids, attention_mask=mask), expected)
    shared = model.num_parameters(trainable_only=True)
    assert (
        shared
        < _iapt(tiny_bert_classifier(), task="classification").num_parameters(trainable_only=True)
    ) == share


def test_unsupported_backbones_are_refused():
    from modalprompt.nlp.tiny_models import tiny_t5

    with pytest.raises(TypeError, match="encoder-only and decoder-only"):
        mp.get_prompt_model(tiny_t5(), mp.get_config("iapt"))


def test_a_deep_copy_inserts_its_own_tokens():
    model = _iapt(tiny_causal_lm("gpt2"))
    twin = copy.deepcopy(model)
    ids, mask = _batch("right")
    with torch.no_grad():
        before = model(input_ids=ids, attention_mask=mask).logits
        assert torch.equal(twin(input_ids=ids, attention_mask=mask).logits, before)
        for gen in twin.generators:
            gen.up.weight.mul_(3.0)
        changed = twin(input_ids=ids, attention_mask=mask).logits
        assert torch.equal(model(input_ids=ids, attention_mask=mask).logits, before)
    assert not torch.allclose(changed, before)
    twin.remove_hooks()
    with torch.no_grad():
        plain = twin(input_ids=ids, attention_mask=mask).logits  # zero slots, nothing inserted
    assert not torch.allclose(plain, changed)
