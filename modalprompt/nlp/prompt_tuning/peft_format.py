"""Read a PEFT prompt-tuning adapter (``adapter_config.json``, ``adapter_model.safetensors``).

PEFT saves the rendered prompt under ``prompt_embeddings`` (``(n · submodules, D)``; for seq2seq
the encoder's ``n`` rows come first) and, for SEQ_CLS, the trained head under
``base_model.<classifier|score>.*``. Both are copied into a :class:`PromptTuningModel`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from modalprompt.core.device import module_device
from modalprompt.core.io import load_tensors, read_json
from modalprompt.nlp.prompt_tuning.config import PromptTuningConfig

__all__ = ["load_peft_prompt_tuning"]

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


def load_peft_prompt_tuning(backbone: nn.Module, directory: str | Path, **overrides: Any) -> Any:
    """A :class:`~modalprompt.nlp.prompt_tuning.model.PromptTuningModel` with a PEFT adapter's
    prompt (and classification head) on ``backbone``.

    Args:
        backbone: The model the adapter was trained on.
        directory: A folder written by PEFT's ``save_pretrained`` for ``PROMPT_TUNING``.
        **overrides: Config fields to set (e.g. ``placement="start"`` for PEFT's layout).
    """
    from modalprompt.nlp.prompt_tuning.model import PromptTuningModel

    directory = Path(directory)
    for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"directory: {directory} is not a PEFT adapter (no {name})")
    raw = read_json(directory / ADAPTER_CONFIG)
    if raw.get("peft_type") != "PROMPT_TUNING":
        raise ValueError(
            f"directory: {directory} holds a {raw.get('peft_type')!r} adapter, not PROMPT_TUNING"
        )
    n = int(raw["num_virtual_tokens"])
    task = "classification" if raw.get("task_type") == "SEQ_CLS" else "lm"
    config = PromptTuningConfig(num_virtual_tokens=n, task=task, **overrides)
    model = PromptTuningModel(backbone, config)
    tensors = load_tensors(directory / ADAPTER_WEIGHTS, device="cpu")
    prompt = tensors["prompt_embeddings"][:n]
    if tuple(prompt.shape) != tuple(model.prompt_embeddings.shape):
        raise ValueError(
            f"directory: prompt_embeddings {tuple(prompt.shape)} do not fit this backbone "
            f"(expected {tuple(model.prompt_embeddings.shape)})"
        )
    with torch.no_grad():
        model.prompt_embeddings.copy_(prompt)
    if model.head is not None:
        head_state = {
            key.split(".", 2)[2]: value
            for key, value in tensors.items()
            if key.startswith(("base_model.classifier.", "base_model.score."))
        }
        if head_state:
            model.head.load_state_dict(head_state)
    return model.to(module_device(backbone)).eval()
