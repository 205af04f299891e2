"""Virtual-token injection: encoders, decoders (both padding sides), seq2seq, generation, errors."""

from __future__ import annotations

import functools
import re

import pytest
import torch
from torch import nn

pytest.importorskip("transformers")

from modalprompt.nlp import tiny_models as testing  # noqa: E402
from modalprompt.nlp.injection import (  # noqa: E402
    architecture_kind,
    generate_with_prompt,
    inject_prompt,
    position_limit,
)
from modalprompt.nlp.tiny_models import TINY_CAUSAL_ARCHS  # noqa: E402

N = 3  # virtual tokens

# Injection never modifies a backbone, so each tiny model is built once per module.
tiny_bert = functools.cache(testing.tiny_bert)
tiny_roberta = functools.cache(testing.tiny_roberta)
tiny_causal_lm = functools.cache(testing.tiny_causal_lm)
tiny_t5 = functools.cache(testing.tiny_t5)


@pytest.fixture(scope="module", autouse=True)
def _build_models_once():
    """Importing the transformers model modules takes seconds once; pay it in the setup."""
    for build in (tiny_bert, tiny_roberta, tiny_t5):
        build()
    for arch in TINY_CAUSAL_ARCHS:
        tiny_causal_lm(arch)


def _batch(side: str, vocab: int = 64, pad: int = 0, seed: int = 0):
    """(3, 6) ids and mask; rows have 6, 4 and 2 real tokens, padded on ``side``."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (3, 6), generator=g)
    mask = torch.ones_like(ids)
    for row, real in ((1, 4), (2, 2)):
        pad_slice = slice(0, 6 - real) if side == "left" else slice(real, 6)
        mask[row, pad_slice] = 0
        ids[row, pad_slice] = pad
    return ids, mask


def _prompt(hidden: int = 32, seed: int = 1) -> torch.Tensor:
    return torch.randn(N, hidden, generator=torch.Generator().manual_seed(seed)) * 0.5


# ----------------------------------------------------------------------------- encoders
@pytest.mark.parametrize("builder", [tiny_bert, tiny_roberta], ids=["bert", "roberta"])
def test_encoder_matches_peft_construction(builder):
    """Encoders: prompt first, mask ones, token types zeros, default positions (PEFT's recipe)."""
    model = builder()
    vocab = model.config.vocab_size
    ids, mask = _batch("right", vocab=vocab, pad=model.config.pad_token_id)
    types = torch.ones_like(ids)
    labels = ids.masked_fill(mask == 0, -100)
    prompt = _prompt()
    injected = inject_prompt(
        model, prompt, input_ids=ids, attention_mask=mask, token_type_ids=types, labels=labels
    )
    kw = injected.kwargs
    assert set(kw) == {"inputs_embeds", "attention_mask", "token_type_ids", "labels"}
    embeds = torch.cat([prompt.expand(3, -1, -1), model.get_input_embeddings()(ids)], 1)
    assert torch.equal(kw["inputs_embeds"], embeds)
    assert torch.equal(kw["attention_mask"], torch.cat([torch.ones(3, N).long(), mask], 1))
    assert torch.equal(kw["token_type_ids"], torch.cat([torch.zeros(3, N).long(), types], 1))
    assert torch.equal(kw["labels"], torch.cat([torch.full((3, N), -100), labels], 1))
    assert injected.virtual_mask[:, :N].all() and not injected.virtual_mask[:, N:].any()
    with torch.no_grad():
        ours = model(**kw)
        ref = model(
            inputs_embeds=embeds,
            attention_mask=kw["attention_mask"],
            token_type_ids=kw["token_type_ids"],
            labels=kw["labels"],
        )
    assert torch.equal(ours.logits, ref.logits) and torch.equal(ours.loss, ref.loss)
    assert injected.text_positions(ours.logits).shape == (3, 6, vocab)
    assert torch.equal(injected.text_positions(ours.logits), ours.logits[:, N:])


def test_encoder_explicit_position_ids_shift_past_the_prompt():
    """Explicit encoder positions are honoured (PEFT drops them with a warning): the virtual
    tokens take the first real token's position onwards and the text moves up by ``n``, so the
    default positions given explicitly change nothing."""
    model = tiny_bert()
    ids, mask = _batch("right", vocab=model.config.vocab_size)
    n = _prompt().shape[0]
    kw = inject_prompt(
        model, _prompt(), input_ids=ids, attention_mask=mask, position_ids=torch.arange(6)[None]
    ).kwargs
    assert torch.equal(kw["position_ids"], torch.arange(n + 6).expand(3, -1))
    default = inject_prompt(model, _prompt(), input_ids=ids, attention_mask=mask).kwargs
    with torch.no_grad():
        torch.testing.assert_close(model(**kw).logits, model(**default).logits)


def test_sequence_labels_pass_through():
    model = tiny_bert()
    ids, mask = _batch("right", vocab=model.config.vocab_size)
    labels = torch.tensor([0, 1, 0])
    kw = inject_prompt(model, _prompt(), input_ids=ids, attention_mask=mask, labels=labels).kwargs
    assert torch.equal(kw["labels"], labels)


# ----------------------------------------------------------------------------- decoders
def _row_alone(model, prompt, ids, mask, row):
    """Text logits of one row, unpadded and alone."""
    real = mask[row].bool()
    injected = inject_prompt(model, prompt, input_ids=ids[row : row + 1, real])
    with torch.no_grad():
        return injected.text_positions(model(**injected.kwargs).logits)[0]


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("arch", TINY_CAUSAL_ARCHS)
def test_decoder_padding_gives_unpadded_outputs(arch, side):
    """Every row of a padded batch equals the same row alone, on both padding sides."""
    model = tiny_causal_lm(arch)
    ids, mask = _batch(side)
    prompt = _prompt()
    injected = inject_prompt(model, prompt, input_ids=ids, attention_mask=mask)
    with torch.no_grad():
        logits = injected.text_positions(model(**injected.kwargs).logits)
    for row in range(3):
        alone = _row_alone(model, prompt, ids, mask, row)
        assert torch.allclose(logits[row, mask[row].bool()], alone, atol=1e-5), (arch, side, row)
    # the virtual tokens sit right before each row's first real token
    first = mask.int().argmax(1)
    for row in range(3):
        expect = torch.zeros(N + 6, dtype=torch.bool)
        expect[first[row] : first[row] + N] = True
        assert torch.equal(injected.virtual_mask[row], expect)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_decoder_labels_and_loss(arch):
    model = tiny_causal_lm(arch)
    ids, mask = _batch("left")
    labels = ids.masked_fill(mask == 0, -100)
    injected = inject_prompt(model, _prompt(), input_ids=ids, attention_mask=mask, labels=labels)
    new_labels = injected.kwargs["labels"]
    assert (new_labels[injected.virtual_mask] == -100).all()
    assert torch.equal(injected.text_positions(new_labels.unsqueeze(-1)).squeeze(-1), labels)
    with torch.no_grad():
        loss = model(**injected.kwargs).loss
        logits = model(**{k: v for k, v in injected.kwargs.items() if k != "labels"}).logits
    ref = nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, logits.size(-1)), new_labels[:, 1:].reshape(-1)
    )
    assert torch.allclose(loss, ref, atol=1e-6)


