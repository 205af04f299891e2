"""Vanilla prompt tuning: equal to PEFT given the same prompt, init, save/load, generate, errors."""

from __future__ import annotations

import contextlib
import copy
import io

import pytest
import torch

pytest.importorskip("transformers")

import modalprompt as mp  # noqa: E402
from modalprompt.core.config import ConfigError  # noqa: E402
from modalprompt.nlp.prompt_tuning.config import PromptTuningConfig  # noqa: E402
from modalprompt.nlp.prompt_tuning.model import PromptTuningModel  # noqa: E402
from modalprompt.nlp.tiny_models import (  # noqa: E402
    TINY_CAUSAL_ARCHS,
    tiny_bert,
    tiny_bert_classifier,
    tiny_bert_tokenizer,
    tiny_causal_lm,
    tiny_t5,
)

N = 4


@pytest.fixture(scope="module", autouse=True)
def _import_model_modules_once():
    """Importing the transformers model modules takes seconds once; pay it in the setup."""
    tiny_bert_classifier(), tiny_t5()
    for arch in TINY_CAUSAL_ARCHS:
        tiny_causal_lm(arch)


def _pt(backbone, tokenizer=None, **overrides) -> PromptTuningModel:
    config = mp.get_config("prompt_tuning", **overrides)
    return mp.get_prompt_model(backbone, config, tokenizer=tokenizer)


def _batch(side: str, vocab: int, seed: int = 0):
    """(3, 6) ids/mask; rows have 6, 4 and 2 real tokens padded (id 0) on ``side``."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (3, 6), generator=g)
    mask = torch.ones_like(ids)
    for row, real in ((1, 4), (2, 2)):
        cols = slice(0, 6 - real) if side == "left" else slice(real, 6)
        mask[row, cols], ids[row, cols] = 0, 0
    return ids, mask


def _printed(model) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        model.print_trainable_parameters()
    return out.getvalue()


# --------------------------------------------------------------------------- PEFT parity
def _peft(backbone, task_type: str, prompt: torch.Tensor):
    peft = pytest.importorskip("peft")
    config = peft.PromptTuningConfig(task_type=task_type, num_virtual_tokens=prompt.size(0))
    model = peft.get_peft_model(backbone, config)
    with torch.no_grad():
        model.prompt_encoder["default"].embedding.weight[: prompt.size(0)] = prompt
    return model.eval()


@pytest.mark.parametrize("side", ["right", "left"])
def test_bert_classifier_equals_peft(side):
    base = tiny_bert_classifier(num_labels=3)
    reference = _peft(copy.deepcopy(base), "SEQ_CLS", torch.zeros(N, 32))
    ours = _pt(base, num_virtual_tokens=N, task="classification", init="vocab").eval()
    with torch.no_grad():
        reference.prompt_encoder["default"].embedding.weight.copy_(ours.prompt_embeddings)
    ids, mask = _batch(side, base.config.vocab_size)
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
    labels = torch.tensor([0, 2, 1])
    with torch.no_grad():
        expected = reference(**batch, labels=labels)
        logits = ours(**batch)
        loss = ours.training_step({**batch, "labels": labels})["loss"]
    assert (logits - expected.logits).abs().max().item() == 0.0
    assert (loss - expected.loss).abs().item() == 0.0
    assert _printed(ours) == _printed(reference)  # PEFT's format and the same counts


def _causal_pair(arch: str, placement: str = "before_text"):
    base = tiny_causal_lm(arch)
    reference = _peft(copy.deepcopy(base), "CAUSAL_LM", torch.zeros(N, 32))
    ours = _pt(base, num_virtual_tokens=N, placement=placement).eval()
    with torch.no_grad():
        reference.prompt_encoder["default"].embedding.weight.copy_(ours.prompt_embeddings)
    return ours, reference


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_causal_lm_equals_peft_right_padding(arch):
    ours, reference = _causal_pair(arch)
    ids, mask = _batch("right", 64)
    labels = ids.masked_fill(mask == 0, -100)
    with torch.no_grad():
        out = ours(input_ids=ids, attention_mask=mask, labels=labels)
        expected = reference(input_ids=ids, attention_mask=mask, labels=labels)
    real = out.injected.kwargs["attention_mask"].bool()  # padding positions are never scored
    assert (out.logits - expected.logits)[real].abs().max().item() == 0.0
    assert (out.loss - expected.loss).abs().item() == 0.0
    assert _printed(ours) == _printed(reference)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_causal_lm_left_padding_start_placement_equals_peft(arch):
    """``placement="start"`` reproduces PEFT's left-padded layout bit for bit."""
    ours, reference = _causal_pair(arch, placement="start")
    ids, mask = _batch("left", 64)
    labels = ids.masked_fill(mask == 0, -100)
    with torch.no_grad():
        out = ours(input_ids=ids, attention_mask=mask, labels=labels)
        expected = reference(input_ids=ids, attention_mask=mask, labels=labels)
    assert torch.equal(out.logits, expected.logits) and torch.equal(out.loss, expected.loss)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_causal_lm_left_padding_equals_peft_on_unpadded_rows(arch):
    """Default placement: each left-padded row equals PEFT on that row without padding (PEFT's
    own left-padded output differs for GPT-2, whose positions are absolute: peft#1093)."""
    ours, reference = _causal_pair(arch)
    ids, mask = _batch("left", 64)
    with torch.no_grad():
        out = ours(input_ids=ids, attention_mask=mask)
        logits = ours.text_logits(out)
        for row in range(3):
            real = mask[row].bool()
            alone = reference(input_ids=ids[row : row + 1, real]).logits[0, N:]
            assert (logits[row, real] - alone).abs().max().item() < 1e-5


