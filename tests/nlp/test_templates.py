"""Template mini-language: placeholders, soft tokens, truncation that never cuts the mask."""

from __future__ import annotations

import pytest

from modalprompt.nlp.templates import Template, parse_template
from modalprompt.nlp.tiny_models import tiny_bert_tokenizer, tiny_roberta_tokenizer


@pytest.fixture(scope="module")
def tok():
    return tiny_bert_tokenizer()


def toks(tokenizer, ids):
    return tokenizer.convert_ids_to_tokens(ids)


def test_placeholders_and_special_tokens(tok):
    t = Template("{text_a} It was {mask} . {text_b}", tok)
    e = t.encode({"text_a": "the movie", "text_b": "i love it"})
    assert toks(tok, e.input_ids) == [
        "[CLS]", "the", "movie", "it", "was", "[MASK]", ".", "i", "love", "it", "[SEP]",
    ]  # fmt: skip
    assert e.mask_position == 5 and e.num_truncated == 0
    assert e.soft_ids == [-1] * len(e.input_ids)


def test_meta_field_and_literal_braces(tok):
    t = Template("{meta:entity} {{ is }} {mask}", tok)
    assert [p.kind for p in t.parts] == ["meta", "text", "mask"]
    assert t.parts[1].value == "{ is }"
    e = t.encode({"text_a": "x", "meta": {"entity": "the film"}})
    assert toks(tok, e.input_ids)[1:3] == ["the", "film"]


def test_truncation_never_cuts_mask_and_cuts_longest_first(tok):
    t = Template("{text_a} {mask} , {text_b}", tok)
    a = "the movie " * 10  # 20 tokens
    b = "i love"  # 2 tokens
    e = t.encode({"text_a": a, "text_b": b}, max_length=12)
    assert len(e.input_ids) == 12
    assert e.input_ids[e.mask_position] == tok.mask_token_id
    words = toks(tok, e.input_ids)
    assert words[-3:] == ["i", "love", "[SEP]"]  # the short field is untouched
    assert e.num_truncated == 20 + 2 + 2 + 2 - 12
    # both long: each shrinks in turn until they are within one token of each other
    e = t.encode({"text_a": a, "text_b": a}, max_length=14)
    sep = toks(tok, e.input_ids).index(",")
    len_a, len_b = e.mask_position - 1, len(e.input_ids) - 1 - sep - 1
    assert abs(len_a - len_b) <= 1 and len_a + len_b == 14 - 4


def test_template_too_long_for_max_length(tok):
    t = Template("{text_a} it was very very good and {mask}", tok)
    with pytest.raises(ValueError, match="max_length=5"):
        t.encode({"text_a": "the"}, max_length=5)


def test_soft_tokens_with_init_words(tok):
    t = Template("{soft:it was} {soft} {text_a} {mask}", tok)
    assert t.num_soft == 3
    assert t.soft_init_ids[:2] == tok.convert_tokens_to_ids(["it", "was"])
    assert t.soft_init_ids[2] == -1
    e = t.encode({"text_a": "the movie"})
    assert e.soft_ids[:6] == [-1, 0, 1, 2, -1, -1]
    assert e.input_ids[e.mask_position] == tok.mask_token_id


@pytest.mark.parametrize(
    "text, match",
    [
        ("{text_a} It was good", "exactly one"),
        ("{text_a} {mask} {mask}", "exactly one"),
        ("{text_c} {mask}", "unknown placeholder"),
        ("{meta:} {mask}", "unknown placeholder"),
        ("", "non-empty"),
    ],
)
def test_bad_templates(tok, text, match):
    with pytest.raises(ValueError, match=match):
        parse_template(text)


def test_missing_field(tok):
    t = Template("{text_a} {mask} {text_b}", tok)
    with pytest.raises(ValueError, match="text_b"):
        t.encode({"text_a": "the"})


def test_wrap_fills_label_word(tok):
    t = Template("{text_a} It was {mask} .", tok)
    assert t.wrap({"text_a": "A fine film"}, "great") == "A fine film It was great ."
    assert t.wrap({"text_a": "x"}) == "x It was [MASK] ."


def test_roberta_mask_from_tokenizer_and_prefix_space():
    tok = tiny_roberta_tokenizer()
    t = Template("{text_a} it was {mask} great", tok)
    e = t.encode({"text_a": "a"})
    words = toks(tok, e.input_ids)
    assert words[0] == "<s>" and words[-1] == "</s>"
    assert words[e.mask_position] == "<mask>"
    assert words[e.mask_position + 1] == "Ġgreat"  # encoded as mid-sentence word
