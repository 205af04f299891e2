"""Verbalized next-token classification on decoders: templates, label-word scores, prompt models.

References are computed independently: the full-vocabulary log-softmax of an unpadded forward
of each row alone, and multi-token words scored by running every full continuation.
"""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

import modalprompt as mp
from modalprompt.nlp.answer_slot import AnswerSlotClassifier, AnswerWords, continuation_log_probs
from modalprompt.nlp.classification import PromptCollator
from modalprompt.nlp.templates import Template
from modalprompt.nlp.tiny_models import tiny_causal_lm, tiny_roberta_tokenizer

CHAT = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
EXAMPLES = [
    {"text_a": "a great film", "label": 1},
    {"text_a": "it was terrible and boring, really", "label": 0},
    {"text_a": "okay", "label": 1},
]


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_roberta_tokenizer()


@pytest.fixture(scope="module")
def decoder(tokenizer):
    return tiny_causal_lm("llama", vocab_size=len(tokenizer), max_positions=256)


def alone_log_probs(model, ids: list[int]) -> torch.Tensor:
    """(V,) next-token log-probabilities after ``ids``, the row run alone without padding."""
    out = model(input_ids=torch.tensor([ids]))
    return F.log_softmax(out.logits[0, -1].float(), -1)


def sequence_log_prob(model, ids: list[int], continuation: list[int]) -> float:
    """log p(continuation | ids) by running the full sequence (teacher forcing)."""
    full = torch.tensor([ids + continuation])
    log_probs = F.log_softmax(model(input_ids=full).logits[0].float(), -1)
    return sum(
        log_probs[len(ids) - 1 + j, t].item() for j, t in enumerate(continuation)
    )  # fmt: skip


# ------------------------------------------------------------------------------- templates
def test_decoder_template_answer_slot_must_be_last(tokenizer):
    with pytest.raises(ValueError, match="must come last"):
        Template("{mask} was it: {text_a}", tokenizer, decoder=True)
    with pytest.raises(ValueError, match="must come last"):
        Template("{text_a} It was {mask} .", tokenizer, decoder=True)


@pytest.mark.parametrize("text", ["{text_a it was {mask}", "{text_a} it } was {mask}"])
def test_unbalanced_braces_are_rejected(tokenizer, text):
    with pytest.raises(ValueError, match="unbalanced brace"):
        Template(text, tokenizer, decoder=True)


def test_decoder_encoding_ends_before_the_answer(tokenizer):
    template = Template("{text_a} It was {mask}", tokenizer, decoder=True)
    encoded = template.encode({"text_a": "a great film"}, 64)
    body = tokenizer("a great film It was", add_special_tokens=False)["input_ids"]
    assert encoded.input_ids == [tokenizer.bos_token_id, *body]  # BOS, no mask, no EOS
    assert encoded.mask_position == len(encoded.input_ids) - 1
    assert tokenizer.mask_token_id not in encoded.input_ids


def test_decoder_truncation_keeps_the_template(tokenizer):
    template = Template("{text_a} It was {mask}", tokenizer, decoder=True)
    long = {"text_a": "terrible " * 40}
    encoded = template.encode(long, 20)
    tail = tokenizer(" It was", add_special_tokens=False)["input_ids"]
    assert len(encoded.input_ids) == 20
    assert encoded.input_ids[-len(tail) :] == tail
    assert encoded.num_truncated > 0


def test_chat_template_wraps_the_user_turn(tokenizer):
    tokenizer = tiny_roberta_tokenizer()
    tokenizer.chat_template = CHAT
    template = Template("{text_a} It was {mask}", tokenizer, decoder=True, chat=True)
    ids = template.encode({"text_a": "fun"}, 64).input_ids
    expected = tokenizer("<|user|>fun It was</s><|assistant|>", add_special_tokens=False)
    assert tokenizer.decode(ids) == tokenizer.decode(expected["input_ids"])
    with pytest.raises(ValueError, match="chat template"):
        Template("{text_a} {mask}", tiny_roberta_tokenizer(), decoder=True, chat=True)


def test_decoder_collator_pads_on_the_left(tokenizer):
    collate = PromptCollator(Template("{text_a} It was {mask}", tokenizer, decoder=True), 64)
    batch = collate(EXAMPLES)
    length = batch["input_ids"].shape[1]
    assert bool((batch["attention_mask"][:, -1] == 1).all())
    assert batch["mask_positions"].tolist() == [length - 1] * len(EXAMPLES)
    fixed = PromptCollator(collate.template, 40, pad_to_max_length=True)(EXAMPLES)
    assert fixed["input_ids"].shape[1] == 40
    with pytest.raises(ValueError, match="empty batch"):
        collate([])


# ---------------------------------------------------------------------------- label words
def test_first_token_rule_rejects_shared_first_tokens(tokenizer):
    # unmerged words are byte sequences: " bad" and " boring" both start with the byte "Ġ"
    with pytest.raises(ValueError, match="same token id"):
        AnswerWords(tokenizer, ["bad", "boring"], rule="first")
    AnswerWords(tokenizer, ["bad", "boring"], rule="sum")  # fine under the exact rule


