"""Prompt-based fine-tuning with PEFT LoRA adapters instead of the whole backbone (issue 16):
only the adapters train, checkpoints hold only them, a reload gives the same logits."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("peft")

import modalprompt as mp  # noqa: E402
from modalprompt.core.config import ConfigError  # noqa: E402
from modalprompt.nlp.prompt_finetune.testing import TINY_EXAMPLES  # noqa: E402
from modalprompt.nlp.tiny_models import (  # noqa: E402
    tiny_bert,
    tiny_bert_tokenizer,
    tiny_causal_lm,
    tiny_roberta_tokenizer,
)


def _decoder_model(**overrides):
    tok = tiny_roberta_tokenizer()
    torch.manual_seed(0)
    backbone = tiny_causal_lm("llama", vocab_size=len(tok), max_positions=128)
    config = mp.get_config(
        "prompt_finetune",
        template="{text_a} It was {mask}",
        label_words=[["terrible"], ["great"]],
        **{"lora_r": 4, **overrides},
    )
    return mp.get_prompt_model(backbone, config, tokenizer=tok), tok


def test_only_lora_adapters_train_and_the_base_weights_stay(tmp_path):
    model, tok = _decoder_model()
    trainable = [n for n, p in model.backbone.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert any("q_proj.lora_A" in n for n in trainable)  # PEFT's Llama default: q, v
    base = {n: p.detach().clone() for n, p in model.backbone.named_parameters() if "lora_" not in n}
    batch = model.collator()(TINY_EXAMPLES)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    for _ in range(3):
        optimizer.zero_grad()
        model.training_step(batch)["loss"].backward()
        optimizer.step()
    for name, p in model.backbone.named_parameters():
        if "lora_" not in name:
            assert torch.equal(p, base[name]), name
    state = model.prompt_state_dict()  # the adapters and the prompt's own (soft) parts
    backbone_keys = [k for k in state if k.startswith("backbone.")]
    assert backbone_keys and all("lora_" in k for k in backbone_keys)
    model.eval()
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    with torch.no_grad():
        expected = model(**inputs)["logits"]
    model.save_pretrained(tmp_path / "m")
    torch.manual_seed(0)
    fresh = tiny_causal_lm("llama", vocab_size=len(tok), max_positions=128)
    reloaded = mp.PromptModel.from_pretrained(fresh, tmp_path / "m", tokenizer=tok).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(**inputs)["logits"], expected)


def test_lora_on_a_masked_lm_with_explicit_targets():
    tok = tiny_bert_tokenizer()
    config = mp.get_config(
        "prompt_finetune",
        template="{text_a} it was {mask} .",
        label_words=[["terrible"], ["great"]],
        lora_r=2,
        lora_target_modules=["query", "value"],
    )
    model = mp.get_prompt_model(tiny_bert(len(tok)), config, tokenizer=tok)
    names = [n for n, p in model.backbone.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n and ("query" in n or "value" in n) for n in names)


def test_bad_lora_settings_are_named():
    with pytest.raises(ConfigError, match="lora_r"):
        mp.get_config("prompt_finetune", lora_r=0)
    with pytest.raises(ValueError, match="lora_target_modules"):
        _decoder_model(lora_target_modules=["no_such_module"])


def test_lora_rank_scaling_and_dropout_come_from_the_config():
    model, _ = _decoder_model(lora_r=3, lora_alpha=12.0, lora_dropout=0.25)
    layers = [m for m in model.backbone.modules() if hasattr(m, "lora_A")]
    assert layers
    for layer in layers:
        assert layer.r["default"] == 3
        assert layer.lora_A["default"].weight.shape[0] == 3
        assert layer.scaling["default"] == pytest.approx(12.0 / 3)
        assert layer.lora_dropout["default"].p == pytest.approx(0.25)


def test_missing_peft_is_named(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_peft(name, *args, **kwargs):
        if name == "peft" or name.startswith("peft."):
            raise ImportError("No module named 'peft'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_peft)
    with pytest.raises(ImportError, match=r"config.lora_r: LoRA needs the peft package"):
        _decoder_model()
