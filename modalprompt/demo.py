"""``modalprompt demo``: a few-minute tour on built-in data, ending in a results table.

Each domain contributes ``modalprompt.<domain>.demo.run(quick: bool) -> list[DemoResult]``; the
demo runs every domain whose dependencies are installed. Rows say which method, how many
parameters it trains, and what it scored on held-out data.
"""

from __future__ import annotations

import dataclasses
import importlib
import time

__all__ = ["DemoResult", "run_demo", "format_table"]

_DOMAIN_DEMOS = ("modalprompt.pointcloud.demo", "modalprompt.graph.demo", "modalprompt.nlp.demo")


@dataclasses.dataclass
class DemoResult:
    """One row of the demo table."""

    domain: str
    task: str
    method: str
    trainable_percent: float
    metric_name: str
    metric: float
    seconds: float


def format_table(rows: list[DemoResult]) -> str:
    """The rows as an aligned plain-text table."""
    header = ("domain", "task", "method", "trainable %", "metric", "value", "time (s)")
    body = [
        (
            r.domain,
            r.task,
            r.method,
            f"{r.trainable_percent:.2f}",
            r.metric_name,
            f"{r.metric:.4f}",
            f"{r.seconds:.1f}",
        )
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    line = "  ".join("-" * w for w in widths)
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), line, *(fmt.format(*row) for row in body)])


def run_demo(quick: bool = False) -> list[DemoResult]:
    """Run every available domain demo and print the table."""
    rows: list[DemoResult] = []
    start = time.perf_counter()
    for module_name in _DOMAIN_DEMOS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name == module_name:
                continue  # this domain has no demo yet
            print(f"[demo] skipping {module_name}: missing dependency {err.name}")
            continue
        rows.extend(module.run(quick=quick))
    if not rows:
        from modalprompt.core.baselines.demo import run as core_run

        rows.extend(core_run(quick=quick))
    print()
    print(format_table(rows))
    print(f"\ntotal time: {time.perf_counter() - start:.1f} s")
    return rows