def test_label_word_the_tokenizer_cannot_encode_is_named(tokenizer):
    with pytest.raises(ValueError, match="label_words"):
        AnswerWords(tokenizer, ["good", "   "])
    with pytest.raises(ValueError, match="rule"):
        AnswerWords(tokenizer, ["good", "bad"], rule="max")


# ------------------------------------------------------------------------------- scoring
@pytest.mark.parametrize("rule", ["sum", "mean", "first"])
def test_scores_equal_unpadded_reference(tokenizer, decoder, rule):
    # " great" is one token, the others several; under "first" no two may share a first token
    words = ["terrible", "great"] if rule == "first" else ["terrible", "great", "no"]
    template = Template("{text_a} It was {mask}", tokenizer, decoder=True)
    batch = PromptCollator(template, 64)(EXAMPLES)
    answer = AnswerWords(tokenizer, words, rule=rule)
    logits = AnswerSlotClassifier(decoder, answer)(batch["input_ids"], batch["attention_mask"])[
        "logits"
    ]
    assert logits.shape == (len(EXAMPLES), len(words))
    for i, example in enumerate(EXAMPLES):
        ids = template.encode(example, 64).input_ids
        for c, word in enumerate(words):
            cont = tokenizer(" " + word, add_special_tokens=False)["input_ids"]
            if rule == "first":
                expected = alone_log_probs(decoder, ids)[cont[0]].item()
            else:
                expected = sequence_log_prob(decoder, ids, cont)
                expected /= len(cont) if rule == "mean" else 1
            assert logits[i, c].item() == pytest.approx(expected, abs=1e-4), (i, word)


def test_several_words_per_class_average_their_scores(tokenizer, decoder):
    template = Template("{text_a} It was {mask}", tokenizer, decoder=True)
    batch = PromptCollator(template, 64)(EXAMPLES)
    one = AnswerSlotClassifier(decoder, AnswerWords(tokenizer, ["bad", "great", "fun"]))
    two = AnswerSlotClassifier(decoder, AnswerWords(tokenizer, [["bad", "fun"], "great"]))
    single = one(batch["input_ids"], batch["attention_mask"])["logits"]
    pooled = two(batch["input_ids"], batch["attention_mask"])["logits"]
    torch.testing.assert_close(pooled[:, 0], (single[:, 0] + single[:, 2]) / 2)
    torch.testing.assert_close(pooled[:, 1], single[:, 1])


def test_lm_head_runs_on_the_answer_position_only(tokenizer, decoder):
    seen = []
    handle = decoder.get_output_embeddings().register_forward_hook(
        lambda module, args, out: seen.append(tuple(args[0].shape))
    )
    try:
        template = Template("{text_a} It was {mask}", tokenizer, decoder=True)
        batch = PromptCollator(template, 64)(EXAMPLES)
        first = AnswerWords(tokenizer, ["great", "terrible"], rule="first")
        AnswerSlotClassifier(decoder, first)(batch["input_ids"], batch["attention_mask"])
        exact = AnswerWords(tokenizer, ["great", "bad"])  # " bad" is 4 byte tokens
        AnswerSlotClassifier(decoder, exact)(batch["input_ids"], batch["attention_mask"])
    finally:
        handle.remove()
    hidden = decoder.config.hidden_size
    # one position per row; with multi-token words, one row per (example, word) and only the
    # longest word's positions (never the whole sequence)
    assert seen == [(len(EXAMPLES), 1, hidden), (2 * len(EXAMPLES), 4, hidden)]


def test_bad_batches_are_named(tokenizer, decoder):
    clf = AnswerSlotClassifier(decoder, AnswerWords(tokenizer, ["good", "bad"]))
    ids = torch.tensor([[5, 6, 7], [5, 6, 0]])
    with pytest.raises(ValueError, match="pad on the left"):
        clf(ids, torch.tensor([[1, 1, 1], [1, 1, 0]]))
    with pytest.raises(TypeError, match="input_ids"):
        clf(ids.float())
    with pytest.raises(ValueError, match="input_ids"):
        clf(torch.zeros(0, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"labels: class indices must lie in \[0, 2\)"):
        clf(ids, labels=torch.tensor([0, 2]))


# ------------------------------------------------------------------- prompt models through it
@pytest.mark.parametrize("method", ["prompt_tuning", "ept", "iapt"])
def test_prompt_models_train_through_the_answer_slot(tokenizer, method):
    backbone = tiny_causal_lm("llama", vocab_size=len(tokenizer), max_positions=256)
    fields = {"prompt_tuning": {"num_virtual_tokens": 4}, "ept": {
        "num_virtual_tokens": 4, "rank": 2, "max_length": 24, "num_spaces": 2, "space_rank": 2,
    }, "iapt": {}}[method]  # fmt: skip
    model = mp.get_prompt_model(backbone, mp.get_config(method, task="lm", **fields))
    template = Template("{text_a} It was {mask}", tokenizer, decoder=True)
    collate = PromptCollator(template, 24, pad_to_max_length=(method == "ept"))
    batch = collate(EXAMPLES)
    words = AnswerWords(tokenizer, ["terrible", "great"], rule="first")
    clf = AnswerSlotClassifier(model, words)
    # every row of the left-padded batch scores as it does alone
    together = clf(batch["input_ids"], batch["attention_mask"])["logits"]
    for i in range(len(EXAMPLES)):
        alone = collate([EXAMPLES[i]])
        ref = clf(alone["input_ids"], alone["attention_mask"])["logits"][0]
        torch.testing.assert_close(together[i], ref, atol=1e-5, rtol=1e-5)
    # gradients reach the method's parameters, never the backbone; the loss goes down
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=5e-2)
    losses = []
    for _ in range(8):
        loss = clf(batch["input_ids"], batch["attention_mask"], labels=batch["labels"])["loss"]
        loss.backward()
        assert all(p.grad is None for p in backbone.parameters())
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    if method == "iapt":
        model.remove_hooks()


