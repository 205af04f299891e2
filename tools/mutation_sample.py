"""A seeded, stratified sample of mutmut's mutants, for a mutation score within an hour (issue 22).

The configured scope has about 11,500 mutants and a whole pass takes many hours on 2 cores.
Testing a random sample of the mutants (random mutant sampling, the usual way to cut the cost of
mutation testing) estimates the same score, and ``tools/mutation_score.py --only FILE`` prints
it with a 95 % interval for the uncertainty of the draw::

    python tools/mutation_sample.py --fraction 0.05 --seed 0 --out mutants-sample.txt
    mutmut run --max-children 2 $(cat mutants-sample.txt)
    python tools/mutation_score.py --only mutants-sample.txt

The sample is drawn per package (``mutation_score.package_of``), at least one mutant from each,
so that no package is left out, and is the same for the same seed and mutants. It reads the
mutant names from ``mutants/**/*.py.meta``, which any ``mutmut run`` writes (all of them, for
the whole scope, before it tests the mutants it was given).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutation_score import package_of  # noqa: E402


def mutant_names(root: Path = Path("mutants")) -> dict[str, list[str]]:
    """Every mutant's name, grouped by package, each group sorted.

    Raises ``FileNotFoundError`` naming ``root`` when mutmut has not generated mutants there.
    """
    metas = sorted(root.glob("modalprompt/**/*.py.meta"))
    if not metas:
        raise FileNotFoundError(
            f"no mutants under {root}/: run mutmut once to generate them, e.g. "
            '`mutmut run "modalprompt.core.seeding*"`'
        )
    by_package: dict[str, list[str]] = defaultdict(list)
    for meta in metas:
        source = str(meta.relative_to(root))[: -len(".meta")]
        by_package[package_of(source)].extend(json.loads(meta.read_text())["exit_code_by_key"])
    return {package: sorted(names) for package, names in by_package.items()}


def stratified_sample(
    groups: dict[str, list[str]], fraction: float, seed: int
) -> dict[str, list[str]]:
    """``ceil(fraction * len(group))`` names drawn without replacement from each group.

    Args:
        groups: package -> mutant names (a non-empty list each).
        fraction: in (0, 1].
        seed: the draw is a function of the seed and the names only.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction: expected a number in (0, 1], got {fraction}")
    sample = {}
    for package in sorted(groups):
        names = groups[package]
        rng = random.Random(f"{seed}:{package}")
        sample[package] = sorted(rng.sample(names, math.ceil(fraction * len(names))))
    return sample


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fraction", type=_fraction, default=0.05, help="of each package")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write the names here (default: stdout)")
    parser.add_argument("--mutants", type=Path, default=Path("mutants"), help="mutmut's folder")
    args = parser.parse_args(argv)
    try:
        groups = mutant_names(args.mutants)
    except FileNotFoundError as error:
        print(error, file=sys.stderr)
        return 1
    sample = stratified_sample(groups, args.fraction, args.seed)
    names = [name for package in sample for name in sample[package]]
    text = "\n".join(names) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text)
    total = sum(len(group) for group in groups.values())
    print(f"{len(names)} of {total} mutants from {len(sample)} packages", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
