"""Self-supervised pre-training of the molecule GIN: the checkpoints graph prompts tune from.

``pretrain(backbone, strategy, graphs, ...)`` with a strategy of pretrain-gnns / GraphCL:

* ``"attr_masking"`` (Hu et al.): 15% of the atoms get the mask type (119); a linear head
  predicts their atom type from the node embedding (cross-entropy).
* ``"edge_pred"`` (Hu et al.): inner products of node embeddings score the graph's edges against
  as many uniformly sampled non-edges (binary cross-entropy). With ``edges_per_step`` the edges
  of a batch are cut into random chunks, one optimiser step each, every step re-embedding the
  whole batch: on one large graph this is GPPT's edge prediction, RELIEF's node-level
  "MaskedEdge" pre-training (see :func:`pretrain`).
* ``"infomax"`` (Hu et al.'s Deep Graph Infomax): a bilinear discriminator tells a graph's
  nodes paired with its own summary (sigmoid of the mean) from pairs with the next graph's
  summary in the batch.
* ``"graphcl"`` (You et al., 2020): two augmented views per graph (node dropping and attribute
  masking, 20% each), mean-pooled, projected, NT-Xent with temperature 0.1.
* ``"context_pred"`` (Hu et al.'s Context Prediction, CBOW mode): per molecule and epoch a random
  root; the backbone (depth ``k``, 5) embeds the root in its ``k``-hop substructure, a context GNN
  of ``r2 - r1`` layers (3) the ring ``r1 < d <= r2`` (4 < d <= 7); the context is the mean of its
  anchor atoms (those also in the substructure). Dot products score each substructure against
  its own context and, as negatives, the contexts of the next ``negative_samples`` molecules
  in the batch; loss ``BCE(pos) + negative_samples * BCE(neg)``. Molecules without context
  (no atom beyond ``r1`` hops of the root) sit the step out, as in the official collate
  (:mod:`~modalprompt.graph.datasets.context_pairs`).

The backbone is trained in place; with ``output`` its weights are written as safetensors (names
of pretrain-gnns, readable by
:func:`~modalprompt.graph.backbones.load_pretrain_gnns_checkpoint`) with a JSON file of the
settings beside them, both atomically.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from modalprompt.core.device import resolve_device
from modalprompt.core.distributed import (
    all_ranks_agree,
    all_reduce_mean,
    average_gradients,
    distributed_context,
    min_over_ranks,
    shard_for_rank,
)
from modalprompt.core.io import atomic_save_tensors, atomic_write_json
from modalprompt.core.mixed_precision import MixedPrecision
from modalprompt.core.phases import EpochLoss, ModuleState, Phase, PhaseRunner, Repeat
from modalprompt.core.state_tree import GeneratorState
from modalprompt.graph.backbones.molecule_gin import NUM_ATOM_TYPES, MoleculeGIN
from modalprompt.graph.backbones.molecule_gnns import MoleculeGNN
from modalprompt.graph.datasets.context_pairs import (
    ContextBatch,
    collate_context_pairs,
    context_pair,
)
from modalprompt.graph.unlabelled import unlabelled_graphs

__all__ = ["pretrain", "STRATEGIES", "PretrainResult"]

STRATEGIES = ("attr_masking", "edge_pred", "infomax", "graphcl", "context_pred")
MASK_ATOM = NUM_ATOM_TYPES - 1  # 119: the mask token's atom type
# they write the mask atom type into data.x, or need bond features and the family's context GNN
_MOLECULE_ONLY = {"attr_masking", "graphcl", "context_pred"}


def _mean_pool(h: Tensor, batch: Tensor, count: int) -> Tensor:
    sums = torch.zeros(count, h.size(1), dtype=h.dtype, device=h.device).index_add_(0, batch, h)
    return sums / torch.bincount(batch, minlength=count).clamp(min=1).unsqueeze(1).to(h.dtype)


class _AttrMasking(nn.Module):
    def __init__(self, gnn: MoleculeGIN, rate: float = 0.15) -> None:
        super().__init__()
        self.gnn, self.rate = gnn, rate
        self.head = nn.Linear(gnn.out_dim, NUM_ATOM_TYPES - 1)

    def forward(self, data: Any, generator: torch.Generator) -> Tensor:
        n = data.num_nodes
        count = max(1, int(self.rate * n + 1))
        chosen = torch.randperm(n, generator=generator)[:count].to(data.x.device)
        masked = data.clone()
        masked.x = data.x.clone()
        masked.x[chosen] = torch.tensor([MASK_ATOM, 0], device=data.x.device)
        return nn.functional.cross_entropy(self.head(self.gnn(masked)[chosen]), data.x[chosen, 0])


class _EdgePred(nn.Module):
    def __init__(self, gnn: nn.Module) -> None:
        super().__init__()
        self.gnn = gnn

    def forward(self, data: Any, generator: torch.Generator, edges: Tensor | None = None) -> Tensor:
        """BCE of ``data``'s edges (or the columns ``edges`` of ``edge_index``) vs as many
        non-edges: a random source of a scored edge paired with a random node of its graph."""
        h = self.gnn(data)
        pos = data.edge_index if edges is None else data.edge_index[:, edges.to(h.device)]
        if pos.size(1) == 0:
            return h.sum() * 0.0
        # non-edges drawn inside each graph: pick a source's graph, a random node of that graph
        src = pos[0][
            torch.randint(0, pos.size(1), (pos.size(1),), generator=generator).to(pos.device)
        ]
        ptr = data.ptr.to(pos.device)
        graph = data.batch[src]
        size = (ptr[graph + 1] - ptr[graph]).float()
        dst = (
            ptr[graph] + (torch.rand(src.numel(), generator=generator).to(pos.device) * size).long()
        )
        pos_score = (h[pos[0]] * h[pos[1]]).sum(-1)
        neg_score = (h[src] * h[dst]).sum(-1)
        scores = torch.cat([pos_score, neg_score])
        labels = torch.cat([torch.ones_like(pos_score), torch.zeros_like(neg_score)])
        return nn.functional.binary_cross_entropy_with_logits(scores, labels)


class _Infomax(nn.Module):
    def __init__(self, gnn: nn.Module) -> None:
        super().__init__()
        self.gnn = gnn
        self.weight = nn.Parameter(torch.empty(gnn.out_dim, gnn.out_dim))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, data: Any, generator: torch.Generator) -> Tensor:
        h = self.gnn(data)
        graphs = int(data.num_graphs)
        summary = torch.sigmoid(_mean_pool(h, data.batch, graphs))
        shifted = summary.roll(1, dims=0)  # official cycle_index(., 1)
        pos = (h * (summary @ self.weight)[data.batch]).sum(-1)
        neg = (h * (shifted @ self.weight)[data.batch]).sum(-1)
        return nn.functional.binary_cross_entropy_with_logits(
            torch.cat([pos, neg]), torch.cat([torch.ones_like(pos), torch.zeros_like(neg)])
        )


class _GraphCL(nn.Module):
    def __init__(self, gnn: MoleculeGIN, rate: float = 0.2, temperature: float = 0.1) -> None:
        super().__init__()
        self.gnn, self.rate, self.temperature = gnn, rate, temperature
        d = gnn.out_dim
        self.projection = nn.Sequential(nn.Linear(d, d), nn.ReLU(inplace=True), nn.Linear(d, d))

    def _view(self, data: Any, generator: torch.Generator, drop_nodes: bool) -> Tensor:
        view = data.clone()
        view.x = data.x.clone()
        n = data.num_nodes
        chosen = torch.rand(n, generator=generator).to(data.x.device) < self.rate
        if drop_nodes:  # isolate the dropped nodes from the rest and out of the readout
            keep = ~chosen | (data.ptr[data.batch] == torch.arange(n, device=data.x.device))
            edges = keep[data.edge_index[0]] & keep[data.edge_index[1]]
            view.edge_index, view.edge_attr = data.edge_index[:, edges], data.edge_attr[edges]
            h = self.gnn(view)
            weights = keep.float().unsqueeze(1)
            sums = torch.zeros(int(data.num_graphs), h.size(1), device=h.device).index_add_(
                0, data.batch, h * weights
            )
            counts = torch.zeros(int(data.num_graphs), 1, device=h.device).index_add_(
                0, data.batch, weights
            )
            return self.projection(sums / counts.clamp(min=1))
        view.x[chosen] = torch.tensor([MASK_ATOM, 0], device=data.x.device)
        return self.projection(_mean_pool(self.gnn(view), data.batch, int(data.num_graphs)))

    def forward(self, data: Any, generator: torch.Generator) -> Tensor:
        a = nn.functional.normalize(self._view(data, generator, True), dim=-1)
        b = nn.functional.normalize(self._view(data, generator, False), dim=-1)
        logits = a @ b.T / self.temperature  # (B, B): matching views on the diagonal
        targets = torch.arange(a.size(0), device=a.device)
        return 0.5 * (
            nn.functional.cross_entropy(logits, targets)
            + nn.functional.cross_entropy(logits.T, targets)
        )


class _ContextPred(nn.Module):
    """Hu et al.'s Context Prediction (see the module docstring); ``collate`` draws the roots."""

    def __init__(
        self, gnn: MoleculeGIN, radii: tuple[int, int] | None = None, negatives: int = 1
    ) -> None:
        super().__init__()
        self.gnn, self.k, self.negatives = gnn, gnn.num_layer, negatives
        self.r1, self.r2 = radii if radii is not None else (gnn.num_layer - 1, gnn.num_layer + 2)
        self.context_gnn = MoleculeGNN(
            num_layer=self.r2 - self.r1,
            emb_dim=gnn.emb_dim,
            jk=gnn.jk,
            drop_ratio=gnn.drop_ratio,
            gnn_type=getattr(gnn, "gnn_type", "gin"),
            heads=getattr(gnn, "heads", 2),
        )

    def collate(self, graphs: Sequence[Any], generator: torch.Generator) -> ContextBatch | None:
        """Pairs around one random root per molecule; None when no molecule has a context."""
        roots = [int(torch.randint(int(g.num_nodes), (1,), generator=generator)) for g in graphs]
        pairs = [context_pair(g, r, self.k, self.r1, self.r2) for g, r in zip(graphs, roots)]
        pairs = [p for p in pairs if p is not None]
        return collate_context_pairs(pairs) if pairs else None

    def forward(self, batch: ContextBatch, generator: torch.Generator) -> Tensor:
        substruct = self.gnn(batch.substruct)[batch.center]  # (B, d)
        anchors = self.context_gnn(batch.context)[batch.anchors]  # (A, d)
        context = _mean_pool(anchors, batch.anchor_pair, batch.num_pairs)  # (B, d)
        pos = (substruct * context).sum(-1)
        # negatives: the contexts of the next molecules in the batch (official cycle_index)
        shifts = range(1, self.negatives + 1)
        neg = torch.cat([(substruct * context.roll(-s, dims=0)).sum(-1) for s in shifts])
        bce = nn.functional.binary_cross_entropy_with_logits
        return bce(pos, torch.ones_like(pos)) + self.negatives * bce(neg, torch.zeros_like(neg))


