"""Plain prompt-based fine-tuning (LM-BFF / PET): template + manual verbalizer on a masked LM.

Registered as ``prompt_finetune``: :mod:`.config` (hyper-parameters), :mod:`.model`
(:class:`~modalprompt.nlp.prompt_finetune.model.PromptFinetuneModel`, built on
:class:`~modalprompt.nlp.classification.MaskedLMPrompt`). The backbone is fine-tuned (default,
LM-BFF / PCP) or frozen when the template has ``{soft}`` tokens to train.
"""

from modalprompt.nlp.prompt_finetune.config import PromptFinetuneConfig

__all__ = ["PromptFinetuneConfig"]
