"""Verbalized classification on a causal LM: class scores from the next token after a template.

A decoder has no mask: the template ends where the answer goes (``Template(..., decoder=True)``
puts ``{mask}`` last), and the class scores are the log-probabilities of each class's label words
as the continuation, read from the position before the answer. Only that position goes through
the LM head (``logits_to_keep``): never a ``(B, L, V)`` tensor.

Rule for label words (:class:`AnswerWords`):

* a word is scored by the **sum of its sub-token log-probabilities** (its exact log-probability as
  a continuation, by teacher forcing; ``rule="sum"``), or by their mean (``"mean"``, length
  normalised) or by its first sub-token alone (``"first"``, one forward; two classes whose words
  share a first token are an error under this rule);
* a class with several words scores the mean of its words' scores (OpenPrompt's
  ``ManualVerbalizer`` aggregation of log-probabilities).

When every label word is one token (e.g. `` positive`` / `` negative`` on SmolLM2) all rules
coincide and cost one forward at the batch's size. Multi-token words under ``"sum"``/``"mean"``
run each example once per distinct word continuation (rows ``B x K``), left-padded so that the
continuation ends in the last column and ``logits_to_keep`` still covers only the answer.
(EPT's position-wise offset is defined for exactly ``max_length`` input tokens, so with EPT use
one-token label words or ``rule="first"``.)

With hundreds of multi-token words (KPT / SciPrompt verbalizers) a row per continuation repeats
the whole prompt hundreds of times; :func:`continuation_log_probs` runs each prompt once and
scores every continuation from its KV cache (plain transformers causal LMs, evaluation).

:class:`AnswerSlotClassifier` wraps any model whose forward takes ``input_ids``,
``attention_mask`` and ``logits_to_keep`` and returns ``.logits``: a transformers causal LM
(zero-shot), our ``prompt_tuning`` / ``ept`` / ``iapt`` models with ``task="lm"`` (the virtual
tokens go before the text; the last column stays the answer position), or a PEFT model.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from modalprompt.nlp.verbalizers import _normalise_label_words, tokenize_label_words

__all__ = ["AnswerWords", "AnswerSlotClassifier", "RULES", "continuation_log_probs"]

RULES = ("sum", "mean", "first")


class AnswerWords:
    """Label words of each class, tokenised as continuations of a decoder template.

    Args:
        tokenizer: The decoder's tokenizer.
        label_words: ``{class: word or [words]}`` or a list with one entry per class.
        classes: Class order (defaults to the mapping's order, or ``0..C-1``).
        rule: ``"sum"`` (default), ``"mean"`` or ``"first"`` (see the module docstring).
        prefix_space: Encode words with a leading space, as they follow ``"...:"`` in the
            template. ``None``: True for tokenizers where the space matters (byte-level BPE,
            SentencePiece with ``▁``); pass ``False`` with ``Template(chat=True)``, where the
            answer starts the assistant turn.

    Attributes:
        ids: ``(C, W, T)`` long token ids (0 where padded); ``mask``: ``(C, W, T)`` bool.
        word_mask: ``(C, W)`` bool, which word slots are used.
    """

    def __init__(
        self,
        tokenizer: Any,
        label_words: Mapping[Any, Sequence[str] | str] | Sequence[Sequence[str] | str],
        classes: Sequence[Any] | None = None,
        rule: str = "sum",
        prefix_space: bool | None = None,
    ) -> None:
        if rule not in RULES:
            raise ValueError(f"rule: got {rule!r}; expected one of {RULES}")
        self.classes, self.words = _normalise_label_words(label_words, classes)
        if len(self.classes) < 2:
            raise ValueError(f"label_words: need at least 2 classes, got {len(self.classes)}")
        if prefix_space is None:
            prefix_space = tokenizer.tokenize(" a") != tokenizer.tokenize("a")
        self.rule = rule
        self.ids, self.mask = tokenize_label_words(tokenizer, self.words, prefix_space)
        self.word_mask = self.mask.any(-1)
        if rule == "first":
            self._check_first_tokens()

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def single_token(self) -> bool:
        """Whether one next-token distribution scores every word (every word is one token, or
        the rule is ``"first"``)."""
        return self.rule == "first" or int(self.mask.sum(-1).max()) == 1

    def _check_first_tokens(self) -> None:
        owner: dict[int, Any] = {}
        for c, cls in enumerate(self.classes):
            for w, word in enumerate(self.words[c]):
                token = int(self.ids[c, w, 0])
                other = owner.setdefault(token, cls)
                if other != cls:
                    raise ValueError(
                        f"label_words: under rule='first' class {cls!r} ({word!r}) and class "
                        f"{other!r} start with the same token id {token}; their scores would be "
                        "equal. Use rule='sum' or other words"
                    )

    def continuations(self) -> tuple[list[tuple[int, ...]], Tensor]:
        """Distinct word token sequences and, per (class, word) slot, its index (-1 unused)."""
        sequences: dict[tuple[int, ...], int] = {}
        index = torch.full(self.word_mask.shape, -1, dtype=torch.long)
        for c in range(self.ids.shape[0]):
            for w in range(self.ids.shape[1]):
                if self.word_mask[c, w]:
                    seq = tuple(int(t) for t in self.ids[c, w][self.mask[c, w]])
                    index[c, w] = sequences.setdefault(seq, len(sequences))
        return list(sequences), index

    def aggregate(self, word_scores: Tensor) -> Tensor:
        """``(B, C, W)`` word scores → ``(B, C)`` class scores (mean over a class's words)."""
        mask = self.word_mask.to(word_scores.device)
        total = word_scores.masked_fill(~mask, 0.0).sum(-1)
        return total / mask.sum(-1).to(word_scores.dtype)


class AnswerSlotClassifier(nn.Module):
    """A decoder (or a prompt model on one) as a classifier through its next-token answer.

    Args:
        model: Called as ``model(input_ids=..., attention_mask=..., logits_to_keep=k,
            **extra)``; must return an object with ``.logits`` ``(B, >=k, V)`` whose last ``k``
            positions are the last ``k`` input positions (true for transformers causal LMs, our
            soft-prompt models with ``task="lm"``, and PEFT models).
        words: The :class:`AnswerWords`.

    Batches come from :class:`~modalprompt.nlp.classification.PromptCollator` with a decoder
    template: **left-padded**, so the last column is every row's answer position.

    Shapes:
        input_ids, attention_mask: ``(B, L)`` → ``logits`` ``(B, C)`` class scores
        (log-probabilities of the label words; the cross-entropy over classes is the loss).
    """

    def __init__(self, model: nn.Module, words: AnswerWords) -> None:
        super().__init__()
        self.model = model
        self.words = words
        self._sequences, self._index = words.continuations()
        # a plain transformers model: its position limit (prompt models check virtual + real)
        self._limit = None
        if getattr(model, "backbone", None) is None and getattr(model, "config", None) is not None:
            limit = getattr(model.config, "max_position_embeddings", None)
            self._limit = limit if isinstance(limit, int) else None

    @property
    def classes(self) -> list[Any]:
        return self.words.classes

    def _check_batch(self, input_ids: Tensor, attention_mask: Tensor | None) -> Tensor:
        if not isinstance(input_ids, Tensor) or input_ids.dim() != 2 or input_ids.numel() == 0:
            shape = tuple(input_ids.shape) if isinstance(input_ids, Tensor) else input_ids
            raise ValueError(f"input_ids: expected a non-empty (B, L) tensor, got {shape}")
        if input_ids.dtype not in (torch.long, torch.int32):
            raise TypeError(f"input_ids: expected integer token ids, got {input_ids.dtype}")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if tuple(attention_mask.shape) != tuple(input_ids.shape):
            raise ValueError(
                f"attention_mask: expected shape {tuple(input_ids.shape)}, got "
                f"{tuple(attention_mask.shape)}"
            )
        longest = max(len(seq) for seq in self._sequences) - 1 if not self.words.single_token else 0
        if self._limit is not None and input_ids.shape[1] + longest > self._limit:
            raise ValueError(
                f"input_ids: {input_ids.shape[1]} tokens (+ {longest} label-word tokens) exceed "
                f"the model's {self._limit} positions; lower the collator's max_length"
            )
        if bool((attention_mask[:, -1] == 0).any()):
            raise ValueError(
                "attention_mask: the answer is read at the last column, but some rows end in "
                "padding; pad on the left (a decoder Template's PromptCollator does)"
            )
        return attention_mask

    def _next_token_log_probs(
        self, input_ids: Tensor, attention_mask: Tensor, keep: int, extra: dict[str, Any]
    ) -> Tensor:
        """``(B, keep, V)`` log-probabilities at the last ``keep`` positions (float32)."""
        out = self.model(
            input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=keep, **extra
        )
        logits = out.logits if not isinstance(out, Tensor) else out
        return F.log_softmax(logits[:, -keep:].float(), dim=-1)

    def word_scores(self, input_ids: Tensor, attention_mask: Tensor, **extra: Any) -> Tensor:
        """``(B, C, W)`` score of every label word (0 at unused slots)."""
        ids = self.words.ids.to(input_ids.device)
        if self.words.single_token:
            log_probs = self._next_token_log_probs(input_ids, attention_mask, 1, extra)[:, 0]
            return log_probs[:, ids[..., 0]]  # (B, C, W)
        return self._continuation_scores(input_ids, attention_mask, extra)

    def _continuation_scores(
        self, input_ids: Tensor, attention_mask: Tensor, extra: dict[str, Any]
    ) -> Tensor:
        """Teacher-forced scores of multi-token words: one row per (example, continuation)."""
        b, length = input_ids.shape
        k = len(self._sequences)
        longest = max(len(s) for s in self._sequences)
        device = input_ids.device
        pad = int(input_ids[attention_mask == 0][0]) if bool((attention_mask == 0).any()) else 0
        # row (i, s): left padding of (longest - len(s)), the example, then s[:-1]
        total = longest - 1 + length
        rows = torch.full((b, k, total), pad, dtype=input_ids.dtype, device=device)
        mask = torch.zeros((b, k, total), dtype=attention_mask.dtype, device=device)
        targets = torch.zeros((k, longest), dtype=torch.long, device=device)
        target_mask = torch.zeros((k, longest), dtype=torch.bool, device=device)
        for s, seq in enumerate(self._sequences):
            start = longest - len(seq)
            rows[:, s, start : start + length] = input_ids
            mask[:, s, start : start + length] = attention_mask
            if len(seq) > 1:
                rows[:, s, start + length :] = torch.tensor(seq[:-1], device=device)
                mask[:, s, start + length :] = 1
            targets[s, start:] = torch.tensor(seq, device=device)
            target_mask[s, start:] = True
        extra = {
            key: value.repeat_interleave(k, 0)
            if isinstance(value, Tensor) and value.dim() and value.size(0) == b
            else value
            for key, value in extra.items()
        }
        log_probs = self._next_token_log_probs(
            rows.view(b * k, total), mask.view(b * k, total), longest, extra
        ).view(b, k, longest, -1)
        picked = log_probs.gather(-1, targets.view(1, k, longest, 1).expand(b, -1, -1, 1))
        picked = picked.squeeze(-1).masked_fill(~target_mask, 0.0)  # (B, K, longest)
        per_sequence = picked.sum(-1)
        if self.words.rule == "mean":
            per_sequence = per_sequence / target_mask.sum(-1).to(per_sequence.dtype)
        index = self._index.to(device)
        return per_sequence[:, index.clamp(min=0)]  # (B, C, W)

    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        labels: Tensor | None = None,
        **extra: Any,
    ) -> dict[str, Tensor]:
        """``{"logits": (B, C)}`` class scores, plus ``"loss"`` (cross-entropy) with labels.

        Extra keys of a collated batch (``mask_positions``, ``soft_ids``, ``num_truncated``) are
        dropped; anything else goes to the model.
        """
        for key in ("mask_positions", "soft_ids", "num_truncated"):
            extra.pop(key, None)
        attention_mask = self._check_batch(input_ids, attention_mask)
        logits = self.words.aggregate(self.word_scores(input_ids, attention_mask, **extra))
        out = {"logits": logits}
        if labels is not None:
            if labels.dim() != 1 or labels.numel() != logits.size(0):
                raise ValueError(
                    f"labels: expected ({logits.size(0)},) class indices, got {tuple(labels.shape)}"
                )
            if bool(((labels < 0) | (labels >= logits.size(1))).any()):
                raise ValueError(
                    f"labels: class indices must lie in [0, {logits.size(1)}), got "
                    f"{labels.min().item()}..{labels.max().item()}"
                )
            out["loss"] = F.cross_entropy(logits, labels.to(logits.device))
        return out

    @torch.no_grad()
    def predict(self, batches: Any, device: torch.device | str | None = None) -> Tensor:
        """Argmax class of every example in ``batches`` (an iterable of collated batches)."""
        predictions = []
        for batch in batches:
            inputs = {
                k: v.to(device) if device is not None and isinstance(v, Tensor) else v
                for k, v in batch.items()
                if k != "labels"
            }
            predictions.append(self(**inputs)["logits"].argmax(-1).cpu())
        return torch.cat(predictions)


def continuation_log_probs(
    model: nn.Module,
    input_ids: Tensor,
    attention_mask: Tensor,
    sequences: Sequence[Sequence[int]],
    chunk_size: int = 128,
) -> Tensor:
    """Teacher-forced ``log p(sequence_k | row b)`` of many continuations, each prompt run once.

    The left-padded prompts go through ``model`` once with ``use_cache=True`` (the LM head on the
    last position only); the first token of every continuation is read there, and the rest of
    each continuation runs on a copy of that row's KV cache, ``chunk_size`` continuations at a
    time. Equal to running every ``prompt + continuation`` in full (tested), at a cost of about
    ``sum(len(seq) - 1)`` tokens per prompt instead of ``K * (L + len)``.

    Args:
        model: A transformers causal LM, called with ``cache`` (``past_key_values`` before
            transformers 5.24), ``position_ids``, ``use_cache`` and ``logits_to_keep``;
            prompt-tuning wrappers are not supported.
        input_ids, attention_mask: ``(B, L)`` prompts, **left-padded** (the last column real).
        sequences: K non-empty token-id sequences (the continuations).
        chunk_size: continuations per forward on the cache (memory: one cache copy per row).

    Returns:
        ``(B, K)`` float32 sums of the continuations' sub-token log-probabilities (divide by
        the lengths for a length-normalised score).
    """
    if not isinstance(input_ids, Tensor) or input_ids.dim() != 2 or input_ids.numel() == 0:
        shape = tuple(input_ids.shape) if isinstance(input_ids, Tensor) else type(input_ids)
        raise ValueError(f"input_ids: expected a non-empty (B, L) tensor, got {shape}")
    if not isinstance(attention_mask, Tensor) or attention_mask.shape != input_ids.shape:
        shape = tuple(attention_mask.shape) if isinstance(attention_mask, Tensor) else None
        raise ValueError(f"attention_mask: expected shape {tuple(input_ids.shape)}, got {shape}")
    if bool((attention_mask[:, -1] == 0).any()):
        raise ValueError("attention_mask: some rows end in padding; pad the prompts on the left")
    seqs = [[int(t) for t in seq] for seq in sequences]
    if not seqs or any(len(seq) == 0 for seq in seqs):
        raise ValueError("sequences: expected one or more non-empty token-id sequences")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size: expected a positive int, got {chunk_size!r}")
    device = input_ids.device
    positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=positions,
        use_cache=True,
        logits_to_keep=1,
    )
    cache = getattr(out, "cache", None)
    if cache is None:
        cache = getattr(out, "past_key_values", None)
    if cache is None or not hasattr(cache, "batch_repeat_interleave"):
        raise TypeError(
            f"model: {type(model).__name__} returned no transformers KV cache; "
            "continuation_log_probs needs a plain transformers causal LM"
        )
    first = F.log_softmax(out.logits[:, -1].float(), dim=-1)  # (B, V)
    vocab = first.shape[-1]
    outside = sorted({t for seq in seqs for t in seq if not 0 <= t < vocab})
    if outside:
        raise ValueError(
            f"sequences: token ids {outside[:5]} are outside the model's vocabulary [0, {vocab})"
        )
    keyword = _cache_keyword(model)
    b = input_ids.shape[0]
    heads = torch.tensor([seq[0] for seq in seqs], device=device)
    scores = first[:, heads].clone()  # (B, K)
    # chunks of similar length: a chunk runs as long as its longest continuation
    rest = sorted((i for i, seq in enumerate(seqs) if len(seq) > 1), key=lambda i: len(seqs[i]))
    for row in range(b):
        if not rest:
            break
        next_position = int(positions[row, -1]) + 1
        row_cache = copy.deepcopy(cache)
        row_cache.batch_select_indices(torch.tensor([row], device=device))
        for start in range(0, len(rest), chunk_size):
            index = rest[start : start + chunk_size]
            scores[row, index] += _cached_tail_log_probs(
                model,
                row_cache,
                keyword,
                attention_mask[row],
                next_position,
                [seqs[i] for i in index],
            )
    return scores


