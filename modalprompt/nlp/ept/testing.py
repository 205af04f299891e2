"""Tiny EPT case for the contract tests: prompt tuning's BERT classifier batch (length 7)."""

from __future__ import annotations

from modalprompt.core.registry import MethodSpec
from modalprompt.core.testing import TinyCase

__all__ = ["tiny_case"]


def tiny_case(spec: MethodSpec, seed: int = 0) -> TinyCase:
    """A random 2-layer BERT classifier and a right-padded ``(4, 7)`` batch (``max_length`` 7)."""
    from modalprompt.nlp.prompt_tuning.testing import tiny_case as prompt_tuning_case

    return prompt_tuning_case(spec, seed=seed)
