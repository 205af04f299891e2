"""Tiny prompt-tuning case for the contract tests: a random 2-layer BERT classifier."""

from __future__ import annotations

import torch

from modalprompt.core.registry import MethodSpec
from modalprompt.core.testing import TinyCase

__all__ = ["tiny_case"]


def tiny_case(spec: MethodSpec, seed: int = 0) -> TinyCase:
    """``BertForSequenceClassification`` (3 labels), ``spec.tiny`` config, a right-padded batch."""
    from modalprompt.nlp.tiny_models import tiny_bert_classifier

    backbone = tiny_bert_classifier(num_labels=3, seed=seed)
    config = spec.config_cls.from_dict({**spec.tiny, "method": spec.name, "seed": seed})
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, backbone.config.vocab_size, (4, 7), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    ids[1, 5:] = 0
    batch = {
        "input_ids": ids,
        "attention_mask": mask,
        "token_type_ids": torch.zeros_like(ids),
        "labels": torch.randint(0, 3, (4,), generator=g),
    }
    return TinyCase(backbone, config, batch)
