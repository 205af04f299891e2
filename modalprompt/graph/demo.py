"""The graph part of ``modalprompt demo``: RELIEF against the shared baselines, procedural data.

A frozen 2-layer GIN (random weights: no pre-trained checkpoint ships with the library) embeds
small procedural graphs whose class shifts their node features; a few-shot training set,
validation for model selection, and a held-out test set. Rows: head only on pooled frozen
embeddings (``linear_probe``), GPF and GPF-plus feature prompts, RELIEF's RL feature prompts
with their head (``relief``), and full fine-tuning (``full_finetune``).
"""

from __future__ import annotations

import time

import torch
from torch import nn

__all__ = ["run"]


def _collate(items):
    from torch_geometric.data import Batch

    return Batch.from_data_list(items)


def run(quick: bool = False) -> list:
    """Train each method with a few-shot split; one row per method."""
    import modalprompt as mp
    from modalprompt.demo import DemoResult
    from modalprompt.graph.readout import PooledGraphFeatures
    from modalprompt.graph.relief import fit_relief
    from modalprompt.graph.synthetic import procedural_graphs, tiny_gnn

    graphs = procedural_graphs(120, seed=7, task_type="multiclass")
    for g in graphs:  # a harder problem than the tests': smaller class shift
        g.x = g.x - 0.5 * float(g.y)
    train, val, test = graphs[:24], graphs[24:56], graphs[56:]
    epochs = 4 if quick else 20
    rows = []

    def row(method: str, model: nn.Module, seconds: float) -> None:
        model.eval()
        with torch.no_grad():
            batch = _collate(test)
            logits = model(batch)
        acc = float((logits.argmax(-1) == batch.y).float().mean())
        percent = 100 * model.num_parameters(True) / model.num_parameters()
        rows.append(
            DemoResult(
                "graph", "procedural 2-class, 24-shot", method, percent, "accuracy", acc, seconds
            )
        )

    for method in ("linear_probe", "full_finetune"):
        start = time.perf_counter()
        model = mp.get_prompt_model(
            PooledGraphFeatures(tiny_gnn(seed=0)), mp.get_config(method, num_classes=2)
        )
        args = mp.TrainingArguments(
            max_epochs=epochs * 3, batch_size=8, lr=1e-2, verbose=False, tensorboard=False
        )
        mp.Trainer(model, args, train_data=train, eval_data=val, collate_fn=_collate).fit()
        row(method, model, time.perf_counter() - start)

    for method in ("gpf", "gpf_plus"):
        start = time.perf_counter()
        model = mp.get_prompt_model(
            tiny_gnn(seed=0),
            mp.get_config(method, task_type="multiclass", num_outputs=2, head_dropout=0.0),
        )
        args = mp.TrainingArguments(
            max_epochs=epochs * 3,
            batch_size=8,
            lr=1e-2,
            verbose=False,
            tensorboard=False,
            metric="accuracy",
        )
        mp.Trainer(model, args, train_data=train, eval_data=val, collate_fn=_collate).fit()
        row(method, model, time.perf_counter() - start)

    start = time.perf_counter()
    config = mp.get_config(
        "relief",
        task_type="multiclass",
        num_outputs=2,
        max_nodes=12,
        total_epochs=epochs,
        skip_epochs=min(3, epochs),
        ensemble_size=2,
        minibatch_size=32,
        head_lr=1e-2,
        head_epochs=3,
        alpha_discrete=1.0,
    )
    model = mp.get_prompt_model(tiny_gnn(seed=0), config)
    fit_relief(model, train, val)
    row("relief", model, time.perf_counter() - start)
    return rows
