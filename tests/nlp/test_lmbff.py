"""LM-BFF k-shot reader on the real files: every task's format and the counts in the data README."""

from __future__ import annotations

from collections import Counter

import pytest

from modalprompt.nlp.datasets.lmbff import (
    LMBFF_PROMPTS,
    LMBFF_TASKS,
    load_lmbff,
    load_lmbff_split,
    load_snli_test,
    load_unlabeled,
)
from modalprompt.nlp.templates import Template
from modalprompt.nlp.tiny_models import tiny_bert_tokenizer

# task: (train, dev, test, classes, unlabelled train, unlabelled dev) from data/README.md
COUNTS = {
    "SST-2": (32, 32, 872, 2, 6227, 692),
    "sst-5": (80, 80, 2210, 5, 7689, 855),
    "mr": (32, 32, 2000, 2, 7795, 867),
    "cr": (32, 32, 2000, 2, 1595, 177),  # the pool files hold 1,597 + 178, 2 + 1 blank
    "CoLA": (32, 32, 1043, 2, 7695, 856),
    "RTE": (32, 32, 277, 2, 2240, 249),
    "MRPC": (32, 32, 408, 2, 3300, 367),
    "SNLI": (48, 48, None, 3, 8999, 1000),
}


@pytest.mark.parametrize("task", LMBFF_TASKS)
def test_splits_match_readme_counts(shared_data, task):
    train, dev, test, n_cls, un_train, un_dev = COUNTS[task]
    data = load_lmbff(shared_data / "text" / "lmbff" / "k-shot", task, seed=13)
    assert len(data["train"]) == train and len(data["dev"]) == dev
    assert (len(data["test"]) if "test" in data else None) == test
    per_class = Counter(e["label"] for e in data["train"])
    assert per_class == {c: 16 for c in range(n_cls)}
    assert len(LMBFF_PROMPTS[task].label_words) == n_cls
    pair = LMBFF_PROMPTS[task].pair
    for ex in data["train"] + data["dev"]:
        assert isinstance(ex["text_a"], str) and len(ex["text_a"]) > 0
        assert (ex["text_b"] is not None and len(ex["text_b"]) > 0) == pair
    root = shared_data / "text" / "lmbff"
    assert len(load_unlabeled(root, task, "train")) == un_train
    assert len(load_unlabeled(root, task, "dev")) == un_dev


def test_known_rows(shared_data):
    root = shared_data / "text" / "lmbff"
    mrpc = load_lmbff(root, "MRPC", seed=13)["train"][0]  # the file starts with a BOM
    assert mrpc["label"] == 1 and mrpc["text_a"].startswith("The court 's 1992 decision")
    assert mrpc["text_b"].startswith("In a 1992 case")
    cola = load_lmbff(root, "CoLA", seed=13)["train"][0]
    assert cola == {
        "text_a": "Bill seems to be obnoxious, but I don't think that Sam tends.",
        "text_b": None,
        "label": 0,
    }
    sst5 = load_lmbff(root, "sst-5", seed=13)["train"][0]
    assert sst5["label"] == 3 and sst5["text_a"].startswith("what 's surprising")
    rte = load_lmbff(root, "RTE", seed=13)["train"][0]
    assert rte["text_b"] == "Reagan survived an attempted assassin's bullets."
    assert LMBFF_PROMPTS["RTE"].labels[rte["label"]] == "entailment"
    snli = load_lmbff(root, "SNLI", seed=13)["train"][0]
    assert snli["text_a"].startswith("The girl sitting by a rock")


def test_snli_test_file(shared_data):
    test = load_snli_test(shared_data / "text" / "snli" / "test.tsv")
    assert len(test) == 9824
    labels = LMBFF_PROMPTS["SNLI"].labels
    counts = Counter(labels[e["label"]] for e in test)
    assert counts == {"entailment": 3368, "neutral": 3219, "contradiction": 3237}


def test_unlabeled_pool_hides_labels(shared_data):
    pool = load_unlabeled(shared_data / "text" / "lmbff", "RTE", keep_labels=True)
    assert all(e["label"] is None for e in pool)
    assert all(e["text_b"] for e in pool)
    assert any(e["orig_label"] is not None for e in pool)
    single = load_unlabeled(shared_data / "text" / "lmbff" / "unlabeled", "SST-2")
    assert all(e["text_b"] is None for e in single)


def test_test_split_same_for_every_seed(shared_data):
    root = shared_data / "text" / "lmbff"
    a, b = load_lmbff(root, "cr", seed=13), load_lmbff(root, "cr", seed=100)
    assert a["test"] == b["test"] and a["train"] != b["train"]


@pytest.mark.parametrize("task", LMBFF_TASKS)
def test_task_templates_parse(task):
    tmpl = Template(LMBFF_PROMPTS[task].template, tiny_bert_tokenizer())
    assert ("text_b" in tmpl.fields) == LMBFF_PROMPTS[task].pair


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="task must be one of"):
        load_lmbff(tmp_path, "QQQ")
    with pytest.raises(FileNotFoundError, match="16-13"):
        load_lmbff(tmp_path, "SST-2")
    bad = tmp_path / "train.tsv"
    bad.write_text("sentence\tlabel\nok\t7\n", encoding="utf-8")
    with pytest.raises(ValueError, match="'7' is not one of"):
        load_lmbff_split(bad, "SST-2")


def test_blank_pool_entries_are_skipped_and_counted(tmp_path):
    import json

    pool = tmp_path / "unlabeled" / "cr"
    pool.mkdir(parents=True)
    records = {"0": {"text_a": "great"}, "1": {"text_a": "  "}, "2": {"text_a": ""}, "3": {}}
    records["4"] = {"text_a": "awful"}
    (pool / "train.json").write_text(json.dumps(records))
    with pytest.warns(UserWarning, match="skipped 3 entries"):
        out = load_unlabeled(tmp_path, "cr")
    assert [e["text_a"] for e in out] == ["great", "awful"]
