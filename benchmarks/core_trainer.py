"""Overhead of the core Trainer against a hand-written PyTorch loop doing the same work.

Both train the same linear probe on the same frozen MLP backbone, same data order, same AdamW,
same number of steps; the Trainer additionally clips gradients, steps a scheduler, checks for
NaN/inf and logs. Printed: seconds per 100 steps for each and their ratio (measured in one run,
interleaved, median of repeats), and whether both ended at the same parameters.

usage: python benchmarks/core_trainer.py [--quick]     (or: modalprompt bench core_trainer)
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import modalprompt as mp


class MLPBackbone(nn.Module):
    feature_dim = 256

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 256), nn.GELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def make_model() -> mp.PromptModel:
    torch.manual_seed(0)
    return mp.get_prompt_model(MLPBackbone(), mp.get_config("linear_probe", num_classes=10))


def data(n: int) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 64, generator=g)
    return TensorDataset(x, torch.randint(0, 10, (n,), generator=g))


def run_trainer(dataset: TensorDataset, epochs: int) -> tuple[float, torch.Tensor]:
    model = make_model()
    args = mp.TrainingArguments(
        max_epochs=epochs,
        batch_size=64,
        lr=1e-3,
        shuffle=False,
        max_grad_norm=None,
        eval_strategy="no",
        verbose=False,
    )
    trainer = mp.Trainer(model, args, train_data=dataset)
    start = time.perf_counter()
    trainer.fit()
    return time.perf_counter() - start, model.head[1].weight.detach().clone()


def run_plain(dataset: TensorDataset, epochs: int) -> tuple[float, torch.Tensor]:
    model = make_model()
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=1e-3, weight_decay=0.0)
    loader = DataLoader(dataset, batch_size=64, shuffle=False)
    start = time.perf_counter()
    model.train()
    for _ in range(epochs):
        for x, y in loader:
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start, model.head[1].weight.detach().clone()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, epochs, repeats = (6400, 2, 3) if args.quick else (12800, 5, 5)
    dataset = data(n)
    steps = epochs * n // 64
    ours, plain = [], []
    for _ in range(repeats):  # interleaved, so both see the same machine load
        t, w_ours = run_trainer(dataset, epochs)
        ours.append(t)
        t, w_plain = run_plain(dataset, epochs)
        plain.append(t)
    same = torch.allclose(w_ours, w_plain, atol=1e-6)
    per100 = lambda ts: 100 * statistics.median(ts) / steps  # noqa: E731
    print(
        f"{steps} steps x {repeats} repeats, batch 64, linear probe on a 2-layer MLP (CPU threads: "
        f"{torch.get_num_threads()})"
    )
    print(f"{'loop':<22}{'s / 100 steps':>15}{'ratio':>8}")
    print(f"{'plain PyTorch loop':<22}{per100(plain):>15.4f}{1.0:>8.2f}")
    print(f"{'modalprompt Trainer':<22}{per100(ours):>15.4f}{per100(ours) / per100(plain):>8.2f}")
    print(f"same final parameters: {same}")


if __name__ == "__main__":
    main()