def test_seq2seq_equals_peft():
    base = tiny_t5()
    ours = _pt(base, num_virtual_tokens=N, init="vocab").eval()
    reference = _peft(copy.deepcopy(base), "SEQ_2_SEQ_LM", ours.prompt_embeddings.detach())
    ids, mask = _batch("right", 64)
    labels = torch.randint(3, 64, (3, 4))
    with torch.no_grad():
        out = ours(input_ids=ids, attention_mask=mask, labels=labels)
        expected = reference(input_ids=ids, attention_mask=mask, labels=labels)
    assert torch.equal(out.logits, expected.logits) and torch.equal(out.loss, expected.loss)


def test_text_init_equals_peft(tmp_path):
    peft = pytest.importorskip("peft")
    tokenizer = tiny_bert_tokenizer()
    tokenizer.save_pretrained(tmp_path)
    text = "the movie was great"
    base = tiny_bert(vocab_size=len(tokenizer))
    reference = peft.get_peft_model(
        copy.deepcopy(base),
        peft.PromptTuningConfig(
            task_type="FEATURE_EXTRACTION",
            num_virtual_tokens=9,
            prompt_tuning_init="TEXT",
            prompt_tuning_init_text=text,
            tokenizer_name_or_path=str(tmp_path),
        ),
    )
    ours = _pt(base, num_virtual_tokens=9, init="text", init_text=text, tokenizer=tokenizer)
    expected = reference.prompt_encoder["default"].embedding.weight
    assert torch.equal(ours.prompt_embeddings, expected)
    ids = tuple(tokenizer(text)["input_ids"])  # [CLS] the movie was great [SEP]
    assert ours.config.init_token_ids == ids


@pytest.mark.parametrize("kind", ["classifier", "causal"])
def test_load_a_peft_adapter(tmp_path, kind):
    base = tiny_bert_classifier() if kind == "classifier" else tiny_causal_lm("gpt2")
    task = "SEQ_CLS" if kind == "classifier" else "CAUSAL_LM"
    reference = _peft(copy.deepcopy(base), task, torch.randn(N, 32))
    if kind == "classifier":  # a "trained" head
        with torch.no_grad():
            reference.base_model.classifier.modules_to_save["default"].weight.add_(1.0)
    reference.save_pretrained(tmp_path)
    ours = PromptTuningModel.from_peft(base, tmp_path)
    assert ours.config.task == ("classification" if kind == "classifier" else "lm")
    ids, mask = _batch("right", base.config.vocab_size)
    with torch.no_grad():
        expected = reference(input_ids=ids, attention_mask=mask).logits
        out = ours.backbone_forward(input_ids=ids, attention_mask=mask)
    if kind == "classifier":
        assert torch.equal(out.logits, expected)
    else:  # padding positions are never scored
        real = out.injected.kwargs["attention_mask"].bool()
        assert torch.equal(out.logits[real], expected[real])
    with pytest.raises(FileNotFoundError, match="directory: .* is not a PEFT adapter"):
        PromptTuningModel.from_peft(base, tmp_path / "missing")
    # config overrides reach the loaded model (PEFT's own layout: virtual tokens first)
    assert PromptTuningModel.from_peft(base, tmp_path, placement="start").config.placement == (
        "start"
    )


