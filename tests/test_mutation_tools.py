"""The mutation-testing helpers (issue 22): sampling, the score's interval, fastest-first order."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from mutation_sample import main as sample_main  # noqa: E402
from mutation_sample import mutant_names, stratified_sample  # noqa: E402
from mutation_score import main as score_main  # noqa: E402
from mutation_score import wilson_interval  # noqa: E402


def _groups() -> dict[str, list[str]]:
    return {
        "modalprompt/core": [f"core.f__mutmut_{i}" for i in range(1, 101)],
        "modalprompt/nlp/injection.py": [f"inj.g__mutmut_{i}" for i in range(1, 8)],
        "modalprompt/graph/gpf/model.py": ["gpf.h__mutmut_1"],
    }


def test_sample_takes_the_ceiling_of_each_package_without_repeats():
    sample = stratified_sample(_groups(), 0.1, seed=0)
    assert {p: len(n) for p, n in sample.items()} == {
        "modalprompt/core": 10,
        "modalprompt/nlp/injection.py": 1,  # ceil(0.7): no package is left out
        "modalprompt/graph/gpf/model.py": 1,
    }
    for package, names in sample.items():
        assert len(set(names)) == len(names)
        assert set(names) <= set(_groups()[package])
    everything = stratified_sample(_groups(), 1.0, seed=3)
    assert everything == {package: sorted(names) for package, names in _groups().items()}


def test_sample_is_a_function_of_the_seed():
    assert stratified_sample(_groups(), 0.2, 0) == stratified_sample(_groups(), 0.2, 0)
    assert stratified_sample(_groups(), 0.2, 0) != stratified_sample(_groups(), 0.2, 1)


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5])
def test_sample_refuses_a_fraction_outside_zero_one(fraction):
    with pytest.raises(ValueError, match=r"^fraction: expected a number in \(0, 1\]"):
        stratified_sample(_groups(), fraction, 0)


def test_wilson_interval_by_hand():
    # 8 of 10, z = 1.96: centre (0.8 + 1.9208 / 10) / 1.38416, half-width 1.96 * 0.160012 / 1.38416
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.49016, abs=1e-4)
    assert high == pytest.approx(0.94332, abs=1e-4)
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0
    with pytest.raises(ValueError, match="^trials: expected at least 1, got 0"):
        wilson_interval(0, 0)


def _fake_mutants(root: Path) -> None:
    """Two meta files as mutmut writes them: exit codes 1 killed, 0 survived, None unchecked."""
    core = root / "modalprompt" / "core"
    core.mkdir(parents=True)
    codes = {"a__mutmut_1": 1, "a__mutmut_2": 1, "a__mutmut_3": 0, "a__mutmut_4": None}
    (core / "optim.py.meta").write_text(json.dumps({"exit_code_by_key": codes}))
    inj = root / "modalprompt" / "nlp"
    inj.mkdir(parents=True)
    (inj / "injection.py.meta").write_text(json.dumps({"exit_code_by_key": {"b__mutmut_1": 1}}))


def test_score_counts_only_the_sample_and_prints_its_interval(tmp_path, capsys):
    _fake_mutants(tmp_path / "mutants")
    assert mutant_names(tmp_path / "mutants") == {
        "modalprompt/core": ["a__mutmut_1", "a__mutmut_2", "a__mutmut_3", "a__mutmut_4"],
        "modalprompt/nlp/injection.py": ["b__mutmut_1"],
    }
    only = tmp_path / "sample.txt"
    only.write_text("a__mutmut_1\na__mutmut_3\n")
    assert score_main(["--mutants", str(tmp_path / "mutants"), "--only", str(only)]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["all"][1:6] == ["1", "1", "0", "0", "50.0%"]
    low, high = wilson_interval(1, 2)
    assert rows["all"][6] == f"{100 * low:.1f}-{100 * high:.1f}%"
    assert "modalprompt/nlp/injection.py" not in rows
    assert score_main(["--mutants", str(tmp_path / "mutants")]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["all"][1:6] == ["3", "1", "0", "1", "75.0%"]


def test_score_leaves_out_names_that_are_no_longer_mutants_and_says_so(tmp_path, capsys):
    _fake_mutants(tmp_path / "mutants")
    only = tmp_path / "sample.txt"
    only.write_text("a__mutmut_1\nstale__mutmut_9\n")
    assert score_main(["--mutants", str(tmp_path / "mutants"), "--only", str(only)]) == 0
    out, err = capsys.readouterr()
    assert "--only: 1 of 2 names are no longer mutmut's mutants (first: stale__mutmut_9)" in err
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert rows["all"][1:6] == ["1", "0", "0", "0", "100.0%"]
    only.write_text("stale__mutmut_9\n")  # nothing left to count
    assert score_main(["--mutants", str(tmp_path / "mutants"), "--only", str(only)]) == 1


def test_sample_command_writes_names_and_says_when_there_are_no_mutants(tmp_path, capsys):
    _fake_mutants(tmp_path / "mutants")
    out = tmp_path / "sample.txt"
    assert (
        sample_main(
            ["--mutants", str(tmp_path / "mutants"), "--fraction", "0.5", "--out", str(out)]
        )
        == 0
    )
    names = out.read_text().split()
    assert len(names) == 3  # ceil(0.5 * 4) + ceil(0.5 * 1)
    assert "b__mutmut_1" in names
    assert sample_main(["--mutants", str(tmp_path / "none")]) == 1
    assert "no mutants under" in capsys.readouterr().err


def test_fastest_first_sorts_by_recorded_seconds_and_puts_unknown_tests_last():
    items = [SimpleNamespace(nodeid=n) for n in ("slow", "new", "fast", "mid")]
    fastest_first(items, {"slow": 38.0, "fast": 0.005, "mid": 1.0})
    assert [i.nodeid for i in items] == ["fast", "mid", "slow", "new"]


def _conftest():
    spec = importlib.util.spec_from_file_location(
        "_conftest", Path(__file__).with_name("conftest.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fastest_first(items, seconds):
    _conftest().fastest_first(items, seconds)


def test_collection_is_reordered_only_under_mutmut(tmp_path, monkeypatch):
    hook = _conftest().pytest_collection_modifyitems
    (tmp_path / "mutmut-stats.json").write_text(
        json.dumps({"duration_by_test": {"a": 2.0, "b": 0.1}})
    )
    monkeypatch.chdir(tmp_path)  # mutmut runs pytest from inside mutants/
    items = [SimpleNamespace(nodeid=n) for n in ("a", "b")]
    monkeypatch.delenv("MUTANT_UNDER_TEST", raising=False)
    hook(None, items)
    assert [i.nodeid for i in items] == ["a", "b"]
    monkeypatch.setenv("MUTANT_UNDER_TEST", "modalprompt.core.optim.x_f__mutmut_1")
    hook(None, items)
    assert [i.nodeid for i in items] == ["b", "a"]
