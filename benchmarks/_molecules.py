"""What the molecule benchmarks share: where the data and checkpoints lie, reading a MoleculeNet
task, fixed subsamples, the 50-shot draw.

Imported as ``from _molecules import ...`` (``python benchmarks/NAME.py`` and ``modalprompt
bench`` put this folder on ``sys.path``).
"""

from __future__ import annotations

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


def subsample(indices: list[int], limit: int | None) -> list[int]:
    """At most ``limit`` of ``indices`` (a fixed-seed choice, order kept)."""
    if limit is None or len(indices) <= limit:
        return indices
    chosen = torch.randperm(len(indices), generator=torch.Generator().manual_seed(0))[:limit]
    return [indices[i] for i in sorted(chosen.tolist())]


def few_shot(train: list[int], seed: int, shots: int = 50) -> list[int]:
    """RELIEF's few-shot draw: the first ``shots`` training graphs after a ``seed``-ed shuffle."""
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    return [train[i] for i in order[:shots].tolist()]
