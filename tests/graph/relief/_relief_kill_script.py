"""A small RELIEF run (separate process) that can SIGKILL itself at the N-th PPO update.

usage: python _relief_kill_script.py OUTPUT_DIR RESULT_FILE [--kill-at-update N] [--resume]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import modalprompt as mp  # noqa: E402
from modalprompt.core.io import atomic_save_tensors  # noqa: E402
from modalprompt.graph.relief.ppo import HybridPPO  # noqa: E402
from modalprompt.graph.relief.train import fit_relief  # noqa: E402
from modalprompt.graph.synthetic import procedural_graphs, tiny_gnn  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("output_dir")
    parser.add_argument("result")
    parser.add_argument("--kill-at-update", type=int, default=None)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = mp.get_config(
        "relief",
        num_outputs=1,
        max_nodes=12,
        ensemble_size=2,
        minibatch_size=16,
        total_epochs=4,
        skip_epochs=2,
        head_warmup_epochs=1,
        head_lr=0.02,
        head_epochs=2,
        graphs_per_rollout=4,
        seed=5,
    )
    model = mp.get_prompt_model(tiny_gnn(), config)
    graphs = procedural_graphs(20, num_tasks=1, seed=3)
    if args.kill_at_update is not None:
        update, calls = HybridPPO.update, [0]

        def killing_update(self, *a, **kw):
            calls[0] += 1
            if calls[0] == args.kill_at_update:
                os.kill(os.getpid(), signal.SIGKILL)
            return update(self, *a, **kw)

        HybridPPO.update = killing_update
    history = fit_relief(
        model,
        graphs[:12],
        graphs[12:],
        output_dir=args.output_dir,
        resume_from="latest" if args.resume else None,
    )
    state = {k: v.contiguous() for k, v in model.prompt_state_dict().items()}
    state["best_epoch"] = torch.tensor(history.best_epoch)
    state["best_metric"] = torch.tensor(history.best_metric, dtype=torch.float64)
    atomic_save_tensors(args.result, state)


if __name__ == "__main__":
    main()
