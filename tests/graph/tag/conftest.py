"""GraphCLIP tests run tiny subgraph batches: one torch thread is faster than several, and much
faster when the CPU is shared (thread synchronisation then dominates)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