def test_peft_prompt_tuning_goes_through_the_same_scorer(tokenizer):
    peft = pytest.importorskip("peft")
    backbone = tiny_causal_lm("llama", vocab_size=len(tokenizer), max_positions=256)
    config = peft.PromptTuningConfig(task_type=peft.TaskType.CAUSAL_LM, num_virtual_tokens=3)
    model = peft.get_peft_model(backbone, config)
    template = Template("{text_a} It was {mask}", tokenizer, decoder=True)
    batch = PromptCollator(template, 24)([EXAMPLES[0]])  # one row: no padding
    words = AnswerWords(tokenizer, ["terrible", "great"], rule="first")
    clf = AnswerSlotClassifier(model, words)
    logits = clf(batch["input_ids"], batch["attention_mask"])["logits"]
    full = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    words = clf.words.ids[:, 0, 0]
    torch.testing.assert_close(logits[0], F.log_softmax(full[0, -1], -1)[words])


def test_input_longer_than_the_positions_is_named(tokenizer):
    short = tiny_causal_lm("llama", vocab_size=len(tokenizer), max_positions=8)
    clf = AnswerSlotClassifier(short, AnswerWords(tokenizer, ["terrible", "great"], rule="first"))
    with pytest.raises(ValueError, match="exceed the model's 8 positions"):
        clf(torch.ones(1, 9, dtype=torch.long))
    clf(torch.ones(1, 8, dtype=torch.long))  # exactly at the limit is fine
    model = mp.get_prompt_model(short, mp.get_config("prompt_tuning", num_virtual_tokens=4))
    clf = AnswerSlotClassifier(model, clf.words)
    with pytest.raises(ValueError, match="num_virtual_tokens"):
        clf(torch.ones(1, 6, dtype=torch.long))


# ------------------------------------------------------------------ cached continuations
def test_cached_continuations_equal_full_teacher_forcing(tokenizer, decoder):
    template = Template("{text_a} It was {mask}", tokenizer, decoder=True)
    batch = PromptCollator(template, 64)(EXAMPLES)  # left-padded: rows of unequal length
    words = ["terrible", "great", "no", "really boring indeed", "okay then"]
    seqs = [tokenizer(" " + w, add_special_tokens=False)["input_ids"] for w in words]
    assert any(len(s) == 1 for s in seqs) and any(len(s) > 2 for s in seqs)
    with torch.no_grad():
        got = continuation_log_probs(
            decoder, batch["input_ids"], batch["attention_mask"], seqs, chunk_size=2
        )
    assert got.shape == (len(EXAMPLES), len(words))
    for i, example in enumerate(EXAMPLES):
        ids = template.encode(example, 64).input_ids
        for k, seq in enumerate(seqs):
            expected = sequence_log_prob(decoder, ids, seq)
            assert got[i, k].item() == pytest.approx(expected, abs=1e-4), (i, words[k])


def test_cached_continuations_refuse_bad_input(tokenizer, decoder):
    ids = torch.tensor([[5, 6, 7]])
    with pytest.raises(ValueError, match="sequences"):
        continuation_log_probs(decoder, ids, torch.ones_like(ids), [[4], []])
    with pytest.raises(ValueError, match="pad the prompts on the left"):
        continuation_log_probs(decoder, ids, torch.tensor([[1, 1, 0]]), [[4]])
    with pytest.raises(ValueError, match=r"sequences: token ids \[999999\] are outside"):
        continuation_log_probs(decoder, ids, torch.ones_like(ids), [[4, 999999]])
    with pytest.raises(ValueError, match="chunk_size"):
        continuation_log_probs(decoder, ids, torch.ones_like(ids), [[4, 5]], chunk_size=0)
    with pytest.raises(ValueError, match="attention_mask"):
        continuation_log_probs(decoder, ids, torch.ones(1, 2, dtype=torch.long), [[4]])
