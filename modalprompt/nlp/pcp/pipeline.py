"""PCP's three stages, each callable alone, and :func:`run_pcp` / :func:`run_tapt` chaining them.

Stage 1 (:func:`prompt_finetune` + :func:`pseudo_label`): prompt-based fine-tuning of a copy of
the pre-trained masked LM on the k-shot split, then predicted labels for the unlabelled pool.
Stage 2 (:func:`pretrain_stage`): the pool wrapped in the template with the predicted label words
(:func:`~modalprompt.nlp.pcp.corpus.build_pcp_corpus`), masked-LM continued pre-training of a
fresh copy of the *original* model, saved with ``save_pretrained`` (safetensors).
Stage 3 (:func:`prompt_finetune` again): prompt-based fine-tuning from that checkpoint.
The fine-tuning stages use the core :class:`~modalprompt.core.trainer.Trainer`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from modalprompt.core.metrics import classification_metrics
from modalprompt.core.trainer import Trainer
from modalprompt.core.training_args import TrainingArguments
from modalprompt.nlp.pcp.config import PCPConfig
from modalprompt.nlp.pcp.corpus import build_pcp_corpus, build_tapt_corpus, check_pool
from modalprompt.nlp.pcp.model import PCPModel
from modalprompt.nlp.pcp.pretrain import MLMResult, continued_pretraining
from modalprompt.nlp.templates import Template

__all__ = [
    "PCPResult",
    "load_backbone",
    "prompt_finetune",
    "pseudo_label",
    "pretrain_stage",
    "run_pcp",
    "run_tapt",
]

Examples = Sequence[Mapping[str, Any]]


@dataclass
class PCPResult:
    """Everything :func:`run_pcp` / :func:`run_tapt` produced.

    Attributes:
        model: the stage-3 :class:`PCPModel` (fine-tuned from the continued-pre-trained LM).
        checkpoint_dir: the stage-2 checkpoint (``model.safetensors``, ``config.json``,
            tokenizer files).
        corpus: the stage-2 text lines.
        mlm: the stage-2 :class:`MLMResult` (per-step losses).
        pseudo_labels: (N,) stage-1 predictions for the pool (PCP only; None for TAPT).
        pseudo_probs: (N, C) their class probabilities (PCP only).
        stage_seconds: wall time per stage: ``pseudo_labeler`` (stage-1 fine-tuning),
            ``pseudo_label`` (prediction), ``continued_pretraining``, ``prompt_finetune``
            (stage 3).
        metrics: dev metrics of the stage-3 model (empty without ``dev``).
    """

    model: PCPModel
    checkpoint_dir: Path
    corpus: list[str]
    mlm: MLMResult
    pseudo_labels: Tensor | None = None
    pseudo_probs: Tensor | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


def load_backbone(source: nn.Module | str | Path) -> nn.Module:
    """A fresh, independent masked LM: a deep copy of a module, or loaded from a local folder
    / hub name with ``AutoModelForMaskedLM.from_pretrained``."""
    if isinstance(source, nn.Module):
        return copy.deepcopy(source)
    if isinstance(source, str | Path):
        from transformers import AutoModelForMaskedLM

        return AutoModelForMaskedLM.from_pretrained(str(source))
    raise TypeError(
        f"backbone: expected a masked LM module or a folder / name, got {type(source).__name__}"
    )


def _check_labelled(examples: Examples, name: str, num_classes: int) -> None:
    check_pool(examples, name)
    bad = [
        i
        for i, e in enumerate(examples)
        if not isinstance(e.get("label"), int) or not 0 <= e["label"] < num_classes
    ]
    if bad:
        raise ValueError(
            f"{name}: examples {bad[:5]} have no integer 'label' in [0, {num_classes}) "
            "(map raw labels to class indices first, as load_lmbff does)"
        )


def _ft_args(config: PCPConfig, has_dev: bool, device: str, verbose: bool) -> TrainingArguments:
    return TrainingArguments(
        max_steps=config.ft_steps,
        batch_size=config.ft_batch_size,
        lr=config.ft_lr,
        weight_decay=config.ft_weight_decay,
        warmup_ratio=config.ft_warmup_ratio,
        scheduler="linear",
        eval_strategy="steps" if has_dev else "no",
        eval_every=config.ft_eval_every,
        restore_best=True,
        seed=config.seed,
        device=device,
        verbose=verbose,
        tensorboard=False,
    )


def prompt_finetune(
    backbone: nn.Module,
    tokenizer: Any,
    config: PCPConfig,
    train: Examples,
    dev: Examples | None = None,
    *,
    device: str = "auto",
    verbose: bool = False,
) -> PCPModel:
    """Stage 1 / stage 3: prompt-based fine-tuning of ``backbone`` (trained in place).

    Args:
        backbone: a masked LM (pass a copy to keep the original: :func:`load_backbone`).
        tokenizer: its tokenizer.
        config: the :class:`PCPConfig` (``ft_*`` fields give the schedule).
        train: k-shot examples, dicts with ``text_a`` [, ``text_b``] and an int ``label``.
        dev: optional dev examples; the best dev accuracy state (every ``ft_eval_every``
            steps) is kept, as the official script does.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        verbose: print evaluation results.

    Returns:
        The trained :class:`PCPModel`, in eval mode.
    """
    if not isinstance(config, PCPConfig):
        raise TypeError(f"config: expected a PCPConfig, got {type(config).__name__}")
    _check_labelled(train, "train", config.num_classes)
    if dev is not None:
        _check_labelled(dev, "dev", config.num_classes)
    model = PCPModel(backbone, config, tokenizer=tokenizer)
    trainer = Trainer(
        model,
        _ft_args(config, dev is not None, device, verbose),
        train_data=list(train),
        eval_data=list(dev) if dev is not None else None,
        collate_fn=model.collator(),
    )
    trainer.fit()
    return model.eval()


@torch.no_grad()
def pseudo_label(
    model: PCPModel, unlabeled: Examples, batch_size: int = 32, min_confidence: float = 0.0
) -> tuple[Tensor, Tensor, Tensor]:
    """Stage 1, second half: predicted classes for the unlabelled pool.

    Args:
        model: the stage-1 model.
        unlabeled: N dicts with ``text_a`` [, ``text_b``] (any ``label`` is ignored).
        batch_size: examples per forward pass.
        min_confidence: keep only examples whose top probability is at least this.

    Returns:
        ``labels`` (N,) long, ``probs`` (N, C) float and ``keep`` (N,) bool (all True when
        ``min_confidence`` is 0).
    """
    check_pool(unlabeled)
    if not 0.0 <= min_confidence <= 1.0:
        raise ValueError(f"min_confidence: expected a value in [0, 1], got {min_confidence}")
    probs = model.predict_proba(unlabeled, batch_size=batch_size)
    top, labels = probs.max(-1)
    return labels, probs, top >= min_confidence


def pretrain_stage(
    backbone: nn.Module,
    tokenizer: Any,
    config: PCPConfig,
    corpus: Sequence[str],
    output_dir: str | Path,
    *,
    device: str = "auto",
) -> MLMResult:
    """Stage 2: continued pre-training of ``backbone`` (in place) on ``corpus`` with the
    config's ``mlm_*`` schedule, saved to ``output_dir`` with ``save_pretrained``."""
    if not isinstance(config, PCPConfig):
        raise TypeError(f"config: expected a PCPConfig, got {type(config).__name__}")
    return continued_pretraining(
        backbone,
        tokenizer,
        corpus,
        output_dir,
        mlm_probability=config.mlm_probability,
        lr=config.mlm_lr,
        betas=config.mlm_betas,
        eps=config.mlm_eps,
        weight_decay=config.mlm_weight_decay,
        batch_size=config.mlm_batch_size,
        grad_accumulation_steps=config.mlm_grad_accumulation,
        epochs=config.mlm_epochs,
        max_steps=config.mlm_max_steps,
        warmup_ratio=config.mlm_warmup_ratio,
        max_length=config.mlm_max_length or config.max_length,
        seed=config.seed,
        device=device,
    )


