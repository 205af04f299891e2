"""SciPrompt's ``calibrate=False``: pruning still runs, the [MASK] prior is not applied (issue 22).

Every other test calibrates with the default ``calibrate=True``; these pin the switch: the same
terms are pruned, ``calibrated`` stays off (and a calibration registered before is cleared), and
the logits are those of the calibrated model with its calibration removed.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from modalprompt.nlp.prompt_finetune.testing import TINY_EXAMPLES
from modalprompt.nlp.sciprompt import SciPromptConfig
from modalprompt.nlp.sciprompt.model import SciPromptModel
from modalprompt.nlp.sciprompt.testing import TINY_SCORES, TINY_TEMPLATE, TINY_TERMS
from modalprompt.nlp.tiny_models import tiny_bert, tiny_bert_tokenizer


@pytest.fixture(scope="module")
def tok():
    return tiny_bert_tokenizer()


def _make(tok, **kw):
    config = SciPromptConfig(
        template=TINY_TEMPLATE,
        label_words=TINY_TERMS,
        label_word_scores=TINY_SCORES,
        max_length=16,
        zero_shot=True,
        **kw,
    )
    return SciPromptModel(tiny_bert(len(tok), seed=0), config, tokenizer=tok).eval()


def _support(model):
    return DataLoader(TINY_EXAMPLES, batch_size=3, collate_fn=model.collator())


def _logits(model):
    batch = next(iter(_support(model)))
    with torch.no_grad():
        return model(**{k: v for k, v in batch.items() if k != "labels"})["logits"]


def test_calibrate_false_prunes_but_does_not_calibrate(tok):
    """Guards the switch in both directions: pruning independent of it, prior only with it."""
    on, off = _make(tok, candidate_frac=0.5), _make(tok, candidate_frac=0.5, calibrate=False)
    on.calibrate(_support(on))
    off.calibrate(_support(off))
    assert off.pruned_terms == on.pruned_terms and off.pruned_terms  # pruning happened
    assert torch.equal(off.verbalizer.word_mask, on.verbalizer.word_mask)
    assert bool(on.verbalizer.calibrated) and not bool(off.verbalizer.calibrated)
    calibrated = _logits(on)
    on.verbalizer.clear_calibration()
    torch.testing.assert_close(_logits(off), _logits(on))
    assert not torch.allclose(_logits(off), calibrated)


def test_calibrate_false_clears_an_earlier_calibration(tok):
    """A calibration registered by hand (or loaded) is switched off by ``calibrate()`` when the
    config says ``calibrate=False``; with nothing to prune the logits are the raw ones."""
    model = _make(tok, candidate_frac=0.0, calibrate=False)
    raw = _logits(model)
    model.verbalizer.register_calibration(torch.randn(len(tok)))
    assert not torch.allclose(_logits(model), raw)
    model.calibrate(_support(model))
    assert not bool(model.verbalizer.calibrated) and model.pruned_terms == {}
    torch.testing.assert_close(_logits(model), raw)
