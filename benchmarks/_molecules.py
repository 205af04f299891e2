"""What the molecule benchmarks share: where the data and checkpoints lie, reading a MoleculeNet
task, fixed subsamples, the 50-shot draw.

Imported as ``from _molecules import ...`` (``python benchmarks/NAME.py`` and ``modalprompt
bench`` put this folder on ``sys.path``).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from modalprompt.graph.datasets.molecules import MoleculeDataset, load_moleculenet_csv

__all__ = [
    "CHECKPOINTS",
    "DEFAULT_DATA",
    "DEFAULT_MODELS",
    "MOLECULENET",
    "few_shot",
    "positive",
    "positives",
    "read_task",
    "spread",
    "subsample",
]

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "graph"
DEFAULT_MODELS = (
    Path(__file__).resolve().parents[2] / "shared" / "models" / "pretrain-gnns" / "chem"
)
CHECKPOINTS = (
    "gcn_contextpred",
    "gat_contextpred",
    "graphsage_contextpred",
    "gcn_supervised_contextpred",
    "gcn_supervised",
)
MOLECULENET = ("bbbp", "bace", "clintox", "tox21", "muv", "hiv")


def spread(values: list[float]) -> str:
    """``mean ± std`` in percent."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.1f} ± {100 * std:.1f}"


def read_task(data: Path, name: str, largest_fragment: bool = False) -> MoleculeDataset:
    """``data/NAME.csv`` or ``data/NAME.csv.gz``; exits naming the folder when neither is there.
    ``largest_fragment``: featurise each molecule's largest fragment only (salts stripped)."""
    for candidate in (data / f"{name}.csv", data / f"{name}.csv.gz"):
        if candidate.is_file():
            return load_moleculenet_csv(candidate, largest_fragment=largest_fragment)
    raise SystemExit(f"--datasets: no {name}.csv(.gz) in {data}")


def subsample(indices: list[int], limit: int | None, keep: set[int] | None = None) -> list[int]:
    """At most ``limit`` of ``indices`` (a fixed-seed choice, order kept). Those in ``keep`` (the
    molecules with a positive label: MUV's 0.2 %, HIV's 3.5 %) are taken first, up to half of
    ``limit``, and the rest drawn from the others: ROC-AUC does not depend on the class ratio,
    and a uniform draw of 500 from MUV's test split leaves about one positive per task."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit: expected None or an int >= 1, got {limit}")
    if limit is None or len(indices) <= limit:
        return indices
    generator = torch.Generator().manual_seed(0)
    keep = keep or set()
    first = [i for i in indices if i in keep]
    if len(first) > limit // 2:
        order = torch.randperm(len(first), generator=generator)[: limit // 2]
        first = [first[k] for k in order.tolist()]
    rest = [i for i in indices if i not in keep]
    order = torch.randperm(len(rest), generator=generator)[: limit - len(first)]
    chosen = set(first) | {rest[k] for k in order.tolist()}
    return [i for i in indices if i in chosen]


def positives(dataset: MoleculeDataset) -> set[int]:
    """Indices of the molecules with a positive label in any task."""
    return {i for i, graph in enumerate(dataset.graphs) if bool((graph.y == 1).any())}


def few_shot(train: list[int], seed: int, shots: int = 50) -> list[int]:
    """RELIEF's few-shot draw: the first ``shots`` training graphs after a ``seed``-ed shuffle."""
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    return [train[i] for i in order[:shots].tolist()]


def positive(text: str) -> int:
    """An argparse type: an int >= 1 (0 would train or probe on nothing)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {value}")
    return value
