"""Stage 2: masked-LM continued pre-training on a list of text lines (PCP or TAPT corpus).

The official code runs Hugging Face's ``run_mlm.py`` line by line; this is the same recipe as
a small torch loop: every line tokenised on its own (truncated to ``max_length``), dynamic
masking by :class:`transformers.DataCollatorForLanguageModeling` (15 %, 80/10/10, special tokens
never masked), AdamW without decay on biases and LayerNorm weights, linear warmup and decay,
gradient clipping at 1.0, gradient accumulation. The result is written with the model's own
``save_pretrained`` (safetensors) and the tokenizer's, so ``AutoModelForMaskedLM.from_pretrained``
reloads it. Not done here: fp16 and picking the best checkpoint on a held-out split (the
official script evaluates every 500 steps).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from modalprompt.core.device import resolve_device
from modalprompt.core.model import unfreeze

__all__ = ["MLMResult", "continued_pretraining", "mlm_loss", "tokenize_lines"]


@dataclass
class MLMResult:
    """What :func:`continued_pretraining` did.

    Attributes:
        losses: mean MLM loss of every optimizer step (length ``steps``).
        steps: optimizer steps taken.
        seconds: wall time of the loop (tokenisation included, saving excluded).
        output_dir: where the model and tokenizer were saved, or None.
    """

    losses: list[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    output_dir: Path | None = None


def tokenize_lines(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[dict[str, Any]]:
    """Tokenise each line on its own (``line_by_line``), with its special-tokens mask."""
    if isinstance(texts, str) or not isinstance(texts, Sequence) or len(texts) == 0:
        raise ValueError("texts: expected a non-empty list of text lines")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
    if bad:
        raise ValueError(f"texts: lines {bad[:5]} are empty or not strings")
    enc = tokenizer(
        list(texts), truncation=True, max_length=max_length, return_special_tokens_mask=True
    )
    return [{k: enc[k][i] for k in enc.keys()} for i in range(len(texts))]


def _collator(tokenizer: Any, mlm_probability: float, seed: int) -> Any:
    from transformers import DataCollatorForLanguageModeling

    if tokenizer.mask_token is None:
        raise ValueError("tokenizer: masked-LM pre-training needs a tokenizer with a mask token")
    return DataCollatorForLanguageModeling(
        tokenizer, mlm=True, mlm_probability=mlm_probability, seed=seed
    )


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups as Hugging Face's Trainer builds them: no decay on biases and norms."""
    decay, no_decay, seen = [], [], set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:  # tied weights are listed once
                continue
            seen.add(id(p))
            is_norm = isinstance(module, nn.LayerNorm) or "norm" in type(module).__name__.lower()
            (no_decay if name == "bias" or is_norm else decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def continued_pretraining(
    model: nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    output_dir: str | Path | None = None,
    *,
    mlm_probability: float = 0.15,
    lr: float = 1e-4,
    betas: tuple[float, float] = (0.9, 0.98),
    eps: float = 1e-6,
    weight_decay: float = 0.01,
    batch_size: int = 16,
    grad_accumulation_steps: int = 8,
    epochs: int = 100,
    max_steps: int | None = None,
    warmup_ratio: float = 0.06,
    max_length: int = 128,
    seed: int = 0,
    device: str | torch.device = "auto",
) -> MLMResult:
    """Continue pre-training a Hugging Face masked LM on ``texts`` (in place) and save it.

    Args:
        model: an ``AutoModelForMaskedLM``; all its parameters are trained (a model frozen by
            :func:`~modalprompt.core.model.freeze` is unfrozen first). Left in eval mode.
        tokenizer: its tokenizer (needs a mask token).
        texts: the corpus, one example per line (:mod:`modalprompt.nlp.pcp.corpus`).
        output_dir: folder for ``save_pretrained`` of model (safetensors) and tokenizer; None
            keeps the result in memory only.
        mlm_probability, lr, betas, eps, weight_decay, batch_size, grad_accumulation_steps,
            epochs, warmup_ratio: PCP's ``run_mlm.py`` defaults (brief §4.3).
        max_steps: optimizer steps in all; overrides ``epochs`` when set.
        max_length: token limit of one line (special tokens included).
        seed: seeds the data order and the masks.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``...

    Returns:
        :class:`MLMResult`.
    """
    for name, value in (("batch_size", batch_size), ("epochs", epochs)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: expected an int >= 1, got {value!r}")
    if not isinstance(grad_accumulation_steps, int) or grad_accumulation_steps < 1:
        raise ValueError(
            f"grad_accumulation_steps: expected an int >= 1, got {grad_accumulation_steps!r}"
        )
    if max_steps is not None and (not isinstance(max_steps, int) or max_steps < 1):
        raise ValueError(f"max_steps: expected None or an int >= 1, got {max_steps!r}")
    if not 0.0 < mlm_probability < 1.0:
        raise ValueError(f"mlm_probability: expected a value in (0, 1), got {mlm_probability}")
    start = time.perf_counter()
    features = tokenize_lines(tokenizer, texts, max_length)
    collate = _collator(tokenizer, mlm_probability, seed)
    dev = resolve_device(device) if isinstance(device, str) else device
    unfreeze(model)
    model.to(dev).train()
    optimizer = torch.optim.AdamW(
        _param_groups(model, weight_decay), lr=lr, betas=tuple(betas), eps=eps
    )
    n_batches = math.ceil(len(features) / batch_size)
    total = max_steps or epochs * math.ceil(n_batches / grad_accumulation_steps)
    warmup = math.ceil(warmup_ratio * total)

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    order = torch.Generator().manual_seed(seed)
    result = MLMResult()
    window: list[float] = []
    while result.steps < total:
        perm = torch.randperm(len(features), generator=order).tolist()
        batches = [perm[i : i + batch_size] for i in range(0, len(perm), batch_size)]
        for b, idx in enumerate(batches):
            batch = {k: v.to(dev) for k, v in collate([features[i] for i in idx]).items()}
            loss = model(**batch).loss
            (loss / grad_accumulation_steps).backward()
            window.append(loss.item())
            if len(window) == grad_accumulation_steps or b == len(batches) - 1:
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                result.losses.append(sum(window) / len(window))
                window = []
                result.steps += 1
                if result.steps >= total:
                    break
    model.eval()
    result.seconds = time.perf_counter() - start
    if output_dir is not None:
        out = Path(output_dir)
        model.save_pretrained(str(out))  # safetensors (transformers' default)
        tokenizer.save_pretrained(str(out))
        result.output_dir = out
    return result


@torch.no_grad()
def mlm_loss(
    model: nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    mlm_probability: float = 0.15,
    seed: int = 0,
    batch_size: int = 32,
    max_length: int = 128,
) -> float:
    """Mean masked-LM cross-entropy per masked token over ``texts``, with masks fixed by
    ``seed`` (so two models, or one model before and after training, see the same masks)."""
    features = tokenize_lines(tokenizer, texts, max_length)
    collate = _collator(tokenizer, mlm_probability, seed)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    for i in range(0, len(features), batch_size):
        batch = {k: v.to(device) for k, v in collate(features[i : i + batch_size]).items()}
        labels = batch.pop("labels")
        logits = model(**batch).logits  # (B, L, V)
        n = int((labels != -100).sum())
        if n:
            total += nn.functional.cross_entropy(
                logits.flatten(0, 1).float(), labels.flatten(), reduction="sum"
            ).item()
            count += n
    model.train(was_training)
    if not count:
        raise ValueError("texts: no token was masked; use more text or a higher mlm_probability")
    return total / count
