"""GPF and GPF-plus on any frozen GNN that exposes its input space."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from modalprompt.core.model import PromptModel
from modalprompt.graph.gpf.config import GpfConfig, GpfPlusConfig, _FeaturePromptConfig
from modalprompt.graph.promptable import check_promptable
from modalprompt.graph.readout import (
    ProjectionHead,
    check_nonempty_graphs,
    graph_labels,
    task_loss,
    task_metrics,
)

__all__ = ["GpfModel", "GpfPlusModel"]


class _FeaturePromptModel(PromptModel):
    """Frozen GNN + input-space prompt + dropout + graph head.

    Differs from the official code: the GNN stays in eval mode while the prompt trains (the
    official loop calls ``model.train()``, so dropout inside the "frozen" GIN is on and its
    BatchNorm statistics drift), and model selection is left to the trainer's validation metric
    (the official scripts report the test score of the last epoch).

    Shapes:
        data: a PyG ``Batch``; ``embed_inputs(data)``: ``(N, d_x)`` → logits ``(B, num_outputs)``.
    """

    def __init__(self, backbone: nn.Module, config: _FeaturePromptConfig) -> None:
        check_promptable(backbone)
        super().__init__(backbone, config)
        self.dropout = nn.Dropout(config.head_dropout)
        self.head = ProjectionHead(
            int(backbone.out_dim), config.num_outputs, config.head_layers, config.head_standardize
        )

    def prompt(self, x: Tensor) -> Tensor:
        """The prompt added to input features ``(N, d_x)``."""
        raise NotImplementedError

    def prompted_embeddings(self, data: Any) -> Tensor:
        """Node embeddings ``(N, d_h)`` of the prompted graphs, before dropout and the head."""
        check_nonempty_graphs(data.batch, int(data.num_graphs), self.config.method)
        with torch.no_grad():
            x = self.backbone.embed_inputs(data)
        return self.backbone.encode(x + self.prompt(x), data)

    def forward(self, data: Any) -> Tensor:
        h = self.prompted_embeddings(data)
        return self.head(self.dropout(h), data.batch, int(data.num_graphs))

    def prepare_fit(self, train_batches: Iterable[Any]) -> None:
        """Fit the head's standardisation (``head_standardize``) on the training graphs as the
        head first sees them (prompt at its initialisation); a fitted head keeps its own."""
        self.head.fit_from_batches(self.prompted_embeddings, train_batches)

    def training_step(self, batch: Any) -> dict[str, Tensor]:
        return {"loss": task_loss(self(batch), batch.y, self.config.task_type)}

    @torch.no_grad()
    def validation_step(self, batch: Any) -> dict[str, Tensor]:
        logits = self(batch)
        labels = graph_labels(logits, batch.y, self.config.task_type)
        return {"logits": logits, "labels": labels}

    def compute_metrics(self, outputs: Mapping[str, Tensor]) -> dict[str, float]:
        return task_metrics(outputs["logits"], outputs["labels"], self.config.task_type)


class GpfModel(_FeaturePromptModel):
    """GPF: one learnable vector ``p`` ``(1, d_x)`` added to every node's input."""

    def __init__(self, backbone: nn.Module, config: GpfConfig) -> None:
        super().__init__(backbone, config)
        self.global_prompt = nn.Parameter(torch.empty(1, int(backbone.prompt_dim)))
        nn.init.xavier_uniform_(self.global_prompt)

    def prompt(self, x: Tensor) -> Tensor:
        return self.global_prompt.expand_as(x)


class GpfPlusModel(_FeaturePromptModel):
    """GPF-plus: per node, a softmax attention (``Linear(d_x, K)``) over ``K`` learnable vectors."""

    def __init__(self, backbone: nn.Module, config: GpfPlusConfig) -> None:
        super().__init__(backbone, config)
        dim = int(backbone.prompt_dim)
        self.basis = nn.Parameter(torch.empty(config.num_basis, dim))
        nn.init.xavier_uniform_(self.basis)
        self.attention = nn.Linear(dim, config.num_basis)

    def prompt(self, x: Tensor) -> Tensor:
        return torch.softmax(self.attention(x), dim=-1) @ self.basis  # (N, d_x)
