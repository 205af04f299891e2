"""The data-parallel helpers of hand-written steps, in one process: without DDP they are
no-ops; inside a one-process gloo group, a context that claims two ranks shows what each
collective computes (the sum over the one real process, divided by the claimed world size)."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.distributed as dist

from modalprompt.core.distributed import (
    DistributedContext,
    all_ranks_agree,
    average_gradients,
    min_over_ranks,
    shard_for_rank,
)
from modalprompt.core.phases import _phase_seed


@pytest.fixture
def one_process_group():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


def test_without_ddp_every_helper_is_the_identity():
    alone = DistributedContext()
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.full((3,), 2.0)
    average_gradients([p], alone)
    assert torch.equal(p.grad, torch.full((3,), 2.0))
    assert all_ranks_agree(True, alone) and not all_ranks_agree(False, alone)
    assert min_over_ranks(7, alone) == 7
    order = torch.tensor([4, 1, 3, 0, 2])
    assert torch.equal(shard_for_rank(order, alone), order)


def test_shards_are_disjoint_equal_and_drop_the_remainder():
    order = torch.tensor([9, 4, 1, 7, 3, 0, 8])
    shards = [shard_for_rank(order, DistributedContext(3, r, r)) for r in range(3)]
    assert [s.tolist() for s in shards] == [[9, 7], [4, 3], [1, 0]]  # 8 (the 7th) left out


def test_collectives_inside_a_process_group(one_process_group):
    claimed = DistributedContext(world_size=2, rank=0, local_rank=0)
    a = torch.nn.Parameter(torch.ones(2, 2))
    b = torch.nn.Parameter(torch.ones(3))
    frozen = torch.nn.Parameter(torch.ones(1), requires_grad=False)
    a.grad = torch.tensor([[2.0, 4.0], [6.0, 8.0]])  # b has no gradient on this rank
    average_gradients([a, b, frozen], claimed)
    assert torch.equal(a.grad, torch.tensor([[1.0, 2.0], [3.0, 4.0]]))  # summed, / 2
    assert torch.equal(b.grad, torch.zeros(3)) and frozen.grad is None
    assert all_ranks_agree(True, claimed) and not all_ranks_agree(False, claimed)
    assert min_over_ranks(5, claimed) == 5


def test_phase_seeds_differ_per_rank_phase_and_seed():
    seeds = {_phase_seed(s, i, r) for s in (0, 1) for i in (0, 1, 2) for r in (0, 1)}
    assert len(seeds) == 12 and all(0 <= x < 2**31 - 1 for x in seeds)
    assert _phase_seed(3, 1, 0) == _phase_seed(3, 1, 0)


def test_phase_seeds_are_pinned_so_old_checkpoints_resume_bitwise():
    """A resumed phase reseeds from this formula: changing it silently breaks bitwise resume of
    checkpoints written before. By hand: (seed * 1,000,003 + index * 9,973 + rank * 101) mod
    (2^31 - 1)."""
    assert _phase_seed(1, 2, 3) == 1_000_003 + 2 * 9_973 + 3 * 101
    assert _phase_seed(0, 5, 0) == 49_865
    assert _phase_seed(2_200, 0, 0) == (2_200 * 1_000_003) % (2**31 - 1)
