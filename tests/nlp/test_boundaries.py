"""Issue 19 finding 8 for the text methods: bad token ids, labels and lengths are named here.

Before the fix: float ids failed in ``F.embedding`` ("Expected tensor for argument #1
'indices'..."), empty ids in an index or a reshape, ids past the vocabulary with "index out of
range in self", labels out of range with "Target 3 is out of bounds", a collator ``max_length``
past the model's positions with a broadcast error in BERT's embeddings, and ``generate`` past
the position limit with an IndexError in GPT-2's position embeddings.
"""

import pytest
import torch

import modalprompt as mp
from modalprompt.core.testing import tiny_case
from modalprompt.nlp.classification import PromptCollator
from modalprompt.nlp.templates import Template
from modalprompt.nlp.tiny_models import tiny_bert_tokenizer, tiny_causal_lm

SOFT = ["prompt_tuning", "ept", "iapt"]
MLM = ["prompt_finetune", "bayesprompt"]


def _case(name):
    case = tiny_case(mp.get_method_spec(name))
    return mp.get_prompt_model(case.backbone, case.config), dict(case.batch)


@pytest.mark.parametrize("name", SOFT + MLM)
def test_float_token_ids_are_refused_by_name(name):
    model, batch = _case(name)
    with pytest.raises(TypeError, match=r"input_ids: expected integer token ids.*float32"):
        model.training_step({**batch, "input_ids": batch["input_ids"].float()})


@pytest.mark.parametrize("name", SOFT + MLM)
def test_empty_token_ids_are_refused_by_name(name):
    model, batch = _case(name)
    empty = {k: v[:, :0] if v.dim() == 2 else v for k, v in batch.items()}
    with pytest.raises(ValueError, match=r"input_ids: empty input of shape \(\d+, 0\)"):
        model.training_step(empty)
    with pytest.raises(ValueError, match=r"(input_ids|labels): empty"):
        model.training_step({k: v[:0] for k, v in batch.items()})


@pytest.mark.parametrize("name", SOFT + MLM)
def test_token_ids_past_the_vocabulary_are_named(name):
    model, batch = _case(name)
    with pytest.raises(ValueError, match=r"input_ids: token ids must lie in \[0, \d+\)"):
        model.training_step({**batch, "input_ids": batch["input_ids"] + 10_000})


@pytest.mark.parametrize("name", SOFT + MLM)
@pytest.mark.parametrize("bad", [-1, 7])
def test_labels_outside_the_classes_are_named(name, bad):
    model, batch = _case(name)
    labels = torch.full_like(batch["labels"], bad)
    with pytest.raises(ValueError, match=rf"labels: class indices must lie in \[0, \d\).*{bad}"):
        model.training_step({**batch, "labels": labels})
    with pytest.raises(ValueError, match=r"labels: class indices must lie"):
        model.eval().validation_step({**batch, "labels": labels})


def test_collator_max_length_past_the_positions_is_named():
    model, _ = _case("prompt_finetune")  # tiny BERT: 128 positions
    collator = PromptCollator(Template("{text_a} it was {mask} .", tiny_bert_tokenizer()), 1000)
    batch = collator([{"text_a": " ".join(["great"] * 300), "label": 1}])
    with pytest.raises(ValueError, match=r"input_ids: .* more than the backbone's limit of 128"):
        model.training_step(batch)


def test_collator_names_bad_examples():
    collator = PromptCollator(Template("{text_a} it was {mask} .", tiny_bert_tokenizer()), 16)
    with pytest.raises(ValueError, match=r"examples: PromptCollator got an empty batch"):
        collator([])
    with pytest.raises(TypeError, match=r"examples\[0\]: expected a mapping"):
        collator(["a great movie"])
    with pytest.raises(ValueError, match=r"label: expected a class index >= 0.*'pos'.*label_map"):
        collator([{"text_a": "a great movie", "label": "pos"}])
    with pytest.raises(ValueError, match=r"label: expected a class index >= 0.*1\.5"):
        collator([{"text_a": "a great movie", "label": 1.5}])
    assert collator([{"text_a": "a great movie", "label": "1"}])["labels"].tolist() == [1]


