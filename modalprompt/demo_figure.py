"""The demo's figure: one panel per comparison, the method's bar beside its baselines'.

Needs matplotlib (the ``plot`` extra; ``all`` includes it). Each panel shows the held-out metric
of every row of one comparison, the library's method in colour and its baselines in grey, and
under each bar the number of parameters it trains, so "how good, at what cost" reads at a glance.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # files only: no display is needed (or wanted) on a server
import matplotlib.pyplot as plt  # noqa: E402

if TYPE_CHECKING:
    from modalprompt.demo import DemoResult

__all__ = ["plot_comparisons"]

_DOMAIN_COLOURS = {"graph": "#2a9d8f", "pointcloud": "#e76f51", "text": "#457b9d"}


def _short(n: int) -> str:
    for unit, size in (("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return str(n)


def plot_comparisons(rows: list[DemoResult], path: str | Path) -> Path:
    """Write the figure of ``rows`` (grouped by ``pair``) to ``path`` (PNG); returns it."""
    groups: dict[str, list[DemoResult]] = {}
    for row in rows:
        groups.setdefault(row.pair or row.method, []).append(row)
    cols = min(3, len(groups)) or 1
    lines = math.ceil(len(groups) / cols) or 1
    fig, axes = plt.subplots(lines, cols, figsize=(4.4 * cols, 3.1 * lines), squeeze=False)
    for ax in axes.flat[len(groups) :]:
        ax.axis("off")
    for ax, (name, group) in zip(axes.flat, groups.items(), strict=False):
        colour = _DOMAIN_COLOURS.get(group[0].domain, "#6d597a")
        values = [r.metric for r in group]
        colours = [colour if r.role == "method" else "#b0b0b0" for r in group]
        ax.bar(range(len(group)), values, color=colours)
        for i, r in enumerate(group):
            ax.text(i, r.metric + 0.02, f"{r.metric:.2f}", ha="center", fontsize=8)
        ax.set_xticks(
            range(len(group)),
            [f"{r.method}\n{_short(r.trainable_params)} params" for r in group],
            fontsize=7,
        )
        ax.set_ylim(0, 1.12)
        ax.set_ylabel(group[0].metric_name, fontsize=8)
        ax.set_title(f"{name}\n({group[0].backbone})", fontsize=8.5)
        ax.tick_params(axis="y", labelsize=7)
    fig.suptitle(
        "modalprompt demo: each method (colour) against its paper's baseline (grey)", fontsize=10
    )
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
