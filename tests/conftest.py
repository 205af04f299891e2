"""Shared pytest fixtures: device, seeding and the optional ``../shared/data`` folder."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path | None:
    """The real datasets in ``../shared/data`` (or ``$MODALPROMPT_SHARED_DATA``)."""
    env = os.environ.get("MODALPROMPT_SHARED_DATA")
    candidate = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


@pytest.fixture
def shared_data() -> Path:
    """Path of ``../shared/data``; skips the test with a reason when it is absent."""
    path = _shared_data_dir()
    if path is None:
        pytest.skip("../shared/data is absent (set MODALPROMPT_SHARED_DATA to its path)")
    return path


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    """Every available device: CPU always, CUDA when present."""
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def _seed_and_threads():
    """Seed 0 and one intra-op thread per test: the tests' tensors are small, where threads only
    add synchronisation, and on a shared CPU oversubscribed threads made them ~10x slower."""
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


MUTMUT_STATS = Path("mutmut-stats.json")  # mutmut runs the tests from inside mutants/


def fastest_first(items: list, seconds: dict[str, float]) -> None:
    """Sort test ``items`` in place by their recorded duration, unknown ones last (stable)."""
    items.sort(key=lambda item: seconds.get(item.nodeid, math.inf))


def pytest_collection_modifyitems(config, items) -> None:
    """Under mutmut, run each mutant's tests fastest first.

    mutmut hands pytest a mutant's covering tests in set order and stops at the first failure
    (``-x``), so a mutant that a 5 ms unit test kills could first wait for a 38 s end-to-end run.
    Sorting by the durations mutmut recorded (``mutmut-stats.json``) makes killed mutants cheap;
    only survivors pay for every test. Plain pytest runs keep their order.
    """
    if "MUTANT_UNDER_TEST" not in os.environ or not MUTMUT_STATS.is_file():
        return
    fastest_first(items, json.loads(MUTMUT_STATS.read_text())["duration_by_test"])
