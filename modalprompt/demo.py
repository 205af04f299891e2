"""``modalprompt demo``: every method of the library beside the baseline its paper compares
against, on built-in procedural data, in about three minutes on 2 CPU cores.

Each domain contributes ``modalprompt.<domain>.demo.run(quick, emit) -> list[DemoResult]``,
calling ``emit(row)`` as soon as a row is measured (the demo prints a progress line for it).
The demo runs every domain whose dependencies are installed and writes, under ``out_dir``
(``runs/demo`` by default), ``table.md``, ``table.csv`` and, with matplotlib installed (the
``plot`` extra, part of ``all``), ``figure.png``: per comparison, the metric of the method and
of its baseline against the parameters they train.

Rows come in comparisons (``DemoResult.pair``): one row is the paper's method
(``role="method"``), the others its baselines (``role="baseline"``). Every number is measured
by the run, seeded; none is written down in advance.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib
import time
from collections.abc import Callable
from pathlib import Path

import torch

from modalprompt.core.registry import MODALITIES

__all__ = ["DemoResult", "run_demo", "format_table", "write_outputs"]

_DOMAIN_DEMOS = tuple(f"modalprompt.{name}.demo" for name in MODALITIES)
_COLUMNS = (
    "comparison",
    "role",
    "method",
    "backbone",
    "task",
    "trainable params",
    "trainable %",
    "metric",
    "value",
    "note",
    "time (s)",
)


@dataclasses.dataclass
class DemoResult:
    """One row of the demo table.

    Attributes:
        domain: ``graph``, ``pointcloud`` or ``text``.
        task: the data the row was measured on (procedural; its shots).
        method: the method's registry name or a readable baseline name.
        trainable_percent: trainable parameters as a percent of all parameters (0-100].
        metric_name / metric: what was measured on held-out data, in [0, 1].
        seconds: wall time of the row (training + evaluation).
        backbone: the frozen / tuned model the row used.
        role: ``"method"`` (one of the library's nine) or ``"baseline"``.
        pair: the comparison the row belongs to, e.g. ``"RELIEF vs GPF-plus"``.
        trainable_params: the number behind ``trainable_percent``.
        note: a second measurement where the paper's point needs one (prompted-node ratio,
            step time).
    """

    domain: str
    task: str
    method: str
    trainable_percent: float
    metric_name: str
    metric: float
    seconds: float
    backbone: str = ""
    role: str = "method"
    pair: str = ""
    trainable_params: int = 0
    note: str = ""

    def cells(self) -> tuple[str, ...]:
        """The row as the strings of :data:`_COLUMNS`."""
        return (
            self.pair or self.method,
            self.role,
            self.method,
            self.backbone,
            self.task,
            f"{self.trainable_params:,}",
            f"{self.trainable_percent:.2f}",
            self.metric_name,
            f"{self.metric:.3f}",
            self.note,
            f"{self.seconds:.1f}",
        )


def format_table(rows: list[DemoResult], markdown: bool = False) -> str:
    """The rows as an aligned plain-text table, or a Markdown table."""
    body = [r.cells() for r in rows]
    if markdown:
        lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "---|" * len(_COLUMNS)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in body]) + "\n"
    widths = [max(len(str(x)) for x in col) for col in zip(_COLUMNS, *body)]
    line = "  ".join("-" * w for w in widths)
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*_COLUMNS), line, *(fmt.format(*row) for row in body)])


def write_outputs(rows: list[DemoResult], out_dir: str | Path) -> list[Path]:
    """``table.md``, ``table.csv`` and (with matplotlib) ``figure.png`` in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "table.md", out / "table.csv"]
    written[0].write_text(format_table(rows, markdown=True), encoding="utf-8")
    with written[1].open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["domain", *(c.replace(" ", "_") for c in _COLUMNS)])
        for r in rows:
            writer.writerow([r.domain, *r.cells()])
    try:
        from modalprompt.demo_figure import plot_comparisons
    except ImportError as err:  # matplotlib is optional
        print(f"[demo] no figure: {err} (pip install matplotlib, or the plot extra)")
        return written
    written.append(plot_comparisons(rows, out / "figure.png"))
    return written


def run_demo(quick: bool = False, out_dir: str | Path | None = "runs/demo") -> list[DemoResult]:
    """Run every available domain demo, print a line per row as it is measured and the
    table at the end, and write the table and figure to ``out_dir`` (None: write nothing)."""
    rows: list[DemoResult] = []
    start = time.perf_counter()

    def emit(row: DemoResult) -> None:
        rows.append(row)
        extra = f", {row.note}" if row.note else ""
        print(
            f"[demo {time.perf_counter() - start:5.0f} s] {row.pair or row.method}: {row.method} "
            f"({row.role}) {row.metric_name} {row.metric:.3f}{extra}, "
            f"{row.trainable_params:,} trainable, {row.seconds:.1f} s",
            flush=True,
        )

    failures: list[str] = []
    # multi-threaded CPU kernels (e.g. the accumulating index_put of an embedding's backward)
    # add in a varying order; BayesPrompt's GMM + SVGD amplified that to +-0.07 micro-F1
    # between two runs on 2 threads, so the demo asks torch for deterministic kernels
    was = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        _run_domains(quick, emit, failures)
    finally:
        torch.use_deterministic_algorithms(was, warn_only=was_warn_only)
    if not rows:
        raise RuntimeError(
            "modalprompt demo: no domain demo could run (missing dependencies above); "
            'install the extras with pip install -e ".[all]"'
            + (f"; failures: {'; '.join(failures)}" if failures else "")
        )
    print()
    print(format_table(rows))
    if out_dir is not None:
        written = write_outputs(rows, out_dir)
        print("\nwritten: " + ", ".join(str(p) for p in written))
    print(f"total time: {time.perf_counter() - start:.1f} s")
    if failures:
        raise DemoIncomplete(
            f"{len(failures)} domain demo(s) stopped early (the table holds the rows measured "
            "before): " + "; ".join(failures)
        )
    return rows


def _run_domains(quick: bool, emit: Callable[[DemoResult], None], failures: list[str]) -> None:
    """Run every domain's demo; one that raises is recorded in ``failures``, the rest go on."""
    for module_name in _DOMAIN_DEMOS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name == module_name:
                continue  # this domain has no demo yet
            print(f"[demo] skipping {module_name}: missing dependency {err.name}")
            continue
        try:
            module.run(quick=quick, emit=emit)
        except Exception as err:  # the other domains' rows still count; reported at the end
            failures.append(f"{module_name}: {type(err).__name__}: {err}")
            print(f"[demo] {module_name} stopped: {type(err).__name__}: {err}", flush=True)


class DemoIncomplete(RuntimeError):
    """A domain's demo raised; the rows measured before were printed and written."""


DemoEmit = Callable[[DemoResult], None]
