"""IAPT: instruction-aware prompt tuning (Zhu et al., ACL 2024, arXiv:2405.18203).

A soft-prompt generator in each layer turns the instruction's hidden states into four soft tokens
(bottleneck, self-attention pooling, a learned rational activation per layer). No official code
exists; :mod:`.generator` documents every choice made where the paper is silent.
"""
