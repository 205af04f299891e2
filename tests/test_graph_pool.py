"""tools/graph_pool.py: pooling per-seed lines of several graph benchmark runs."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from graph_pool import main, read_logs, table  # noqa: E402

FIRST = """gcn_contextpred: MoleculeGNN(...) from x.pth

=== backbone gcn_contextpred ===
  [bace seed 0] head_only: 0.600, 7 s
  [bace seed 0] relief: 0.650 (argmax 0.640, PCR 64.0%, APM 0.400), 210 s
  [bace seed 1] head_only: 0.500, 8 s
  [bace seed 1] relief: 0.550 (argmax 0.560, PCR 63.0%, APM 0.300), 220 s
  [muv seed 0] head_only: 0.700, 9 s
  [muv seed 0] relief: 0.500 (argmax 0.510, PCR 62.0%, APM 0.200), 250 s

BACE (1 task(s) ...): test ROC-AUC, seconds per seed
  head_only         55.0 ± 7.1        8 s
"""
SECOND = """=== backbone gcn_contextpred ===
  [muv seed 1] head_only: 0.600, 9 s
"""


def _logs(tmp_path, *texts):
    paths = []
    for i, text in enumerate(texts):
        path = tmp_path / f"run{i}.log"
        path.write_text(text)
        paths.append(path)
    return paths


def test_seeds_of_several_logs_are_pooled_with_relief_extras(tmp_path):
    first, second = _logs(tmp_path, FIRST, SECOND)
    results = read_logs([first, second])
    assert sorted(results) == [
        ("gcn_contextpred", "bace", "head_only"),
        ("gcn_contextpred", "bace", "relief"),
        ("gcn_contextpred", "muv", "head_only"),
        ("gcn_contextpred", "muv", "relief"),
    ]
    muv = results[("gcn_contextpred", "muv", "head_only")]
    assert {s: (r.auc, r.seconds, Path(r.log).name) for s, r in muv.items()} == {
        0: (0.7, 9, "run0.log"),
        1: (0.6, 9, "run1.log"),
    }
    relief = results[("gcn_contextpred", "bace", "relief")][1]
    assert (relief.argmax, relief.pcr, relief.apm) == (0.56, 63.0, 0.3)
    assert results[("gcn_contextpred", "muv", "head_only")][0].argmax is None
    lines = table(results).splitlines()
    bace = lines[2].split()
    std = 100 * statistics.stdev([0.6, 0.5])
    assert bace == ["bace", "55.0", "±", f"{std:.1f}", "(2)", "60.0", "±", "7.1", "(2)"]
    assert lines[3].split()[1:5] == ["65.0", "±", "7.1", "(2)"]  # muv head-only: 0.7, 0.6
    assert lines[3].split()[5:] == ["50.0", "±", "0.0", "(1)"]
    # mean over each method's sets: head-only (55 + 65) / 2, RELIEF (60 + 50) / 2; bace is the
    # only set where every method has seeds 0 and 1
    assert lines[4].split()[-2:] == ["60.0", "55.0"]
    assert lines[5].split()[-4:] == ["complete", "sets", "55.0", "60.0"]
    assert lines[5].split()[:2] == ["mean,", "1"]


def test_the_same_seed_twice_and_a_seed_before_its_backbone_are_refused(tmp_path):
    first, again = _logs(tmp_path, FIRST, FIRST)
    with pytest.raises(
        ValueError,
        match=r"run1\.log:4: bace seed 0 of head_only on gcn_contextpred is also in .*run0\.log",
    ):
        read_logs([first, again])
    (orphan,) = _logs(tmp_path, "  [bace seed 0] gpf: 0.500, 3 s\n")
    with pytest.raises(ValueError, match=r"run0\.log:1: a seed line before any"):
        read_logs([orphan])


def test_command_line_prints_the_table_and_names_bad_logs(tmp_path, capsys):
    first, second = _logs(tmp_path, FIRST, SECOND)
    assert main([str(first), str(second)]) == 0
    assert capsys.readouterr().out.startswith("gcn_contextpred: test ROC-AUC")
    assert main([str(tmp_path / "nope.log")]) == 2
    assert "no such file" in capsys.readouterr().err
    (empty,) = _logs(tmp_path, "nothing here\n")
    assert main([str(empty)]) == 2
    assert "no per-seed lines" in capsys.readouterr().err
