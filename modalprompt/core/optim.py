"""Optimizers with per-group learning rates, and warmup + constant/linear/cosine schedules."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from modalprompt.core.training_args import TrainingArguments

__all__ = ["build_optimizer", "build_scheduler", "schedule_factor"]


def build_optimizer(
    groups: Sequence[dict[str, Any]], args: TrainingArguments
) -> torch.optim.Optimizer:
    """AdamW / Adam / SGD over parameter ``groups``; a group's own ``lr``/``weight_decay`` win.

    A group may also carry ``lr_scale``: its learning rate is then its ``lr`` (default
    ``args.lr``) times that factor.

    Groups without trainable parameters are dropped; if none is left the model has nothing to
    train, which is an error.
    """
    clean = []
    for i, group in enumerate(groups):
        if "params" not in group:
            raise ValueError(f"param_groups[{i}]: needs a 'params' entry, got keys {list(group)}")
        params = [p for p in group["params"] if p.requires_grad]
        if params:
            entry = {**group, "params": params, "name": group.get("name", f"group{i}")}
            entry["lr"] = group.get("lr", args.lr) * group.get("lr_scale", 1.0)
            clean.append(entry)
    if not clean:
        raise ValueError("the model has no trainable parameters (nothing requires grad)")
    seen: set[int] = set()
    for group in clean:
        for p in group["params"]:
            if id(p) in seen:
                raise ValueError(
                    f"param group {group['name']!r} repeats a parameter of another group"
                )
            seen.add(id(p))
    if args.optimizer == "sgd":
        return torch.optim.SGD(
            clean, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay
        )
    cls = torch.optim.AdamW if args.optimizer == "adamw" else torch.optim.Adam
    return cls(clean, lr=args.lr, betas=tuple(args.betas), weight_decay=args.weight_decay)


def schedule_factor(step: int, total_steps: int, warmup_steps: int, kind: str) -> float:
    """Multiplier of the base learning rate after ``step`` optimizer steps."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    if kind == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    progress = min(max(progress, 0.0), 1.0)
    if kind == "linear":
        return 1.0 - progress
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"scheduler: expected 'constant', 'linear' or 'cosine', got {kind!r}")


class _Schedule:
    """The schedule as a plain callable object.

    ``LambdaLR.state_dict`` saves the attributes of such objects (total, warmup, kind), so an
    exact resume gets the saved schedule back; a resume with changed arguments does not load it
    and moves the freshly built one (over the new total) to the restored step instead.
    """

    def __init__(self, total_steps: int, warmup_steps: int, kind: str) -> None:
        self.total_steps, self.warmup_steps, self.kind = total_steps, warmup_steps, kind

    def __call__(self, step: int) -> float:
        return schedule_factor(step, self.total_steps, self.warmup_steps, self.kind)


def build_scheduler(
    optimizer: torch.optim.Optimizer, args: TrainingArguments, total_steps: int
) -> LambdaLR:
    """Warmup then ``args.scheduler`` over ``total_steps`` optimizer steps."""
    warmup = args.warmup_steps if args.warmup_steps > 0 else int(args.warmup_ratio * total_steps)
    return LambdaLR(optimizer, _Schedule(total_steps, warmup, args.scheduler))
