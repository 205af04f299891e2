"""Tiny case of ``prompt_finetune`` (and of methods built on it, such as ``pcp``) for the
contract tests: a random 2-layer BERT masked LM and its word-level tokenizer, saved to a
temporary folder so the config can name it."""

from __future__ import annotations

import tempfile
from typing import Any

import torch

from modalprompt.core.testing import TinyCase
from modalprompt.nlp.classification import PromptCollator
from modalprompt.nlp.templates import Template
from modalprompt.nlp.tiny_models import tiny_bert, tiny_bert_tokenizer

__all__ = ["tiny_case", "tiny_tokenizer_dir", "TINY_EXAMPLES"]

TINY_EXAMPLES = [
    {"text_a": "a great movie", "label": 1},
    {"text_a": "the worst plot", "label": 0},
    {"text_a": "i love this film", "label": 1},
    {"text_a": "boring and awful acting", "label": 0},
    {"text_a": "very fun story", "label": 1},
    {"text_a": "bad , not good", "label": 0},
]


def tiny_tokenizer_dir() -> str:
    """Save :func:`~modalprompt.nlp.tiny_models.tiny_bert_tokenizer` to a new temporary folder."""
    folder = tempfile.mkdtemp(prefix="modalprompt-tiny-tok-")
    tiny_bert_tokenizer().save_pretrained(folder)
    return folder


def tiny_case(spec: Any, seed: int = 0) -> TinyCase:
    """Config with the tiny tokenizer's folder, a tiny BERT, and one collated batch of 6."""
    config = spec.config_cls.from_dict(
        {
            **spec.tiny,
            "method": spec.name,
            "tokenizer": tiny_tokenizer_dir(),
            "template": "{text_a} it was {mask} .",
            "label_words": [["terrible"], ["great"]],
            "max_length": 16,
        }
    )
    tokenizer = tiny_bert_tokenizer()
    backbone = tiny_bert(len(tokenizer), seed=seed)
    torch.manual_seed(seed)
    batch = PromptCollator(Template(config.template, tokenizer), config.max_length)(TINY_EXAMPLES)
    return TinyCase(backbone, config, batch)