def test_decoder_position_ids_are_shifted_after_the_prompt():
    model = tiny_causal_lm("gpt2")
    ids, mask = _batch("right")
    kw = inject_prompt(model, _prompt(), input_ids=ids, attention_mask=mask).kwargs
    given = inject_prompt(
        model, _prompt(), input_ids=ids, attention_mask=mask, position_ids=torch.arange(6)[None]
    ).kwargs
    real = kw["attention_mask"].bool()
    assert torch.equal(kw["position_ids"][real], given["position_ids"][real])
    assert torch.equal(kw["position_ids"][0], torch.arange(N + 6))


def test_start_placement_is_peft_layout():
    model = tiny_causal_lm("llama")
    ids, mask = _batch("left")
    prompt = _prompt()
    kw = inject_prompt(model, prompt, input_ids=ids, attention_mask=mask, placement="start").kwargs
    embeds = torch.cat([prompt.expand(3, -1, -1), model.get_input_embeddings()(ids)], 1)
    assert torch.equal(kw["inputs_embeds"], embeds)
    assert torch.equal(kw["attention_mask"], torch.cat([torch.ones(3, N).long(), mask], 1))
    assert "position_ids" not in kw


def test_per_sample_prompts():
    model = tiny_causal_lm("qwen2")
    ids, mask = _batch("left")
    prompts = torch.randn(3, N, 32) * 0.5
    injected = inject_prompt(model, prompts, input_ids=ids, attention_mask=mask)
    with torch.no_grad():
        logits = injected.text_positions(model(**injected.kwargs).logits)
    for row in range(3):
        alone = _row_alone(model, prompts[row], ids, mask, row)
        assert torch.allclose(logits[row, mask[row].bool()], alone, atol=1e-5)


