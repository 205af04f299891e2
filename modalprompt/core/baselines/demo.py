"""The core's own demo (used until a domain provides one): the two shared baselines on a
frozen, randomly initialised feature extractor over a procedural 4-class problem."""

from __future__ import annotations

import time

import torch
from torch.utils.data import TensorDataset

from modalprompt.core.registry import get_config, get_prompt_model
from modalprompt.core.testing import TinyFeatureBackbone
from modalprompt.core.trainer import Trainer
from modalprompt.core.training_args import TrainingArguments


def _data(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    y = (x[:, 0] > 0).long() * 2 + (x[:, 1] * x[:, 2] > 0).long()
    return TensorDataset(x, y)


def run(quick: bool = False) -> list:
    from modalprompt.demo import DemoResult

    rows = []
    for method in ("linear_probe", "full_finetune"):
        start = time.perf_counter()
        torch.manual_seed(0)
        model = get_prompt_model(TinyFeatureBackbone(), get_config(method, num_classes=4))
        args = TrainingArguments(
            max_epochs=5 if quick else 30, batch_size=32, lr=1e-2, verbose=False
        )
        trainer = Trainer(model, args, train_data=_data(512, 0), eval_data=_data(256, 1))
        trainer.fit()
        acc = trainer.evaluate(_data(512, 2))["accuracy"]
        percent = 100 * model.num_parameters(True) / model.num_parameters()
        rows.append(
            DemoResult(
                "core",
                "procedural 4-class",
                method,
                percent,
                "accuracy",
                acc,
                time.perf_counter() - start,
            )
        )
    return rows