def test_get_prompt_is_the_learned_prompt_repeated_per_row():
    model = _pt(tiny_bert_classifier(), num_virtual_tokens=N)
    assert model.get_prompt() is model.prompt_embeddings
    batched = model.get_prompt(batch_size=3)
    assert batched.shape == (3, N, 32)
    for row in batched:
        assert torch.equal(row, model.prompt_embeddings)
    batched.sum().backward()  # every row is the same parameter: each contributes a gradient
    assert torch.equal(model.prompt_embeddings.grad, torch.full((N, 32), 3.0))


# ------------------------------------------------------------------------ init and config
def test_vocab_and_random_init():
    base = tiny_causal_lm("gpt2")
    table = base.get_input_embeddings().weight
    vocab = _pt(base, num_virtual_tokens=N, init="vocab", seed=3).prompt_embeddings
    assert all((table == row).all(1).any() for row in vocab)
    again = _pt(tiny_causal_lm("gpt2"), num_virtual_tokens=N, init="vocab", seed=3)
    assert torch.equal(again.prompt_embeddings, vocab)  # seeded
    random = _pt(tiny_causal_lm("gpt2"), num_virtual_tokens=50).prompt_embeddings
    assert random.dtype == torch.float32
    assert 0.5 < random.std().item() / table.std().item() < 2.0


def test_text_init_without_tokenizer_names_the_argument():
    with pytest.raises(ValueError, match="tokenizer: init='text'"):
        _pt(tiny_causal_lm("gpt2"), init="text", init_text="hello")
    model = _pt(tiny_causal_lm("gpt2"), num_virtual_tokens=5, init="text", init_token_ids=[7, 8])
    table = model.backbone.get_input_embeddings().weight
    assert torch.equal(model.prompt_embeddings, table[[7, 8, 7, 8, 7]])
    with pytest.raises(ValueError, match="init_token_ids: ids \\[999\\]"):
        _pt(tiny_causal_lm("gpt2"), init="text", init_token_ids=[999])


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"num_virtual_tokens": 0}, "num_virtual_tokens"),
        ({"init": "zeros"}, "init"),
        ({"init": "text"}, "init_text"),
        ({"init_text": "hi"}, "init"),
        ({"task": "seq_cls"}, "task"),
        ({"placement": "end"}, "placement"),
        ({"train_head": "yes"}, "train_head"),
    ],
)
def test_config_errors_name_the_field(overrides, field):
    with pytest.raises(ConfigError, match=f"PromptTuningConfig.{field}"):
        PromptTuningConfig(**overrides)


def test_defaults():
    config = mp.get_config("prompt_tuning")
    assert isinstance(config, PromptTuningConfig)
    assert (config.num_virtual_tokens, config.init, config.task) == (20, "random", "lm")


# ------------------------------------------------------------------------ model behaviour
def test_save_load_lm_without_tokenizer(tmp_path):
    tokenizer = tiny_bert_tokenizer()
    base = tiny_causal_lm("llama", vocab_size=len(tokenizer))
    model = _pt(
        base, num_virtual_tokens=N, init="text", init_text="great movie", tokenizer=tokenizer
    )
    with torch.no_grad():
        model.prompt_embeddings.add_(0.1)  # "trained"
    ids, mask = _batch("left", len(tokenizer))
    model.save_pretrained(tmp_path)
    again = mp.PromptModel.from_pretrained(base, tmp_path)  # init_token_ids are in config.json
    assert isinstance(again, PromptTuningModel) and again.config == model.config
    assert torch.equal(again.prompt_embeddings, model.prompt_embeddings)
    with torch.no_grad():
        a = model.eval()(input_ids=ids, attention_mask=mask).logits
        b = again(input_ids=ids, attention_mask=mask).logits
    assert torch.equal(a, b)


