"""Pool the per-seed lines of several ``benchmarks/graph.py`` runs into one table.

RELIEF takes minutes to an hour per seed on a CPU, so the graph benchmark is run a set or a seed
at a time (``--datasets``, ``--seeds``, ``--methods``). Each run prints one line per method and
seed (``[bace seed 3] relief: 0.587 (argmax 0.590, PCR 64.4%, APM 0.446), 210 s``) under
``=== backbone NAME ===``; this reads the logs and prints, per backbone, test ROC-AUC mean ± std
with the number of seeds, the mean over the sets, and the mean over the sets where every method
has every seed. A seed seen twice for the same backbone, set and method is an error naming both
logs (two runs of one seed must not be averaged as two seeds).

    python tools/graph_pool.py runs/graph_seeds012.log runs/graph_seeds34.log
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

SEED_LINE = re.compile(
    r"\[(?P<set>\w+) seed (?P<seed>\d+)\] (?P<method>\w+): (?P<auc>[0-9.]+)"
    r"(?: \(argmax (?P<argmax>[0-9.]+), PCR (?P<pcr>[0-9.]+)%, APM (?P<apm>[0-9.]+)\))?"
    r", (?P<seconds>\d+) s"
)
BACKBONE_LINE = re.compile(r"^=== backbone (\S+) ===")
ORDER = ("head_only", "full_finetune", "gpf", "gpf_plus", "relief")  # graph.py's methods


@dataclass(frozen=True)
class SeedResult:
    """One method on one set and seed: test ROC-AUC in [0, 1], seconds, and the log it came
    from; RELIEF's argmax ROC-AUC, PCR (in %) and APM when the log has them."""

    auc: float
    seconds: int
    log: str
    argmax: float | None = None
    pcr: float | None = None
    apm: float | None = None


Key = tuple[str, str, str]  # backbone, set, method


def read_logs(paths: list[Path]) -> dict[Key, dict[int, SeedResult]]:
    """Every per-seed line of the logs, by (backbone, set, method) and seed.

    Raises:
        ValueError: a seed line before any backbone line, or the same seed twice.
    """
    results: dict[Key, dict[int, SeedResult]] = {}
    for path in paths:
        backbone = None
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            header = BACKBONE_LINE.match(line)
            if header:
                backbone = header.group(1)
                continue
            found = SEED_LINE.search(line)
            if not found:
                continue
            if backbone is None:
                raise ValueError(f"{path}:{number}: a seed line before any '=== backbone' line")
            g = found.groupdict()
            key, seed = (backbone, g["set"], g["method"]), int(g["seed"])
            seen = results.setdefault(key, {})
            if seed in seen:
                raise ValueError(
                    f"{path}:{number}: {key[1]} seed {seed} of {key[2]} on {key[0]} is also in "
                    f"{seen[seed].log}; pool each seed once"
                )
            optional = {k: float(g[k]) for k in ("argmax", "pcr", "apm") if g[k] is not None}
            seen[seed] = SeedResult(float(g["auc"]), int(g["seconds"]), str(path), **optional)
    return results


def _cell(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.1f} ± {100 * std:.1f} ({len(values)})"


def table(results: dict[Key, dict[int, SeedResult]]) -> str:
    """Per backbone: set x method cells ``mean ± std (seeds)``, the mean over the sets each
    method has, and the mean over the sets where every method has every seed seen."""
    lines = []
    for backbone in sorted({k[0] for k in results}):
        keys = [k for k in results if k[0] == backbone]
        sets = sorted({k[1] for k in keys})
        rank = {m: i for i, m in enumerate(ORDER)}
        methods = sorted({k[2] for k in keys}, key=lambda m: (rank.get(m, len(ORDER)), m))
        seeds = set().union(*(results[k] for k in keys))
        complete = [s for s in sets if all(set(results.get((backbone, s, m), {})) == seeds
                                           for m in methods)]  # fmt: skip
        lines.append(f"{backbone}: test ROC-AUC, mean ± std (seeds)")
        lines.append(f"  {'set':<24}" + "".join(f"{m:>20}" for m in methods))
        for s in sets:
            cells = []
            for m in methods:
                got = results.get((backbone, s, m))
                cells.append(_cell([r.auc for r in got.values()]) if got else "-")
            lines.append(f"  {s:<24}" + "".join(f"{c:>20}" for c in cells))
        labels = ("mean, the sets it has", f"mean, {len(complete)} complete sets")
        for label, chosen in zip(labels, (sets, complete)):
            row = []
            for m in methods:
                means = [
                    statistics.mean(r.auc for r in results[(backbone, s, m)].values())
                    for s in chosen
                    if (backbone, s, m) in results
                ]
                row.append(f"{100 * statistics.mean(means):.1f}" if means else "-")
            lines.append(f"  {label:<24}" + "".join(f"{c:>20}" for c in row))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", type=Path, help="graph.py output (stdout + stderr)")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.logs if not p.is_file()]
    if missing:
        print(f"logs: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    try:
        results = read_logs(args.logs)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    if not results:
        print("logs: no per-seed lines found (graph.py prints them to stderr)", file=sys.stderr)
        return 2
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
