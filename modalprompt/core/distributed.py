"""DistributedDataParallel when launched by ``torchrun``; a no-op otherwise."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = [
    "DistributedContext",
    "distributed_context",
    "all_reduce_mean",
    "average_gradients",
    "all_ranks_agree",
    "min_over_ranks",
    "shard_for_rank",
]


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits: ``world_size`` processes, this one is ``rank`` (``local_rank``
    on its node). ``is_main`` is rank 0, the only one that logs and saves."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def distributed_context(device_type: str) -> DistributedContext:
    """Read torchrun's environment and start the process group if needed.

    The backend is NCCL on CUDA and gloo on CPU.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
    return DistributedContext(world_size=world_size, rank=rank, local_rank=local_rank)


def all_reduce_mean(value: torch.Tensor, ctx: DistributedContext) -> torch.Tensor:
    """Mean of ``value`` over processes (returns it unchanged without DDP)."""
    if not ctx.enabled:
        return value
    value = value.detach().clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / ctx.world_size


def average_gradients(parameters: Iterable[torch.nn.Parameter], ctx: DistributedContext) -> None:
    """Replace every gradient by its mean over the processes (data-parallel training of a step
    that is not a single ``forward``, e.g. several backward passes per step); a no-op without
    DDP. Parameters without a gradient on this rank count as zero gradients, so every rank
    takes part in the same collectives."""
    if not ctx.enabled:
        return
    params = [p for p in parameters if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    if not params:
        return
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= ctx.world_size
    offset = 0
    for p in params:
        n = p.grad.numel()
        p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
        offset += n


def all_ranks_agree(
    flag: bool, ctx: DistributedContext, device: torch.device | str = "cpu"
) -> bool:
    """True only when ``flag`` is true on every process (e.g. "this batch is usable"), so all
    ranks skip or take a step together; ``flag`` itself without DDP."""
    if not ctx.enabled:
        return flag
    value = torch.tensor([1 if flag else 0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def min_over_ranks(value: int, ctx: DistributedContext, device: torch.device | str = "cpu") -> int:
    """The smallest ``value`` over the processes (``value`` itself without DDP)."""
    if not ctx.enabled:
        return value
    tensor = torch.tensor([value], device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MIN)
    return int(tensor.item())


def shard_for_rank(order: torch.Tensor, ctx: DistributedContext) -> torch.Tensor:
    """This rank's share of a permutation every rank drew alike: ``order[rank::world_size]``
    after dropping the last ``len % world_size`` items, so every rank gets as many items (and
    takes as many steps) as the others; the whole ``order`` without DDP."""
    if not ctx.enabled:
        return order
    usable = len(order) - len(order) % ctx.world_size
    return order[:usable][ctx.rank :: ctx.world_size]
