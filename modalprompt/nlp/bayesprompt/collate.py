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
        max_length: Longest input; only the marked sentence is truncated.
        decoder: For a causal LM: the marked sentence first, then the prompt without a mask
            (``[sub] S [sub] [obj] O [obj] .``, the answer slot is the next token), left-padded.
            Otherwise (masked LM) the prompt with the mask first, then the sentence.
    """

    def __init__(
        self,
        tokenizer: Any,
        rel2id: Mapping[str, int],
        max_length: int = 256,
        decoder: bool = False,
    ) -> None:
        self.tokenizer, self.rel2id, self.max_length = tokenizer, dict(rel2id), max_length
        self.decoder = decoder
        if not decoder and tokenizer.mask_token is None:
            raise ValueError(
                "tokenizer: it has no mask token, so it is a causal LM's; pass decoder=True"
            )
        if decoder and tokenizer.pad_token is None:
            raise ValueError(
                "tokenizer: batches are padded and it has no pad token (set "
                "tokenizer.pad_token = tokenizer.eos_token)"
            )
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
        sentences = [mark_sentence(e) for e in examples]
        if self.decoder:
            batch = self._decoder_batch(sentences, [relation_prompt(e, None) for e in examples])
        else:
            prompts = [relation_prompt(e, self.tokenizer.mask_token) for e in examples]
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

    def _decoder_batch(self, sentences: list[str], prompts: list[str]) -> dict[str, torch.Tensor]:
        """``sentence + prompt`` token ids, no special tokens (the answer slot must follow the
        prompt directly), the sentence's end cut to fit, left-padded."""
        tok = self.tokenizer
        sentence_ids = tok(sentences, add_special_tokens=False)["input_ids"]
        prompt_ids = tok([" " + p for p in prompts], add_special_tokens=False)["input_ids"]
        rows = []
        for sentence, prompt in zip(sentence_ids, prompt_ids):
            room = self.max_length - len(prompt)
            if room < 1:
                raise ValueError(
                    f"max_length: {self.max_length} tokens leave no room for the sentence next "
                    f"to a prompt of {len(prompt)} tokens"
                )
            rows.append(sentence[:room] + prompt)
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, width - len(row) :] = torch.tensor(row)
            mask[i, width - len(row) :] = 1
        return {"input_ids": ids, "attention_mask": mask}