def test_classification_head_is_a_trainable_copy():
    base = tiny_bert_classifier(num_labels=3)
    original = base.classifier.weight.detach().clone()
    model = _pt(base, num_virtual_tokens=N, task="classification")
    names = sorted(n for n, _ in model.named_trainable_parameters())
    assert names == ["head.bias", "head.weight", "prompt_embeddings"]
    ids, mask = _batch("right", base.config.vocab_size)
    batch = {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([0, 1, 2])}
    losses = []
    for _ in range(5):  # plain gradient descent (a torch optimizer's first step is slow)
        loss = model.training_step(batch)["loss"]
        grads = torch.autograd.grad(loss, model.trainable_parameters())
        with torch.no_grad():
            for param, grad in zip(model.trainable_parameters(), grads):
                param -= 1.0 * grad
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert torch.equal(base.classifier.weight, original)  # the backbone's head is untouched
    with torch.no_grad():  # the backbone alone still uses its own head
        plain = base(input_ids=ids, attention_mask=mask).logits
        assert torch.equal(plain, base.classifier(base.bert(ids, attention_mask=mask)[1]))
    frozen = _pt(tiny_bert_classifier(), task="classification", train_head=False)
    assert [n for n, _ in frozen.named_trainable_parameters()] == ["prompt_embeddings"]


def test_lm_training_step_and_metrics():
    model = _pt(tiny_causal_lm("qwen2"), num_virtual_tokens=N)
    ids, mask = _batch("left", 64)
    batch = {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}
    loss = model.training_step(batch)["loss"]
    loss.backward()
    assert model.prompt_embeddings.grad is not None
    assert not any(p.grad is not None for p in model.backbone.parameters())
    outputs = model.validation_step(batch)
    metrics = model.compute_metrics(outputs)
    assert metrics["perplexity"] == pytest.approx(torch.exp(outputs["loss"]).item(), rel=1e-5)


def test_generate_with_and_without_cache():
    model = _pt(tiny_causal_lm("llama"), num_virtual_tokens=N, init="vocab")
    ids, mask = _batch("left", 64)
    kwargs = {"max_new_tokens": 4, "min_new_tokens": 4, "do_sample": False, "pad_token_id": 0}
    cached = model.generate(ids, mask, use_cache=True, **kwargs)
    assert torch.equal(cached, model.generate(ids, mask, use_cache=False, **kwargs))
    assert cached.shape == (3, 10) and torch.equal(cached[:, :6], ids)


def test_per_sample_prompt_override():
    model = _pt(tiny_causal_lm("gpt2"), num_virtual_tokens=N).eval()
    ids, mask = _batch("right", 64)
    prompts = torch.randn(3, N, 32)
    with torch.no_grad():
        out = model.backbone_forward(prompt=prompts, input_ids=ids, attention_mask=mask)
        row = model.backbone_forward(prompt=prompts[1], input_ids=ids[1:2, :4])
    assert torch.allclose(model.text_logits(out)[1, :4], model.text_logits(row)[0], atol=1e-5)


def test_classification_errors():
    with pytest.raises(TypeError, match="backbone: task='classification'"):
        _pt(tiny_causal_lm("gpt2"), task="classification")
    with pytest.raises(ValueError, match="num_virtual_tokens: 70 virtual tokens exceed"):
        _pt(tiny_causal_lm("gpt2"), num_virtual_tokens=70)


def test_decoder_classifier_needs_left_padding():
    from transformers import GPT2Config, GPT2ForSequenceClassification

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=64, n_embd=32, n_layer=1, n_head=2, n_positions=32)
    config.pad_token_id, config.num_labels = 0, 2
    model = _pt(GPT2ForSequenceClassification(config), num_virtual_tokens=N, task="classification")
    ids, mask = _batch("right", 64)
    with pytest.raises(ValueError, match="attention_mask: .*pad on the left"):
        model(input_ids=ids, attention_mask=mask)
    ids, mask = _batch("left", 64)
    logits = model.eval()(input_ids=ids, attention_mask=mask)
    with torch.no_grad():
        alone = model(input_ids=ids[2:, 4:])
    assert logits.shape == (3, 2) and torch.allclose(logits[2], alone[0], atol=1e-5)
