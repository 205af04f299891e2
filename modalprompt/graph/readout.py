"""Graph-level readout, losses and metrics shared by the graph prompt methods (GPF, RELIEF).

Two task types: ``"multilabel"`` (molecules: several binary tasks, NaN for a missing label; BCE
over the present labels; ROC-AUC averaged over tasks) and ``"multiclass"`` (one class per graph,
e.g. a node's k-hop subgraph; cross-entropy; accuracy and macro-F1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from modalprompt.core.metrics import accuracy, macro_f1, roc_auc
from modalprompt.core.validation import check_class_labels

__all__ = [
    "ProjectionHead",
    "check_labels",
    "graph_labels",
    "graph_losses",
    "task_loss",
    "task_metrics",
    "TASK_TYPES",
]

TASK_TYPES = ("multilabel", "multiclass")


class ProjectionHead(nn.Module):
    """Mean pooling over each graph's nodes, optionally a per-feature standardisation of the
    pooled embedding, then ``layers - 1`` × (Linear + ReLU) and a Linear.

    Args:
        hidden: Width ``d_h`` of the node embeddings.
        num_outputs: Tasks (multilabel) or classes (multiclass).
        layers: Linear layers of the head.
        standardize: Subtract the pooled embedding's per-feature mean and divide by its standard
            deviation, both fitted once on the training graphs (:meth:`fit_standardization`,
            which the methods' ``prepare_fit`` calls with every training graph) and then held
            fixed: buffers, saved with the head. A head used before it is fitted fits itself on
            its first training-mode batch (data-dependent initialisation, as Glow's ActNorm);
            in eval mode an unfitted head leaves the embedding as it is. A frozen molecule GNN's
            pooled embeddings are far from unit scale (a salt's isolated counter-ion reaches
            thousands of times its BatchNorm variance at the last layer of the official
            pretrain-gnns GCN), which leaves a linear head trained by Adam for a few dozen steps
            far below a logistic-regression probe of the same embeddings. Measured at 50 shots
            (``benchmarks/graph_probe.py --head-check``, 6 MoleculeNet sets x 5 seeds, probe /
            raw head / standardised head): ContextPred GCN 58.7 / 50.5 / 57.7; the GCN with
            supervised pre-training after ContextPred 58.4 / 59.0 / 56.2, whose embeddings'
            own scale helps a head: there the plain head is better.

    Shapes:
        h: ``(N, d_h)``; batch: ``(N,)`` → logits ``(B, num_outputs)``.
    """

    def __init__(
        self, hidden: int, num_outputs: int, layers: int = 1, standardize: bool = False
    ) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        for _ in range(layers - 1):
            blocks += [nn.Linear(hidden, hidden), nn.ReLU()]
        self.mlp = nn.Sequential(*blocks, nn.Linear(hidden, num_outputs))
        self.standardize = standardize
        if standardize:
            self.register_buffer("feature_mean", torch.zeros(hidden))
            self.register_buffer("feature_std", torch.ones(hidden))
            self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self._fitted = False  # mirrors the buffer: no device sync per forward

    def _load_from_state_dict(
        self, state_dict: Mapping[str, Tensor], prefix: str, *args: Any, **kwargs: Any
    ) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if self.standardize:
            self._fitted = bool(self.fitted)

    @staticmethod
    def pool(h: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        """Mean of each graph's node embeddings ``(B, d_h)`` (zeros for a graph without nodes)."""
        sums = torch.zeros(num_graphs, h.size(1), dtype=h.dtype, device=h.device).index_add_(
            0, batch, h
        )
        counts = torch.bincount(batch, minlength=num_graphs).clamp(min=1).unsqueeze(1).to(h.dtype)
        return sums / counts

    @torch.no_grad()
    def fit_standardization(self, pooled: Tensor) -> None:
        """Fit the standardisation on pooled training embeddings ``(G, d_h)``.

        A feature that is constant over the training graphs (standard deviation below 1e-6, as
        a dead ReLU unit) is centred but not scaled, so a test graph that differs there is not
        blown up by a near-zero divisor.
        """
        if not self.standardize:
            raise ValueError("standardize: this head was built with standardize=False")
        width = self.feature_mean.numel()
        if pooled.dim() != 2 or pooled.size(1) != width or pooled.size(0) < 1:
            raise ValueError(
                f"pooled: expected (G >= 1, {width}) pooled embeddings, got {tuple(pooled.shape)}"
            )
        pooled = pooled.detach().to(device=self.feature_mean.device, dtype=torch.float64)
        if not bool(torch.isfinite(pooled).all()):
            raise ValueError("pooled: the embeddings hold NaN or infinite values")
        std = pooled.std(dim=0, unbiased=False)
        self.feature_mean.copy_(pooled.mean(dim=0))
        self.feature_std.copy_(torch.where(std > 1e-6, std, torch.ones_like(std)))
        self.fitted.fill_(True)
        self._fitted = True

    @property
    def needs_fit(self) -> bool:
        """Whether the head standardises and has not been fitted yet."""
        return self.standardize and not self._fitted

    @torch.no_grad()
    def fit_from_batches(self, node_embeddings: Callable[[Any], Tensor], batches: Iterable) -> None:
        """Fit the standardisation on every graph of ``batches`` (PyG batches), each embedded by
        ``node_embeddings(batch) -> (N, d_h)``; a head that is fitted already is left as it is
        (its trained weights belong to those statistics)."""
        if not self.needs_fit:
            return
        pooled = [
            self.pool(node_embeddings(batch), batch.batch, int(batch.num_graphs))
            for batch in batches
        ]
        if not pooled:
            raise ValueError("batches: no training batch to fit the head's standardisation on")
        self.fit_standardization(torch.cat(pooled))

    def forward(self, h: Tensor, batch: Tensor, num_graphs: int) -> Tensor:
        pooled = self.pool(h, batch, num_graphs)
        if self.standardize:
            if self.training and not self._fitted:
                self.fit_standardization(pooled)
            if self._fitted:
                mean = self.feature_mean.to(pooled.dtype)
                pooled = (pooled - mean) / self.feature_std.to(pooled.dtype)
        return self.mlp(pooled)


def check_nonempty_graphs(batch: Tensor, num_graphs: int, method: str) -> None:
    """Raise a ValueError listing the graphs of a batch that have zero nodes.

    An empty graph has no node to prompt or pool; a mean readout would silently score it from
    the head's bias alone, so it is refused instead.

    Shapes:
        batch: ``(N,)`` graph index of every node.
    """
    sizes = torch.bincount(batch, minlength=num_graphs)
    if bool((sizes == 0).any()):
        empty = (sizes == 0).nonzero().view(-1).tolist()
        raise ValueError(
            f"data: graph(s) {empty[:10]} of the batch have zero nodes; {method} cannot prompt or "
            "pool an empty graph (drop it from the dataset)"
        )


def check_labels(logits: Tensor, y: Tensor, task_type: str) -> None:
    """Raise a ValueError that says what is wrong when ``y`` does not fit ``logits`` ``(B, T)``:
    multilabel: ``B * T`` values in {0, 1} or NaN (missing); multiclass: ``B`` whole class
    indices in ``[0, T)``."""
    if not isinstance(y, Tensor):
        raise TypeError(f"y: expected a tensor of labels, got {type(y).__name__}")
    if task_type == "multiclass":
        if y.numel() != logits.size(0):
            raise ValueError(f"y: expected one class per graph ({logits.size(0)}), got {y.numel()}")
        check_class_labels(y, logits.size(1), name="y")
        return
    if y.numel() != logits.numel():
        raise ValueError(
            f"y: expected {logits.size(1)} task label(s) per graph for {logits.size(0)} graphs "
            f"({logits.numel()} values), got {y.numel()}; check num_outputs"
        )
    if y.dtype == torch.bool or y.is_complex():
        raise TypeError(f"y: expected 0/1 task labels (NaN for missing), got {y.dtype}")
    values = y.reshape(-1).double()
    bad = ~(torch.isnan(values) | (values == 0) | (values == 1))
    if bool(bad.any()):
        raise ValueError(
            "y: multilabel targets must be 0, 1 or NaN (missing label; -1 is not accepted), found "
            f"{sorted(set(values[bad].tolist()))[:5]}"
        )


def graph_labels(logits: Tensor, y: Tensor, task_type: str) -> Tensor:
    """``y`` checked (:func:`check_labels`) and shaped for ``logits`` ``(B, T)``: multilabel
    ``(B, T)`` in the logits' dtype, multiclass ``(B,)`` long."""
    check_labels(logits, y, task_type)
    if task_type == "multiclass":
        return y.reshape(-1).long()
    return y.reshape(logits.shape).to(logits.dtype)


def graph_losses(logits: Tensor, y: Tensor, task_type: str) -> Tensor:
    """Per-graph loss ``(B,)``.

    Args:
        logits: ``(B, T)`` head outputs.
        y: multilabel: ``(B, T)`` or ``(B*T,)`` in {0, 1} with NaN for missing labels (a graph
            without any label has loss 0); multiclass: ``(B,)`` class indices.
        task_type: ``"multilabel"`` (BCE averaged over present tasks) or ``"multiclass"`` (CE).
    """
    y = graph_labels(logits, y, task_type)
    if task_type == "multiclass":
        return nn.functional.cross_entropy(logits, y, reduction="none")
    present = ~torch.isnan(y)
    bce = nn.functional.binary_cross_entropy_with_logits(
        logits, torch.where(present, y, torch.zeros_like(y)), reduction="none"
    )
    bce = torch.where(present, bce, torch.zeros_like(bce))
    return bce.sum(dim=1) / present.sum(dim=1).clamp(min=1)


def task_loss(logits: Tensor, y: Tensor, task_type: str) -> Tensor:
    """Batch loss: BCE over all present labels (multilabel, as pretrain-gnns) or cross-entropy."""
    y = graph_labels(logits, y, task_type)
    if task_type == "multiclass":
        return nn.functional.cross_entropy(logits, y)
    present = ~torch.isnan(y)
    if not bool(present.any()):
        return logits.sum() * 0.0
    return nn.functional.binary_cross_entropy_with_logits(logits[present], y[present])


def task_metrics(logits: Tensor, labels: Tensor, task_type: str) -> dict[str, float]:
    """ROC-AUC over tasks (multilabel) or accuracy and macro-F1 (multiclass)."""
    if task_type == "multilabel":
        return {"roc_auc": roc_auc(logits, labels.reshape(logits.shape))}
    return {
        "accuracy": accuracy(logits, labels),
        "macro_f1": macro_f1(logits, labels, num_classes=logits.shape[-1]),
    }