def _cached_tail_log_probs(
    model: nn.Module,
    row_cache: Any,
    keyword: str,
    prompt_mask: Tensor,
    next_position: int,
    seqs: list[list[int]],
) -> Tensor:
    """``(n,)`` sum over tokens 2.. of each sequence of log p(token | the prompt, earlier ones);
    ``row_cache`` holds one prompt's KV cache and is not changed; ``keyword`` is the forward's
    name for it."""
    n, longest = len(seqs), max(len(seq) for seq in seqs) - 1
    device = prompt_mask.device
    inputs = torch.zeros((n, longest), dtype=torch.long, device=device)
    targets = torch.zeros((n, longest), dtype=torch.long, device=device)
    mask = torch.zeros((n, longest), dtype=prompt_mask.dtype, device=device)
    for i, seq in enumerate(seqs):
        inputs[i, : len(seq) - 1] = torch.tensor(seq[:-1], device=device)
        targets[i, : len(seq) - 1] = torch.tensor(seq[1:], device=device)
        mask[i, : len(seq) - 1] = 1
    cache = copy.deepcopy(row_cache)
    cache.batch_repeat_interleave(n)
    full_mask = torch.cat([prompt_mask.unsqueeze(0).expand(n, -1), mask], dim=1)
    positions = next_position + torch.arange(longest, device=device).unsqueeze(0).expand(n, -1)
    logits = model(
        input_ids=inputs,
        attention_mask=full_mask,
        position_ids=positions,
        use_cache=True,
        **{keyword: cache},
    ).logits  # (n, longest, V)
    picked = F.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return (picked * mask).sum(-1)


def _cache_keyword(model: nn.Module) -> str:
    """The forward's KV-cache argument: ``cache`` (transformers >= 5.24) or ``past_key_values``."""
    import inspect

    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"
