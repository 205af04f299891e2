"""Mutation score per package from mutmut's results (issue 22): run after ``mutmut run``.

    python tools/mutation_score.py            # reads mutants/**/*.py.meta

Per package (``modalprompt/core``, ``modalprompt/graph/relief``, ``modalprompt/nlp/injection.py``
and each method's ``model.py``) it prints the mutants killed (a test failed, or the mutant ran
past its time limit), survived (every covering test passed), with no covering test, and not
yet checked, and the score ``killed / (killed + survived + no tests)``: mutants no test runs
count against the score, as real survivors do. Statuses are mutmut's own
(``mutmut.stats.status_by_exit_code``).
"""

from __future__ import annotations

import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

from mutmut.stats import status_by_exit_code

KILLED = {"killed", "timeout", "caught by type check", "segfault"}


def package_of(source: str) -> str:
    """``modalprompt/core/trainer.py`` -> ``modalprompt/core``; model files stay whole."""
    parts = source.split("/")
    if source.endswith("model.py") and "core" not in parts[:2]:
        return source
    if source == "modalprompt/nlp/injection.py":
        return source
    return "/".join(parts[:3]) if parts[1] == "graph" else "/".join(parts[:2])


def main(root: Path = Path("mutants")) -> int:
    metas = sorted(root.glob("modalprompt/**/*.py.meta"))
    if not metas:
        print(f"no mutmut results under {root}/ (run `mutmut run` first)", file=sys.stderr)
        return 1
    counts: dict[str, Counter] = defaultdict(Counter)
    for meta in metas:
        source = str(meta.relative_to(root))[: -len(".meta")]
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        for code in codes.values():
            counts[package_of(source)][status_by_exit_code[code]] += 1
    total: Counter = Counter()
    print(f"{'package':<44} {'killed':>7} {'survived':>8} {'no tests':>8} {'unchecked':>9} score")
    for package in sorted(counts):
        c = counts[package]
        total.update(c)
        _row(package, c)
    _row("all", total)
    return 0


def _row(name: str, c: Counter) -> None:
    killed = sum(c[s] for s in KILLED)
    judged = killed + c["survived"] + c["no tests"]
    score = f"{100 * killed / judged:5.1f}%" if judged else "    -"
    print(
        f"{name:<44} {killed:>7} {c['survived']:>8} {c['no tests']:>8} "
        f"{c['not checked']:>9} {score}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
