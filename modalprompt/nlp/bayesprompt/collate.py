"""Batches for BayesPrompt: tokenised lazily, the prompt segment (with the mask) never truncated."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from modalprompt.nlp.bayesprompt.model import ADDED_TOKENS
from modalprompt.nlp.bayesprompt.relations import RelationExample, mark_sentence, relation_prompt

__all__ = ["RelationCollator"]


class RelationCollator:
    """Turns :class:`RelationExample` lists into model inputs.

    Adds the model's tokens (``[sub]``, ``[obj]``, entity markers, ``[class1..K]``) to
    ``tokenizer`` with the ids the model expects (``V..``), and checks that they got them.

    Args:
        tokenizer: The backbone's tokenizer (extended in place).
        rel2id: Relation name → class id.
        max_length: Longest input; only the marked sentence (second segment) is truncated.
    """

    def __init__(self, tokenizer: Any, rel2id: Mapping[str, int], max_length: int = 256) -> None:
        self.tokenizer, self.rel2id, self.max_length = tokenizer, dict(rel2id), max_length
        vocab = tokenizer.vocab_size
        tokens = [*ADDED_TOKENS, *(f"[class{i + 1}]" for i in range(len(rel2id)))]
        tokenizer.add_tokens(tokens, special_tokens=True)
        ids = tokenizer.convert_tokens_to_ids(tokens)
        if ids != list(range(vocab, vocab + len(tokens))):
            raise ValueError(
                "tokenizer: the added tokens did not get the ids right after the vocabulary "
                f"({vocab}..); pass a fresh tokenizer of the backbone"
            )

    def __call__(self, examples: Sequence[RelationExample]) -> dict[str, torch.Tensor]:
        unknown = sorted({e.relation for e in examples} - set(self.rel2id))
        if unknown:
            raise KeyError(f"relations not in rel2id: {unknown}")
        prompts = [relation_prompt(e, self.tokenizer.mask_token) for e in examples]
        sentences = [mark_sentence(e) for e in examples]
        batch = self.tokenizer(
            prompts,
            sentences,
            truncation="only_second",
            max_length=self.max_length,
            padding=True,
            return_tensors="pt",
        )
        batch = dict(batch)
        batch["labels"] = torch.tensor([self.rel2id[e.relation] for e in examples])
        return batch
