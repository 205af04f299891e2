"""BayesPrompt: prompting large-scale PLMs on few-shot inference via debiased domain abstraction.

Li et al., ICLR 2024 (arXiv:2401.14166); official code FF2127/bayesprompt.

The target domain is approximated by a Gaussian mixture over text features; particles started
at the few-shot inputs' features are moved by SVGD towards it, and prompt-token rows are written
from averages of sampled particles, on KnowPrompt-style relation extraction with a masked LM.

Modules: :mod:`.gmm` and :mod:`.svgd` (numerics), :mod:`.features`, :mod:`.relations` (data and
prompts), :mod:`.collate`, :mod:`.model` (registered as ``bayesprompt``), :mod:`.train`
(the schedule). Differences from the official code are listed in each module.
"""

from modalprompt.nlp.bayesprompt.config import BayesPromptConfig

__all__ = ["BayesPromptConfig"]
