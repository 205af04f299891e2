"""The molecule benchmarks' evaluation subsample: positives first, fixed, ordered, bounded."""

import sys
from pathlib import Path

import pytest

pytest.importorskip("rdkit")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _molecules import subsample  # noqa: E402


def test_positives_are_kept_first_up_to_half_the_limit():
    indices = list(range(1000))
    rare = {7, 400, 999}
    chosen = subsample(indices, 100, rare)
    assert len(chosen) == 100 and rare <= set(chosen)
    assert chosen == sorted(chosen) and chosen == subsample(indices, 100, rare)
    many = set(range(0, 1000, 2))
    chosen = subsample(indices, 100, many)
    assert len(chosen) == 100 and sum(i in many for i in chosen) == 50


def test_small_splits_and_no_positives_are_left_whole_or_drawn_uniformly():
    assert subsample([5, 3, 9], 10, {3}) == [5, 3, 9]
    assert subsample(list(range(50)), None) == list(range(50))
    assert len(subsample(list(range(50)), 20)) == 20


def test_a_limit_below_one_is_refused_by_name():
    with pytest.raises(ValueError, match=r"limit: expected None or an int >= 1, got 0"):
        subsample(list(range(10)), 0)
