"""PromptForClassification: frozen vs trainable backbone, lazy collate, overfitting a tiny set."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from modalprompt.nlp.classification import PromptCollator, PromptForClassification
from modalprompt.nlp.templates import Template
from modalprompt.nlp.tiny_models import (
    tiny_bert,
    tiny_bert_tokenizer,
    tiny_roberta,
    tiny_roberta_tokenizer,
)
from modalprompt.nlp.verbalizers import ManualVerbalizer, SoftVerbalizer

EXAMPLES = [
    {"text_a": "the movie was fun", "label": 1},
    {"text_a": "the film was boring", "label": 0},
    {"text_a": "i love this story", "label": 1},
    {"text_a": "i hate the acting", "label": 0},
    {"text_a": "best plot , very good", "label": 1},
    {"text_a": "worst film , so bad", "label": 0},
    {"text_a": "a wonderful movie", "label": 1},
    {"text_a": "an awful story", "label": 0},
]


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models: one intra-op thread (on a loaded 2-core box OpenMP wake-ups cost ~10 ms/op)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def tok():
    return tiny_bert_tokenizer()


def build(tok, freeze=True, template="{text_a} it was {mask} .", soft=False):
    torch.manual_seed(0)
    backbone = tiny_bert(len(tok))
    tmpl = Template(template, tok)
    if soft:
        verb = SoftVerbalizer(tok, ["terrible", "great"], backbone.get_output_embeddings().weight)
    else:
        verb = ManualVerbalizer(tok, ["terrible", "great"])
    return PromptForClassification(backbone, tmpl, verb, freeze_backbone=freeze)


def test_collate_pads_and_locates_mask(tok):
    collate = PromptCollator(Template("{text_a} it was {mask} .", tok), max_length=8)
    batch = collate(EXAMPLES[:3])
    ids = batch["input_ids"]
    assert ids.shape[0] == 3 and ids.shape[1] <= 8
    rows = torch.arange(3)
    assert (ids[rows, batch["mask_positions"]] == tok.mask_token_id).all()
    assert (ids[batch["attention_mask"] == 0] == tok.pad_token_id).all()
    assert batch["labels"].tolist() == [1, 0, 1]
    mapped = PromptCollator(collate.template, label_map={"pos": 1, "neg": 0})
    assert mapped([{"text_a": "the", "label": "neg"}])["labels"].tolist() == [0]
    with pytest.raises(ValueError, match="label"):
        mapped([{"text_a": "the", "label": "meh"}])


def test_padding_does_not_change_logits(tok):
    model = build(tok).eval()
    collate = PromptCollator(model.template)
    alone = model(**collate(EXAMPLES[:1]))["logits"]
    padded = model(**collate([EXAMPLES[0], {"text_a": "the movie " * 8, "label": 0}]))["logits"]
    torch.testing.assert_close(alone[0], padded[0], atol=1e-5, rtol=1e-4)


def test_frozen_backbone_gets_no_grads_and_stays_in_eval(tok):
    model = build(tok, template="{soft:it was} {text_a} {mask} .")
    model.train()
    assert not model.backbone.training
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    out = model(**PromptCollator(model.template)(EXAMPLES))
    out["loss"].backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert model.soft_embeds.grad is not None and model.soft_embeds.grad.abs().sum() > 0
    opt.step()
    after = model.backbone.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"soft_embeds"}


def test_soft_tokens_initialised_from_words_and_change_output(tok):
    model = build(tok, template="{soft:it was} {text_a} {mask} .")
    emb = model.backbone.get_input_embeddings().weight
    torch.testing.assert_close(
        model.soft_embeds.data, emb[tok.convert_tokens_to_ids(["it", "was"])]
    )
    hard = build(tok, template="it was {text_a} {mask} .")
    batch_soft = PromptCollator(model.template)(EXAMPLES[:2])
    batch_hard = PromptCollator(hard.template)(EXAMPLES[:2])
    torch.testing.assert_close(model(**batch_soft)["logits"], hard(**batch_hard)["logits"])
    with torch.no_grad():
        model.soft_embeds.add_(torch.randn_like(model.soft_embeds))
    assert not torch.allclose(model(**batch_soft)["logits"], hard(**batch_hard)["logits"])


def test_unfrozen_backbone_trains(tok):
    model = build(tok, freeze=False).train()
    assert model.backbone.training
    model(**PromptCollator(model.template)(EXAMPLES))["loss"].backward()
    assert model.backbone.get_input_embeddings().weight.grad is not None


@pytest.mark.parametrize("soft", [False, True])
def test_overfits_eight_examples(tok, soft):
    model = build(tok, freeze=False, soft=soft).train()
    loader = DataLoader(EXAMPLES, batch_size=8, collate_fn=PromptCollator(model.template))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    batch = next(iter(loader))
    first = None
    for _ in range(40):
        loss = model(**batch)["loss"]
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        out = model(**batch)
    assert (out["logits"].argmax(-1) == batch["labels"]).all()
    assert out["loss"].item() < 0.1 * first


def test_calibrate_registers_prior(tok):
    model = build(tok)
    loader = DataLoader(EXAMPLES, batch_size=3, collate_fn=PromptCollator(model.template))
    prior = model.calibrate(loader)
    assert prior.shape == (len(tok),)
    batch = PromptCollator(model.template)(EXAMPLES)
    mask_logits, _ = model.mask_outputs(
        batch["input_ids"], batch["attention_mask"], batch["mask_positions"]
    )
    torch.testing.assert_close(prior, mask_logits.mean(0), atol=1e-5, rtol=1e-5)
    assert model.verbalizer.calibration_probs.numel() == 2


def test_roberta_backbone():
    tok = tiny_roberta_tokenizer()
    model = PromptForClassification(
        tiny_roberta(len(tok)),
        Template("{text_a} it was {mask}", tok),
        ManualVerbalizer(tok, ["g", "great"]),
    )
    out = model(**PromptCollator(model.template)([{"text_a": "a b", "label": 1}]))
    assert out["logits"].shape == (1, 2) and torch.isfinite(out["loss"])


def test_bad_backbone(tok):
    with pytest.raises(TypeError, match="backbone"):
        PromptForClassification(
            torch.nn.Linear(2, 2),
            Template("{text_a} {mask}", tok),
            ManualVerbalizer(tok, ["bad", "good"]),
        )
