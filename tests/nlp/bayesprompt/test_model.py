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


def _one_hot_particles(n, width=32, scale=3.0):
    """Particles ``(n, width)``: particle ``i`` is ``scale`` at coordinate ``i``, so the mean of
    ``k`` of them is ``scale / k`` on exactly ``k`` coordinates (that tells how many were drawn)."""
    return torch.eye(n, width) * scale


def test_training_draws_min_particles_and_classes_without_replacement():
    _, model, _ = _setup()  # 3 relations, num_samples None -> min(#particles, 3)
    model.set_particles(_one_hot_particles(5))
    model.train()
    for _ in range(10):
        vector = model.prompt_vector()
        drawn = vector.nonzero().view(-1)
        assert drawn.numel() == 3 and bool((drawn < 5).all())
        torch.testing.assert_close(vector[drawn], torch.full((3,), 1.0))
    model.set_particles(_one_hot_particles(2))  # fewer particles than classes: all of them
    torch.testing.assert_close(model.prompt_vector()[:2], torch.full((2,), 1.5))


def test_num_samples_overrides_the_class_count():
    _, model, _ = _setup(num_samples=2)
    model.set_particles(_one_hot_particles(5))
    model.train()
    assert model.prompt_vector().nonzero().numel() == 2


def test_sample_evaluation_is_one_seeded_draw_and_mean_mode_uses_every_particle():
    _, model, _ = _setup(eval_mode="sample")
    model.set_particles(_one_hot_particles(5))
    model.eval()
    first = model.prompt_vector()
    assert first.nonzero().numel() == 3  # a draw of 3, not the mean of all 5
    torch.testing.assert_close(model.prompt_vector(), first)  # the same draw every call
    _, other_seed, _ = _setup(eval_mode="sample", seed=7)
    other_seed.set_particles(_one_hot_particles(5))
    other_seed.eval()
    draws = {tuple(other_seed.prompt_vector().nonzero().view(-1).tolist())}
    draws.add(tuple(first.nonzero().view(-1).tolist()))
    _, mean_model, _ = _setup(eval_mode="mean")
    mean_model.set_particles(_one_hot_particles(5))
    mean_model.eval()
    torch.testing.assert_close(mean_model.prompt_vector()[:5], torch.full((5,), 0.6))
    assert len(draws) == 2  # the draw follows config.seed


def test_particles_write_sub_and_obj_rows_only():
    _, model, collate = _setup(eval_mode="mean")
    ids = collate(_examples(2))["input_ids"]
    before = model.embed(ids).detach()
    model.set_particles(torch.randn(4, 32))
    model.eval()
    after = model.embed(ids).detach()
    vocab = model.config.vocab_size
    vector = model.particles.mean(0)
    for row in (0, 1):  # [sub], [obj]
        at = ids == vocab + row
        assert bool(at.any())
        torch.testing.assert_close(after[at], vector.expand(int(at.sum()), -1))
    others = ids < vocab
    others |= ids >= vocab + 2  # markers and everything else keep their embeddings
    torch.testing.assert_close(after[others], before[others])


def test_answer_logits_are_hidden_state_times_answer_rows_plus_bias():
    _, model, collate = _setup()
    model.eval()
    batch = collate(_examples(3))
    batch.pop("labels")
    logits = model(**batch)
    with torch.no_grad():
        model.answer_bias.copy_(torch.tensor([1.0, -2.0, 0.5]))
    shifted = model(**batch)
    torch.testing.assert_close(shifted - logits, torch.tensor([1.0, -2.0, 0.5]).expand(3, -1))
    with torch.no_grad():
        model.added_embeddings.weight[6 + 1].zero_()  # relation 1's answer row
    zeroed = model(**batch)
    torch.testing.assert_close(zeroed[:, 1], torch.full((3,), -2.0))


def test_a_state_with_another_particle_count_loads():
    _, model, _ = _setup()
    model.set_particles(torch.randn(7, 32))
    state = {k: v.clone() for k, v in model.prompt_state_dict().items()}
    _, fresh, _ = _setup()
    assert fresh.particles.shape == (0, 32)
    fresh.load_prompt_state_dict(state)
    assert torch.equal(fresh.particles, model.particles)


def test_micro_f1_counts_only_relations_right_and_not_the_no_relation_class():
    pred = torch.tensor([0, 0, 0, 1, 2, 2, 1])
    gold = torch.tensor([0, 0, 0, 1, 1, 2, 0])
    # right non-NA: 2 (positions 3, 5); predicted non-NA: 4; actual non-NA: 3 -> P 1/2, R 2/3
    assert relation_micro_f1(pred, gold, 0) == pytest.approx(4 / 7)
    _, model, _ = _setup()
    assert model.config.na_class == 0  # "Other"
    metrics = model.compute_metrics({"logits": torch.eye(3)[pred], "labels": gold})
    assert metrics == pytest.approx({"micro_f1": 4 / 7, "accuracy": 5 / 7})


def test_micro_f1_without_a_no_relation_class_is_accuracy_and_handles_no_predictions():
    pred, gold = torch.tensor([0, 1, 2, 1]), torch.tensor([0, 1, 1, 0])
    assert relation_micro_f1(pred, gold, None) == pytest.approx(0.5)
    assert relation_micro_f1(torch.zeros(4, dtype=torch.long), gold, 0) == 0.0
    assert relation_micro_f1(pred, torch.zeros(4, dtype=torch.long), 0) == 0.0
    assert relation_micro_f1(gold, gold, 0) == pytest.approx(1.0)


def test_masked_lm_rows_need_one_mask_each_and_padding_is_masked_out():
    """The answer is read at each row's one mask token: a row with two (or none) is our error;
    a padded batch gives each row the logits it has alone (the attention mask reaches the
    backbone)."""
    _, model, collate = _setup()
    model.eval()
    mask_id = model.config.mask_token_id
    examples = [
        RelationExample(e.tokens + ("indeed",) * (i % 3), e.subject, e.object, e.relation)
        for i, e in enumerate(_examples(3))
    ]
    batch = collate(examples)
    batch.pop("labels")
    assert bool((batch["attention_mask"] == 0).any())  # rows of different lengths
    with torch.no_grad():
        logits = model(**batch)
        for i, example in enumerate(examples):
            alone = collate([example])
            alone.pop("labels")
            torch.testing.assert_close(logits[i], model(**alone)[0], atol=1e-5, rtol=1e-5)
    ids = batch["input_ids"]
    two_and_none = ids.clone()  # row 0 gets a second mask, row 1 loses its own: still B masks
    two_and_none[0, 1] = mask_id
    two_and_none[1][two_and_none[1] == mask_id] = 5
    extra = ids.clone()  # one row with two masks: B + 1 in all
    extra[2, 1] = mask_id
    for bad in (two_and_none, extra):
        with pytest.raises(ValueError, match=r"^input_ids: every row needs exactly one mask"):
            model(**{**batch, "input_ids": bad})


def test_ids_beyond_the_added_tokens_are_refused_by_name():
    _, model = _setup()[:2]
    too_far = model.config.vocab_size + model.added_embeddings.num_embeddings
    with pytest.raises(
        ValueError,
        match=r"^input_ids: ids beyond the added tokens; was the tokenizer extended by this "
        r"model's collator\?$",
    ):
        model.embed(torch.tensor([[1, too_far]]))
    assert model.embed(torch.tensor([[1, too_far - 1]])).shape[:2] == (1, 2)
