"""Training and evaluation steps shared by the soft-prompt models that use the backbone's loss."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from modalprompt.core.model import split_batch
from modalprompt.core.validation import check_class_labels

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
        labels = self._class_labels(inputs, labels)
        return self.backbone_forward(**inputs, labels=labels), labels

    def _class_labels(self, inputs: Mapping[str, Any], labels: Any) -> Any:
        """Single-label classification: ``labels`` checked as class indices in
        ``[0, num_labels)`` (:func:`~modalprompt.core.validation.check_class_labels`) before the
        backbone's loss sees them; other tasks and problem types pass unchanged."""
        config = getattr(self.backbone, "config", None)
        num_labels = getattr(config, "num_labels", None)
        problem = getattr(config, "problem_type", None)
        if (
            self.config.task != "classification"
            or not isinstance(num_labels, int)
            or num_labels < 2
            or problem not in (None, "single_label_classification")
        ):
            return labels
        ids = inputs.get("input_ids", inputs.get("inputs_embeds"))
        batch = ids.size(0) if isinstance(ids, Tensor) and ids.dim() >= 2 else None
        return check_class_labels(labels, num_labels, batch_size=batch)

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
