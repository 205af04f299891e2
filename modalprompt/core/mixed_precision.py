"""Mixed precision for a hand-written training step (what the core Trainer does for its own).

A phase whose step is not a :class:`~modalprompt.core.trainer.Trainer` step (graph
pre-training, GraphCLIP's contrastive pre-training) uses :class:`MixedPrecision`::

    amp = MixedPrecision(device, "fp16")
    with amp.autocast():
        loss = model(batch)
    amp.backward(loss)
    amp.step(optimizer)

On CUDA, ``"fp16"`` / ``"bf16"`` run the forward under ``torch.autocast``; ``"fp16"`` also
scales the loss with a ``GradScaler`` (a step whose gradients overflowed is skipped and the
scale lowered, as the Trainer does). On CPU, or with ``"no"``, every call is the plain one.
The scaler's state goes into phase checkpoints (give the object to ``PhaseRunner(state=...)``).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import torch

from modalprompt.core.device import autocast

__all__ = ["PRECISIONS", "MixedPrecision"]

PRECISIONS = ("no", "fp16", "bf16")


class MixedPrecision:
    """Autocast + loss scaling for one device and precision.

    Args:
        device: Where the model runs; mixed precision is used on CUDA only.
        precision: ``"no"``, ``"fp16"`` or ``"bf16"``.

    Raises:
        ValueError: ``precision`` is not one of :data:`PRECISIONS`.
    """

    def __init__(self, device: torch.device | str, precision: str = "no") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision: expected one of {PRECISIONS}, got {precision!r}")
        self.device = torch.device(device)
        self.precision = precision
        on_cuda = self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" and on_cuda else None

    @property
    def active(self) -> bool:
        """True when the forward really runs in reduced precision (CUDA and not ``"no"``)."""
        return self.precision != "no" and self.device.type == "cuda"

    def autocast(self) -> AbstractContextManager[None]:
        """The context the forward (and loss) runs in."""
        return autocast(self.device, self.precision)

    def backward(self, loss: torch.Tensor) -> None:
        """``loss.backward()``, scaled first under fp16 on CUDA."""
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Bring the gradients back to their true scale (before clipping or all-reducing)."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """``optimizer.step()``; under fp16 the scaler skips a step with inf/NaN gradients."""
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)
        self.scaler.update()

    def state_dict(self) -> dict[str, Any]:
        return self.scaler.state_dict() if self.scaler is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