def _check_context_options(
    backbone: nn.Module, radii: tuple[int, int] | None, negatives: int
) -> None:
    k = backbone.num_layer
    if radii is not None:
        if len(radii) != 2 or not 0 <= radii[0] < k or radii[1] - radii[0] < 2:
            raise ValueError(
                f"context_radii: expected (r1, r2) with 0 <= r1 < {k} (the backbone's depth, so "
                f"anchors exist) and r2 - r1 >= 2 (the context GNN's layers), got {radii}"
            )
    if not isinstance(negatives, int) or negatives < 1:
        raise ValueError(f"negative_samples: expected an int >= 1, got {negatives!r}")
    if backbone.jk == "concat":
        raise ValueError(
            "backbone: context_pred compares substructure and context embeddings by dot product; "
            "jk='concat' gives them different widths (k + 1 vs r2 - r1 + 1 layers): use another jk"
        )


@dataclasses.dataclass
class PretrainResult:
    losses: list[float]
    checkpoint: Path | None


def pretrain(
    backbone: nn.Module,
    strategy: str,
    graphs: Sequence[Any],
    *,
    epochs: int = 10,
    batch_size: int = 256,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    lr_decay: str = "none",
    edges_per_step: int | None = None,
    context_radii: tuple[int, int] | None = None,
    negative_samples: int = 1,
    device: str | torch.device = "auto",
    precision: str = "no",
    seed: int = 0,
    output: str | Path | None = None,
    run_dir: str | Path | None = None,
    resume_from: str | Path | None = None,
    log_every: int = 10,
    verbose: bool = False,
) -> PretrainResult:
    """Pre-train ``backbone`` in place with ``strategy``; returns the mean loss of every epoch.

    ``attr_masking``, ``graphcl`` and ``context_pred`` need a molecule GNN of Hu et al.'s family
    (:class:`~modalprompt.graph.backbones.MoleculeGIN` or ``MoleculeGNN``; they mask atom types
    or read bonds and build the context GNN of the same type and width); ``edge_pred``
    and ``infomax`` train any node encoder ``backbone(data) -> (N, out_dim)``, e.g. a
    :class:`~modalprompt.graph.backbones.node_encoders.NodeEncoder` on k-hop subgraphs (RELIEF's
    node-level "MaskedEdge" pre-training is this edge prediction).

    Args:
        backbone: The GNN, trained in place (left in eval mode).
        strategy: One of :data:`STRATEGIES`.
        graphs: Pre-training graphs; ``infomax`` and ``graphcl`` contrast graphs and need at
            least two, the others accept one (e.g. a whole citation graph). Labels (``y``) are
            never read and are left out of the batches, so molecules of datasets with different
            task counts mix; every other field must agree across graphs (else a ValueError
            names the first graph that differs).
        epochs: Passes over ``graphs``.
        batch_size: Graphs per batch.
        lr, weight_decay: Adam's.
        lr_decay: ``"none"``, or ``"linear"``: epoch ``e`` (from 0) runs at
            ``lr * (1 - e / epochs)``, as RELIEF's GPPT pre-training.
        edges_per_step: ``edge_pred`` only: positive edges per optimiser step (each with one
            sampled non-edge); ``None`` scores all edges of a batch in one step. RELIEF's
            "MaskedEdge" recipe for Cora: ``pretrain(NodeEncoder(100, 128, dropout=0.2,
            activation="leaky_relu"), "edge_pred", [graph], epochs=100, batch_size=1,
            edges_per_step=256, lr=0.01, weight_decay=5e-5, lr_decay="linear")`` (the official
            batches 512 shuffled edge/non-edge pairs drawn once with negative sampling; here
            each step scores 256 edges against 256 fresh random pairs, which on a sparse graph
            are non-edges but for a fraction of about the density).
        context_radii: ``context_pred`` only: ``(r1, r2)``, the context ring ``r1 < d <= r2``
            around the root; ``None`` = the paper's ``(k - 1, k + 2)`` for a backbone of depth
            ``k`` (4, 7 for 5 layers). The substructure radius is always the depth ``k``.
        negative_samples: ``context_pred`` only: negative contexts per substructure (official
            default 1), weighting the negative loss as well.
        device: Where to train: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``...
        precision: ``"no"``, ``"fp16"`` (with loss scaling) or ``"bf16"``: mixed precision of
            the forward on CUDA (:class:`~modalprompt.core.mixed_precision.MixedPrecision`);
            ignored on CPU.
        seed: Seeds the masking, negative sampling, roots and batch order.
        output: Safetensors path for the trained weights (JSON settings beside it).
        run_dir: Where the epochs run as core phases (:class:`~modalprompt.core.phases.
            PhaseRunner`) write ``metrics.jsonl`` (a row every ``log_every`` steps and per epoch)
            and a checkpoint per epoch (backbone and heads, Adam, the sampling generator, RNGs);
            None writes nothing. A non-finite loss stops the run before its update, naming the
            last good checkpoint.
        resume_from: ``"latest"`` (or a checkpoint folder under ``run_dir``): continue a killed
            pre-training from its last finished epoch; it ends as an uninterrupted run would.
        log_every: Steps between metrics rows.
        verbose: Print one line per finished epoch (its mean loss).

    Several processes (``torchrun --nproc_per_node=N``): every rank draws the same epoch order
    and takes every N-th graph of it (the last ``len % N`` are left out that epoch), so each
    step sees N batches of ``batch_size``; the gradients are averaged over the ranks before
    Adam's step (all-reduce, as DDP does; not DDP's wrapper, because ``edge_pred`` and the
    contrastive strategies call the GNN several times per step). Masking, negative sampling
    and edge chunks draw from a per-rank generator re-seeded every epoch; a batch one rank
    cannot use (too few context pairs) is skipped on every rank; with ``edges_per_step`` all
    ranks take as many edge chunks as the rank with the fewest. The logged loss is the mean
    over ranks; rank 0 alone writes ``metrics.jsonl``, checkpoints and ``output``.
    """
    from torch_geometric.data import Batch

    if strategy not in STRATEGIES:
        raise ValueError(f"strategy: expected one of {STRATEGIES}, got {strategy!r}")
    if strategy in _MOLECULE_ONLY and not isinstance(backbone, MoleculeGIN):
        raise TypeError(
            f"backbone: {strategy!r} masks atom types and needs a MoleculeGIN, got "
            f"{type(backbone).__name__}; use one of {sorted(set(STRATEGIES) - _MOLECULE_ONLY)}"
        )
    if not hasattr(backbone, "out_dim"):
        raise TypeError(f"backbone: {type(backbone).__name__} needs an out_dim attribute")
    contrastive = strategy in ("infomax", "graphcl", "context_pred")
    if len(graphs) < (2 if contrastive else 1):
        need = "at least 2 graphs (the strategy contrasts graphs)" if contrastive else "a graph"
        raise ValueError(f"graphs: need {need}, got {len(graphs)}")
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs: expected an int >= 1, got {epochs!r}")
    graphs = unlabelled_graphs(graphs)  # labels of several datasets may differ in width
    if lr_decay not in ("none", "linear"):
        raise ValueError(f"lr_decay: expected 'none' or 'linear', got {lr_decay!r}")
    if edges_per_step is not None and (strategy != "edge_pred" or edges_per_step < 1):
        raise ValueError(
            f"edges_per_step: a positive int for strategy 'edge_pred' (or None), got "
            f"{edges_per_step!r} with {strategy!r}"
        )
    context_options = context_radii is not None or negative_samples != 1
    if context_options and strategy != "context_pred":
        raise ValueError(
            f"context_radii, negative_samples: only for strategy 'context_pred', got {strategy!r}"
        )
    if strategy == "context_pred":
        _check_context_options(backbone, context_radii, negative_samples)
    torch.manual_seed(seed)
    if strategy == "context_pred":
        task: nn.Module = _ContextPred(backbone, context_radii, negative_samples)
    else:
        task = {
            "attr_masking": _AttrMasking,
            "edge_pred": _EdgePred,
            "infomax": _Infomax,
            "graphcl": _GraphCL,
        }[strategy](backbone)
    device = resolve_device(device) if isinstance(device, str) else device
    ctx = distributed_context(device.type)
    if ctx.enabled and device.type == "cuda":
        device = torch.device("cuda", ctx.local_rank)
    amp = MixedPrecision(device, precision)
    task = task.to(device)
    optimizer = torch.optim.Adam(task.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)  # the epoch order: alike on every rank
    # masking, negatives, edge chunks: the same generator in one process; per rank under DDP
    noise = torch.Generator() if ctx.enabled else generator
    book = EpochLoss()

    def begin(epoch: int) -> None:
        if lr_decay == "linear":
            for group in optimizer.param_groups:
                group["lr"] = lr * (1.0 - epoch / epochs)
        book.start()
        task.train()
        if ctx.enabled:
            noise.manual_seed(seed * 7_919 + epoch * 104_729 + ctx.rank + 1)

    def jobs(epoch: int) -> Iterator[tuple[Any, Tensor | None]]:
        # drawn lazily: collation and edge chunks share the noise generator with the steps
        order = shard_for_rank(torch.randperm(len(graphs), generator=generator), ctx).tolist()
        for start in range(0, len(order), batch_size):
            chunk = [graphs[i] for i in order[start : start + batch_size]]
            if len(chunk) < 2 and contrastive:
                continue  # contrastive losses need at least two graphs (alike on every rank)
            if isinstance(task, _ContextPred):
                pairs = task.collate(chunk, noise)
                usable = pairs is not None and pairs.num_pairs >= 2
                if not all_ranks_agree(usable, ctx, device):
                    continue  # a lone pair would be its own negative
                batch = pairs.to(device)
            else:
                batch = Batch.from_data_list(chunk).to(device)
            if edges_per_step is None:
                yield batch, None
            else:
                edges = torch.randperm(batch.edge_index.size(1), generator=noise)
                pieces = edges.split(edges_per_step)
                yield from (
                    (batch, piece) for piece in pieces[: min_over_ranks(len(pieces), ctx, device)]
                )

    def step(job: tuple[Any, Tensor | None]) -> dict[str, float]:
        batch, piece = job
        with amp.autocast():
            loss = task(batch, noise) if piece is None else task(batch, noise, piece)
        value = float(all_reduce_mean(loss.detach().float(), ctx))
        if not math.isfinite(value):
            return {"loss": value}  # the runner stops before the update, on every rank
        optimizer.zero_grad(set_to_none=True)
        amp.backward(loss)
        if ctx.enabled:
            amp.unscale(optimizer)
            average_gradients(task.parameters(), ctx)
        amp.step(optimizer)
        book.add(value)
        return {"loss": value}

    def end(epoch: int) -> dict[str, float]:
        return {"epoch": epoch + 1, "epoch_loss": book.finish()}

    runner = PhaseRunner(
        [Repeat(epochs, [Phase(strategy, step, jobs, begin=begin, end=end)])],
        state={
            "task": ModuleState(task),
            "optimizer": optimizer,
            "generator": GeneratorState(generator),
            "book": book,
            "amp": amp,
        },
        output_dir=run_dir,
        seed=seed,
        log_every=log_every,
        verbose=verbose,
        distributed=ctx,
    )
    runner.run(resume_from=resume_from)
    losses = book.losses
    backbone.eval()
    path = None
    if output is not None and ctx.is_main:
        path = Path(output)
        atomic_save_tensors(path, backbone.state_dict(), metadata={"strategy": strategy})
        atomic_write_json(
            path.with_suffix(".json"),
            {
                "strategy": strategy,
                "backbone": type(backbone).__name__,
                "num_layer": getattr(backbone, "num_layer", None),
                "emb_dim": getattr(backbone, "emb_dim", None),
                "jk": getattr(backbone, "jk", None),
                "epochs": epochs,
                "batch_size": batch_size,
                "lr": lr,
                "weight_decay": weight_decay,
                "lr_decay": lr_decay,
                "edges_per_step": edges_per_step,
                "gnn_type": getattr(backbone, "gnn_type", None),
                "context_radii": [task.r1, task.r2] if isinstance(task, _ContextPred) else None,
                "negative_samples": negative_samples if strategy == "context_pred" else None,
                "seed": seed,
                "graphs": len(graphs),
                "final_loss": losses[-1] if losses else None,
            },
        )
    return PretrainResult(losses, path)
