"""BayesPrompt's training schedule on top of the core Trainer.

1. ``collection_epochs`` of plain KnowPrompt training;
2. features (mask-aware mean input embeddings) of the training inputs become the initial
   particles; a GMM is fitted to features of the target domain — by default only the data you
   pass (inductive; the official code fits it on the whole unlabelled training set, which you get
   by passing that set as ``domain_examples``);
3. SVGD moves the particles towards the GMM; they are stored in the model;
4. the remaining epochs train with ``[sub]``/``[obj]`` written from sampled particles.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch

from modalprompt.core.trainer import Trainer
from modalprompt.core.training_args import TrainingArguments
from modalprompt.nlp.bayesprompt.gmm import fit_gmm
from modalprompt.nlp.bayesprompt.model import BayesPromptModel
from modalprompt.nlp.bayesprompt.svgd import run_svgd

__all__ = ["fit_bayesprompt", "compute_particles"]


@torch.no_grad()
def _features(
    model: BayesPromptModel, examples: Sequence[Any], collate, batch_size: int
) -> torch.Tensor:
    rows = []
    for start in range(0, len(examples), batch_size):
        batch = collate(examples[start : start + batch_size])
        rows.append(
            model.features(
                batch["input_ids"].to(model.device), batch["attention_mask"].to(model.device)
            )
        )
    return torch.cat(rows).double().cpu()


def compute_particles(
    model: BayesPromptModel,
    train_examples: Sequence[Any],
    collate,
    domain_examples: Sequence[Any] | None = None,
    batch_size: int = 64,
) -> torch.Tensor:
    """GMM of the domain features, SVGD from the training features; returns ``(n, D)`` particles."""
    c = model.config
    start = _features(model, train_examples, collate, batch_size)
    domain = _features(model, domain_examples, collate, batch_size) if domain_examples else start
    components = c.num_components or min(domain.size(0), c.num_classes)
    gmm = fit_gmm(domain, min(components, domain.size(0)), reg_covar=c.gmm_reg_covar, seed=c.seed)
    return run_svgd(start, gmm.score, iterations=c.svgd_iterations, step_size=c.svgd_step)


def fit_bayesprompt(
    model: BayesPromptModel,
    train_examples: Sequence[Any],
    eval_examples: Sequence[Any] | None,
    collate,
    args: TrainingArguments,
    *,
    domain_examples: Sequence[Any] | None = None,
) -> Trainer:
    """Run the whole schedule; returns the trainer (its ``evaluate`` scores other sets)."""
    trainer = Trainer(
        model,
        args,
        train_data=list(train_examples),
        eval_data=list(eval_examples) if eval_examples else None,
        collate_fn=collate,
    )
    steps_per_epoch = math.ceil(trainer.batches_per_epoch / args.grad_accumulation_steps)
    trainer.train_steps(model.config.collection_epochs * steps_per_epoch)
    model.eval()
    model.set_particles(compute_particles(model, list(train_examples), collate, domain_examples))
    if trainer.best_state is not None:  # states before the particles existed are not comparable
        trainer.best_state, trainer.state.best_metric = None, None
    trainer.fit()  # the remaining epochs (or none), then restore-best and saving
    return trainer
