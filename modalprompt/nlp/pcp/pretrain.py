"""Stage 2: masked-LM continued pre-training on a list of text lines (PCP or TAPT corpus).

The official code runs Hugging Face's ``run_mlm.py`` line by line; this is the same recipe on
the core Trainer (checkpoints, resume, NaN guard): every line tokenised on its own (truncated to
``max_length``), dynamic masking by :class:`transformers.DataCollatorForLanguageModeling`
(15 %, 80/10/10, special tokens never masked, drawn from torch's global RNG, which the Trainer
checkpoints), AdamW without decay on biases and LayerNorm weights, linear warmup and decay,
gradient clipping at 1.0, gradient accumulation; a batch in which no token was masked adds a
zero loss (the model's mean over no token would be NaN). The result is written with the model's own
``save_pretrained`` (safetensors) and the tokenizer's, so ``AutoModelForMaskedLM.from_pretrained``
reloads it. Not done here: fp16 and picking the best checkpoint on a held-out split (the
official script evaluates every 500 steps).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from modalprompt.core.callbacks import Callback
from modalprompt.core.model import unfreeze
from modalprompt.core.trainer import Trainer
from modalprompt.core.training_args import TrainingArguments
from modalprompt.nlp.injection import architecture_kind

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


def _collator(
    tokenizer: Any, mlm_probability: float, seed: int | None, causal: bool = False
) -> Any:
    """Dynamic masking (masked LMs) or next-token labels (``causal``: padding is ``-100``, rows
    padded on the right so positions start at 0); ``seed=None`` draws the masks from torch's
    global RNG (which the core Trainer seeds and checkpoints, so a resumed run masks as an
    uninterrupted one)."""
    from transformers import DataCollatorForLanguageModeling

    if causal:
        if tokenizer.pad_token is None:
            raise ValueError(
                "tokenizer: causal-LM pre-training pads batches and needs a pad token (set "
                "tokenizer.pad_token = tokenizer.eos_token)"
            )
        collate = DataCollatorForLanguageModeling(tokenizer, mlm=False)

        def right_padded(features: list[dict[str, Any]]) -> dict[str, Any]:
            side, tokenizer.padding_side = tokenizer.padding_side, "right"
            try:
                return collate(features)
            finally:
                tokenizer.padding_side = side

        return right_padded
    if tokenizer.mask_token is None:
        raise ValueError("tokenizer: masked-LM pre-training needs a tokenizer with a mask token")
    return DataCollatorForLanguageModeling(
        tokenizer, mlm=True, mlm_probability=mlm_probability, seed=seed
    )


def _param_groups(model: nn.Module, weight_decay: float, eps: float) -> list[dict[str, Any]]:
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
        {"params": decay, "weight_decay": weight_decay, "eps": eps, "name": "decay"},
        {"params": no_decay, "weight_decay": 0.0, "eps": eps, "name": "no_decay"},
    ]


class _LanguageModelling(nn.Module):
    """What the core Trainer trains in stage 2: the whole masked LM, loss = its MLM loss.

    A wrapper without ``save_pretrained``, so the Trainer does not write a second copy of the
    model at the end (the stage writes its own, with the tokenizer)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def training_step(self, batch: dict[str, Any]) -> dict[str, Any]:
        labels = batch.get("labels")
        if labels is not None and not bool((labels != -100).any()):
            # no token of this batch was masked (short lines, 15 %): the model's mean loss
            # would be 0/0 = NaN; such a batch contributes nothing
            inputs = {k: v for k, v in batch.items() if k != "labels"}
            return {"loss": self.model(**inputs).logits.sum() * 0.0}
        return {"loss": self.model(**batch).loss}


class _LossRecorder(Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def _on_step_end(self, trainer: Any, logs: dict[str, Any]) -> None:
        if "loss" in logs:
            self.losses.append(float(logs["loss"]))


def _check_schedule(batch_size, epochs, grad_accumulation_steps, max_steps, mlm_probability):
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
    run_dir: str | Path | None = None,
    save_every: int | None = None,
    resume_from: str | Path | None = None,
) -> MLMResult:
    """Continue pre-training a Hugging Face masked LM on ``texts`` (in place) and save it.

    On a causal LM (``...ForCausalLM``) the objective is next-token language modelling over each
    whole line (the causal counterpart of PCP's masked-LM objective: for a PCP corpus line, the
    template-wrapped text with the pseudo label word in the answer slot, every token is
    predicted from the ones before it; ``mlm_probability`` is then unused).

    Runs on the core :class:`~modalprompt.core.trainer.Trainer` (clipping at 1.0, linear warmup
    and decay, accumulation, the NaN/inf guard, AMP on CUDA); with ``run_dir`` it also writes
    ``metrics.jsonl`` and resumable checkpoints there (every ``save_every`` optimizer steps,
    else every epoch), and ``resume_from="latest"`` continues a killed run exactly.

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
        run_dir: the Trainer's folder (checkpoints, metrics); None: none written.
        save_every: checkpoint interval in optimizer steps (with ``run_dir``).
        resume_from: ``"latest"`` or a checkpoint folder in ``run_dir``.

    Returns:
        :class:`MLMResult` (``losses``: the mean loss of every optimizer step, read back from
        ``run_dir/metrics.jsonl`` after a resume).
    """
    _check_schedule(batch_size, epochs, grad_accumulation_steps, max_steps, mlm_probability)
    start = time.perf_counter()
    features = tokenize_lines(tokenizer, texts, max_length)
    causal = architecture_kind(model) == "decoder"
    collate = _collator(tokenizer, mlm_probability, None, causal=causal)
    unfreeze(model)
    n_batches = math.ceil(len(features) / batch_size)
    total = max_steps or epochs * math.ceil(n_batches / grad_accumulation_steps)
    args = TrainingArguments(
        output_dir=str(run_dir) if run_dir is not None else None,
        max_steps=total,
        batch_size=batch_size,
        grad_accumulation_steps=grad_accumulation_steps,
        optimizer="adamw",
        lr=lr,
        betas=tuple(betas),
        weight_decay=weight_decay,
        scheduler="linear",
        warmup_steps=min(math.ceil(warmup_ratio * total), total - 1),
        max_grad_norm=1.0,
        eval_strategy="no",
        save_every=save_every,
        seed=seed,
        device=str(device),
        log_every=1,
        verbose=False,
        tensorboard=False,
    )
    step = _LanguageModelling(model)
    recorder = _LossRecorder()
    trainer = Trainer(
        step,
        args,
        train_data=features,
        collate_fn=collate,
        step_fn=step.training_step,
        param_groups=_param_groups(model, weight_decay, eps),
        callbacks=[recorder],
    )
    trainer.fit(resume_from=resume_from)
    model.eval()
    losses = recorder.losses
    if run_dir is not None and resume_from is not None:
        rows = (Path(run_dir) / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
        losses = [json.loads(r)["loss"] for r in rows if json.loads(r).get("split") == "train"]
    result = MLMResult(losses=losses, steps=trainer.state.global_step)
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
