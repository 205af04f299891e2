"""SciPrompt (You et al., EMNLP 2024): knowledge-augmented prompting with a weighted verbalizer.

Registered as ``sciprompt``. One module per job:

* :mod:`.terms`: label-term sets (:class:`~.terms.LabelTerms`) from user lists or the official
  words / scores files, and dropping terms a tokenizer cannot map;
* :mod:`.filtering`: bi-encoder cosine threshold and optional NLI cross-encoder filtering;
* :mod:`.verbalizer`: the weighted verbalizer with KPT-style pruning and calibration saved in
  its state;
* :mod:`.config` / :mod:`.model`: the registered configuration and
  :class:`~.model.SciPromptModel` (zero-shot and few-shot; SciPrompt-Soft as an option).

Importing this package loads only the config and the term readers (no torch model code).
"""

from modalprompt.nlp.sciprompt.config import SciPromptConfig
from modalprompt.nlp.sciprompt.terms import LabelTerms, read_label_terms

__all__ = ["SciPromptConfig", "LabelTerms", "read_label_terms"]
