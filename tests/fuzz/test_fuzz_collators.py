"""Fuzz ``modalprompt.nlp.classification.PromptCollator`` with generated example lists.

Each call either raises a clear error of ours naming the argument (``examples``, ``example``,
``label``, ``max_length``) or returns a batch that is right: ``(B, L)`` tensors with
``L <= max_length``, every row's answer slot inside the row on the mask token (a masked LM),
and the labels asked for.
"""

from __future__ import annotations

import functools

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from modalprompt.nlp.classification import PromptCollator
from modalprompt.nlp.templates import Template
from modalprompt.nlp.tiny_models import TINY_WORDS, tiny_bert_tokenizer

from ._ours import outcome

TEMPLATES = ["{text_a} it was {mask} .", "{text_a} ? {mask} , {text_b}"]
WORDS = st.sampled_from([*TINY_WORDS[:40], "unknownword", "é", "", " ", "\n", "🙂"])
TEXT = st.one_of(
    st.lists(WORDS, max_size=60).map(" ".join),
    st.text(max_size=20),
    st.none(),
    st.integers(),
)
LABEL = st.one_of(
    st.integers(-2, 4),
    st.sampled_from(["1", "0", "pos", "", "1.0"]),
    st.floats(allow_nan=True),
    st.none(),
    st.booleans(),
)


@functools.cache
def _tokenizer():
    return tiny_bert_tokenizer()


@st.composite
def _example(draw):
    if draw(st.integers(0, 15)) == 0:
        return draw(st.one_of(st.text(max_size=5), st.integers(), st.none()))
    example = {}
    for key in ("text_a", "text_b"):
        if draw(st.integers(0, 5)):
            example[key] = draw(TEXT)
    if draw(st.integers(0, 5)):
        example["label"] = draw(LABEL)
    return example


@pytest.mark.parametrize("template", TEMPLATES)
@given(
    examples=st.lists(_example(), max_size=4),
    max_length=st.integers(3, 40),
    pad=st.booleans(),
)
def test_prompt_collator(template, examples, max_length, pad):
    tokenizer = _tokenizer()
    collator = PromptCollator(Template(template, tokenizer), max_length, pad_to_max_length=pad)
    names = ["examples", "example", "label", "max_length", "text_a", "text_b"]
    batch, error = outcome(lambda: collator(examples), names)
    if error is not None:
        return
    ids = batch["input_ids"]
    rows = len(examples)
    assert ids.dim() == 2 and ids.shape[0] == rows and 0 < ids.shape[1] <= max_length
    for key in ("attention_mask", "soft_ids"):
        assert batch[key].shape == ids.shape, key
    positions = batch["mask_positions"]
    assert positions.shape == (rows,)
    assert bool(((positions >= 0) & (positions < ids.shape[1])).all())
    assert bool((ids[torch.arange(rows), positions] == tokenizer.mask_token_id).all())
    if "labels" in batch:
        assert batch["labels"].shape == (rows,) and batch["labels"].dtype == torch.long
        assert bool((batch["labels"] >= 0).all())
        for label, value in zip((e["label"] for e in examples), batch["labels"].tolist()):
            assert float(label) == value, f"label {label!r} collated as {value}"
