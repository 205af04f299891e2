"""Stage 2: masked-LM continued pre-training lowers the MLM loss and saves a safetensors model."""

import pytest
import torch

from modalprompt.core.model import freeze
from modalprompt.nlp.pcp.corpus import build_pcp_corpus
from modalprompt.nlp.pcp.pretrain import continued_pretraining, mlm_loss
from modalprompt.nlp.templates import Template
from modalprompt.nlp.tiny_models import tiny_bert, tiny_bert_tokenizer

POOL = [
    {"text_a": "a great movie"},
    {"text_a": "the worst plot"},
    {"text_a": "i love this film"},
    {"text_a": "boring and awful acting"},
    {"text_a": "very fun story"},
    {"text_a": "bad , not good"},
]


def _corpus(tok):
    tmpl = Template("{text_a} it was {mask} .", tok)
    return build_pcp_corpus(POOL, [1, 0, 1, 0, 1, 0], tmpl, ["terrible", "great"])


def test_stage2_lowers_mlm_loss_and_saves_safetensors(tmp_path):
    from transformers import AutoModelForMaskedLM

    tok = tiny_bert_tokenizer()
    model = tiny_bert(len(tok))
    corpus = _corpus(tok) * 2
    before = mlm_loss(model, tok, corpus, mlm_probability=0.3, seed=1)
    result = continued_pretraining(
        model,
        tok,
        corpus,
        tmp_path / "ckpt",
        lr=3e-3,
        batch_size=4,
        grad_accumulation_steps=1,
        max_steps=40,
        warmup_ratio=0.1,
        device="cpu",
    )
    after = mlm_loss(model, tok, corpus, mlm_probability=0.3, seed=1)
    assert result.steps == 40 and len(result.losses) == 40
    assert after < 0.85 * before, (before, after)
    files = {p.name for p in (tmp_path / "ckpt").iterdir()}
    assert "model.safetensors" in files and "config.json" in files
    assert not any(f.endswith((".bin", ".pt", ".pkl")) for f in files)
    reloaded = AutoModelForMaskedLM.from_pretrained(str(tmp_path / "ckpt"))
    for (name, a), b in zip(model.state_dict().items(), reloaded.state_dict().values()):
        assert torch.equal(a, b), name
    assert mlm_loss(reloaded, tok, corpus, mlm_probability=0.3, seed=1) == pytest.approx(after)


def test_epochs_grad_accumulation_and_frozen_input():
    tok = tiny_bert_tokenizer()
    model = freeze(tiny_bert(len(tok)))
    corpus = _corpus(tok)  # 6 lines, batch 2 → 3 batches, accumulation 2 → 2 steps per epoch
    result = continued_pretraining(
        model,
        tok,
        corpus,
        None,
        batch_size=2,
        grad_accumulation_steps=2,
        epochs=3,
        device="cpu",
    )
    assert result.steps == 6 and result.output_dir is None
    assert all(p.requires_grad for p in model.parameters())  # unfrozen to be trained
    assert not model.training


def test_bad_input():
    tok = tiny_bert_tokenizer()
    model = tiny_bert(len(tok))
    with pytest.raises(ValueError, match="texts: expected a non-empty list"):
        continued_pretraining(model, tok, [], None, max_steps=1)
    with pytest.raises(ValueError, match=r"texts: lines \[1\]"):
        continued_pretraining(model, tok, ["a b", "  "], None, max_steps=1)
    with pytest.raises(ValueError, match="mlm_probability"):
        continued_pretraining(model, tok, ["a b"], None, mlm_probability=0.0)


def test_batches_without_a_masked_token_add_nothing_instead_of_nan():
    tok = tiny_bert_tokenizer()
    model = tiny_bert(len(tok))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = continued_pretraining(
        model,
        tok,
        ["a b", "c d"],
        None,
        mlm_probability=1e-9,  # nothing is masked
        weight_decay=0.0,
        batch_size=1,
        grad_accumulation_steps=1,
        max_steps=2,
        device="cpu",
    )
    assert result.losses == [0.0, 0.0]
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
