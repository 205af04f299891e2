"""Find a transformers model's layer stack and replace soft-token slots in each layer's input.

IAPT inserts freshly generated tokens *inside* the network, at the input of every layer. The
layers are found through public module structure (the backbone's ``base_model`` holds exactly one
``nn.ModuleList`` with ``config.num_hidden_layers`` entries: BERT's ``encoder.layer``, GPT-2's
``h``, Llama's / Qwen2's ``layers``), and a forward pre-hook on each layer rewrites its
``hidden_states`` at the slot positions while an :class:`Insertion` is active.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["transformer_layers", "Insertion", "InsertionHook", "place_tokens"]


def transformer_layers(backbone: nn.Module) -> nn.ModuleList:
    """The backbone's stack of ``config.num_hidden_layers`` transformer layers.

    Raises:
        TypeError: no single such ``nn.ModuleList`` exists (e.g. encoder-decoder models, which
            have two stacks).
    """
    config = getattr(backbone, "config", None)
    count = getattr(config, "num_hidden_layers", None)
    base = getattr(backbone, "base_model", backbone)
    stacks = [
        name
        for name, module in base.named_modules()
        if isinstance(module, nn.ModuleList) and count is not None and len(module) == count
    ]
    if len(stacks) != 1:
        raise TypeError(
            f"backbone: expected exactly one stack of config.num_hidden_layers={count} layers "
            f"in {type(backbone).__name__}, found {stacks or 'none'}; IAPT supports encoder-only "
            "and decoder-only transformers models"
        )
    return base.get_submodule(stacks[0])


def place_tokens(hidden: Tensor, tokens: Tensor, slots: Tensor, add: bool = False) -> Tensor:
    """``hidden`` with ``tokens`` in order at its slot positions: replacing the hidden states
    there, or added to them (``add=True``).

    Args:
        hidden: ``(B, T, D)``. tokens: ``(B, k, D)``. slots: ``(B, T)`` bool, ``k`` True per row.

    Returns:
        ``(B, T, D)`` (differentiable in ``tokens``; other positions are ``hidden`` itself).
    """
    index = (slots.long().cumsum(1) - 1).clamp(0, tokens.size(1) - 1)  # (B, T)
    placed = tokens.gather(1, index.unsqueeze(-1).expand(-1, -1, tokens.size(-1)))
    placed = placed.to(hidden.dtype)
    if add:
        placed = hidden + placed
    return torch.where(slots.unsqueeze(-1), placed, hidden)


@dataclasses.dataclass
class Insertion:
    """Where the soft tokens go for one forward (or one ``generate`` call).

    Attributes:
        slots: ``(B, T)`` bool, the soft-token positions of the prefill sequence.
        instruction: ``(B, T)`` bool, the instruction tokens the generators may read.
        calls: Number of generator runs so far (per layer), for inspection.
    """

    slots: Tensor
    instruction: Tensor
    calls: int = 0

    def masks_for(self, hidden: Tensor) -> tuple[Tensor, Tensor] | None:
        """``(slots, instruction)`` fitted to ``hidden`` ``(B', T', D)``; None for a cached
        decoding step (``T'`` shorter than the prefill: the soft tokens live in the cache)."""
        batch, length = self.slots.shape
        if hidden.size(1) < length:
            return None
        slots, instruction = self.slots, self.instruction
        if hidden.size(0) != batch:  # beams / several sequences per input
            repeat = hidden.size(0) // batch
            slots = slots.repeat_interleave(repeat, dim=0)
            instruction = instruction.repeat_interleave(repeat, dim=0)
        extra = hidden.size(1) - length  # generation without cache: generated tokens appended
        if extra:
            pad = slots.new_zeros(slots.size(0), extra)
            slots, instruction = torch.cat([slots, pad], 1), torch.cat([instruction, pad], 1)
        return slots.to(hidden.device), instruction.to(hidden.device)


class InsertionHook:
    """A ``register_forward_pre_hook(..., with_kwargs=True)`` hook for layer ``index``.

    ``owner.active_insertion()`` gives the current :class:`Insertion` (None: do nothing);
    ``owner.layer_tokens(index, hidden, instruction_mask)`` the ``(B, k, D)`` tokens of that
    layer; ``owner.additive_insertion`` whether they are added to the slots' hidden states
    rather than replacing them. An object rather than a closure, so ``copy.deepcopy`` of the
    owner (whose backbone holds the hooks) gives hooks that call the copy.
    """

    def __init__(self, owner: Any, index: int) -> None:
        self.owner = owner
        self.index = index

    def __call__(self, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        insertion = self.owner.active_insertion()
        if insertion is None:
            return None
        hidden = args[0] if args else kwargs["hidden_states"]
        masks = insertion.masks_for(hidden)
        if masks is None:
            return None
        slots, instruction = masks
        if self.index == 0:
            insertion.calls += 1
        tokens = self.owner.layer_tokens(self.index, hidden, instruction)
        new = place_tokens(hidden, tokens, slots, add=self.owner.additive_insertion)
        if args:
            return (new, *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": new}
