"""Mutation score per package from mutmut's results (issue 22): run after ``mutmut run``.

    python tools/mutation_score.py            # reads mutants/**/*.py.meta
    python tools/mutation_score.py --only mutants-sample.txt   # a sample's mutants only

Per package (``modalprompt/core``, ``modalprompt/graph/relief``, ``modalprompt/nlp/injection.py``
and each method's ``model.py``) it prints the mutants killed (a test failed, or the mutant ran
past its time limit), survived (every covering test passed), with no covering test, and not
yet checked, and the score ``killed / (killed + survived + no tests)``: mutants no test runs
count against the score, as real survivors do. Statuses are mutmut's own
(``mutmut.stats.status_by_exit_code``). With ``--only`` (names, one per line, as
``tools/mutation_sample.py`` writes them) it counts those mutants only and adds a 95 % Wilson
interval to each score: a sample's estimate of the whole scope's.
"""

from __future__ import annotations

import argparse
import json
import math
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", type=Path, help="count only the mutants named in this file")
    parser.add_argument("--mutants", type=Path, default=Path("mutants"), help="mutmut's folder")
    args = parser.parse_args(argv)
    root = args.mutants
    metas = sorted(root.glob("modalprompt/**/*.py.meta"))
    if not metas:
        print(f"no mutmut results under {root}/ (run `mutmut run` first)", file=sys.stderr)
        return 1
    only = None
    if args.only is not None:
        only = {line.strip() for line in args.only.read_text().splitlines() if line.strip()}
    counts: dict[str, Counter] = defaultdict(Counter)
    found = set()
    for meta in metas:
        source = str(meta.relative_to(root))[: -len(".meta")]
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        for name, code in codes.items():
            if only is not None and name not in only:
                continue
            found.add(name)
            counts[package_of(source)][status_by_exit_code[code]] += 1
    if only is not None and only - found:
        missing = sorted(only - found)
        print(
            f"--only: {len(missing)} of {len(only)} names are no longer mutmut's mutants "
            f"(first: {missing[0]}): the code changed since the sample was drawn; they are "
            "left out (draw a new sample to count them)",
            file=sys.stderr,
        )
        if len(missing) == len(only):
            return 1
    total: Counter = Counter()
    interval = only is not None
    header = f"{'package':<44} {'killed':>7} {'survived':>8} {'no tests':>8} {'unchecked':>9} score"
    print(header + ("  95% interval" if interval else ""))
    for package in sorted(counts):
        c = counts[package]
        total.update(c)
        _row(package, c, interval)
    _row("all", total, interval)
    return 0


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (95 % for ``z = 1.96``)."""
    if trials < 1:
        raise ValueError(f"trials: expected at least 1, got {trials}")
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    half /= 1 + z * z / trials
    return max(0.0, centre - half), min(1.0, centre + half)


def _row(name: str, c: Counter, interval: bool = False) -> None:
    killed = sum(c[s] for s in KILLED)
    judged = killed + c["survived"] + c["no tests"]
    score = f"{100 * killed / judged:5.1f}%" if judged else "    -"
    line = (
        f"{name:<44} {killed:>7} {c['survived']:>8} {c['no tests']:>8} "
        f"{c['not checked']:>9} {score}"
    )
    if interval and judged:
        low, high = wilson_interval(killed, judged)
        line += f"  {f'{100 * low:.1f}-{100 * high:.1f}%':>13}"
    print(line)


if __name__ == "__main__":
    raise SystemExit(main())
