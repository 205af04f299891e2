"""Training and evaluation steps shared by the soft-prompt models that use the backbone's loss."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from modalprompt.core.model import split_batch

__all__ = ["BackboneLossSteps"]


class BackboneLossSteps:
    """Mixin for a :class:`~modalprompt.core.model.PromptModel` whose ``backbone_forward(**inputs,
    labels=...)`` returns a Hugging Face output with ``loss`` (and ``logits``) and whose config has
    ``task`` = ``"classification"`` | ``"lm"``. Put it before ``PromptModel`` in the bases.

    Batches are mappings with ``labels`` (or ``(input_ids, labels)`` pairs). Classification
    reports the core metrics from ``logits`` ``(B, C)``; language modelling reports the mean loss
    and its perplexity.
    """

    def _run(self, batch: Any) -> tuple[Any, Tensor]:
        inputs, labels = split_batch(batch)
        if not isinstance(inputs, Mapping):
            inputs = {"input_ids": inputs}
        return self.backbone_forward(**inputs, labels=labels), labels

    def training_step(self, batch: Any) -> dict[str, Tensor]:
        """The backbone's own loss (cross-entropy, or MSE/BCE per its ``problem_type``)."""
        output, _ = self._run(batch)
        if output.loss is None:
            raise ValueError("batch: the backbone returned no loss; does the batch hold labels?")
        return {"loss": output.loss}

    @torch.no_grad()
    def validation_step(self, batch: Any) -> dict[str, Tensor]:
        output, labels = self._run(batch)
        if self.config.task == "classification":
            return {"logits": output.logits, "labels": labels}
        return {"loss": output.loss.detach().reshape(1)}

    def compute_metrics(self, outputs: Mapping[str, Tensor]) -> dict[str, float]:
        """Classification metrics, or mean loss and perplexity (``task="lm"``)."""
        if self.config.task == "classification":
            return super().compute_metrics(outputs)
        loss = outputs["loss"].float().mean().item()
        return {"loss": loss, "perplexity": math.exp(min(loss, 50.0))}
