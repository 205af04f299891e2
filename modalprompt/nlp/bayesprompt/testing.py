"""The contract-test case of BayesPrompt (its tiny models: :mod:`modalprompt.nlp.tiny_models`)."""

from __future__ import annotations

from typing import Any

import torch

from modalprompt.core.testing import TinyCase
from modalprompt.nlp.tiny_models import tiny_relation_masked_lm

__all__ = ["tiny_case"]


def tiny_case(spec: Any, seed: int = 0) -> TinyCase:
    """The contract-test case of ``bayesprompt`` (tests/nlp/bayesprompt cover the particles)."""
    config = spec.config_cls.from_dict({**spec.tiny, "method": spec.name})
    backbone = tiny_relation_masked_lm(config.vocab_size, seed)
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(10, config.vocab_size, (6, 9), generator=g)
    ids[:, 4] = config.mask_token_id
    ids[:, 1] = config.vocab_size  # [sub]
    ids[:, 6] = config.vocab_size + 1  # [obj]
    batch = {
        "input_ids": ids,
        "attention_mask": torch.ones_like(ids),
        "labels": torch.randint(0, config.num_classes, (6,), generator=g),
    }
    return TinyCase(backbone, config, batch)
