import json

import pytest
import torch

pytest.importorskip("transformers")

import modalprompt as mp  # noqa: E402
from modalprompt.nlp.bayesprompt.collate import RelationCollator  # noqa: E402
from modalprompt.nlp.bayesprompt.config import BayesPromptConfig  # noqa: E402
from modalprompt.nlp.bayesprompt.model import relation_micro_f1  # noqa: E402
from modalprompt.nlp.bayesprompt.relations import (  # noqa: E402
    RelationExample,
    mark_sentence,
    read_rel2id,
    read_relations,
    relation_label_words,
)
from modalprompt.nlp.bayesprompt.train import fit_bayesprompt  # noqa: E402
from modalprompt.nlp.tiny_models import tiny_relation_masked_lm, tiny_relation_tokenizer  # noqa: E402

REL2ID = {"Other": 0, "Cause-Effect(e1,e2)": 1, "Entity-Origin(e1,e2)": 2}


def _examples(n, seed=0):
    """Sentences whose relation is signalled by a cue word between the entities."""
    g = torch.Generator().manual_seed(seed)
    cues = {0: "and", 1: "cause", 2: "from"}
    nouns = ["water", "oven", "beer", "starches", "car", "engine", "virus", "fever", "tree"]
    out = []
    for i in range(n):
        label = i % 3
        a, b = (nouns[int(j)] for j in torch.randint(0, len(nouns), (2,), generator=g))
        tokens = ("the", a, cues[label], "the", b, ".")
        out.append(RelationExample(tokens, (1, 2), (4, 5), list(REL2ID)[label]))
    return out


def _setup(**overrides):
    tokenizer = tiny_relation_tokenizer()
    config = BayesPromptConfig.from_relations(REL2ID, tokenizer, svgd_iterations=50, **overrides)
    model = mp.get_prompt_model(tiny_relation_masked_lm(config.vocab_size), config)
    return tokenizer, model, RelationCollator(tokenizer, REL2ID, max_length=40)


def test_label_words_and_entity_markers():
    assert relation_label_words("Entity-Origin(e1,e2)") == "entity origin"
    assert relation_label_words("per:city_of_birth") == "person city of birth"
    assert relation_label_words("no_relation") == "no relation"
    assert relation_label_words("org:founded_by") == "organization founded by"
    example = RelationExample(("he", "poured", "the", "water"), (0, 1), (3, 4), "Other")
    assert mark_sentence(example) == (
        "[subject_start] he [subject_end] poured the [object_start] water [object_end]"
    )


def test_semeval_files_read(shared_data):
    folder = shared_data / "text" / "semeval"
    rel2id = read_rel2id(folder / "rel2id.json")
    train = read_relations(folder / "k-shot" / "5-1" / "train.txt")
    assert len(rel2id) == 19 and len(train) == 90
    assert {e.relation for e in train} <= set(rel2id)
    assert train[0].subject_text == "water" and train[0].object_text == "oven"


def test_bad_relation_files_are_explained(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text(
        json.dumps({"token": ["a"], "h": {"pos": [0, 1]}, "t": {"pos": [0, 3]}, "relation": "x"})
        + "\n"
    )
    with pytest.raises(ValueError, match=r"bad.txt:1: t.pos \[0, 3\] outside"):
        read_relations(bad)


def test_collator_never_truncates_the_prompt_and_config_reads_the_tokenizer():
    tokenizer, model, collate = _setup()
    long = RelationExample(tuple(["water"] * 200), (0, 1), (5, 6), "Other")
    batch = collate([long, _examples(1)[0]])
    assert batch["input_ids"].shape[1] == 40
    assert ((batch["input_ids"] == tokenizer.mask_token_id).sum(1) == 1).all()
    sub_id = model.config.vocab_size
    assert (batch["input_ids"] == sub_id).sum(1).tolist() == [2, 2]
    assert model.config.label_word_ids[2] == tuple(
        tokenizer("entity origin", add_special_tokens=False)["input_ids"]
    )
    torch.testing.assert_close(
        model.added_embeddings.weight[6 + 2],
        model.backbone.get_input_embeddings().weight[list(model.config.label_word_ids[2])].mean(0),
    )


def test_micro_f1_ignores_the_no_relation_class():
    pred, gold = torch.tensor([0, 1, 2, 1]), torch.tensor([0, 1, 1, 0])
    # predicted non-NA: 3 (1 correct), actual non-NA: 2 -> P 1/3, R 1/2
    assert relation_micro_f1(pred, gold, 0) == pytest.approx(
        2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2)
    )


def test_full_schedule_learns_computes_particles_and_reloads(tmp_path):
    tokenizer, model, collate = _setup(eval_mode="sample", collection_epochs=2)
    train, val = _examples(30), _examples(15, seed=1)
    args = mp.TrainingArguments(
        max_epochs=12,
        batch_size=10,
        lr=1e-2,
        metric="accuracy",
        verbose=False,
        tensorboard=False,
        output_dir=str(tmp_path),
    )
    trainer = fit_bayesprompt(model, train, val, collate, args)
    assert model.particles.shape == (30, 32)
    assert trainer.evaluate()["accuracy"] > 0.8
    batch = collate(val)
    model.eval()
    first, second = model(**batch), model(**batch)
    assert torch.equal(first, second)  # seeded sampling: evaluation repeats exactly
    reloaded = mp.PromptModel.from_pretrained(
        tiny_relation_masked_lm(model.config.vocab_size), tmp_path / "model"
    )
    assert torch.equal(reloaded.particles, model.particles)
    assert torch.equal(reloaded(**batch), first)


def test_mean_mode_and_sub_obj_rows_come_from_particles():
    tokenizer, model, collate = _setup(eval_mode="mean")
    model.set_particles(torch.randn(5, 32))
    model.eval()
    ids = collate(_examples(2))["input_ids"]
    embedded = model.embed(ids)
    sub_positions = ids == model.config.vocab_size
    torch.testing.assert_close(embedded[sub_positions][0], model.particles.mean(0))
