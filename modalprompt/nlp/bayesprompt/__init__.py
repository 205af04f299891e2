"""BayesPrompt: prompting large-scale PLMs on few-shot inference via debiased domain abstraction.

Li et al., ICLR 2024 (arXiv:2401.14166); official code FF2127/bayesprompt.

The target domain is approximated by a Gaussian mixture over text features; particles started
at the few-shot inputs' features are moved by SVGD towards it, and prompt-token rows are written
from averages of sampled particles. This package holds the numerics (:mod:`.gmm`, :mod:`.svgd`,
:mod:`.features`); differences from the official code are listed in each module.
"""
