"""Verbalizers: aggregation maths against hand computation, calibration, weights, soft head."""

from __future__ import annotations

import pytest
import torch

from modalprompt.nlp.tiny_models import tiny_bert_tokenizer, tiny_roberta_tokenizer
from modalprompt.nlp.verbalizers import ManualVerbalizer, SoftVerbalizer, WeightedVerbalizer


@pytest.fixture(scope="module")
def tok():
    return tiny_bert_tokenizer()


def ids(tok, word):
    return tok(word, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("handler", ["first", "mean", "max"])
def test_multi_token_handlers(tok, handler):
    # "boring" is one token, "fun ##s" style multi-token: use "funs" -> fun + ##s
    assert len(ids(tok, "funs")) == 2 and len(ids(tok, "boring")) == 1
    v = ManualVerbalizer(tok, {"neg": ["boring"], "pos": ["funs"]}, multi_token=handler)
    logits = torch.randn(3, len(tok))
    proj = v.project(logits)
    fun, s = ids(tok, "funs")
    expected = {
        "first": logits[:, fun],
        "mean": (logits[:, fun] + logits[:, s]) / 2,
        "max": torch.maximum(logits[:, fun], logits[:, s]),
    }[handler]
    torch.testing.assert_close(proj[:, 1, 0], expected)
    torch.testing.assert_close(proj[:, 0, 0], logits[:, ids(tok, "boring")[0]])


def test_several_words_per_class_mean_of_log_probs(tok):
    v = ManualVerbalizer(tok, [["bad", "awful", "terrible"], ["good"]])
    logits = torch.randn(4, len(tok))
    w = [ids(tok, x)[0] for x in ("bad", "awful", "terrible", "good")]
    logp = torch.log_softmax(logits[:, w], -1)
    expected = torch.stack([logp[:, :3].mean(-1), logp[:, 3]], -1)
    torch.testing.assert_close(v(logits), expected, atol=1e-5, rtol=1e-5)


def test_single_word_equals_lmbff_logits_under_softmax(tok):
    v = ManualVerbalizer(tok, ["terrible", "great"])
    raw = ManualVerbalizer(tok, ["terrible", "great"], post_log_softmax=False)
    logits = torch.randn(5, len(tok))
    w = [ids(tok, "terrible")[0], ids(tok, "great")[0]]
    torch.testing.assert_close(raw(logits), logits[:, w])
    torch.testing.assert_close(v(logits).softmax(-1), logits[:, w].softmax(-1))


def test_calibration_divides_by_prior(tok):
    v = ManualVerbalizer(tok, [["bad", "awful"], ["good"]])
    w = [ids(tok, x)[0] for x in ("bad", "awful", "good")]
    prior = torch.randn(6, len(tok))
    v.register_calibration(prior)
    prior_p = prior.mean(0)[w].softmax(-1)
    logits = torch.randn(2, len(tok))
    p = logits[:, w].softmax(-1) / prior_p
    p = p / p.sum(-1, keepdim=True)
    expected = torch.stack([p[:, :2].log().mean(-1), p[:, 2].log()], -1)
    torch.testing.assert_close(v(logits), expected, atol=1e-5, rtol=1e-5)
    # calibrating on the prior itself makes the label words uniform
    v.register_calibration(prior[0])
    out = v(prior[:1]).exp()
    torch.testing.assert_close(out, torch.full_like(out, 1 / 3), atol=1e-5, rtol=1e-5)
    v.clear_calibration()
    assert not torch.allclose(v(prior[:1]).exp(), out)


def test_weighted_verbalizer_weights_from_scores_and_trainable(tok):
    v = WeightedVerbalizer(
        tok, [["bad", "awful"], ["good", "great", "fun"]], [[2.0, 0.0], [1, 1, 3]]
    )
    assert v.word_weights.requires_grad
    torch.testing.assert_close(v.word_weights[0, :2], torch.tensor([2.0, 0.0]))
    logits = torch.randn(3, len(tok))
    w = [ids(tok, x)[0] for x in ("bad", "awful", "good", "great", "fun")]
    logp = torch.log_softmax(logits[:, w], -1)
    a0 = torch.tensor([2.0, 0.0]).softmax(-1)
    a1 = torch.tensor([1.0, 1.0, 3.0]).softmax(-1)
    expected = torch.stack([logp[:, :2] @ a0, logp[:, 2:] @ a1], -1)
    out = v(logits)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    out.sum().backward()
    assert v.word_weights.grad is not None and v.word_weights.grad[0, :2].abs().sum() > 0
    assert v.word_weights.grad[0, 2] == 0  # padding slot gets nothing


def test_soft_verbalizer_initialised_from_output_embeddings(tok):
    emb = torch.randn(len(tok), 8)
    v = SoftVerbalizer(tok, [["bad", "funs"], ["good"]], emb)
    fun, s = ids(tok, "funs")
    row0 = (emb[ids(tok, "bad")[0]] + (emb[fun] + emb[s]) / 2) / 2
    torch.testing.assert_close(v.head.weight[0], row0)
    torch.testing.assert_close(v.head.weight[1], emb[ids(tok, "good")[0]])
    h = torch.randn(3, 8)
    torch.testing.assert_close(v(None, h), h @ torch.stack([row0, emb[ids(tok, "good")[0]]]).T)
    with pytest.raises(ValueError, match="mask_hidden"):
        v(torch.randn(3, len(tok)))
    weighted = SoftVerbalizer(tok, [["bad", "good"], ["fun"]], emb, scores=[[3.0, 1.0], [1.0]])
    bad, good = ids(tok, "bad")[0], ids(tok, "good")[0]
    torch.testing.assert_close(weighted.head.weight[0], 0.75 * emb[bad] + 0.25 * emb[good])


def test_bad_label_words(tok):
    with pytest.raises(ValueError, match="cannot map 'zebra'"):
        ManualVerbalizer(tok, ["zebra", "good"])
    with pytest.raises(ValueError, match="no label words for classes \\['c'\\]"):
        ManualVerbalizer(tok, {"a": ["bad"], "b": ["good"]}, classes=["a", "b", "c"])
    with pytest.raises(ValueError, match="at least one"):
        ManualVerbalizer(tok, [[], ["good"]])
    with pytest.raises(ValueError, match="multi_token"):
        ManualVerbalizer(tok, ["bad", "good"], multi_token="sum")
    with pytest.raises(ValueError, match="2 label words but 1 scores"):
        WeightedVerbalizer(tok, [["bad", "awful"], ["good"]], [[1.0], [1.0]])


def test_roberta_label_words_get_prefix_space():
    tok = tiny_roberta_tokenizer()
    v = ManualVerbalizer(tok, ["great", "g"])
    assert v.label_word_ids[0, 0, 0] == tok.convert_tokens_to_ids("Ġgreat")
    assert v.label_word_ids.shape[-1] == 1
