"""PCP's configuration (registered as ``pcp``): the prompt and the three stages' schedules."""

from __future__ import annotations

from dataclasses import dataclass

from modalprompt.core.config import ConfigError, check_float, check_int, check_sequence
from modalprompt.core.registry import register_method
from modalprompt.nlp.prompt_finetune.config import PromptFinetuneConfig

__all__ = ["PCPConfig"]


@register_method(
    "pcp",
    domain="nlp",
    description="Prompt-based continued pre-training on template-wrapped task text, then prompt FT",
    model="modalprompt.nlp.pcp.model:PCPModel",
    tiny_case="modalprompt.nlp.prompt_finetune.testing:tiny_case",
    extra="nlp",
)
@dataclass(kw_only=True)
class PCPConfig(PromptFinetuneConfig):
    """PCP (Shi & Lipani, NeurIPS 2023): the prompt of :class:`PromptFinetuneConfig` plus the
    schedules of its stages, at the official scripts' defaults (brief §4.3).

    Args:
        template, label_words, tokenizer, freeze_backbone, multi_token, max_length: the prompt,
            as :class:`~modalprompt.nlp.prompt_finetune.config.PromptFinetuneConfig` (official:
            hard prompts, whole model fine-tuned; ``max_length`` 128 single / 256 pairs).
        ft_lr: Prompt-based fine-tuning learning rate, stages 1 and 3 (official grid 1e-5,
            2e-5, 5e-5).
        ft_batch_size: Fine-tuning batch size (8).
        ft_steps: Fine-tuning optimizer steps (1000).
        ft_eval_every: Evaluate on the dev split every this many steps, keeping the best (100).
        ft_weight_decay / ft_warmup_ratio: AdamW weight decay (0.01) and linear warmup (0.06).
        pseudo_label_confidence: Keep only pool examples whose top pseudo-label probability is
            at least this (official option, default 0.0 = keep all).
        mlm_probability: Masking rate of continued pre-training, 80/10/10 (0.15).
        mlm_lr: Continued pre-training learning rate (1e-4; the README advises lower for tiny
            pools).
        mlm_betas / mlm_eps / mlm_weight_decay: AdamW ((0.9, 0.98), 1e-6, 0.01).
        mlm_batch_size / mlm_grad_accumulation: 16 × 8 = 128 texts per optimizer step.
        mlm_epochs: Passes over the corpus (100); ``mlm_max_steps`` overrides it when set.
        mlm_warmup_ratio: Linear warmup then linear decay (0.06).
        mlm_max_length: Token limit of a corpus line (None: ``max_length``).
        mlm_save_every: Checkpoint continued pre-training every this many optimizer steps, so a
            killed run resumes inside the stage (None: once per epoch).
    """

    ft_lr: float = 1e-5
    ft_batch_size: int = 8
    ft_steps: int = 1000
    ft_eval_every: int = 100
    ft_weight_decay: float = 0.01
    ft_warmup_ratio: float = 0.06
    pseudo_label_confidence: float = 0.0
    mlm_probability: float = 0.15
    mlm_lr: float = 1e-4
    mlm_betas: tuple[float, float] = (0.9, 0.98)
    mlm_eps: float = 1e-6
    mlm_weight_decay: float = 0.01
    mlm_batch_size: int = 16
    mlm_grad_accumulation: int = 8
    mlm_epochs: int = 100
    mlm_max_steps: int | None = None
    mlm_warmup_ratio: float = 0.06
    mlm_max_length: int | None = None
    mlm_save_every: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_float(self, "ft_lr", minimum=0.0, inclusive=False)
        check_int(self, "ft_batch_size", minimum=1)
        check_int(self, "ft_steps", minimum=1)
        check_int(self, "ft_eval_every", minimum=1)
        check_float(self, "ft_weight_decay", minimum=0.0)
        check_float(self, "ft_warmup_ratio", minimum=0.0, maximum=1.0)
        check_float(self, "pseudo_label_confidence", minimum=0.0, maximum=1.0)
        check_float(self, "mlm_probability", minimum=0.0, maximum=1.0, inclusive=False)
        check_float(self, "mlm_lr", minimum=0.0, inclusive=False)
        check_sequence(self, "mlm_betas", (int, float), min_length=2)
        if len(self.mlm_betas) != 2 or not all(0 <= b < 1 for b in self.mlm_betas):
            raise ConfigError(
                f"PCPConfig.mlm_betas: got {self.mlm_betas!r}; expected two numbers in [0, 1)"
            )
        self.mlm_betas = (float(self.mlm_betas[0]), float(self.mlm_betas[1]))
        check_float(self, "mlm_eps", minimum=0.0, inclusive=False)
        check_float(self, "mlm_weight_decay", minimum=0.0)
        check_int(self, "mlm_batch_size", minimum=1)
        check_int(self, "mlm_grad_accumulation", minimum=1)
        check_int(self, "mlm_epochs", minimum=1)
        check_int(self, "mlm_max_steps", minimum=1, optional=True)
        check_float(self, "mlm_warmup_ratio", minimum=0.0, maximum=1.0)
        check_int(self, "mlm_max_length", minimum=3, optional=True)
        check_int(self, "mlm_save_every", minimum=1, optional=True)
