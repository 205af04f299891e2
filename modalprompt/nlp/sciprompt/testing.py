"""Tiny case of ``sciprompt`` for the contract tests: the tiny BERT of ``prompt_finetune`` with
two classes of several weighted label words (one of them multi-token)."""

from __future__ import annotations

from typing import Any

import torch

from modalprompt.core.testing import TinyCase
from modalprompt.nlp.classification import PromptCollator
from modalprompt.nlp.prompt_finetune.testing import TINY_EXAMPLES, tiny_tokenizer_dir
from modalprompt.nlp.templates import Template
from modalprompt.nlp.tiny_models import tiny_bert, tiny_bert_tokenizer

__all__ = ["tiny_case", "TINY_TERMS", "TINY_SCORES", "TINY_TEMPLATE"]

TINY_TEMPLATE = "it was {mask} . {text_a}"
TINY_TERMS = (("terrible", "bad", "awful", "boring"), ("great", "good", "wonderful", "funs"))
TINY_SCORES = ((1.0, 0.9, 0.7, 0.6), (1.0, 0.8, 0.75, 0.55))


def tiny_case(spec: Any, seed: int = 0) -> TinyCase:
    """Config with the tiny tokenizer's folder, a tiny BERT, and one collated batch of 6."""
    config = spec.config_cls.from_dict(
        {
            **spec.tiny,
            "method": spec.name,
            "tokenizer": tiny_tokenizer_dir(),
            "template": TINY_TEMPLATE,
            "label_words": [list(t) for t in TINY_TERMS],
            "label_word_scores": [list(s) for s in TINY_SCORES],
            "max_length": 16,
        }
    )
    tokenizer = tiny_bert_tokenizer()
    backbone = tiny_bert(len(tokenizer), seed=seed)
    torch.manual_seed(seed)
    batch = PromptCollator(Template(config.template, tokenizer), config.max_length)(TINY_EXAMPLES)
    return TinyCase(backbone, config, batch)
