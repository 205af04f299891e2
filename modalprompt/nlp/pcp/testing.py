"""Tiny contract-test case of ``pcp``: the one of ``prompt_finetune`` with a :class:`PCPConfig`."""

from modalprompt.nlp.prompt_finetune.testing import tiny_case

__all__ = ["tiny_case"]
