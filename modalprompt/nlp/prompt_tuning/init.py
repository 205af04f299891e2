"""Initial values of the soft prompt: random, sampled vocabulary rows, or a text's embeddings."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["text_init_ids", "initial_prompt"]


def text_init_ids(tokenizer: Any, text: str) -> tuple[int, ...]:
    """Token ids of ``text`` as PEFT's TEXT init takes them (``tokenizer(text)["input_ids"]``,
    special tokens included)."""
    ids = tokenizer(text)["input_ids"]
    if not ids:
        raise ValueError(f"init_text: {text!r} tokenises to no tokens")
    return tuple(int(i) for i in ids)


def _fit(ids: tuple[int, ...], n: int) -> list[int]:
    """Repeat or truncate ``ids`` to exactly ``n`` (PEFT's rule)."""
    return (list(ids) * math.ceil(n / len(ids)))[:n]


@torch.no_grad()
def initial_prompt(
    embeddings: nn.Embedding,
    num_tokens: int,
    init: str,
    *,
    token_ids: tuple[int, ...] | None = None,
    seed: int = 0,
) -> Tensor:
    """The initial prompt ``(n, D)`` in float32 (PEFT keeps the prompt in float32 too).

    Args:
        embeddings: The backbone's input embeddings ``(V, D)``.
        num_tokens: ``n``.
        init: ``"random"`` — normal with the std of the embedding matrix; ``"vocab"`` — rows of
            ``n`` ids drawn uniformly from ``[0, V)``; ``"text"`` — rows of ``token_ids``,
            repeated or truncated to ``n``.
        token_ids: For ``"text"``.
        seed: Seed of the random draws.
    """
    weight = embeddings.weight.detach()
    vocab, hidden = weight.shape
    generator = torch.Generator().manual_seed(seed)
    if init == "random":
        std = weight.float().std().item()
        return torch.randn(num_tokens, hidden, generator=generator) * std
    if init == "vocab":
        ids = torch.randint(0, vocab, (num_tokens,), generator=generator)
    elif init == "text":
        if not token_ids:
            raise ValueError("init_token_ids: init='text' needs token ids")
        bad = [i for i in token_ids if not 0 <= i < vocab]
        if bad:
            raise ValueError(
                f"init_token_ids: ids {bad[:5]} are outside the backbone's vocabulary [0, {vocab})"
            )
        ids = torch.tensor(_fit(token_ids, num_tokens))
    else:
        raise ValueError(f"init: got {init!r}; expected 'random', 'vocab' or 'text'")
    return embeddings(ids.to(weight.device)).detach().float().cpu().clone()
