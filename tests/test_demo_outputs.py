"""The demo's table (Markdown, CSV) and figure, from given rows; the procedural text tasks."""

import csv
import importlib.util

import pytest

from modalprompt.demo import DemoResult, format_table, write_outputs


def _rows() -> list[DemoResult]:
    common = {"trainable_percent": 1.5, "metric_name": "accuracy", "seconds": 2.0}
    return [
        DemoResult("graph", "t", "gpf_plus", metric=0.6, role="baseline", pair="RELIEF vs GPF-plus",
                   trainable_params=900, backbone="GIN", **common),
        DemoResult("graph", "t", "relief", metric=0.7, role="method", pair="RELIEF vs GPF-plus",
                   trainable_params=1200, backbone="GIN", note="PCR 0.25", **common),
        DemoResult("text", "s", "ept", metric=0.8, role="method", pair="EPT vs PT",
                   trainable_params=38_000, backbone="MiniLM", **common),
    ]  # fmt: skip


def test_markdown_and_csv_hold_every_row(tmp_path):
    rows = _rows()
    written = write_outputs(rows, tmp_path / "demo")
    md = (tmp_path / "demo" / "table.md").read_text()
    assert md.count("\n") == len(rows) + 2 and "| RELIEF vs GPF-plus | method | relief |" in md
    with (tmp_path / "demo" / "table.csv").open() as f:
        table = list(csv.DictReader(f))
    assert [r["method"] for r in table] == ["gpf_plus", "relief", "ept"]
    assert table[1]["note"] == "PCR 0.25" and table[1]["value"] == "0.700"
    assert table[2]["trainable_params"] == "38,000" and table[0]["domain"] == "graph"
    if importlib.util.find_spec("matplotlib") is not None:
        png = tmp_path / "demo" / "figure.png"
        assert png in written and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = format_table(rows)
    assert text.splitlines()[0].startswith("comparison") and len(text.splitlines()) == 5


def test_procedural_text_tasks_are_seeded_and_balanced():
    from modalprompt.nlp.procedural import (
        RELATIONS,
        SCIENCE_FIELDS,
        procedural_abstracts,
        procedural_relations,
    )

    abstracts = procedural_abstracts(40, seed=1)
    assert abstracts == procedural_abstracts(40, seed=1) != procedural_abstracts(40, seed=2)
    assert {e["label"] for e in abstracts} == set(range(len(SCIENCE_FIELDS)))
    for e in abstracts:  # the topic phrase of its own field is in the text
        assert any(p in e["text_a"] for p in list(SCIENCE_FIELDS.values())[e["label"]][0])
    relations = procedural_relations(20, seed=0)
    assert {r.relation for r in relations} == set(RELATIONS)
    for r in relations:
        assert r.subject_text and r.object_text and r.subject_text != r.object_text
        assert r.subject[1] <= r.object[0] or r.object[1] <= r.subject[0]


@pytest.mark.parametrize("n", [0, 3])
def test_procedural_sentiment_labels_alternate(n):
    from modalprompt.nlp.procedural import procedural_sentiment

    pairs = procedural_sentiment(2 * n, seed=0)
    assert sorted(y for _, y in pairs) == [0] * n + [1] * n


def test_a_failing_domain_demo_keeps_the_other_rows_and_reports_it(tmp_path, monkeypatch):
    # a fresh virtualenv once lacked accelerate: the text demo raised and nothing was written
    import sys
    import types

    from modalprompt import demo
    from modalprompt.cli import main

    good = types.ModuleType("good_demo")
    good.run = lambda quick, emit: emit(_rows()[0])
    bad = types.ModuleType("bad_demo")

    def broken(quick, emit):
        emit(_rows()[2])
        raise ValueError("accelerate is required when loading a GGUF file")

    bad.run = broken
    monkeypatch.setitem(sys.modules, "good_demo", good)
    monkeypatch.setitem(sys.modules, "bad_demo", bad)
    monkeypatch.setattr(demo, "_DOMAIN_DEMOS", ("good_demo", "bad_demo"))
    with pytest.raises(demo.DemoIncomplete, match="bad_demo: ValueError: accelerate is required"):
        demo.run_demo(out_dir=tmp_path / "a")
    table = (tmp_path / "a" / "table.csv").read_text()
    assert "gpf_plus" in table and "ept" in table  # rows before the failure are kept
    assert main(["demo", "--out", str(tmp_path / "b")]) == 1
    assert (tmp_path / "b" / "table.md").is_file()
