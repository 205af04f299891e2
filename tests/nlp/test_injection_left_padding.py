"""Left padding with explicit ``position_ids`` (the Hugging Face batched-generation convention).

A tokenizer with ``padding_side="left"`` plus ``position_ids = attention_mask.cumsum(-1) - 1``
(padding set to 1, as ``generate`` builds them) makes each row of a batch behave as if it were
alone and unpadded. With virtual tokens injected, the same must hold: every row of a
left-padded batch gives the outputs of the row alone, unpadded, with the same prompt. Only right
padding (and left padding without explicit positions) was tested before (issue 22).

The cases marked ``xfail(strict=True)`` are injection bugs found by these tests and reported to
the owner of modalprompt/nlp/injection.py; remove the marker with the fix.
"""

from __future__ import annotations

import functools
import warnings

import pytest
import torch

pytest.importorskip("transformers")

from modalprompt.nlp import tiny_models as testing  # noqa: E402
from modalprompt.nlp.injection import generate_with_prompt, inject_prompt  # noqa: E402
from modalprompt.nlp.tiny_models import TINY_CAUSAL_ARCHS  # noqa: E402

N = 3  # virtual tokens
REAL = (6, 4, 2)  # real tokens per row; rows 1 and 2 are left-padded to 6

tiny_bert = functools.cache(testing.tiny_bert)
tiny_causal_lm = functools.cache(testing.tiny_causal_lm)
tiny_t5 = functools.cache(testing.tiny_t5)


def _left_padded(vocab: int = 64, pad: int = 0):
    """(3, 6) ids and mask, left-padded, and the HF position ids for them."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, vocab, (3, 6), generator=g)
    mask = torch.ones_like(ids)
    for row, real in enumerate(REAL):
        mask[row, : 6 - real] = 0
        ids[row, : 6 - real] = pad
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
    return ids, mask, positions


def _prompt(hidden: int = 32) -> torch.Tensor:
    return torch.randn(N, hidden, generator=torch.Generator().manual_seed(1)) * 0.5


def _injected_without_warnings(model, prompt, **inputs):
    """``inject_prompt``, failing on its 'position_ids are ignored' warning: for a
    left-padded batch, ignored explicit positions are exactly the bug these tests look for."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        return inject_prompt(model, prompt, **inputs)


@pytest.mark.parametrize("arch", TINY_CAUSAL_ARCHS)
def test_decoder_left_padding_with_position_ids_equals_each_row_alone(arch):
    """Guards the explicit-``position_ids`` path of decoder injection (the virtual tokens take
    the first real token's position and every real token moves up by ``n``)."""
    model = tiny_causal_lm(arch)
    ids, mask, positions = _left_padded()
    prompt = _prompt()
    injected = _injected_without_warnings(
        model, prompt, input_ids=ids, attention_mask=mask, position_ids=positions
    )
    with torch.no_grad():
        logits = injected.text_positions(model(**injected.kwargs).logits)
    for row, real in enumerate(REAL):
        alone = inject_prompt(model, prompt, input_ids=ids[row : row + 1, -real:])
        with torch.no_grad():
            want = alone.text_positions(model(**alone.kwargs).logits)[0]
        torch.testing.assert_close(logits[row, -real:], want, atol=1e-5, rtol=1e-5)
    # the real tokens' positions are the row-alone ones: n, n + 1, ...
    kw_pos = injected.kwargs["position_ids"]
    for row, real in enumerate(REAL):
        torch.testing.assert_close(kw_pos[row, -real:], torch.arange(N, N + real))


def test_encoder_left_padding_with_position_ids_equals_each_row_alone():
    """The plain BERT honours explicit positions (a left-padded row equals the row alone); with
    virtual tokens injected it must too."""
    model = tiny_bert()
    ids, mask, positions = _left_padded(model.config.vocab_size, model.config.pad_token_id)
    prompt = _prompt()
    with torch.no_grad():  # the premise: without a prompt, explicit positions make it exact
        plain = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
        for row, real in enumerate(REAL):
            alone = model(input_ids=ids[row : row + 1, -real:]).logits[0]
            torch.testing.assert_close(plain[row, -real:], alone, atol=1e-5, rtol=1e-5)
    injected = _injected_without_warnings(
        model, prompt, input_ids=ids, attention_mask=mask, position_ids=positions
    )
    with torch.no_grad():
        logits = injected.text_positions(model(**injected.kwargs).logits)
    for row, real in enumerate(REAL):
        alone = inject_prompt(model, prompt, input_ids=ids[row : row + 1, -real:])
        with torch.no_grad():
            want = alone.text_positions(model(**alone.kwargs).logits)[0]
        torch.testing.assert_close(logits[row, -real:], want, atol=1e-5, rtol=1e-5)