def test_inputs_embeds_equal_input_ids():
    model = tiny_causal_lm("gpt2")
    ids, mask = _batch("left")
    a = inject_prompt(model, _prompt(), input_ids=ids, attention_mask=mask).kwargs
    embeds = model.get_input_embeddings()(ids)
    b = inject_prompt(model, _prompt(), inputs_embeds=embeds, attention_mask=mask).kwargs
    assert all(torch.equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------------------- generation
def _greedy_by_forward(model, prompt, ids, mask, steps):
    """Reference: full recomputation each step through inject_prompt (no cache, no generate)."""
    out = []
    for row in range(ids.size(0)):
        seq = ids[row : row + 1, mask[row].bool()]
        for _ in range(steps):
            injected = inject_prompt(model, prompt, input_ids=seq)
            with torch.no_grad():
                logits = model(**injected.kwargs, use_cache=False).logits
            seq = torch.cat([seq, logits[:, -1].argmax(-1, keepdim=True)], 1)
        out.append(seq[0, -steps:])
    return torch.stack(out)


@pytest.mark.parametrize("arch", TINY_CAUSAL_ARCHS)
def test_generate_same_with_and_without_cache(arch):
    model = tiny_causal_lm(arch)
    ids, mask = _batch("left")
    prompt = _prompt()
    kwargs = {"max_new_tokens": 5, "min_new_tokens": 5, "do_sample": False, "pad_token_id": 0}
    cached = generate_with_prompt(model, prompt, ids, mask, use_cache=True, **kwargs)
    uncached = generate_with_prompt(model, prompt, ids, mask, use_cache=False, **kwargs)
    assert cached.shape == (3, 6 + 5)
    assert torch.equal(cached[:, :6], ids)
    assert torch.equal(cached, uncached)
    assert torch.equal(cached[:, 6:], _greedy_by_forward(model, prompt, ids, mask, 5))


def test_generate_return_dict_and_beams():
    model = tiny_causal_lm("gpt2")
    ids, mask = _batch("left")
    kwargs = {"max_new_tokens": 3, "min_new_tokens": 3, "pad_token_id": 0}
    kwargs.update(num_beams=2, num_return_sequences=2)
    a = generate_with_prompt(model, _prompt(), ids, mask, use_cache=True, **kwargs)
    b = generate_with_prompt(
        model, _prompt(), ids, mask, use_cache=False, return_dict_in_generate=True, **kwargs
    )
    assert a.shape == (6, 9) and torch.equal(a, b.sequences)
    assert torch.equal(a[::2, :6], ids)


def test_seq2seq_prompt_on_encoder_and_generate():
    model = tiny_t5()
    ids, mask = _batch("right")
    labels = torch.randint(3, 64, (3, 4))
    prompt = _prompt()
    injected = inject_prompt(model, prompt, input_ids=ids, attention_mask=mask, labels=labels)
    kw = injected.kwargs
    assert torch.equal(kw["labels"], labels)
    assert torch.equal(kw["attention_mask"], torch.cat([torch.ones(3, N).long(), mask], 1))
    embeds = torch.cat([prompt.expand(3, -1, -1), model.get_input_embeddings()(ids)], 1)
    with torch.no_grad():
        ours = model(**kw)
        ref = model(inputs_embeds=embeds, attention_mask=kw["attention_mask"], labels=labels)
    assert torch.equal(ours.logits, ref.logits)
    kwargs = {"max_new_tokens": 4, "min_new_tokens": 4, "do_sample": False}
    cached = generate_with_prompt(model, prompt, ids, mask, use_cache=True, **kwargs)
    uncached = generate_with_prompt(model, prompt, ids, mask, use_cache=False, **kwargs)
    assert torch.equal(cached, uncached)
    with torch.no_grad():  # first generated token = argmax after the start token
        first = model(
            **{k: v for k, v in kw.items() if k != "labels"}, decoder_input_ids=cached[:, :1]
        )
    assert torch.equal(cached[:, 1], first.logits[:, -1].argmax(-1))


def test_generate_rejects_encoders_and_models_without_generate(monkeypatch):
    ids = torch.ones(1, 3, dtype=torch.long)
    with pytest.raises(
        TypeError, match=r"^backbone: \w+ is an encoder-only model and cannot generate$"
    ):
        generate_with_prompt(tiny_bert(), _prompt(), ids)
    model = tiny_causal_lm("gpt2")
    monkeypatch.setattr(model, "generate", None)  # a decoder without generation (the tiny
    # models are cached and shared: restored after the test)
    with pytest.raises(TypeError, match=rf"^backbone: {type(model).__name__} has no generate\(\)$"):
        generate_with_prompt(model, _prompt(), ids)


# --------------------------------------------------------------------------------- errors
def test_architecture_kinds():
    assert architecture_kind(tiny_bert()) == "encoder"
    assert architecture_kind(tiny_roberta()) == "encoder"
    assert architecture_kind(tiny_causal_lm("llama")) == "decoder"
    assert architecture_kind(tiny_t5()) == "seq2seq"


def test_position_limits():
    assert position_limit(tiny_bert()) == 128
    assert position_limit(tiny_roberta()) == 160 - 2  # RoBERTa offsets positions by pad + 1
    assert position_limit(tiny_causal_lm("gpt2", max_positions=16)) == 16
    assert position_limit(tiny_t5()) is None


def test_too_long_errors_name_the_argument():
    model = tiny_causal_lm("gpt2", max_positions=8)
    with pytest.raises(ValueError, match="num_virtual_tokens"):
        inject_prompt(model, torch.zeros(9, 32), input_ids=torch.ones(1, 1, dtype=torch.long))
    with pytest.raises(ValueError, match=r"input_ids: 6 tokens \+ num_virtual_tokens=3"):
        inject_prompt(model, _prompt(), input_ids=torch.ones(1, 6, dtype=torch.long))
    inject_prompt(model, _prompt(), input_ids=torch.ones(1, 5, dtype=torch.long))  # fits exactly


class _NoEmbedsModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.config = type("Cfg", (), {"model_type": "mystery"})()
        self.emb = nn.Embedding(10, 4)

    def get_input_embeddings(self) -> nn.Module:
        return self.emb

    def forward(self, input_ids):  # no inputs_embeds
        return self.emb(input_ids)


class _UnknownArchModel(_NoEmbedsModel):
    def forward(self, input_ids=None, inputs_embeds=None):
        return inputs_embeds


@pytest.mark.parametrize(
    "backbone, match",
    [
        (nn.Linear(2, 2), "backbone: expected a Hugging Face"),
        (_NoEmbedsModel(), "backbone: .*takes no inputs_embeds"),
        (_UnknownArchModel(), "backbone: unsupported architecture 'mystery'"),
    ],
)
def test_unsupported_backbones(backbone, match):
    with pytest.raises(TypeError, match=match):
        inject_prompt(backbone, torch.zeros(2, 4), input_ids=torch.ones(1, 3, dtype=torch.long))


def test_bad_inputs_name_the_argument():
    model = tiny_causal_lm("gpt2")
    ids = torch.ones(2, 4, dtype=torch.long)
    with pytest.raises(ValueError, match="prompt: last dimension 7"):
        inject_prompt(model, torch.zeros(3, 7), input_ids=ids)
    with pytest.raises(
        ValueError, match=r"^prompt: last dimension 7 != the backbone's hidden size 32$"
    ):
        inject_prompt(model, torch.zeros(2, 3, 7), input_ids=ids)  # per-sample: (B, n, D)
    with pytest.raises(ValueError, match="prompt: per-sample prompts for batch size 3"):
        inject_prompt(model, torch.zeros(3, 2, 32), input_ids=ids)
    with pytest.raises(ValueError, match="attention_mask: expected a 2-D mask"):
        inject_prompt(model, _prompt(), input_ids=ids, attention_mask=torch.ones(2, 1, 4, 4))
    with pytest.raises(ValueError, match="placement"):
        inject_prompt(model, _prompt(), input_ids=ids, placement="middle")
    with pytest.raises(ValueError, match="exactly one"):
        inject_prompt(model, _prompt())


def test_prompt_lengths_are_validated_per_row_and_zero_unused_slots_change_nothing():
    model = tiny_bert()
    ids, mask = _batch("right")
    prompt = _prompt().expand(3, -1, -1)
    for bad in ([3, 3], [3, 3, 4], [-1, 3, 3]):
        with pytest.raises(
            ValueError, match=re.escape(f"prompt_lengths: expected 3 values in [0, 3], got {bad}")
        ):
            inject_prompt(
                model, prompt, input_ids=ids, attention_mask=mask, prompt_lengths=torch.tensor(bad)
            )
    full = inject_prompt(
        model, prompt, input_ids=ids, attention_mask=mask, prompt_lengths=torch.tensor([3, 3, 3])
    )
    plain = inject_prompt(model, prompt, input_ids=ids, attention_mask=mask)
    assert torch.equal(full.kwargs["attention_mask"], plain.kwargs["attention_mask"])
    assert "position_ids" not in full.kwargs  # every slot used: nothing to skip
    short = inject_prompt(
        model, prompt, input_ids=ids, attention_mask=mask, prompt_lengths=[0, 3, 2]
    )  # a list is fine
    assert short.kwargs["attention_mask"][0, :3].tolist() == [0, 0, 0]
    assert short.kwargs["attention_mask"][2, :3].tolist() == [1, 1, 0]
    assert short.kwargs["position_ids"][0, 3:6].tolist() == [0, 1, 2]  # text starts at 0
    assert short.kwargs["position_ids"][2, :3].tolist() == [0, 1, 0]  # unused slot: 0, masked


def test_seq2seq_generation_passes_the_padding_mask_to_the_encoder():
    model = tiny_t5()
    prompt = _prompt()
    ids = torch.tensor([[5, 6, 7, 8, 1], [9, 10, 1, 0, 0]])  # the second row is padded
    mask = (ids != 0).long()
    kwargs = {
        "max_new_tokens": 3,
        "min_new_tokens": 3,
        "do_sample": False,
        "return_dict_in_generate": True,
        "output_scores": True,
    }
    out = generate_with_prompt(model, prompt, ids, mask, **kwargs)
    embeds = torch.cat([prompt.expand(2, -1, -1), model.get_input_embeddings()(ids)], 1)
    full_mask = torch.cat([torch.ones(2, N, dtype=torch.long), mask], 1)
    with torch.no_grad():
        expected = model.generate(inputs_embeds=embeds, attention_mask=full_mask, **kwargs)
        unmasked = model.generate(inputs_embeds=embeds, **kwargs)
    assert torch.equal(out.sequences, expected.sequences)
    assert all(torch.equal(a, b) for a, b in zip(out.scores, expected.scores))
    # the mask matters for the padded row's scores
    assert not torch.allclose(expected.scores[0][1], unmasked.scores[0][1])


def test_generation_length_is_checked_for_per_row_prompts():
    model = tiny_causal_lm("gpt2")  # 64 positions
    ids = torch.ones(2, 50, dtype=torch.long)
    prompt = torch.randn(2, N, 32)  # (B, n, D)
    with pytest.raises(ValueError, match=r"max_new_tokens: 3 virtual \+ 50 input \+ 20 new"):
        generate_with_prompt(model, prompt, ids, max_new_tokens=20)
