"""Tiny BayesPrompt setups for tests: a random 2-layer BERT masked LM and a word-level tokenizer."""

from __future__ import annotations

from typing import Any

import torch

from modalprompt.core.testing import TinyCase

__all__ = ["TINY_WORDS", "tiny_tokenizer", "tiny_masked_lm", "tiny_case"]

TINY_WORDS = (
    "the a of is was in by from cause effect entity origin destination component whole member "
    "collection water oven beer starches brewing poured produced went he she it they car engine "
    "virus fever tree forest message topic content container product producer instrument agency "
    "other has nothing to and with for . , on at"
).split()


def tiny_tokenizer() -> Any:
    """A WordPiece BERT tokenizer over :data:`TINY_WORDS` ([PAD] 0 ... [MASK] 4)."""
    from modalprompt.nlp.testing import word_piece_tokenizer

    return word_piece_tokenizer(TINY_WORDS)


def tiny_masked_lm(vocab_size: int, seed: int = 0) -> torch.nn.Module:
    """A random 2-layer BERT masked LM (hidden 32, feed-forward 37) built from a config."""
    from modalprompt.nlp.testing import tiny_bert

    return tiny_bert(vocab_size, seed, intermediate_size=37)


def tiny_case(spec: Any, seed: int = 0) -> TinyCase:
    """The contract-test case of ``bayesprompt`` (tests/nlp/bayesprompt cover the particles)."""
    config = spec.config_cls.from_dict({**spec.tiny, "method": spec.name})
    backbone = tiny_masked_lm(config.vocab_size, seed)
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
