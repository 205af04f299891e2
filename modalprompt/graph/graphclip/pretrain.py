"""GraphCLIP pre-training: graph–summary contrastive learning over several source graphs."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch_geometric.data import Batch, Data

from modalprompt.core.distributed import (
    all_reduce_mean,
    average_gradients,
    distributed_context,
    shard_for_rank,
)
from modalprompt.core.mixed_precision import MixedPrecision
from modalprompt.core.phases import (
    EpochLoss,
    ModuleState,
    Phase,
    PhaseRunner,
    Repeat,
    SettingsState,
)
from modalprompt.core.state_tree import GeneratorState
from modalprompt.graph.graphclip.encoder import GraphClipEncoder
from modalprompt.graph.graphclip.objective import adversarial_step, augment, clip_loss

__all__ = ["PretrainResult", "pretrain_graphclip", "scaled_flag_step"]

#: The official FLAG perturbation range and ascent step, on the official node features.
OFFICIAL_FLAG_STEP = 1e-2
#: Per-coordinate RMS of the official node features: all-MiniLM-L6-v2's mean-pooled last hidden
#: states *without* the final normalisation (the official feature script), measured over 400
#: Cora texts of 256 characters (mean norm 3.47 over 384 coordinates).
OFFICIAL_FEATURE_RMS = 0.181


@dataclass
class PretrainResult:
    """Loss per epoch, subgraphs per second, and the learned ``logit_scale``."""

    losses: list[float]
    subgraphs_per_second: float
    logit_scale: float
    flag_step: float = OFFICIAL_FLAG_STEP  #: the FLAG step used (after scaling)


def scaled_flag_step(features: torch.Tensor | list[torch.Tensor]) -> float:
    """The official FLAG step (1e-2) at the scale of node ``features`` ``(N, d)`` (or a list of
    such tensors, e.g. every subgraph's ``x``).

    The official step was set for raw mean-pooled MiniLM features (per-coordinate RMS 0.181);
    unit-norm features (the sentence-transformers pipeline's, RMS ``1/sqrt(d)`` = 0.051 at
    ``d = 384``) would be perturbed 3.5 times harder relative to their size, which collapses
    pre-training on LLM summaries (``benchmarks/graphclip.py``). Scaling by the features' RMS
    keeps the perturbation the same fraction of a coordinate as in the official run: 2.8e-3
    for unit-norm 384-d features.
    """
    parts = [features] if isinstance(features, torch.Tensor) else list(features)
    squares = sum(float(x.detach().float().pow(2).sum()) for x in parts)
    count = sum(x.numel() for x in parts)
    rms = math.sqrt(squares / count) if count else 0.0
    if not math.isfinite(rms) or rms <= 0:
        raise ValueError(
            f"node features: expected finite, not all-zero values to scale the FLAG step by, "
            f"got RMS {rms}; pass flag_step explicitly"
        )
    return OFFICIAL_FLAG_STEP * rms / OFFICIAL_FEATURE_RMS


class _Temperature(nn.Module):
    """The learnable ``logit_scale`` (log of 1 / temperature, CLIP's init 1 / 0.07)."""

    def __init__(self) -> None:
        super().__init__()
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))


