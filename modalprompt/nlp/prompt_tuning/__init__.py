"""Vanilla prompt tuning (Lester et al., EMNLP 2021, arXiv:2104.08691).

``n`` trainable virtual-token embeddings are prepended to the input of a frozen Hugging Face model
(:mod:`modalprompt.nlp.injection`); with the same prompt tensor the outputs equal PEFT's
``PromptTuningConfig`` model. The text domain's baseline for EPT, IAPT and the others.
"""
