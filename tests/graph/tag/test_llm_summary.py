"""LLMSummariser and CachedSummariser: prompts that fit, batches equal single calls, counted
fallbacks, and bad input named. A tiny random Llama stands in for the instruct LLM."""

from __future__ import annotations

import types

import pytest
import torch

pytest.importorskip("transformers")

from modalprompt.graph.tag.summary import (  # noqa: E402
    CachedSummariser,
    LLMSummariser,
    default_summary,
)
from modalprompt.nlp.tiny_models import tiny_causal_lm, tiny_roberta_tokenizer  # noqa: E402

CHAT = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
SUBGRAPHS = [
    ["graph neural networks for molecules", "message passing", "chemistry datasets"],
    ["reinforcement learning agents", "policy gradients"],
    ["a survey of kernels"],
]


@pytest.fixture(scope="module")
def llm():
    tokenizer = tiny_roberta_tokenizer()
    tokenizer.chat_template = CHAT
    model = tiny_causal_lm("llama", vocab_size=len(tokenizer), max_positions=2048)
    return model, tokenizer


def test_batched_summaries_equal_single_ones_and_are_deterministic(llm):
    model, tokenizer = llm
    summariser = LLMSummariser(model, tokenizer, max_new_tokens=6, batch_size=3)
    batched = summariser.summarise_batch(SUBGRAPHS)
    assert len(batched) == 3 and all(isinstance(s, str) and s for s in batched)
    assert [summariser(texts) for texts in SUBGRAPHS] == batched
    assert summariser.summarise_batch(SUBGRAPHS) == batched
    assert tokenizer.padding_side == "right"  # restored after generation


def test_prompt_holds_the_request_centre_and_neighbours(llm):
    model, tokenizer = llm
    summariser = LLMSummariser(
        model, tokenizer, categories=["Theory", "Neural_Networks"], max_neighbours=1
    )
    prompt = summariser._prompt(SUBGRAPHS[0], 1)
    assert "Centre document: graph neural networks for molecules" in prompt
    assert "Linked document 1: message passing" in prompt and "chemistry" not in prompt
    assert "Theory, Neural_Networks" in prompt
    assert prompt.endswith("<|assistant|>The centre document")


def test_long_subgraphs_are_cut_to_fit_and_counted(llm):
    model, tokenizer = llm
    summariser = LLMSummariser(
        model, tokenizer, max_new_tokens=4, max_context=700, neighbour_chars=300
    )
    long = ["centre " * 80] + ["neighbour text " * 30] * 6
    prompt = summariser._fitting_prompt(long)
    assert len(summariser._encode(prompt)) <= 700 - 4
    assert summariser.truncated == 1
    assert summariser._fitting_prompt(SUBGRAPHS[2]) and summariser.truncated == 1


def test_context_too_short_for_the_instruction_is_named(llm):
    model, tokenizer = llm
    with pytest.raises(ValueError, match="max_context: 64 tokens leave 0"):
        LLMSummariser(model, tokenizer, max_new_tokens=64, max_context=64)
    plain = tiny_roberta_tokenizer()
    with pytest.raises(ValueError, match="chat template"):
        LLMSummariser(model, plain)
    with pytest.raises(ValueError, match="batch_size"):
        LLMSummariser(model, tokenizer, batch_size=0)


@pytest.mark.parametrize("bad", [[], "a text", [""], [" ", "neighbour"], [None]])
def test_subgraphs_without_centre_text_are_refused(llm, bad):
    model, tokenizer = llm
    with pytest.raises(ValueError, match="texts"):
        LLMSummariser(model, tokenizer).summarise_batch([bad])
    with pytest.raises(ValueError, match="texts"):
        CachedSummariser()(bad)


def test_empty_generation_falls_back_and_is_counted(llm):
    model, tokenizer = llm
    summariser = LLMSummariser(model, tokenizer, max_new_tokens=2)

    def only_eos(self, input_ids, attention_mask, max_new_tokens, **kw):
        eos = torch.full((input_ids.shape[0], 1), tokenizer.eos_token_id)
        return torch.cat([input_ids, eos], 1)

    summariser.model = types.SimpleNamespace(
        generate=types.MethodType(only_eos, object()), parameters=model.parameters
    )
    with pytest.warns(UserWarning, match="generated nothing"):
        out = summariser.summarise_batch(SUBGRAPHS[:2])
    assert out == [default_summary(SUBGRAPHS[0]), default_summary(SUBGRAPHS[1])]
    assert summariser.fallbacks == 2


def test_cache_generates_each_summary_once_in_batches(llm, tmp_path):
    model, tokenizer = llm
    summariser = LLMSummariser(model, tokenizer, max_new_tokens=4, batch_size=2)
    cached = CachedSummariser(summariser, cache_dir=tmp_path)
    first = cached.summarise_many(SUBGRAPHS + [SUBGRAPHS[0]])
    assert cached.calls == 3 and summariser.generated == 3  # the repeat is not generated
    assert first[0] == first[3]
    again = CachedSummariser(summariser, cache_dir=tmp_path)  # a new process: read from disk
    assert again.summarise_many(SUBGRAPHS) == first[:3] and again.calls == 0
    assert again(SUBGRAPHS[1]) == first[1]
    assert len(list(tmp_path.glob("*.json"))) == 3


def test_cache_refuses_empty_and_clips_over_long_summaries(tmp_path):
    with pytest.raises(ValueError, match="empty summary"):
        CachedSummariser(lambda texts: "  ", name="blank")(["centre"])
    long = CachedSummariser(lambda texts: "word " * 100, name="long", max_chars=50)
    with pytest.warns(UserWarning, match="cut to max_chars=50"):
        out = long(["centre"])
    assert len(out) <= 50 and long.clipped == 1