def pretrain_graphclip(
    encoder: GraphClipEncoder,
    sources: list[tuple[list[Data], torch.Tensor]],
    epochs: int = 5,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 1e-5,
    invariant: bool = True,
    seed: int = 88,
    run_dir: str | Path | None = None,
    resume_from: str | Path | None = None,
    log_every: int = 10,
    precision: str = "no",
    verbose: bool = False,
    flag_step: float | None = None,
) -> PretrainResult:
    """Train ``encoder`` (and a learnable temperature) on (subgraphs, summary embeddings) pairs.

    Mini-batches are drawn from all source graphs pooled and shuffled, so in-batch negatives
    come from several graphs. With ``invariant`` each step uses the official recipe: augment
    (feature columns masked 0.3, edges dropped 0.2), then 3 FLAG ascent steps on the node
    features with the model's gradients accumulated. Departures: lr 1e-3 by default (official
    1e-5 at batch 7,200) and ``epochs`` epochs (the official loop runs ``epochs - 1``).

    The epochs run as core phases (:class:`~modalprompt.core.phases.PhaseRunner`): a non-finite
    loss stops training before its update; with ``run_dir`` every epoch is checkpointed there
    (encoder, temperature, AdamW, the sampling generator, RNGs) with ``metrics.jsonl`` (a row
    every ``log_every`` steps and per epoch), and ``resume_from="latest"`` continues a killed
    run to the end an uninterrupted one reaches. Batches go to the encoder's device.

    ``flag_step``: the FLAG perturbation's init range and ascent step. By default (``None``) the
    official 1e-2 scaled to the node features' size (:func:`scaled_flag_step`: 2.8e-3 for
    unit-norm MiniLM features; a departure, because the official features are not normalised
    and the official step is 3.5 times larger relative to ours); a number is used as given
    (``1e-2`` is the official value itself). The step used is in the result, and is saved with
    the checkpoints: resuming with another step (or ``invariant``, ``lr``, ``batch_size``,
    ``weight_decay``) is refused by name.

    ``verbose`` prints one line per finished epoch. ``precision`` (``"no"``, ``"fp16"`` with
    loss scaling, ``"bf16"``) runs the forward in mixed precision on CUDA
    (:class:`~modalprompt.core.mixed_precision.MixedPrecision`; the FLAG ascent's sign steps
    are unchanged by the loss scale); ignored on CPU. Under ``torchrun``
    every rank draws the same order and takes every N-th pair of it (the last ``len % N`` left
    out that epoch), so in-batch negatives come from the rank's own ``batch_size`` pairs, as in
    CLIP's data parallelism without a gathered similarity matrix; gradients (encoder and
    temperature) are averaged over the ranks before AdamW's step; augmentation noise is per rank
    (re-seeded each epoch); rank 0 alone writes ``metrics.jsonl`` and checkpoints.

    Shapes:
        sources: per graph, ``graphs`` (T_k ``Data`` with ``center_index``) and ``(T_k, d)``.
    """
    if not sources:
        raise ValueError("sources: need at least one source graph")
    if flag_step is not None and (
        not isinstance(flag_step, int | float)
        or isinstance(flag_step, bool)
        or not math.isfinite(flag_step)
        or flag_step <= 0
    ):
        raise ValueError(f"flag_step: expected None or a finite number > 0, got {flag_step!r}")
    graphs = [g for gs, _ in sources for g in gs]
    if flag_step is None:
        flag_step = scaled_flag_step([g.x for g in graphs])
    texts = torch.cat([t for _, t in sources])
    if texts.size(-1) != encoder.out_dim:
        raise ValueError(
            f"text encoder dimension {texts.size(-1)} does not match the projector's output "
            f"{encoder.out_dim}; build GraphClipEncoder(out_dim={texts.size(-1)})"
        )
    device = next(encoder.parameters()).device
    ctx = distributed_context(device.type)
    amp = MixedPrecision(device, precision)
    texts = texts.to(device)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)  # the epoch order: alike on every rank
    noise = torch.Generator() if ctx.enabled else gen  # augmentation: per rank under DDP
    temperature = _Temperature().to(device)
    logit_scale = temperature.logit_scale
    params = [*encoder.parameters(), logit_scale]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    book = EpochLoss()
    timing = {"seen": 0, "seconds": 0.0}

    def begin(epoch: int) -> None:
        encoder.train()
        book.start()
        timing["start"] = time.perf_counter()
        if ctx.enabled:
            noise.manual_seed(seed * 7_919 + epoch * 104_729 + ctx.rank + 1)

    def batches(epoch: int) -> list[torch.Tensor]:
        order = shard_for_rank(torch.randperm(len(graphs), generator=gen), ctx)
        chunks = [order[i : i + batch_size] for i in range(0, len(order) - 1, batch_size)]
        return [idx for idx in chunks if idx.numel() >= 2]

    def step(idx: torch.Tensor) -> dict[str, float]:
        batch = Batch.from_data_list([graphs[j] for j in idx.tolist()]).to(device)
        target = texts[idx.to(device)]
        opt.zero_grad()
        if invariant:
            aug = augment(batch, generator=noise)

            def loss_fn(x: torch.Tensor, a=aug, t=target) -> torch.Tensor:
                with amp.autocast():
                    return clip_loss(encoder.encode(x, a), t, logit_scale)

            loss = adversarial_step(
                loss_fn, aug.x, step_size=flag_step, init=flag_step, backward=amp.backward
            )
        else:
            with amp.autocast():
                loss = clip_loss(encoder(batch), target, logit_scale)
            amp.backward(loss)
        value = float(all_reduce_mean(loss.detach().float(), ctx))
        if not math.isfinite(value):
            return {"loss": value}  # the runner stops before the update, on every rank
        if ctx.enabled:
            amp.unscale(opt)
            average_gradients(params, ctx)
        amp.step(opt)
        book.add(value, weight=idx.numel())
        return {"loss": value}

    def end(epoch: int) -> dict[str, float]:
        timing["seen"] += book.weight
        mean = book.finish()
        timing["seconds"] += time.perf_counter() - timing["start"]
        return {"epoch": epoch + 1, "epoch_loss": mean, "logit_scale": float(logit_scale.detach())}

    runner = PhaseRunner(
        [Repeat(epochs, [Phase("graphclip_pretrain", step, batches, begin=begin, end=end)])],
        state={
            "encoder": ModuleState(encoder),
            "temperature": ModuleState(temperature),
            "optimizer": opt,
            "generator": GeneratorState(gen),
            "book": book,
            "amp": amp,
            "settings": SettingsState(
                flag_step=float(flag_step),
                invariant=bool(invariant),
                lr=float(lr),
                batch_size=int(batch_size),
                weight_decay=float(weight_decay),
            ),
        },
        output_dir=run_dir,
        seed=seed,
        log_every=log_every,
        verbose=verbose,
        distributed=ctx,
    )
    runner.run(resume_from=resume_from)
    encoder.eval()
    rate = timing["seen"] / max(timing["seconds"], 1e-9)
    return PretrainResult(book.losses, rate, float(logit_scale.detach()), float(flag_step))
