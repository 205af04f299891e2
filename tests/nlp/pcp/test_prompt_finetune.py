"""prompt_finetune: registry wiring, frozen vs trained backbone, parity with
PromptForClassification, save/load with the tokenizer, and fitting a tiny set."""

import copy

import pytest
import torch

import modalprompt as mp
from modalprompt.core.config import ConfigError
from modalprompt.core.testing import check_prompt_model
from modalprompt.nlp.classification import PromptCollator, PromptForClassification
from modalprompt.nlp.prompt_finetune.model import PromptFinetuneModel
from modalprompt.nlp.prompt_finetune.testing import TINY_EXAMPLES, tiny_tokenizer_dir
from modalprompt.nlp.templates import Template
from modalprompt.nlp.tiny_models import tiny_bert, tiny_bert_tokenizer
from modalprompt.nlp.verbalizers import ManualVerbalizer

TEMPLATE = "{text_a} it was {mask} ."
WORDS = [["terrible", "bad"], ["great"]]


@pytest.fixture
def tok():
    return tiny_bert_tokenizer()


def _batch(model):
    return model.collator()(TINY_EXAMPLES)


def test_get_config_and_model_trains_whole_lm(tok):
    config = mp.get_config("prompt_finetune", template=TEMPLATE, label_words=WORDS)
    model = mp.get_prompt_model(tiny_bert(len(tok)), config, tokenizer=tok)
    assert isinstance(model, PromptFinetuneModel) and model.train_backbone
    assert model.num_parameters(trainable_only=True) == model.num_parameters()
    out = model(**_batch(model))
    assert out["logits"].shape == (6, 2) and out["loss"].ndim == 0


def test_same_logits_as_prompt_for_classification(tok):
    backbone = tiny_bert(len(tok))
    config = mp.get_config("prompt_finetune", template=TEMPLATE, label_words=WORDS)
    model = mp.get_prompt_model(copy.deepcopy(backbone), config, tokenizer=tok).eval()
    plain = PromptForClassification(
        backbone, Template(TEMPLATE, tok), ManualVerbalizer(tok, WORDS), freeze_backbone=False
    ).eval()
    batch = PromptCollator(plain.template, 128)(TINY_EXAMPLES)
    torch.testing.assert_close(model(**batch)["logits"], plain(**batch)["logits"])


def test_frozen_backbone_trains_soft_tokens_only(tok):
    config = mp.get_config(
        "prompt_finetune",
        template="{text_a} {soft:it was} {mask} .",
        freeze_backbone=True,
        tokenizer=tiny_tokenizer_dir(),
        max_length=16,
    )
    model = mp.get_prompt_model(tiny_bert(len(tok)), config)  # tokenizer from config
    assert not model.train_backbone
    assert [n for n, _ in model.named_trainable_parameters()] == ["soft_embeds"]
    check_prompt_model(model, _batch(model))


def test_save_and_load_with_tokenizer_kwarg(tok, tmp_path):
    backbone = tiny_bert(len(tok))
    config = mp.get_config("prompt_finetune", template=TEMPLATE, label_words=WORDS)
    model = mp.get_prompt_model(copy.deepcopy(backbone), config, tokenizer=tok)
    model.training_step(_batch(model))["loss"].backward()
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    model.eval().save_pretrained(tmp_path / "m")
    loaded = PromptFinetuneModel.from_pretrained(backbone, tmp_path / "m", tokenizer=tok)
    batch = _batch(model)
    assert torch.equal(model(**batch)["logits"], loaded(**batch)["logits"])


def test_fits_a_tiny_set(tok):
    config = mp.get_config("prompt_finetune", template=TEMPLATE, max_length=16)
    model = mp.get_prompt_model(tiny_bert(len(tok)), config, tokenizer=tok)
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


def test_bad_config_and_missing_tokenizer(tok):
    with pytest.raises(ConfigError, match="freeze_backbone"):
        mp.get_config("prompt_finetune", freeze_backbone=True)
    with pytest.raises(ConfigError, match="exactly one"):
        mp.get_config("prompt_finetune", template="{text_a} great")
    with pytest.raises(ConfigError, match="label_words"):
        mp.get_config("prompt_finetune", label_words=[["great"]])
    with pytest.raises(ConfigError, match="label_words"):
        mp.get_config("prompt_finetune", label_words=[["great"], [""]])
    config = mp.get_config("prompt_finetune", template=TEMPLATE)
    with pytest.raises(
        ValueError,
        match=r"^tokenizer: pass tokenizer=<the backbone's Hugging Face tokenizer> or set "
        r"config\.tokenizer to its name or local folder$",
    ):
        mp.get_prompt_model(tiny_bert(len(tok)), config)
    with pytest.raises(ValueError, match="tokenizer: .* backbone embeds only 10"):
        mp.get_prompt_model(tiny_bert(10), config, tokenizer=tok)
