"""IAPT: instruction-aware prompt tuning (Zhu et al., ACL 2024, arXiv:2405.18203), registered as
``iapt``.

A soft-prompt generator in each layer turns the instruction's hidden states into four soft tokens
(bottleneck, self-attention pooling, a learned rational activation per layer), inserted at that
layer's input through forward pre-hooks (:mod:`.layers`). No official code exists;
:mod:`.generator` and :mod:`.model` document every choice made where the paper is silent.
"""
