"""The shared prompt-tuning core: configs, registry, PromptModel, Trainer, checkpoints, metrics.

Nothing here knows about graphs, point clouds or tokens, and nothing here imports
torch_geometric, transformers or gymnasium.
"""

from modalprompt.core.config import ConfigError, PromptConfig
from modalprompt.core.model import PromptModel, freeze, unfreeze
from modalprompt.core.registry import (
    MethodSpec,
    get_config,
    get_method_spec,
    get_prompt_model,
    list_methods,
    register_method,
)
from modalprompt.core.trainer import NonFiniteLossError, Trainer
from modalprompt.core.training_args import TrainingArguments

__all__ = [
    "ConfigError",
    "PromptConfig",
    "PromptModel",
    "freeze",
    "unfreeze",
    "MethodSpec",
    "get_config",
    "get_method_spec",
    "get_prompt_model",
    "list_methods",
    "register_method",
    "Trainer",
    "TrainingArguments",
    "NonFiniteLossError",
]
