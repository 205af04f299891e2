"""BayesPrompt on a causal LM (issue 16): the answer slot is the next token after the prompt;
left-padded rows equal each row alone; it trains through the whole schedule."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")

import modalprompt as mp  # noqa: E402
from modalprompt.nlp.bayesprompt.collate import RelationCollator  # noqa: E402
from modalprompt.nlp.bayesprompt.config import BayesPromptConfig  # noqa: E402
from modalprompt.nlp.bayesprompt.train import fit_bayesprompt  # noqa: E402
from modalprompt.nlp.tiny_models import tiny_causal_lm, tiny_roberta_tokenizer  # noqa: E402
from tests.nlp.bayesprompt.test_model import REL2ID, _examples  # noqa: E402


def _uneven(n: int) -> list:
    """Examples of different token lengths (so batches are padded)."""
    out = []
    for i, e in enumerate(_examples(n)):
        out.append(type(e)(e.tokens + ("indeed",) * (i % 3), e.subject, e.object, e.relation))
    return out


def _setup(arch: str = "llama", **overrides):
    tokenizer = tiny_roberta_tokenizer()
    config = BayesPromptConfig.from_relations(REL2ID, tokenizer, svgd_iterations=20, **overrides)
    torch.manual_seed(0)
    backbone = tiny_causal_lm(arch, vocab_size=config.vocab_size, max_positions=128)
    model = mp.get_prompt_model(backbone, config)
    return tokenizer, model, RelationCollator(tokenizer, REL2ID, max_length=128, decoder=True)


def test_prompt_is_last_and_rows_are_left_padded():
    tokenizer, model, collate = _setup()
    batch = collate(_uneven(3))
    assert model.decoder and bool((batch["attention_mask"][:, -1] == 1).all())
    assert bool((batch["attention_mask"][:, 0] == 0).any())  # rows differ in length
    # the answer slot follows the prompt's closing marker and a fixed " .": the answer is never
    # read off a [sub]/[obj] row, which BayesPrompt overwrites with particle averages
    markers = set(tokenizer.convert_tokens_to_ids(["[sub]", "[obj]"]))
    for row in batch["input_ids"].tolist():
        closing = max(i for i, t in enumerate(row) if t in markers)
        assert tokenizer.convert_ids_to_tokens(row[closing]) == "[obj]"
        assert tokenizer.decode(row[closing + 1 :]) == " ."
        assert row[-1] not in markers


@pytest.mark.parametrize("arch", ["llama", "gpt2"])  # rotary (shift-invariant) and absolute
def test_left_padded_batch_equals_each_row_alone(arch):
    _, model, collate = _setup(arch)
    model.eval()
    examples = _uneven(4)
    batch = collate(examples)
    with torch.no_grad():
        logits = model(batch["input_ids"], batch["attention_mask"])
        for i, example in enumerate(examples):
            alone = collate([example])
            ref = model(alone["input_ids"], alone["attention_mask"])
            torch.testing.assert_close(logits[i], ref[0], atol=1e-5, rtol=1e-5)


REFUSAL = (
    r"^attention_mask: a causal LM reads the answer at the last position, so rows must be "
    r"left-padded \(RelationCollator\(\.\.\., decoder=True\) pads left\)$"
)


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_an_unpadded_row_reads_the_backbones_own_last_state(arch):
    """Against the backbone run directly (its default positions 0..L-1): with the batch-vs-alone
    test above, left-padded rows get the positions of the unpadded text (GPT-2's absolute
    positions tell any shift)."""
    _, model, collate = _setup(arch)
    model.eval()
    one = collate(_uneven(1))
    ids, mask = one["input_ids"], one["attention_mask"]
    assert bool(mask.all())
    with torch.no_grad():
        state = model._answer_state_decoder(ids, mask)
        direct = model.backbone(inputs_embeds=model.embed(ids), output_hidden_states=True)
    torch.testing.assert_close(state, direct.hidden_states[-1][:, -1], atol=1e-5, rtol=1e-5)


def test_right_padding_is_refused():
    _, model, collate = _setup()
    batch = collate(_uneven(3))
    ids, mask = batch["input_ids"].flip(1), batch["attention_mask"].flip(1)
    with pytest.raises(ValueError, match=REFUSAL):
        model(ids, mask)


def test_one_padded_last_column_is_refused():
    _, model, collate = _setup()
    batch = collate(_uneven(3))
    mask = batch["attention_mask"].clone()
    mask[0, -1] = 0  # only the answer position of one row is padding
    with pytest.raises(ValueError, match="left-padded"):
        model(batch["input_ids"], mask)


def test_lm_head_runs_on_the_answer_position_only():
    _, model, collate = _setup()
    seen = []
    head = model.backbone.get_output_embeddings()
    handle = head.register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0].shape))
    batch = collate(_uneven(3))
    with torch.no_grad():
        model(batch["input_ids"], batch["attention_mask"])
    handle.remove()
    assert seen and all(shape[:2] == (3, 1) for shape in seen), seen


def test_full_schedule_on_a_decoder_learns_and_makes_particles(tmp_path):
    _, model, collate = _setup(collection_epochs=2)
    args = mp.TrainingArguments(
        max_epochs=10, batch_size=10, lr=1e-2, metric="accuracy", verbose=False,
        tensorboard=False, output_dir=str(tmp_path),
    )  # fmt: skip
    trainer = fit_bayesprompt(model, _examples(30), _examples(15, seed=1), collate, args)
    assert model.particles.shape == (30, model.added_embeddings.weight.size(1))
    assert trainer.evaluate()["accuracy"] > 0.6  # chance 1/3


def test_masked_lm_without_mask_token_id_and_decoder_tokenizer_errors():
    from modalprompt.nlp.tiny_models import tiny_relation_masked_lm

    config = mp.get_config("bayesprompt", mask_token_id=None)
    with pytest.raises(ValueError, match="config.mask_token_id: None"):
        mp.get_prompt_model(tiny_relation_masked_lm(config.vocab_size), config)
