"""GraphCLIP few-shot graph prompt tuning on a frozen pre-trained graph encoder."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from modalprompt.core.model import PromptModel
from modalprompt.core.validation import check_class_labels
from modalprompt.graph.graphclip.config import GraphClipConfig
from modalprompt.graph.promptable import check_promptable

__all__ = ["GraphClipModel"]


class GraphClipModel(PromptModel):
    """A feature prompt ``p`` added to every node, trained against the class-text embeddings.

    The official few-shot code is unreleased. Following the paper ("aligned with the
    pre-training objective"), our choices: the prompt is GPF-style (``x_i + p``, ``p`` zero-
    initialised so step 0 equals zero-shot); the loss is the graph→text half of the pre-training
    InfoNCE with the ``C`` class texts as the candidate set, i.e. cross-entropy over
    ``cos(ĝ, t̂_c)/τ``; encoders stay frozen; no new head. The class-text embeddings are a buffer
    (saved with the prompt) set by :meth:`set_class_embeddings`.

    Shapes:
        data: PyG ``Batch`` of subgraphs with ``center_index`` → logits ``(B, num_classes)``.
    """

    def __init__(self, backbone: nn.Module, config: GraphClipConfig) -> None:
        check_promptable(backbone)
        super().__init__(backbone, config)
        self.prompt = nn.Parameter(torch.zeros(1, int(backbone.prompt_dim)))
        g = torch.Generator().manual_seed(config.seed)
        init = torch.randn(config.num_classes, int(backbone.out_dim), generator=g)
        # random unit rows until set_class_embeddings() is called with the class texts
        self.register_buffer("class_embeddings", F.normalize(init, dim=-1))

    def set_class_embeddings(self, embeddings: Tensor) -> None:
        """Set the ``(num_classes, out_dim)`` class-text embeddings."""
        want = (self.config.num_classes, int(self.backbone.out_dim))
        if embeddings.dim() != 2 or embeddings.size(1) != want[1]:
            raise ValueError(
                f"class embeddings: text encoder dimension {tuple(embeddings.shape)[1:]} does not "
                f"match the graph projector's output {want[1]}"
            )
        if embeddings.size(0) != want[0]:
            raise ValueError(
                f"class embeddings: expected {want[0]} classes, got {embeddings.size(0)}"
            )
        self.class_embeddings.copy_(F.normalize(embeddings.to(self.class_embeddings), dim=-1))

    def embed(self, data: Any) -> Tensor:
        """Prompted graph embeddings ``(B, out_dim)``, unit norm."""
        with torch.no_grad():
            x = self.backbone.embed_inputs(data)
        return F.normalize(self.backbone.encode(x + self.prompt, data), dim=-1)

    def forward(self, data: Any) -> Tensor:
        return self.embed(data) @ self.class_embeddings.t() / self.config.temperature

    def training_step(self, batch: Any) -> dict[str, Tensor]:
        logits = self(batch)
        return {"loss": F.cross_entropy(logits, self._labels(logits, batch))}

    @torch.no_grad()
    def validation_step(self, batch: Any) -> dict[str, Tensor]:
        logits = self(batch)
        return {"logits": logits, "labels": self._labels(logits, batch)}

    @staticmethod
    def _labels(logits: Tensor, batch: Any) -> Tensor:
        """``batch.y`` checked as one class index in ``[0, C)`` per graph."""
        y = getattr(batch, "y", None)
        return check_class_labels(y, logits.size(-1), batch_size=logits.size(0), name="y")

    def compute_metrics(self, outputs: Mapping[str, Tensor]) -> dict[str, float]:
        pred = outputs["logits"].argmax(-1)
        return {"accuracy": float((pred == outputs["labels"]).float().mean())}
