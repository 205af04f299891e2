"""Helpers the text benchmarks share: ``mean ± std`` cells and fixed test subsets.

Imported as ``from _report import ...``: a benchmark runs as a script (``python
benchmarks/NAME.py`` puts this folder on ``sys.path``; ``modalprompt bench`` does the same).
"""

from __future__ import annotations

import random
import statistics

__all__ = ["spread", "subset"]


def spread(values: list[float]) -> str:
    """``mean ± std`` in percent."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):5.1f} ± {100 * std:4.1f}"


def subset(items: list, n: int, seed: int = 0) -> list:
    """A fixed random subset of ``n`` items (all when ``n`` >= len)."""
    if n >= len(items):
        return list(items)
    idx = sorted(random.Random(seed).sample(range(len(items)), n))
    return [items[i] for i in idx]
