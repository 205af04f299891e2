"""EPT model: equals prompt tuning with its rendered prompt, offset alignment, fixed length,
budget sizing, two learning rates, generation."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")

import modalprompt as mp  # noqa: E402
from modalprompt.core.optim import build_optimizer  # noqa: E402
from modalprompt.core.training_args import TrainingArguments  # noqa: E402
from modalprompt.nlp.ept.config import EptConfig  # noqa: E402
from modalprompt.nlp.ept.model import EptModel  # noqa: E402
from modalprompt.nlp.ept.prompt import ept_parameter_count  # noqa: E402
from modalprompt.nlp.tiny_models import tiny_bert, tiny_bert_classifier, tiny_causal_lm  # noqa: E402

S, M = 6, 3


def _ept(backbone, **overrides) -> EptModel:
    fields = {"num_virtual_tokens": M, "max_length": S, "rank": 2, "space_rank": 4, **overrides}
    return mp.get_prompt_model(backbone, mp.get_config("ept", **fields)).eval()


def _scramble(model: EptModel, zero_offset: bool) -> None:
    """Random values in every EPT part (so fusion and projection do something)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.ept.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        if zero_offset:
            model.ept.lora_b.zero_()


def _batch(side: str, vocab: int):
    """(3, S) ids/mask; rows have S, 4 and 2 real tokens (the same texts for both sides)."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab, (3, S), generator=g)
    mask = torch.ones_like(ids)
    for row, real in ((1, 4), (2, 2)):
        mask[row, real:], ids[row, real:] = 0, 0
        if side == "left":
            ids[row], mask[row] = ids[row].roll(S - real), mask[row].roll(S - real)
    return ids, mask


@pytest.fixture(scope="module", autouse=True)
def _import_model_modules_once():
    """Importing the transformers model modules takes seconds once; pay it in the setup."""
    tiny_bert_classifier(), tiny_bert(), tiny_causal_lm("gpt2"), tiny_causal_lm("llama")


def _pt_with(backbone, prompt: torch.Tensor, **overrides):
    config = mp.get_config("prompt_tuning", num_virtual_tokens=prompt.size(0), **overrides)
    pt = mp.get_prompt_model(backbone, config).eval()
    with torch.no_grad():
        pt.prompt_embeddings.copy_(prompt)
    return pt


@pytest.mark.parametrize("side", ["right", "left"])
def test_zero_offset_equals_prompt_tuning_with_the_fused_prompt_bert(side):
    backbone = tiny_bert_classifier(num_labels=3)
    ept = _ept(backbone, task="classification", init="vocab")
    _scramble(ept, zero_offset=True)
    with torch.no_grad():
        prompt = ept.get_prompt()
    assert not torch.allclose(prompt, ept.prompt_embeddings)  # projection changed it
    pt = _pt_with(backbone, prompt, task="classification")
    with torch.no_grad():
        pt.head.load_state_dict(ept.head.state_dict())
    ids, mask = _batch(side, backbone.config.vocab_size)
    with torch.no_grad():
        assert torch.equal(ept(input_ids=ids, attention_mask=mask), pt(ids, attention_mask=mask))


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_zero_offset_equals_prompt_tuning_causal_lm(arch):
    backbone = tiny_causal_lm(arch)
    ept = _ept(backbone)
    _scramble(ept, zero_offset=True)
    ids, mask = _batch("left", 64)
    labels = ids.masked_fill(mask == 0, -100)
    with torch.no_grad():
        pt = _pt_with(backbone, ept.get_prompt())
        ours = ept(input_ids=ids, attention_mask=mask, labels=labels)
        ref = pt(input_ids=ids, attention_mask=mask, labels=labels)
    assert torch.equal(ours.logits, ref.logits) and torch.equal(ours.loss, ref.loss)


def test_offset_rows_follow_the_real_tokens_for_both_padding_sides():
    """Row j of ``c·A B`` goes to the j-th real token: a manual sum through prompt tuning's
    ``inputs_embeds`` gives the same output, and left/right padding of the same texts agree."""
    backbone = tiny_causal_lm("gpt2")
    ept = _ept(backbone)
    _scramble(ept, zero_offset=False)
    outs = {}
    for side in ("right", "left"):
        ids, mask = _batch(side, 64)
        with torch.no_grad():
            offset = ept.get_offset()
            embeds = backbone.get_input_embeddings()(ids)
            for row in range(3):
                real = mask[row].nonzero().flatten()
                embeds[row, real] += offset[: len(real)]
            pt = _pt_with(backbone, ept.get_prompt())
            ref = pt.text_logits(pt(inputs_embeds=embeds, attention_mask=mask))
            out = ept.text_logits(ept(input_ids=ids, attention_mask=mask))
        assert torch.equal(out, ref)
        outs[side] = [out[r, mask[r].bool()] for r in range(3)]
    for right, left in zip(outs["right"], outs["left"]):
        torch.testing.assert_close(right, left, atol=1e-5, rtol=1e-5)
    assert ept.get_offset().abs().sum() > 0


def test_inputs_of_the_wrong_length_are_refused():
    ept = _ept(tiny_causal_lm("gpt2"))
    ids = torch.randint(5, 64, (2, S - 1))
    with pytest.raises(ValueError, match=r"input_ids: input length 5 != max_length 6.*padding="):
        ept(input_ids=ids)
    with pytest.raises(ValueError, match="max_length"):
        ept.generate(torch.randint(5, 64, (2, S + 1)), max_new_tokens=2)


def test_budget_helper_matches_vanilla_prompt_tuning():
    assert EptConfig.for_budget(768, 100, num_virtual_tokens=60, count_extras=False).rank == 30
    assert EptConfig.for_budget(768, 100, num_virtual_tokens=40, count_extras=False).rank == 45
    config = EptConfig.for_budget(32, 80, num_virtual_tokens=4, max_length=S, space_rank=4)
    model = mp.get_prompt_model(tiny_bert(), config)
    trainable = model.num_parameters(trainable_only=True)
    budget = 80 * 32
    assert trainable == ept_parameter_count(32, 4, S, config.rank, 4, 4)
    assert budget - (S + 32) < trainable <= budget
    with pytest.raises(ValueError, match="budget_tokens"):
        EptConfig.for_budget(32, 5, num_virtual_tokens=4, max_length=S)


def test_two_learning_rates():
    model = _ept(tiny_bert_classifier(), task="classification", low_rank_lr_scale=0.01)
    optimizer = build_optimizer(model.param_groups(), TrainingArguments(lr=0.3))
    lrs = {g["name"]: g["lr"] for g in optimizer.param_groups}
    assert lrs == pytest.approx({"prompt": 0.3, "low_rank": 0.003, "head": 0.3})
    grouped = sum(p.numel() for g in optimizer.param_groups for p in g["params"])
    assert grouped == model.num_parameters(trainable_only=True)


def test_generate_with_and_without_cache_and_matches_forward():
    backbone = tiny_causal_lm("llama")
    ept = _ept(backbone)
    _scramble(ept, zero_offset=False)
    ids, mask = _batch("left", 64)
    kw = {"max_new_tokens": 4, "do_sample": False, "pad_token_id": 0}
    cached = ept.generate(ids, attention_mask=mask, use_cache=True, **kw)
    uncached = ept.generate(ids, attention_mask=mask, use_cache=False, **kw)
    assert torch.equal(cached, uncached) and torch.equal(cached[:, :S], ids)
    with torch.no_grad():
        first = ept(input_ids=ids, attention_mask=mask).logits[:, -1].argmax(-1)
    assert torch.equal(cached[:, S], first)


def test_t5_zero_offset_equals_prompt_tuning_and_generates():
    from modalprompt.nlp.tiny_models import tiny_t5

    backbone = tiny_t5()
    ept = _ept(backbone)
    _scramble(ept, zero_offset=True)
    ids, mask = _batch("right", 64)
    labels = torch.randint(5, 64, (3, 4), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        pt = _pt_with(backbone, ept.get_prompt())
        ours = ept(input_ids=ids, attention_mask=mask, labels=labels)
        ref = pt(input_ids=ids, attention_mask=mask, labels=labels)
    assert torch.equal(ours.logits, ref.logits)
    kw = {"max_new_tokens": 3, "do_sample": False}
    assert torch.equal(ept.generate(ids, mask, **kw), pt.generate(ids, mask, **kw))


def test_from_peft_explains_that_peft_has_no_ept_adapters(tmp_path):
    from modalprompt.nlp.ept.model import EptModel

    with pytest.raises(NotImplementedError, match=r"^EptModel.from_peft: PEFT has no EPT adapters"):
        EptModel.from_peft(torch.nn.Linear(2, 2), tmp_path)


def test_the_config_reaches_the_transform_and_the_prompt_repeats_per_row():
    model = _ept(tiny_causal_lm("gpt2"), lora_alpha=3.0, rank=4, projection=False)
    assert model.ept.scaling == pytest.approx(3.0 / 2.0)  # alpha / sqrt(rank)
    assert model.ept.projection is False
    on = _ept(tiny_causal_lm("gpt2"), rank=4)
    assert on.ept.projection is True and on.ept.scaling == pytest.approx(8.0 / 2.0)
    prompt = model.get_prompt()
    assert prompt.shape == (M, model.prompt_embeddings.size(-1))
    batched = model.get_prompt(batch_size=3)
    assert batched.shape == (3, *prompt.shape)
    assert all(torch.equal(row, prompt) for row in batched)
