"""`PCPModel`: the stage-1 pseudo-labeler and the stage-3 classifier of PCP.

Both stages are plain prompt-based fine-tuning, so this is
:class:`~modalprompt.nlp.prompt_finetune.model.PromptFinetuneModel` with a :class:`PCPConfig`
(the stage schedules travel with the checkpoint's ``config.json``).
"""

from __future__ import annotations

from modalprompt.nlp.prompt_finetune.model import PromptFinetuneModel

__all__ = ["PCPModel"]


class PCPModel(PromptFinetuneModel):
    """Prompt-based fine-tuning model configured by a :class:`PCPConfig`.

    Shapes:
        as :class:`PromptFinetuneModel`: input_ids, attention_mask (B, L), mask_positions (B,)
        → ``{"logits": (B, C)}``.
    """