def _finish(
    backbone: nn.Module | str | Path,
    tokenizer: Any,
    config: PCPConfig,
    train: Examples,
    dev: Examples | None,
    corpus: list[str],
    checkpoint_dir: Path,
    device: str,
    verbose: bool,
    seconds: dict[str, float],
) -> PCPResult:
    start = time.perf_counter()
    mlm = pretrain_stage(
        load_backbone(backbone), tokenizer, config, corpus, checkpoint_dir, device=device
    )
    seconds["continued_pretraining"] = time.perf_counter() - start
    start = time.perf_counter()
    model = prompt_finetune(
        load_backbone(checkpoint_dir),
        tokenizer,
        config,
        train,
        dev,
        device=device,
        verbose=verbose,
    )
    seconds["prompt_finetune"] = time.perf_counter() - start
    metrics: dict[str, float] = {}
    if dev is not None:
        probs = model.predict_proba(dev, batch_size=config.ft_batch_size)
        gold = torch.tensor([e["label"] for e in dev])
        metrics = classification_metrics(probs.log(), gold)
    return PCPResult(model, checkpoint_dir, corpus, mlm, stage_seconds=seconds, metrics=metrics)


def run_pcp(
    backbone: nn.Module | str | Path,
    tokenizer: Any,
    config: PCPConfig,
    train: Examples,
    unlabeled: Examples,
    output_dir: str | Path,
    *,
    dev: Examples | None = None,
    device: str = "auto",
    verbose: bool = False,
) -> PCPResult:
    """The whole PCP pipeline: pseudo-labeler → PCP corpus → continued pre-training → prompt FT.

    Args:
        backbone: the pre-trained masked LM (a module, never modified, or a folder / hub name).
        tokenizer: its tokenizer.
        config: :class:`PCPConfig` (template, label words, schedules).
        train: k-shot labelled examples (int ``label``); ``dev`` likewise, optional.
        unlabeled: the unlabelled pool (dicts with ``text_a`` [, ``text_b``]).
        output_dir: the stage-2 checkpoint goes to ``<output_dir>/pcp_checkpoint``.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        verbose: print evaluation results of the fine-tuning stages.

    Returns:
        :class:`PCPResult` with the stage-3 model and the wall time of every stage.
    """
    check_pool(unlabeled)
    template = Template(config.template, tokenizer)  # fails early on a bad template
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    labeler = prompt_finetune(
        load_backbone(backbone), tokenizer, config, train, dev, device=device, verbose=verbose
    )
    seconds["pseudo_labeler"] = time.perf_counter() - start
    start = time.perf_counter()
    labels, probs, keep = pseudo_label(
        labeler, unlabeled, min_confidence=config.pseudo_label_confidence
    )
    seconds["pseudo_label"] = time.perf_counter() - start
    del labeler
    kept = [e for e, k in zip(unlabeled, keep.tolist()) if k]
    if not kept:
        raise ValueError(
            f"pseudo_label_confidence={config.pseudo_label_confidence} removed every unlabelled "
            "example; lower it"
        )
    corpus = build_pcp_corpus(kept, labels[keep], template, config.label_words)
    result = _finish(
        backbone,
        tokenizer,
        config,
        train,
        dev,
        corpus,
        Path(output_dir) / "pcp_checkpoint",
        device,
        verbose,
        seconds,
    )
    result.pseudo_labels, result.pseudo_probs = labels, probs
    return result


def run_tapt(
    backbone: nn.Module | str | Path,
    tokenizer: Any,
    config: PCPConfig,
    train: Examples,
    unlabeled: Examples,
    output_dir: str | Path,
    *,
    dev: Examples | None = None,
    device: str = "auto",
    verbose: bool = False,
) -> PCPResult:
    """The TAPT baseline: continued pre-training on the plain pool texts (no template, no
    pseudo-labels) with the same stage-2 schedule, then prompt-based fine-tuning.
    Arguments as :func:`run_pcp`; the checkpoint goes to ``<output_dir>/tapt_checkpoint``."""
    corpus = build_tapt_corpus(unlabeled)
    return _finish(
        backbone,
        tokenizer,
        config,
        train,
        dev,
        corpus,
        Path(output_dir) / "tapt_checkpoint",
        device,
        verbose,
        {},
    )
