"""SciPromptModel: zero-shot and few-shot modes, calibration + pruning, save/load, bad input."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

import modalprompt as mp
from modalprompt.core.config import ConfigError
from modalprompt.nlp.prompt_finetune.testing import TINY_EXAMPLES
from modalprompt.nlp.sciprompt import SciPromptConfig
from modalprompt.nlp.sciprompt.model import SciPromptModel
from modalprompt.nlp.sciprompt.testing import TINY_SCORES, TINY_TEMPLATE, TINY_TERMS
from modalprompt.nlp.sciprompt.verbalizer import SciPromptVerbalizer
from modalprompt.nlp.tiny_models import tiny_bert, tiny_bert_tokenizer
from modalprompt.nlp.verbalizers import SoftVerbalizer


@pytest.fixture(scope="module")
def tok():
    return tiny_bert_tokenizer()


def make(tok, seed=0, **kw):
    fields = {
        "template": TINY_TEMPLATE,
        "label_words": TINY_TERMS,
        "label_word_scores": TINY_SCORES,
        "max_length": 16,
        **kw,
    }
    return SciPromptModel(tiny_bert(len(tok), seed=seed), SciPromptConfig(**fields), tokenizer=tok)


def support(model):
    return DataLoader(TINY_EXAMPLES, batch_size=3, collate_fn=model.collator())


def test_registered_and_built_by_get_prompt_model(tok):
    assert "sciprompt" in mp.list_methods()
    config = SciPromptConfig(
        template=TINY_TEMPLATE, label_words=TINY_TERMS, label_word_scores=TINY_SCORES
    )
    model = mp.get_prompt_model(tiny_bert(len(tok)), config, tokenizer=tok)
    assert isinstance(model, SciPromptModel) and isinstance(model.verbalizer, SciPromptVerbalizer)
    torch.testing.assert_close(model.verbalizer.word_weights.data, torch.tensor(TINY_SCORES))


def test_few_shot_training_moves_the_weights(tok):
    model = make(tok, freeze_backbone=True)
    names = [n for n, _ in model.named_trainable_parameters()]
    assert "verbalizer.word_weights" in names and not any(n.startswith("backbone.") for n in names)
    batch = next(iter(DataLoader(TINY_EXAMPLES, batch_size=6, collate_fn=model.collator())))
    before = model.verbalizer.word_weights.detach().clone()
    opt = torch.optim.SGD(model.trainable_parameters(), lr=2.0)
    model.train()
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = model.training_step(batch)["loss"]
        loss.backward()
        opt.step()
        losses.append(loss.item())
    after = model.verbalizer.word_weights.detach()
    assert (after - before).abs().max() > 1e-2
    assert losses[-1] < losses[0]
    # padding slots never move (the weighted verbalizer masks them)
    assert after[~model.verbalizer.word_mask].abs().sum() == 0


def test_full_finetuning_is_the_default(tok):
    model = make(tok)
    assert model.train_backbone
    assert any(n.startswith("backbone.") for n, _ in model.named_trainable_parameters())
    groups = make(tok, weight_lr=0.5).param_groups()
    assert [g["name"] for g in groups] == ["default", "verbalizer"] and groups[1]["lr"] == 0.5


def test_zero_shot_calibrates_prunes_and_refuses_training(tok):
    model = make(tok, zero_shot=True, candidate_frac=0.5)
    assert model.num_parameters(trainable_only=True) == 0
    batch = next(iter(support(model)))
    with pytest.raises(RuntimeError, match="zero-shot"):
        model.training_step(batch)
    model.eval()
    raw = model(**{k: v for k, v in batch.items() if k != "labels"})["logits"]
    prior = model.calibrate(support(model))
    assert prior.shape == (len(tok),)
    # the pruning removed exactly the terms with a token in the bottom half of the prior
    low = set(torch.argsort(prior)[: len(tok) // 2].tolist())
    expected = {}
    for c, words in enumerate(TINY_TERMS):
        for w in words:
            if set(tok(w, add_special_tokens=False)["input_ids"]) & low:
                expected.setdefault(c, []).append(w)
    assert model.pruned_terms == expected
    assert bool(model.verbalizer.calibrated)
    cal = model(**{k: v for k, v in batch.items() if k != "labels"})["logits"]
    assert not torch.allclose(raw, cal)


def test_save_load_round_trip_keeps_pruning_and_calibration(tok, tmp_path):
    model = make(tok, freeze_backbone=True, candidate_frac=0.3)
    model.calibrate(support(model))
    with torch.no_grad():
        model.verbalizer.word_weights.add_(torch.randn_like(model.verbalizer.word_weights))
    model.eval()
    batch = next(iter(support(model)))
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    expected = model(**inputs)["logits"]
    model.save_pretrained(tmp_path / "ckpt")
    loaded = mp.PromptModel.from_pretrained(model.backbone, tmp_path / "ckpt", tokenizer=tok)
    assert isinstance(loaded, SciPromptModel)
    assert torch.equal(loaded.verbalizer.word_mask, model.verbalizer.word_mask)
    assert bool(loaded.verbalizer.calibrated)
    assert torch.equal(loaded(**inputs)["logits"], expected)
    # a fresh, uncalibrated model differs: the round trip is what restores the state
    fresh = make(tok, freeze_backbone=True, candidate_frac=0.3).eval()
    assert not torch.allclose(fresh(**inputs)["logits"], expected)


def test_soft_verbalizer_initialised_from_term_embeddings(tok):
    model = make(tok, verbalizer="soft", freeze_backbone=True)
    assert isinstance(model.verbalizer, SoftVerbalizer)
    emb = model.backbone.get_output_embeddings().weight.detach()
    rows = []
    for words, scores in zip(TINY_TERMS, TINY_SCORES):
        vecs = [emb[tok(w, add_special_tokens=False)["input_ids"]].mean(0) for w in words]
        w = torch.tensor(scores) / sum(scores)
        rows.append((torch.stack(vecs) * w[:, None]).sum(0))
    torch.testing.assert_close(model.verbalizer.head.weight.data, torch.stack(rows))
    batch = next(iter(support(model)))
    loss = model.training_step(batch)["loss"]
    loss.backward()
    assert model.verbalizer.head.weight.grad.abs().sum() > 0
    with pytest.raises(TypeError, match="soft verbalizer"):
        model.calibrate(support(model))


def test_bad_input_errors(tok):
    with pytest.raises(ConfigError, match="label_words"):
        SciPromptConfig(label_words=[["good"], []])
    with pytest.raises(ConfigError, match="class 1 has 2 label words, so needs 2"):
        SciPromptConfig(label_words=[["good"], ["bad", "awful"]], label_word_scores=[[1.0], [1.0]])
    with pytest.raises(ConfigError, match="candidate_frac"):
        SciPromptConfig(candidate_frac=1.0)
    with pytest.raises(ConfigError, match="zero_shot"):
        SciPromptConfig(zero_shot=True, verbalizer="soft")
    words = (("terrible", "quantum"), ("great", "good"))
    with pytest.raises(ValueError, match="cannot map 'quantum'"):
        make(tok, label_words=words, label_word_scores=None, drop_unmappable=False)
    with pytest.warns(UserWarning, match="dropped 1 label term"):
        model = make(tok, label_words=words, label_word_scores=None)
    assert model.dropped_terms == {0: ["quantum"]}
    assert model.verbalizer.label_words == [["terrible"], ["great", "good"]]
    with pytest.raises(ValueError, match="cannot map any label term of classes 0"):
        make(tok, label_words=(("quantum",), ("great",)), label_word_scores=None)


def test_config_from_label_terms_names_the_classes(tok, tmp_path):
    from modalprompt.nlp.sciprompt.terms import LabelTerms

    terms = LabelTerms.from_lists(
        {"neg": ["terrible", "quantum"], "pos": ["great", "good"]},
        {"neg": [1.0, 0.7], "pos": [1.0, 0.6]},
    )
    config = SciPromptConfig.from_terms(terms, template=TINY_TEMPLATE, max_length=16)
    assert config.class_names == ("neg", "pos")
    config.to_json(tmp_path / "c.json")
    assert SciPromptConfig.from_json(tmp_path / "c.json") == config
    with pytest.warns(UserWarning, match="dropped 1"):
        model = SciPromptModel(tiny_bert(len(tok)), config, tokenizer=tok)
    assert model.dropped_terms == {"neg": ["quantum"]}
    assert model.verbalizer.kept_label_words() == {
        "neg": [("terrible", 1.0)],
        "pos": [("great", 1.0), ("good", pytest.approx(0.6))],
    }
    with pytest.raises(ConfigError, match="class_names: 1 names for 2 classes"):
        config.replace(class_names=["neg"])


def test_few_shot_pipeline_with_the_trainer(tok):
    """Official order: calibrate (prune + prior) on the training texts, then fine-tune."""
    model = make(tok, candidate_frac=0.3, weight_lr=0.05)
    model.calibrate(support(model))
    mask = model.verbalizer.word_mask.clone()
    alpha = model.verbalizer.word_weights.detach().clone()
    args = mp.TrainingArguments(
        max_steps=30,
        batch_size=6,
        lr=3e-3,
        device="cpu",
        verbose=False,
        tensorboard=False,
        eval_strategy="no",
    )
    mp.Trainer(model, args, train_data=TINY_EXAMPLES, collate_fn=model.collator()).fit()
    probs = model.predict_proba(TINY_EXAMPLES)
    assert probs.argmax(-1).tolist() == [e["label"] for e in TINY_EXAMPLES]
    assert torch.equal(model.verbalizer.word_mask, mask)  # training keeps the pruning
    moved = (model.verbalizer.word_weights.detach() - alpha)[mask]
    assert moved.abs().max() > 1e-3


def test_calibrate_that_would_empty_a_class_keeps_its_most_probable_term(tok):
    model = make(tok, zero_shot=True, candidate_frac=0.99)
    with pytest.warns(UserWarning, match="each keeps its most probable term"):
        model.calibrate(support(model))
    kept = model.verbalizer.word_mask.sum(-1)
    assert int(kept.min()) >= 1 and int(kept.sum()) < 8  # pruned, but no class left empty
