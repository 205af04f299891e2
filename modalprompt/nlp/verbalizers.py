"""Verbalizers: map the masked LM's output at the mask position to class logits.

Pipeline of the manual and weighted verbalizers (OpenPrompt's ``Verbalizer.process_outputs``,
which SciPrompt vendors): *project* (gather the vocabulary logits of every label word, a
multi-token word aggregated over its sub-tokens by ``first`` / ``mean`` / ``max``) → *normalise*
(softmax over all label words of all classes) → *calibrate* (optional, divide by the label-word
distribution of the [MASK] prior and renormalise; KPT's contextual calibration) → *log* →
*aggregate* the words of a class (mean for :class:`ManualVerbalizer`, a trainable softmax-weighted
sum for :class:`WeightedVerbalizer`).

With one label word per class this equals LM-BFF / PCP's classifier (the label words' vocabulary
logits) up to a per-example constant, so the cross-entropy is identical.

:class:`SoftVerbalizer` replaces the last (vocabulary) layer of the MLM head by a new
``Linear(hidden, num_classes)`` initialised from the label words' output embeddings (OpenPrompt
``SoftVerbalizer``; SciPrompt-Soft with score weights).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["Verbalizer", "ManualVerbalizer", "WeightedVerbalizer", "SoftVerbalizer"]

_HANDLERS = ("first", "mean", "max")


def _normalise_label_words(
    label_words: Mapping[Any, Sequence[str] | str] | Sequence[Sequence[str] | str],
    classes: Sequence[Any] | None,
) -> tuple[list[Any], list[list[str]]]:
    if isinstance(label_words, Mapping):
        classes = list(classes) if classes is not None else list(label_words)
        missing = [c for c in classes if c not in label_words]
        if missing:
            raise ValueError(f"label_words: no label words for classes {missing}")
        words = [label_words[c] for c in classes]
    else:
        words = list(label_words)
        classes = list(classes) if classes is not None else list(range(len(words)))
        if len(classes) != len(words):
            raise ValueError(
                f"label_words: got {len(words)} lists of words for {len(classes)} classes"
            )
    out = [[w] if isinstance(w, str) else list(w) for w in words]
    for c, ws in zip(classes, out):
        if not ws or any(not isinstance(w, str) or not w.strip() for w in ws):
            raise ValueError(
                f"label_words: class {c!r} needs at least one non-empty word, got {ws}"
            )
    return list(classes), out


def tokenize_label_words(
    tokenizer: Any, words: list[list[str]], prefix_space: bool | None = None
) -> tuple[Tensor, Tensor]:
    """Token ids of every label word, padded.

    Args:
        tokenizer: a Hugging Face tokenizer.
        words: per class, its label words.
        prefix_space: encode words with a leading space (as they appear mid-sentence). ``None``
            detects byte-level BPE tokenizers (RoBERTa, GPT-2), where the space matters, as LM-BFF
            does with its ``Ġ`` label words.

    Returns:
        ``ids`` (C, W, T) long, 0 where padded, and ``mask`` (C, W, T) bool.

    Raises:
        ValueError: when a word maps to the unknown token or to no token at all.
    """
    if prefix_space is None:
        prefix_space = tokenizer.tokenize(" a") != tokenizer.tokenize("a")
    encoded: list[list[list[int]]] = []
    for ws in words:
        row = []
        for w in ws:
            ids = list(
                tokenizer((" " + w) if prefix_space else w, add_special_tokens=False)["input_ids"]
            )
            if not ids or (tokenizer.unk_token_id is not None and tokenizer.unk_token_id in ids):
                raise ValueError(
                    f"label_words: the tokenizer cannot map {w!r} (got ids {ids}); "
                    "use words in its vocabulary"
                )
            row.append(ids)
        encoded.append(row)
    n_words = max(len(r) for r in encoded)
    n_tok = max(len(i) for r in encoded for i in r)
    ids = torch.zeros(len(encoded), n_words, n_tok, dtype=torch.long)
    mask = torch.zeros(len(encoded), n_words, n_tok, dtype=torch.bool)
    for c, row in enumerate(encoded):
        for j, toks in enumerate(row):
            ids[c, j, : len(toks)] = torch.tensor(toks)
            mask[c, j, : len(toks)] = True
    return ids, mask


class Verbalizer(nn.Module):
    """Base class: ``forward(mask_logits, mask_hidden) -> (B, C)`` class logits.

    Attributes:
        classes: the class names in output order.
        needs_hidden: whether ``forward`` uses ``mask_hidden`` (the input of the MLM head's last
            layer at the mask) instead of ``mask_logits``.
    """

    needs_hidden = False

    def __init__(self, classes: Sequence[Any]) -> None:
        super().__init__()
        self.classes = list(classes)

    @property
    def num_classes(self) -> int:
        return len(self.classes)


class ManualVerbalizer(Verbalizer):
    """Fixed label words per class (LM-BFF, PET, OpenPrompt ``ManualVerbalizer``).

    Args:
        tokenizer: the model's tokenizer.
        label_words: ``{class: [words]}`` or a list (one word or list of words per class).
        classes: class order (defaults to the mapping's order, or ``0..C-1``).
        multi_token: how a multi-token word's logits are combined: ``first``, ``mean`` or ``max``.
        post_log_softmax: normalise over label words, then log (OpenPrompt default); ``False``
            averages the raw vocabulary logits of each class's words (no calibration then).
        prefix_space: see :func:`tokenize_label_words`.

    Shapes:
        mask_logits: (B, V) → class logits (B, C).
    """

    def __init__(
        self,
        tokenizer: Any,
        label_words: Mapping[Any, Sequence[str] | str] | Sequence[Sequence[str] | str],
        classes: Sequence[Any] | None = None,
        multi_token: str = "first",
        post_log_softmax: bool = True,
        prefix_space: bool | None = None,
    ) -> None:
        if multi_token not in _HANDLERS:
            raise ValueError(f"multi_token must be one of {_HANDLERS}, got {multi_token!r}")
        classes, words = _normalise_label_words(label_words, classes)
        super().__init__(classes)
        self.label_words = words
        self.multi_token = multi_token
        self.post_log_softmax = post_log_softmax
        ids, mask = tokenize_label_words(tokenizer, words, prefix_space)
        self.register_buffer("label_word_ids", ids, persistent=False)
        self.register_buffer("token_mask", mask, persistent=False)
        self.register_buffer("word_mask", mask.any(-1), persistent=False)
        self.register_buffer("calibration_probs", torch.empty(0), persistent=False)

    def project(self, mask_logits: Tensor) -> Tensor:
        """Logit of every label word, multi-token words aggregated: (B, V) → (B, C, W)."""
        if mask_logits.dim() != 2:
            raise ValueError(f"mask_logits: expected (B, V), got {tuple(mask_logits.shape)}")
        tok = mask_logits[:, self.label_word_ids]  # (B, C, W, T)
        mask = self.token_mask.unsqueeze(0)
        if self.multi_token == "first":
            return tok[..., 0]
        if self.multi_token == "mean":
            return (tok * mask).sum(-1) / mask.sum(-1).clamp(min=1)
        return tok.masked_fill(~mask, float("-inf")).amax(-1).masked_fill(~self.word_mask, 0.0)

    def normalise(self, word_logits: Tensor) -> Tensor:
        """Softmax over all label words of all classes: (B, C, W) → probabilities (B, C, W)."""
        b = word_logits.shape[0]
        masked = word_logits.masked_fill(~self.word_mask, float("-inf"))
        return masked.reshape(b, -1).softmax(-1).reshape_as(word_logits)

    @torch.no_grad()
    def register_calibration(self, prior_mask_logits: Tensor) -> None:
        """Store the [MASK] prior used for contextual calibration (KPT / OpenPrompt).

        Args:
            prior_mask_logits: vocabulary logits at the mask, (V,) or (N, V) for N (unlabelled or
                content-free) inputs; averaged over N as OpenPrompt's ``calibrate`` does.
        """
        if prior_mask_logits.dim() == 2:
            prior_mask_logits = prior_mask_logits.mean(0)
        if prior_mask_logits.dim() != 1:
            raise ValueError(
                f"prior_mask_logits: expected (V,) or (N, V), got {tuple(prior_mask_logits.shape)}"
            )
        probs = self.normalise(self.project(prior_mask_logits.unsqueeze(0).float()))[0]
        self.calibration_probs = probs.to(self.label_word_ids.device)

    def clear_calibration(self) -> None:
        """Forget the registered prior."""
        self.calibration_probs = torch.empty(0, device=self.label_word_ids.device)

    def word_log_probs(self, mask_logits: Tensor) -> Tensor:
        """Normalised (and calibrated) log-probabilities of the label words, (B, C, W)."""
        probs = self.normalise(self.project(mask_logits))
        if self.calibration_probs.numel():
            probs = probs / (self.calibration_probs.unsqueeze(0) + 1e-15)
            b = probs.shape[0]
            probs = probs / probs.reshape(b, -1).sum(-1).reshape(b, 1, 1)
        return torch.log(probs + 1e-15)

    def aggregate(self, word_scores: Tensor) -> Tensor:
        """Mean over each class's label words: (B, C, W) → (B, C)."""
        m = self.word_mask.unsqueeze(0)
        return (word_scores * m).sum(-1) / m.sum(-1)

    def forward(self, mask_logits: Tensor, mask_hidden: Tensor | None = None) -> Tensor:
        """Class logits from the vocabulary logits at the mask: (B, V) → (B, C)."""
        if not self.post_log_softmax:
            return self.aggregate(self.project(mask_logits))
        return self.aggregate(self.word_log_probs(mask_logits))


class WeightedVerbalizer(ManualVerbalizer):
    """SciPrompt's weighted verbalizer: trainable per-word weights initialised from scores.

    ``score_c = Σ_j softmax_j(α_c)_j · log p̃_{c,j}`` where ``α`` starts at the retrieval
    ``scores`` and is an ``nn.Parameter`` (SciPrompt ``WeightedVerbalizer``).

    Args:
        tokenizer, label_words, classes, prefix_space: as :class:`ManualVerbalizer`.
        scores: per class, one score per label word (same nesting as ``label_words``); ``None``
            starts every weight at 1 (uniform, i.e. the manual verbalizer's mean).
        multi_token: sub-token handler; SciPrompt uses ``mean``.
        trainable_weights: whether ``α`` is trained.

    Shapes:
        mask_logits: (B, V) → class logits (B, C).
    """

    def __init__(
        self,
        tokenizer: Any,
        label_words: Mapping[Any, Sequence[str] | str] | Sequence[Sequence[str] | str],
        scores: Mapping[Any, Sequence[float]] | Sequence[Sequence[float]] | None = None,
        classes: Sequence[Any] | None = None,
        multi_token: str = "mean",
        trainable_weights: bool = True,
        prefix_space: bool | None = None,
    ) -> None:
        super().__init__(tokenizer, label_words, classes, multi_token, True, prefix_space)
        alpha = torch.ones(self.word_mask.shape)
        if scores is not None:
            rows = [scores[c] for c in self.classes] if isinstance(scores, Mapping) else scores
            rows = list(rows)
            if len(rows) != self.num_classes:
                raise ValueError(f"scores: expected {self.num_classes} rows, got {len(rows)}")
            for c, (row, ws) in enumerate(zip(rows, self.label_words)):
                if len(row) != len(ws):
                    raise ValueError(
                        f"scores: class {self.classes[c]!r} has {len(ws)} label words but "
                        f"{len(row)} scores"
                    )
                alpha[c, : len(row)] = torch.as_tensor(list(row), dtype=torch.float)
        self.word_weights = nn.Parameter(alpha, requires_grad=trainable_weights)

    def aggregate(self, word_scores: Tensor) -> Tensor:
        """Softmax(α)-weighted sum over each class's words: (B, C, W) → (B, C)."""
        w = self.word_weights.masked_fill(~self.word_mask, float("-inf")).softmax(-1)
        return (word_scores * w.unsqueeze(0)).sum(-1)


class SoftVerbalizer(Verbalizer):
    """A new class head in place of the MLM head's vocabulary layer (OpenPrompt, SciPrompt-Soft).

    Row ``c`` of the new ``Linear(hidden, C, bias=False)`` is initialised to the (score-weighted)
    mean over the class's label words of the mean of their sub-tokens' output embeddings. It reads
    ``mask_hidden``: the input of the model's output-embedding layer at the mask (after the MLM
    head's transform), so the head's transform is kept, as in OpenPrompt.

    Args:
        tokenizer, label_words, classes, prefix_space: as :class:`ManualVerbalizer`.
        output_embeddings: the model's ``get_output_embeddings()`` weight, (V, H).
        scores: optional per-word weights for the initialisation (SciPrompt-Soft), normalised
            per class to sum to one.

    Shapes:
        mask_hidden: (B, H) → class logits (B, C).
    """

    needs_hidden = True

    def __init__(
        self,
        tokenizer: Any,
        label_words: Mapping[Any, Sequence[str] | str] | Sequence[Sequence[str] | str],
        output_embeddings: Tensor,
        classes: Sequence[Any] | None = None,
        scores: Mapping[Any, Sequence[float]] | Sequence[Sequence[float]] | None = None,
        prefix_space: bool | None = None,
    ) -> None:
        classes, words = _normalise_label_words(label_words, classes)
        super().__init__(classes)
        ids, mask = tokenize_label_words(tokenizer, words, prefix_space)
        weight = output_embeddings.detach().float()
        if weight.dim() != 2:
            raise ValueError(f"output_embeddings: expected (V, H), got {tuple(weight.shape)}")
        tok = weight[ids] * mask.unsqueeze(-1)  # (C, W, T, H)
        word_emb = tok.sum(2) / mask.sum(-1, keepdim=True).clamp(min=1)  # (C, W, H)
        word_mask = mask.any(-1).float()
        w = word_mask.clone()
        if scores is not None:
            rows = [scores[c] for c in classes] if isinstance(scores, Mapping) else list(scores)
            for c, row in enumerate(rows):
                w[c, : len(row)] = torch.as_tensor(list(row), dtype=torch.float)
            w = w * word_mask
        w = w / w.sum(-1, keepdim=True).clamp(min=1e-12)
        self.head = nn.Linear(weight.shape[1], len(classes), bias=False)
        with torch.no_grad():
            self.head.weight.copy_((word_emb * w.unsqueeze(-1)).sum(1))

    def forward(self, mask_logits: Tensor | None, mask_hidden: Tensor | None = None) -> Tensor:
        """Class logits from the hidden state at the mask: (B, H) → (B, C)."""
        if mask_hidden is None:
            raise ValueError(
                "mask_hidden: SoftVerbalizer needs the (B, H) hidden state at the mask"
            )
        return self.head(mask_hidden.to(self.head.weight.dtype))
