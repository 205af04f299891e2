"""Stage-2 corpora: PCP's template-wrapped texts and TAPT's plain texts, one line per example.

PCP (``src/convert_to_pretrain_pcp.py``): each unlabelled example becomes its task template with
the *predicted* label word in the mask slot, e.g. SST-2 ``"<x> It was great ."``, RTE
``"<x1> . Clearly , I think that <x2>"`` (brief §4.3 table). The official script joins the
pieces with single spaces; :meth:`Template.wrap` does the same for templates written with
spaces between their pieces. TAPT (``src/convert_to_pretrain_tapt_1.py``): ``text_a``, or
``text_a + " " + text_b`` for sentence pairs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from modalprompt.nlp.templates import Template

__all__ = ["build_pcp_corpus", "build_tapt_corpus", "check_pool"]


def check_pool(examples: Sequence[Mapping[str, Any]], name: str = "unlabeled") -> None:
    """Raise a clear error unless ``examples`` is a non-empty list of dicts with ``text_a``."""
    if not isinstance(examples, Sequence) or isinstance(examples, str):
        raise TypeError(f"{name}: expected a list of examples, got {type(examples).__name__}")
    if len(examples) == 0:
        what = (
            "the pool is empty; PCP needs unlabelled task texts"
            if name == "unlabeled"
            else ("no examples given")
        )
        raise ValueError(f"{name}: {what} (dicts with 'text_a')")
    for i, e in enumerate(examples):
        if not isinstance(e, Mapping) or not isinstance(e.get("text_a"), str):
            raise ValueError(f"{name}[{i}]: expected a dict with a 'text_a' string, got {e!r}")


def build_pcp_corpus(
    examples: Sequence[Mapping[str, Any]],
    pseudo_labels: Sequence[int] | Tensor,
    template: Template,
    label_words: Sequence[Sequence[str] | str],
) -> list[str]:
    """The PCP corpus: every example wrapped in ``template``, its label word at the mask.

    Args:
        examples: N dicts with ``text_a`` (and ``text_b`` for pair templates).
        pseudo_labels: (N,) class indices (the stage-1 predictions).
        template: the task template (exactly one ``{mask}``, checked when it was built).
        label_words: per class, its label words; the first word of a class is written.

    Returns:
        N text lines.
    """
    check_pool(examples)
    if not isinstance(template, Template):
        raise TypeError(
            f"template: expected a modalprompt Template, got {type(template).__name__}; "
            "build one with Template(text, tokenizer)"
        )
    labels = torch.as_tensor(pseudo_labels).reshape(-1).tolist()
    if len(labels) != len(examples):
        raise ValueError(
            f"pseudo_labels: expected one label per example ({len(examples)}), got {len(labels)}"
        )
    words = [w if isinstance(w, str) else w[0] for w in label_words]
    bad = [y for y in labels if not isinstance(y, int) or not 0 <= y < len(words)]
    if bad:
        raise ValueError(f"pseudo_labels: {bad[:5]} are not class indices in [0, {len(words)})")
    return [template.wrap(e, mask_filler=words[y]) for e, y in zip(examples, labels)]


def build_tapt_corpus(examples: Sequence[Mapping[str, Any]]) -> list[str]:
    """The TAPT corpus: ``text_a`` (pairs: ``text_a + " " + text_b``), one line per example."""
    check_pool(examples)
    return [" ".join(t for t in (e["text_a"], e.get("text_b")) if t) for e in examples]
