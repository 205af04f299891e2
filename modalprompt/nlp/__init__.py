"""modalprompt.nlp: prompt tuning for language models (masked, causal and encoder-decoder).

``load_pretrained`` gives a real LLM from an installed package (SmolLM2-135M-Instruct); the
methods live in subpackages (``prompt_tuning``, ``ept``, ``iapt``, ``pcp``, ``sciprompt``,
``bayesprompt``, ``prompt_finetune``).
"""

from modalprompt.nlp.pretrained import list_pretrained, load_pretrained

__all__ = ["load_pretrained", "list_pretrained"]
