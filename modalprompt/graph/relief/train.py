"""RELIEF's alternating training: policy phase (H-PPO per member), head phase, evaluation.

Optionally ``head_warmup_epochs`` passes of the head over the unprompted graphs first (the
official node-level warm-up). One epoch (official ``base.py:train_policy``)::

    set the entropy coefficient and prompt log-std for this epoch
    for member i in 1..K:  for each batch of its graphs: roll out with member i, PPO update
    head phase: the joint policy prompts the training graphs; ``head_epochs`` passes of the
                projection head (policy frozen), through the core Trainer
    evaluate on validation (epoch 1 and epochs >= skip_epochs); keep the best of the latter

The schedule runs as a plan of core phases (``head_warmup``; per epoch ``policy``, ``head``),
so it logs, checkpoints and resumes like every other method (:mod:`modalprompt.core.phases`).

Member ``i`` trains on split ``i`` of the shuffled training graphs plus the last
``ensemble_overlap`` share of every other split.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from modalprompt.core.evaluation import gather_outputs
from modalprompt.core.phases import ModuleState, Phase, PhaseRunner, Repeat, ValueState
from modalprompt.core.seeding import seed_everything
from modalprompt.core.state_tree import GeneratorState
from modalprompt.core.trainer import Trainer
from modalprompt.core.training_args import TrainingArguments
from modalprompt.graph.relief.model import ReliefModel
from modalprompt.graph.relief.ppo import HybridPPO

__all__ = [
    "fit_relief",
    "evaluate_relief",
    "ReliefHistory",
    "ensemble_splits",
    "size_bucketed_batches",
    "size_sorted",
    "size_order",
]

#: Graphs per evaluation batch when none is given. Evaluation batches are cut from the graphs
#: sorted by node count, so a batch's rollout (as many steps as its largest graph has nodes,
#: each a GNN pass over the whole batch) spends few steps on finished episodes. On HIV's 500
#: validation molecules (7 to 142 atoms) one CPU thread took 102 s in one batch and 10.7 /
#: 11.9 / 16.1 s in sorted batches of 16 / 32 / 64, the same argmax logits (1e-8).
EVAL_BATCH_SIZE = 32


@dataclasses.dataclass
class ReliefHistory:
    """What :func:`fit_relief` measured: one record per epoch, and the selected epoch."""

    epochs: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    best_epoch: int | None = None
    best_metric: float | None = None


def ensemble_splits(num_graphs: int, members: int, overlap: float, seed: int) -> list[list[int]]:
    """Indices each member trains on: its own part of a seeded shuffle plus the last
    ``overlap`` share of every other part."""
    order = torch.randperm(num_graphs, generator=torch.Generator().manual_seed(seed)).tolist()
    bounds = [round(i * num_graphs / members) for i in range(members + 1)]
    parts = [order[bounds[i] : bounds[i + 1]] for i in range(members)]
    splits = []
    for i in range(members):
        own = list(parts[i])
        for j in range(members):
            if j != i and parts[j]:
                take = int(len(parts[j]) * overlap)
                own += parts[j][len(parts[j]) - take :] if take else []
        splits.append(own)
    return splits


def size_bucketed_batches(
    sizes: Sequence[int], batch_size: int, generator: torch.Generator, window: int = 4
) -> list[list[int]]:
    """Shuffled batches of positions ``0..len(sizes)-1`` whose graphs have similar node counts.

    The order is shuffled, then every window of ``window * batch_size`` graphs is sorted by size
    and cut into batches, and the batches are shuffled. A batch rolls out for as many steps as
    its largest graph has nodes and every step runs the GNN on the whole batch, so grouping
    similar sizes removes most steps spent on finished episodes (the official code batches in
    plain shuffled order).
    """
    order = torch.randperm(len(sizes), generator=generator).tolist()
    span = window * batch_size
    batches = []
    for start in range(0, len(order), span):
        chunk = sorted(order[start : start + span], key=lambda i: sizes[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    shuffle = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffle]


def size_sorted(graphs: Sequence[Any]) -> list[Any]:
    """``graphs`` in ascending order of node count (stable: equal sizes keep their order).

    Evaluation scores every graph whatever the batch it lands in (PyG batches are disjoint
    graphs, the frozen GNN is in eval mode), so sorting changes only the cost: batches cut from
    the sorted list hold graphs of similar size and roll out for about as many steps as their
    graphs have nodes. The official code evaluates in dataset order.
    """
    return [graphs[i] for i in size_order(graphs)]


def size_order(graphs: Sequence[Any]) -> list[int]:
    """Positions ``0..len(graphs)-1`` in the order of :func:`size_sorted`."""
    return sorted(range(len(graphs)), key=lambda i: int(graphs[i].num_nodes))


@torch.no_grad()
def evaluate_relief(
    model: ReliefModel,
    graphs: Sequence[Any],
    *,
    batch_size: int = EVAL_BATCH_SIZE,
    eval_mode: str | None = None,
) -> dict[str, float]:
    """Metrics of ``model`` on ``graphs`` (:meth:`ReliefModel.compute_metrics`: ROC-AUC or
    accuracy/macro-F1, PCR, APM), rolled out in size-sorted batches of ``batch_size`` graphs on
    the model's device; ``eval_mode`` (``"sample"`` / ``"deterministic"``) overrides the
    config's for this call. The model is left in eval mode."""
    if len(graphs) == 0:
        raise ValueError("graphs: nothing to evaluate (an empty sequence)")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    if eval_mode not in (None, "sample", "deterministic"):
        raise ValueError(f"eval_mode must be 'sample', 'deterministic' or None, got {eval_mode!r}")
    device = next(model.parameters()).device
    order = size_order(graphs)
    previous = model.config.eval_mode
    model.config.eval_mode = eval_mode or previous
    model.eval()
    batches = (
        _collate([graphs[i] for i in order[start : start + batch_size]]).to(device)
        for start in range(0, len(order), batch_size)
    )
    try:
        outputs = gather_outputs((model.validation_step(b) for b in batches), order)
    finally:
        model.config.eval_mode = previous
    return model.compute_metrics(outputs)


