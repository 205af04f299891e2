"""PCP: prompt-based continued pre-training (Shi & Lipani, NeurIPS 2023, arXiv:2305.01711).

"Don't Stop Pretraining? Make Prompt-based Fine-tuning Powerful Learner"; official code
ZhengxiangShi/PowerfulPromptFT. Three stages, each callable alone (:mod:`.pipeline`):

1. prompt-based fine-tuning on the k-shot split, then pseudo-labelling of the unlabelled pool;
2. the pool wrapped in the task template with the predicted label word at the mask
   (:mod:`.corpus`), and masked-LM continued pre-training on it (:mod:`.pretrain`), saved with
   ``save_pretrained`` (safetensors);
3. prompt-based fine-tuning from that checkpoint.

:func:`~modalprompt.nlp.pcp.pipeline.run_pcp` runs all three; ``run_tapt`` is the TAPT baseline
(continued pre-training on the plain task text). The model is registered as ``pcp``.
"""

from modalprompt.nlp.pcp.config import PCPConfig

__all__ = ["PCPConfig"]
