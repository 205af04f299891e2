"""BayesPrompt's training schedule on top of the core Trainer.

1. ``collection_epochs`` of plain KnowPrompt training;
2. features (mask-aware mean input embeddings) of the training inputs become the initial
   particles; a GMM is fitted to features of the target domain — by default only the data you
   pass (inductive; the official code fits it on the whole unlabelled training set, which you get
   by passing that set as ``domain_examples``);
3. SVGD moves the particles towards the GMM; they are stored in the model;
4. the remaining epochs train with ``[sub]``/``[obj]`` written from sampled particles.

The steps run as core phases (``collection``, ``particles``, ``train`` per epoch), so a killed
run resumes (:func:`fit_bayesprompt`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from modalprompt.core.callbacks import Callback
from modalprompt.core.phases import ModuleState, Phase, PhaseRunner, Repeat
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


class _Recorder(Callback):
    """What the trainer logged during one phase step (the loss, an evaluation)."""

    def __init__(self) -> None:
        self.logged: dict[str, float] = {}

    def _on_step_end(self, trainer: Any, logs: dict[str, Any]) -> None:
        if "loss" in logs:
            self.logged["loss"] = float(logs["loss"])

    def _on_evaluate(self, trainer: Any, metrics: dict[str, float]) -> None:
        self.logged.update({f"eval_{k}": float(v) for k, v in metrics.items()})

    def take(self) -> dict[str, float]:
        logged, self.logged = self.logged, {}
        return logged


def fit_bayesprompt(
    model: BayesPromptModel,
    train_examples: Sequence[Any],
    eval_examples: Sequence[Any] | None,
    collate,
    args: TrainingArguments,
    *,
    domain_examples: Sequence[Any] | None = None,
    resume_from: str | Path | None = None,
) -> Trainer:
    """Run the whole schedule; returns the trainer (its ``evaluate`` scores other sets).

    The schedule is a plan of core phases (:class:`~modalprompt.core.phases.PhaseRunner`):
    ``collection`` (the first ``collection_epochs``), ``particles`` (GMM + SVGD, stored in the
    model) and one ``train`` phase per remaining epoch, all driving one core Trainer (its
    clipping, schedule, evaluation every epoch, best-state tracking, AMP on CUDA). With
    ``args.output_dir`` each finished phase is checkpointed there (``phase_checkpoints/``:
    model with its particles, optimizer, schedule, counters, best state, RNGs), a killed run
    continues with ``resume_from="latest"`` and ``metrics.jsonl`` holds each row once. The
    selected (best) state is restored at the end when ``args.restore_best`` and saved to
    ``output_dir/model``. (The plain ``Trainer(model, ...).fit()`` on the same model trains the
    KnowPrompt base BayesPrompt is compared with: no particles.)
    """
    out = Path(args.output_dir) if args.output_dir else None
    if resume_from is not None and out is None:
        raise ValueError("resume_from: resuming needs args.output_dir, where the run was saved")
    recorder = _Recorder()
    trainer = Trainer(
        model,
        TrainingArguments(**{**args.to_dict(), "output_dir": None}),  # the runner saves
        train_data=list(train_examples),
        eval_data=list(eval_examples) if eval_examples else None,
        collate_fn=collate,
        callbacks=[recorder],
    )
    steps_per_epoch = math.ceil(trainer.batches_per_epoch / args.grad_accumulation_steps)
    total = trainer.total_steps
    collection = min(model.config.collection_epochs * steps_per_epoch, total)

    def train_step(_: int) -> dict[str, float]:
        trainer.train_steps(1)
        return recorder.take()

    def make_particles(_: int) -> dict[str, float]:
        model.eval()
        particles = compute_particles(model, list(train_examples), collate, domain_examples)
        model.set_particles(particles)
        # states before the particles existed are not comparable
        trainer.best_state, trainer.state.best_metric = None, None
        trainer.state.evals_without_improvement = 0
        return {"particles": float(particles.size(0))}

    rest = total - collection
    rounds = math.ceil(rest / steps_per_epoch)

    def train_batches(round_: int) -> range:
        return range(min(steps_per_epoch, rest - round_ * steps_per_epoch))

    plan: list[Phase | Repeat] = [
        Phase("collection", train_step, lambda _: range(collection)),
        Phase("particles", make_particles, lambda _: [0]),
    ]
    if rounds:
        plan.append(Repeat(rounds, [Phase("train", train_step, train_batches)]))
    runner = PhaseRunner(
        plan,
        state={"model": ModuleState(model), "trainer": trainer},
        output_dir=out,
        seed=args.seed,
        verbose=args.verbose,
        overwrite_output_dir=args.overwrite_output_dir,
    )
    runner.run(resume_from=resume_from)
    trainer.state.finished = True
    for callback in trainer.callbacks:  # closes the progress bar
        callback.on_fit_end(trainer)
    if args.restore_best and trainer.best_state is not None:
        model.load_prompt_state_dict(trainer.best_state)
    model.eval()
    if out is not None:
        model.save_pretrained(out / "model")
    return trainer
