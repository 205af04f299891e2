"""Sequence classification whose head reads the masked mean of the last hidden states.

Sentence-embedding encoders such as all-MiniLM-L6-v2 are trained for mean pooling: their [CLS]
state and pooler carry almost no sentence information (a linear probe on them is at chance on
SST-2, ~65% on the mean). Stock ``BertForSequenceClassification`` reads the pooler, so prompt
methods on such a backbone would be judged through a broken readout. This subclass keeps the
stock class's weights, names and head, and only changes what the head reads.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F
from transformers import BertForSequenceClassification
from transformers.modeling_outputs import SequenceClassifierOutput

__all__ = ["mean_pooled", "MeanPoolBertForSequenceClassification", "load_minilm_classifier"]


def mean_pooled(hidden: Tensor, attention_mask: Tensor | None) -> Tensor:
    """Masked mean over positions: ``(B, L, D)`` and ``(B, L)`` → ``(B, D)``."""
    if attention_mask is None:
        return hidden.mean(1)
    weight = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weight).sum(1) / weight.sum(1).clamp(min=1.0)


class MeanPoolBertForSequenceClassification(BertForSequenceClassification):
    """``BertForSequenceClassification`` reading the masked mean of all attended positions
    (prepended virtual tokens included, since injection extends the attention mask).

    Shapes:
        input_ids / inputs_embeds: ``(B, L)`` / ``(B, L, D)`` → logits ``(B, num_labels)``.
    """

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        position_ids: Tensor | None = None,
        inputs_embeds: Tensor | None = None,
        labels: Tensor | None = None,
        **kwargs: Any,
    ) -> SequenceClassifierOutput:
        kwargs.pop("return_dict", None)
        hidden = self.bert(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            **kwargs,
        ).last_hidden_state
        logits = self.classifier(self.dropout(mean_pooled(hidden, attention_mask)))
        loss = None if labels is None else F.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)


def load_minilm_classifier(num_labels: int, seed: int = 0) -> torch.nn.Module:
    """all-MiniLM-L6-v2 (from its PyPI package) with a new mean-pooled ``num_labels`` head."""
    from transformers.utils import logging as hf_logging

    from modalprompt.core.pretrained import minilm_path

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "classifier.* newly initialised" is expected
    try:
        torch.manual_seed(seed)
        model = MeanPoolBertForSequenceClassification.from_pretrained(
            str(minilm_path()), num_labels=num_labels, local_files_only=True
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    return model.eval()
