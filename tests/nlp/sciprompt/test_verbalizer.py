"""SciPrompt's weighted verbalizer: weights from scores, calibration, pruning by the prior."""

from __future__ import annotations

import pytest
import torch

from modalprompt.nlp.sciprompt.verbalizer import SciPromptVerbalizer
from modalprompt.nlp.tiny_models import tiny_bert_tokenizer

WORDS = {"neg": ["bad", "awful", "terrible"], "pos": ["good", "great"]}
SCORES = {"neg": [1.0, 0.8, 0.5], "pos": [1.0, 0.6]}


@pytest.fixture(scope="module")
def tok():
    return tiny_bert_tokenizer()


def tid(tok, word):
    return tok.convert_tokens_to_ids(word)


def test_weights_start_at_scores_and_aggregate_by_their_softmax(tok):
    v = SciPromptVerbalizer(tok, WORDS, SCORES).eval()
    torch.testing.assert_close(
        v.word_weights.data, torch.tensor([[1.0, 0.8, 0.5], [1.0, 0.6, 0.0]])
    )
    assert v.word_weights.requires_grad
    logits = torch.randn(4, len(tok))
    ids = [tid(tok, w) for w in ["bad", "awful", "terrible", "good", "great"]]
    logp = logits[:, ids].log_softmax(-1)  # normalised over all 5 label words
    a_neg = torch.tensor([1.0, 0.8, 0.5]).softmax(0)
    a_pos = torch.tensor([1.0, 0.6]).softmax(0)
    expected = torch.stack([logp[:, :3] @ a_neg, logp[:, 3:] @ a_pos], -1)
    torch.testing.assert_close(v(logits), expected, atol=1e-5, rtol=1e-5)
    # negative scores start at 0 (official clamp), pred_temp scales α at evaluation only
    v2 = SciPromptVerbalizer(
        tok, WORDS, {"neg": [1.0, -0.3, 0.5], "pos": [1.0, 0.6]}, pred_temp=2.0
    )
    assert v2.word_weights[0, 1].item() == 0.0
    train_out = v2.train()(logits)
    eval_out = v2.eval()(logits)
    assert not torch.allclose(train_out, eval_out)


def test_calibration_removes_a_constant_prior_bias(tok):
    v = SciPromptVerbalizer(tok, WORDS, SCORES).eval()
    g = torch.Generator().manual_seed(0)
    content = torch.randn(64, len(tok), generator=g)
    content = content - content.mean(0)  # the support set's mean content is zero
    bias = torch.zeros(len(tok))
    bias[tid(tok, "bad")] = 6.0  # the [MASK] prior strongly favours one label word
    biased = content + bias
    uncalibrated = v(biased)
    assert (uncalibrated.argmax(-1) == 0).float().mean() > 0.9  # the bias decides
    v.register_calibration(biased)  # prior = mean [MASK] logits over the support set
    assert bool(v.calibrated)
    calibrated = v(biased)
    unbiased = SciPromptVerbalizer(tok, WORDS, SCORES).eval()(content)
    # p / p_prior cancels exp(bias): calibrated outputs on biased logits equal the uncalibrated
    # outputs on the unbiased ones, and their predictions agree
    torch.testing.assert_close(calibrated, unbiased, atol=1e-4, rtol=1e-4)
    assert torch.equal(calibrated.argmax(-1), unbiased.argmax(-1))
    assert (calibrated.argmax(-1) == 0).float().mean() < 0.9
    v.clear_calibration()
    torch.testing.assert_close(v(biased), uncalibrated)


def test_pruning_drops_terms_with_a_low_prior_token(tok):
    v = SciPromptVerbalizer(
        tok, {"neg": ["bad", "awful", "terrible"], "pos": ["good", "great", "funs"]}
    )
    prior = torch.zeros(len(tok))
    prior[torch.arange(len(tok))] = torch.linspace(0, 1, len(tok))  # ranks by id
    # put "awful" and the "##s" sub-token of the two-token word "funs" at the very bottom
    for w in ("awful", "##s"):
        prior[tid(tok, w)] = -10.0
    for w in ("bad", "terrible", "good", "great", "fun"):
        prior[tid(tok, w)] = 10.0
    removed = v.prune(prior, candidate_frac=0.5)
    assert removed == {"neg": ["awful"], "pos": ["funs"]}
    assert v.word_mask.tolist() == [[True, False, True], [True, True, False]]
    assert v.kept_label_words() == {
        "neg": [("bad", 1.0), ("terrible", 1.0)],
        "pos": [("good", 1.0), ("great", 1.0)],
    }
    # pruned words get no weight and no probability mass
    logits = torch.randn(3, len(tok))
    logits[:, tid(tok, "awful")] = 50.0
    out = v.eval()(logits)
    ids = [tid(tok, w) for w in ("bad", "terrible", "good", "great")]
    logp = logits[:, ids].log_softmax(-1)
    torch.testing.assert_close(
        out, torch.stack([logp[:, :2].mean(-1), logp[:, 2:].mean(-1)], -1), atol=1e-5, rtol=1e-5
    )
    # candidate_frac 0 removes nothing
    assert SciPromptVerbalizer(tok, WORDS).prune(prior, 0.0) == {}


def test_pruning_every_term_of_a_class_keeps_its_best_or_raises_and_changes_nothing(tok):
    words = {"neg": ["bad", "awful"], "pos": ["good", "great"]}
    v = SciPromptVerbalizer(tok, words)
    prior = torch.ones(len(tok))
    prior[tid(tok, "bad")], prior[tid(tok, "awful")] = -5.0, -6.0
    prior[tid(tok, "good")], prior[tid(tok, "great")] = 5.0, 5.0
    with pytest.warns(UserWarning, match=r"classes \['neg'\]; each keeps its most probable"):
        removed = v.prune(prior, 0.5)
    assert removed == {"neg": ["awful"]} and v.word_mask.tolist() == [[True, False], [True, True]]
    v = SciPromptVerbalizer(tok, {"neg": ["bad"], "pos": ["good", "great"]})
    with pytest.raises(ValueError, match=r"every label term of classes \['neg'\]"):
        v.prune(prior, 0.5, on_empty="raise")
    assert v.word_mask.tolist() == [[True, False], [True, True]]  # (C, W): "neg" has one word
    with pytest.raises(ValueError, match="candidate_frac"):
        v.prune(prior, 1.0)
    with pytest.raises(ValueError, match="prior_mask_logits"):
        v.prune(torch.ones(3), 0.5)


def test_pruning_and_calibration_are_in_the_state_dict(tok):
    v = SciPromptVerbalizer(tok, WORDS, SCORES)
    prior = torch.randn(len(tok))
    prior[tid(tok, "awful")] = -100.0
    v.prune(prior, 0.3)
    v.register_calibration(prior)
    state = v.state_dict()
    assert {"word_weights", "word_mask", "calibration_probs", "calibrated"} <= set(state)
    w = SciPromptVerbalizer(tok, WORDS, SCORES)
    w.load_state_dict(state)
    logits = torch.randn(2, len(tok))
    torch.testing.assert_close(w.eval()(logits), v.eval()(logits))
    assert not w.word_mask[0, 1]