def _collate(items: list[Any]) -> Any:
    from torch_geometric.data import Batch

    return Batch.from_data_list(items)


def fit_relief(
    model: ReliefModel,
    train_graphs: Sequence[Any],
    val_graphs: Sequence[Any],
    *,
    output_dir: str | Path | None = None,
    resume_from: str | Path | None = None,
    overwrite_output_dir: bool = False,
    head_batch_size: int = 128,
    eval_batch_size: int | None = None,
    device: str = "auto",
    precision: str = "no",
    verbose: bool = False,
) -> ReliefHistory:
    """Train ``model`` with RELIEF's alternating schedule; restores the selected epoch's state.

    The schedule is a plan of phases run by the core
    :class:`~modalprompt.core.phases.PhaseRunner`: ``head_warmup`` (when configured), then per
    epoch ``policy`` (H-PPO over every member's batches) and ``head`` (the core Trainer's head
    steps, then validation). With ``output_dir`` every finished phase is checkpointed (model,
    the head's and every PPO optimizer, reward statistics, generators, RNGs, history), so a
    killed run continues with ``resume_from="latest"`` and ends as an uninterrupted one would;
    ``metrics.jsonl`` holds one row per policy batch and per head phase (tagged with the phase),
    never repeated.

    One process only, by design: the ``policy`` phase is on-policy PPO whose rollouts step the
    prompt environment node by node through the frozen GNN; its networks (a few thousand
    parameters of MLPs) gain nothing from mixed precision, and splitting the rollouts over
    ranks would change PPO's batch statistics (advantage normalisation, the reward's running
    mean) away from the paper's; under ``torchrun`` it refuses to start. The ``head`` phase is a
    core Trainer's: ``precision`` sets its mixed precision on CUDA.

    Args:
        model: The RELIEF model (its config holds every hyper-parameter).
        train_graphs: Few-shot training graphs (PyG ``Data`` with ``y``).
        val_graphs: Validation graphs (model selection).
        output_dir: Where ``metrics.jsonl``, ``phase_checkpoints/`` and the selected model are
            written (optional).
        resume_from: ``"latest"`` or a checkpoint folder under ``output_dir/phase_checkpoints``.
        overwrite_output_dir: Start over in an ``output_dir`` holding an earlier run's
            checkpoints (deleting them) instead of refusing.
        head_batch_size: Graphs per head-phase batch (the official code uses one batch of <= 128).
        eval_batch_size: Graphs per evaluation batch (default :data:`EVAL_BATCH_SIZE`); the
            validation graphs are evaluated in order of size (:func:`size_sorted`).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        precision: ``"no"``, ``"fp16"`` or ``"bf16"``: the head phase's mixed precision (CUDA).
        verbose: Print one line per epoch.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise RuntimeError(
            "fit_relief runs in one process (on-policy PPO rollouts are not split over ranks); "
            f"launched with WORLD_SIZE={os.environ['WORLD_SIZE']}: run it without torchrun"
        )
    c = model.config
    if len(train_graphs) == 0 or len(val_graphs) == 0:
        raise ValueError("train_graphs and val_graphs must each hold at least one graph")
    if resume_from is not None and output_dir is None:
        raise ValueError("resume_from: resuming needs the output_dir the run was saved in")
    seed_everything(c.seed)
    if eval_batch_size is None:
        eval_batch_size = EVAL_BATCH_SIZE
    elif (
        isinstance(eval_batch_size, bool)
        or not isinstance(eval_batch_size, int)
        or eval_batch_size < 1
    ):
        raise ValueError(f"eval_batch_size must be a positive int or None, got {eval_batch_size!r}")
    out = Path(output_dir) if output_dir else None
    head_args = TrainingArguments(
        lr=c.head_lr,
        weight_decay=c.head_weight_decay,
        optimizer="adam",
        batch_size=min(head_batch_size, len(train_graphs)),
        eval_batch_size=eval_batch_size,
        max_grad_norm=None,
        eval_strategy="no",
        verbose=False,
        device=device,
        precision=precision,
        seed=c.seed,
        tensorboard=False,
        metric="roc_auc" if c.task_type == "multilabel" else "macro_f1",
    )
    head_trainer = Trainer(
        model,
        head_args,
        train_data=list(train_graphs),
        eval_data=size_sorted(val_graphs),
        collate_fn=_collate,
        param_groups=model.param_groups(),
    )
    device_ = head_trainer.device
    # the head's standardisation from the unprompted training graphs (a resumed run then loads
    # the saved statistics over these; a head fitted before keeps its own)
    model.eval()
    with torch.no_grad():
        model.prepare_fit(
            _collate(list(train_graphs[i : i + eval_batch_size])).to(device_)
            for i in range(0, len(train_graphs), eval_batch_size)
        )
    ppo = HybridPPO(model.policy, model.critic, c)
    generator = torch.Generator(device=device_).manual_seed(c.seed)
    cpu_generator = torch.Generator().manual_seed(c.seed)
    splits = ensemble_splits(len(train_graphs), c.ensemble_size, c.ensemble_overlap, c.seed)
    metric = head_args.metric
    eligible_from = min(c.skip_epochs, c.total_epochs)
    steps_per_head_epoch = math.ceil(len(train_graphs) / head_args.batch_size)
    # what the phases keep between them (checkpointed): history, best state, this epoch's stats
    book = ValueState(
        {"epochs": [], "best_epoch": None, "best_metric": None, "best_state": None, "epoch": {}}
    )

    def head_step(_: int) -> dict[str, float]:
        head_trainer.train_steps(1)
        return {}

    def warmup_step(_: int) -> dict[str, float]:
        model.train()
        with model.prompts_disabled():
            return head_step(_)

    def begin_policy(round_: int) -> None:
        ppo.set_progress(round_ / max(1, c.total_epochs - 1))
        model.train()
        book.value["epoch"] = {
            "epoch": round_ + 1,
            "log_std": float(model.policy.log_std),
            "returns": [],
            "updates": 0.0,
        }

    def policy_jobs(round_: int) -> Iterable[tuple[int, list[int]]]:
        for member, split in enumerate(splits):
            sizes = [int(train_graphs[k].num_nodes) for k in split]  # empty split: no update
            # drawn lazily: member i's batches follow member i-1's updates in the generator
            for positions in size_bucketed_batches(sizes, c.graphs_per_rollout, cpu_generator):
                yield member, [split[k] for k in positions]

    def policy_step(job: tuple[int, list[int]]) -> dict[str, float]:
        member, indices = job
        batch = _collate([train_graphs[k] for k in indices]).to(device_)
        transitions = ppo.collect(model.make_rollout(), batch, member, generator)
        stats = ppo.update(member, transitions, cpu_generator)
        epoch = book.value["epoch"]
        epoch["returns"].append(float(transitions.raw_return))
        epoch["updates"] += float(stats["updates"])
        return {
            "member": member,
            "loss_decrease": float(transitions.raw_return),
            "ppo_updates": float(stats["updates"]),
        }

    def end_epoch(round_: int) -> dict[str, Any]:
        epoch_number = round_ + 1
        stats = book.value["epoch"]
        record: dict[str, Any] = {
            "epoch": epoch_number,
            "log_std": stats["log_std"],
            "loss_decrease": sum(stats["returns"]) / len(stats["returns"]),
            "ppo_updates": stats["updates"],
        }
        # As the official loop: validation at epoch 1 (a first reading) and from skip_epochs on,
        # where an epoch can be selected; a validation rollout costs as much as a policy phase.
        if epoch_number == 1 or epoch_number >= eligible_from:
            val = head_trainer.evaluate()
        else:
            val = {}
        record.update({f"val_{k}": v for k, v in val.items()})
        history = book.value
        history["epochs"].append(record)
        if (
            epoch_number >= eligible_from
            and val
            and (history["best_metric"] is None or val[metric] > history["best_metric"])
        ):
            history["best_epoch"], history["best_metric"] = epoch_number, val[metric]
            history["best_state"] = {
                k: v.detach().cpu().clone() for k, v in model.prompt_state_dict().items()
            }
        return record

    plan: list[Phase | Repeat] = []
    if c.head_warmup_epochs:
        warmup = c.head_warmup_epochs * steps_per_head_epoch
        plan.append(Phase("head_warmup", warmup_step, lambda _: range(warmup)))
    head_steps = c.head_epochs * steps_per_head_epoch
    plan.append(
        Repeat(
            c.total_epochs,
            [
                Phase("policy", policy_step, policy_jobs, begin=begin_policy),
                Phase("head", head_step, lambda _: range(head_steps), end=end_epoch),
            ],
        )
    )
    runner = PhaseRunner(
        plan,
        state={
            "model": ModuleState(model),
            "head_trainer": head_trainer,
            "ppo": ppo,
            "generator": GeneratorState(generator),
            "cpu_generator": GeneratorState(cpu_generator),
            "history": book,
        },
        output_dir=out,
        seed=c.seed,
        verbose=verbose,
        overwrite_output_dir=overwrite_output_dir,
    )
    runner.run(resume_from=resume_from)
    history = book.value
    result = ReliefHistory(
        epochs=list(history["epochs"]),
        best_epoch=history["best_epoch"],
        best_metric=history["best_metric"],
    )
    if history["best_state"] is not None:
        model.load_prompt_state_dict({k: v.to(device_) for k, v in history["best_state"].items()})
    model.eval()
    if out is not None:
        model.save_pretrained(out / "model")
    return result