@pytest.mark.parametrize("name", SOFT)
def test_generate_past_the_position_limit_is_named(name):
    overrides = {"task": "lm", **({"max_length": 8} if name == "ept" else {})}
    spec = mp.get_method_spec(name)
    model = mp.get_prompt_model(tiny_causal_lm(), mp.get_config(name, **{**spec.tiny, **overrides}))
    ids = torch.randint(5, 50, (2, 8))
    mask = torch.ones_like(ids)
    assert model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=2).shape == (2, 10)
    with pytest.raises(
        ValueError, match=r"max_new_tokens: .* more than the backbone's limit of 64"
    ):
        model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=64)
    with pytest.raises(ValueError, match=r"max_length: .* more than the backbone's limit of 64"):
        model.generate(input_ids=ids, attention_mask=mask, max_length=100)
    with pytest.raises(TypeError, match=r"input_ids: expected integer token ids"):
        model.generate(input_ids=ids.float(), attention_mask=mask, max_new_tokens=2)
    # found by tests/fuzz: a max_length within the virtual + input tokens was transformers' error
    with pytest.raises(ValueError, match=r"max_length: 5 leaves no room for new tokens"):
        model.generate(input_ids=ids, attention_mask=mask, max_length=5)


@pytest.mark.parametrize("bad", [-2, 10])
def test_mask_positions_outside_the_input_are_named(bad):
    """Found by tests/fuzz: a position past the input was torch's IndexError, a negative one
    silently read another token's logits."""
    model, batch = _case("prompt_finetune")
    assert batch["input_ids"].shape[1] == 10
    positions = batch["mask_positions"].clone()
    positions[0] = bad
    with pytest.raises(
        ValueError, match=rf"mask_positions: expected positions in \[0, 10\).*{bad}"
    ):
        model.training_step({**batch, "mask_positions": positions})


@pytest.mark.parametrize("name", SOFT)
def test_attention_mask_and_token_type_ids_are_checked(name):
    """Found by tests/fuzz: bad token_type_ids failed in BERT's embedding lookup, an attention
    mask of another shape or with values other than 0/1 in EPT's offset alignment."""
    model, batch = _case(name)
    types = batch["token_type_ids"]
    with pytest.raises(TypeError, match=r"token_type_ids: expected integer ids.*float32"):
        model.training_step({**batch, "token_type_ids": types.float()})
    with pytest.raises(ValueError, match=r"token_type_ids: expected ids in \[0, 2\).*\[5\]"):
        model.training_step({**batch, "token_type_ids": types + 5})
    with pytest.raises(ValueError, match=r"token_type_ids: expected shape \(4, 7\)"):
        model.training_step({**batch, "token_type_ids": types[:, :-1]})
    mask = batch["attention_mask"].clone()
    mask[0, 0] = 7
    with pytest.raises(ValueError, match=r"attention_mask: expected 0/1 values, found \[7\]"):
        model.training_step({**batch, "attention_mask": mask})
    with pytest.raises(ValueError, match=r"attention_mask: expected .*\(4, 7\)"):
        model.training_step({**batch, "attention_mask": mask[:, :-1]})


def test_masked_lm_checks_its_mask_types_and_soft_ids():
    model, batch = _case("prompt_finetune")
    with pytest.raises(ValueError, match=r"attention_mask: expected shape \(6, 10\)"):
        model.training_step({**batch, "attention_mask": batch["attention_mask"].reshape(-1)})
    soft = batch["soft_ids"].clone()
    soft[0, 0] = 99
    with pytest.raises(ValueError, match=r"soft_ids: expected \(6, 10\) long ids in \[-1, "):
        model.training_step({**batch, "soft_ids": soft})