def test_seq2seq_left_padding_equals_each_row_alone():
    """T5's encoder is padding-invariant on its own (relative positions, padding masked); with
    virtual tokens its left-padded rows must still equal the rows alone."""
    model = tiny_t5()
    ids, mask, _ = _left_padded()
    prompt = _prompt()
    start = torch.zeros(3, 1, dtype=torch.long)
    with torch.no_grad():  # the premise: the plain encoder ignores left padding
        plain = model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
        for row, real in enumerate(REAL):
            alone = model.encoder(input_ids=ids[row : row + 1, -real:]).last_hidden_state[0]
            torch.testing.assert_close(plain[row, -real:], alone, atol=1e-5, rtol=1e-5)
    injected = inject_prompt(
        model, prompt, input_ids=ids, attention_mask=mask, decoder_input_ids=start
    )
    with torch.no_grad():
        out = model(**injected.kwargs)
    encoded = injected.text_positions(out.encoder_last_hidden_state)
    for row, real in enumerate(REAL):
        alone = inject_prompt(
            model, prompt, input_ids=ids[row : row + 1, -real:], decoder_input_ids=start[:1]
        )
        with torch.no_grad():
            single = model(**alone.kwargs)
        want = alone.text_positions(single.encoder_last_hidden_state)[0]
        torch.testing.assert_close(encoded[row, -real:], want, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(out.logits[row], single.logits[0], atol=1e-5, rtol=1e-5)


def _greedy_alone(model, prompt, ids, steps):
    """Reference: each row alone and unpadded, full recomputation per step (no generate)."""
    out = []
    for row, real in enumerate(REAL):
        seq = ids[row : row + 1, -real:]
        for _ in range(steps):
            injected = inject_prompt(model, prompt, input_ids=seq)
            with torch.no_grad():
                logits = model(**injected.kwargs, use_cache=False).logits
            seq = torch.cat([seq, logits[:, -1].argmax(-1, keepdim=True)], 1)
        out.append(seq[0, -steps:])
    return torch.stack(out)


GENERATE = {"max_new_tokens": 4, "min_new_tokens": 4, "do_sample": False, "pad_token_id": 0}


@pytest.mark.parametrize("use_cache", [True, False], ids=["cache", "no_cache"])
@pytest.mark.parametrize("arch", TINY_CAUSAL_ARCHS)
def test_generate_left_padded_equals_each_row_alone(arch, use_cache):
    """Left-padded batched generation (positions from the mask, as generate builds them) gives
    each row's unpadded greedy continuation, with and without the KV cache."""
    model = tiny_causal_lm(arch)
    ids, mask, _ = _left_padded()
    prompt = _prompt()
    out = generate_with_prompt(model, prompt, ids, mask, use_cache=use_cache, **GENERATE)
    assert torch.equal(out[:, :6], ids)
    assert torch.equal(out[:, 6:], _greedy_alone(model, prompt, ids, 4))


@pytest.mark.parametrize("use_cache", [True, False], ids=["cache", "no_cache"])
@pytest.mark.parametrize("arch", TINY_CAUSAL_ARCHS)
def test_generate_with_explicit_position_ids_equals_each_row_alone(arch, use_cache):
    """``model.generate(ids, attention_mask=..., position_ids=...)`` works on the plain model;
    with a prompt the explicit positions must give the same tokens as each row alone."""
    model = tiny_causal_lm(arch)
    ids, mask, positions = _left_padded()
    prompt = _prompt()
    plain = model.generate(ids, attention_mask=mask, use_cache=use_cache, **GENERATE)
    again = model.generate(
        ids, attention_mask=mask, position_ids=positions, use_cache=use_cache, **GENERATE
    )
    assert torch.equal(plain, again)  # the premise
    out = generate_with_prompt(
        model, prompt, ids, mask, position_ids=positions, use_cache=use_cache, **GENERATE
    )
    assert torch.equal(out[:, 6:], _greedy_alone(model, prompt, ids, 4))


def test_generation_positions_are_checked_on_the_attended_tokens_only():
    from modalprompt.nlp.injection import _check_generation_positions as check

    ids = torch.ones(2, 4, dtype=torch.long)
    mask = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]])
    check(torch.tensor([[1, 0, 1, 2], [0, 1, 2, 3]]), ids, mask)  # HF's: pads may say anything
    check(torch.arange(4).unsqueeze(0), ids, None)  # (1, L) broadcasts; no mask = all attended
    with pytest.raises(ValueError, match=r"position_ids: expected \(B, 4\), got \[0, 1, 2, 3\]"):
        check([0, 1, 2, 3], ids, mask)
    with pytest.raises(ValueError, match=r"position_ids: expected \(B, 4\), got \(2, 3\)"):
        check(torch.zeros(2, 3, dtype=torch.long), ids, mask)
    for wrong in ([[0, 1, 2, 3], [0, 1, 2, 3]], [[5, 0, 1, 3], [0, 1, 2, 3]]):
        with pytest.raises(ValueError, match="counts positions over the attended tokens"):
            check(torch.tensor(wrong), ids, mask)
    with pytest.raises(ValueError, match="other positions are not supported"):
        check(torch.arange(1, 5).unsqueeze(0), ids, None)


@pytest.mark.parametrize("arch", TINY_CAUSAL_ARCHS)
def test_decoder_left_padding_with_unequal_prompt_lengths_equals_each_row_alone(arch):
    """Multi-tenant batches: row ``i`` uses only its first ``prompt_lengths[i]`` virtual tokens.
    With explicit left-padding positions each row must still equal the row alone, unpadded,
    with its own shorter prompt (unused slots are masked, and its real tokens move up by the
    slots it uses, not by ``n``)."""
    model = tiny_causal_lm(arch)
    ids, mask, positions = _left_padded()
    prompt = _prompt()
    lengths = torch.tensor([1, 3, 2])
    injected = _injected_without_warnings(
        model,
        prompt,
        input_ids=ids,
        attention_mask=mask,
        position_ids=positions,
        prompt_lengths=lengths,
    )
    with torch.no_grad():
        logits = injected.text_positions(model(**injected.kwargs).logits)
    for row, real in enumerate(REAL):
        used = int(lengths[row])
        alone = inject_prompt(model, prompt[:used], input_ids=ids[row : row + 1, -real:])
        with torch.no_grad():
            want = alone.text_positions(model(**alone.kwargs).logits)[0]
        torch.testing.assert_close(logits[row, -real:], want, atol=1e-5, rtol=1e-5)
