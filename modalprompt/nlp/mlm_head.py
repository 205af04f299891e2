"""Train a BERT masked LM's head on unlabelled text, the encoder frozen.

Sentence encoders such as all-MiniLM-L6-v2 ship without their masked-LM head, so a prompt-based
method that reads the [MASK] logits starts from a random one. :func:`warm_up_mlm_head` gives it
a cheap start: masks are drawn once (15 %, BERT's 80/10/10), the frozen encoder's states at the
masked positions are computed once, and only the head (transform + output bias; the decoder is
tied to the word embeddings, which stay as they are) is trained on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["HeadWarmUp", "warm_up_mlm_head"]


@dataclass(frozen=True)
class HeadWarmUp:
    """Held-out masked-LM loss before and after, and the masked tokens trained on."""

    loss_before: float
    loss_after: float
    masked_tokens: int


def warm_up_mlm_head(
    model: nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    epochs: int = 3,
    max_length: int = 64,
    lr: float = 2e-3,
    batch_size: int = 256,
    seed: int = 0,
) -> HeadWarmUp:
    """Train ``model.cls.predictions`` (a ``BertForMaskedLM``) on ``texts`` in place.

    Args:
        model: a BERT-style masked LM (``.bert`` encoder, ``.cls.predictions`` head).
        tokenizer: its tokenizer (with a mask token).
        texts: unlabelled lines; 10 % of the masked tokens are held out to report the loss.
        epochs / lr / batch_size: Adam over the cached (masked token state, target) pairs.
        seed: masks, split and order.

    Returns:
        :class:`HeadWarmUp` (held-out loss before and after).
    """
    from transformers import DataCollatorForLanguageModeling

    from modalprompt.nlp.pcp.pretrain import tokenize_lines

    head = getattr(getattr(model, "cls", None), "predictions", None)
    if head is None or not hasattr(model, "bert"):
        raise TypeError(
            f"model: expected a BertForMaskedLM-style model (.bert, .cls.predictions), got "
            f"{type(model).__name__}"
        )
    if getattr(tokenizer, "mask_token_id", None) is None:
        raise ValueError("tokenizer: has no mask token; a masked LM's tokenizer is needed")
    collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, seed=seed)
    features = tokenize_lines(tokenizer, list(texts), max_length)
    states, targets = [], []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for i in range(0, len(features), 64):
            batch = collate(features[i : i + 64])
            labels = batch.pop("labels")
            hidden = model.bert(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).last_hidden_state
            keep = labels != -100
            states.append(hidden[keep])
            targets.append(labels[keep])
    states, targets = torch.cat(states), torch.cat(targets)
    if len(targets) < 2:
        raise ValueError(f"texts: {len(texts)} lines gave {len(targets)} masked tokens; need more")
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(targets), generator=g)
    n_val = max(1, len(perm) // 10)
    val, train = perm[:n_val], perm[n_val:]
    params = [*head.transform.parameters(), head.bias]
    flags = {p: p.requires_grad for p in model.parameters()}
    model.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)

    def held_out() -> float:
        with torch.no_grad():
            return nn.functional.cross_entropy(model.cls(states[val]), targets[val]).item()

    before = held_out()
    optimizer = torch.optim.Adam(params, lr=lr)
    for _ in range(epochs):
        order = train[torch.randperm(len(train), generator=g)]
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            loss = nn.functional.cross_entropy(model.cls(states[idx]), targets[idx])
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    for p, flag in flags.items():
        p.requires_grad_(flag)
    model.train(was_training)
    return HeadWarmUp(before, held_out(), len(train))
