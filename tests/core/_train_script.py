"""A small training run used by the trainer tests as a separate process (kill / resume / DDP).

usage: python _train_script.py OUTPUT_DIR RESULT_FILE [--kill-at STEP] [--resume]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import modalprompt as mp  # noqa: E402
from modalprompt.core.callbacks import LambdaCallback  # noqa: E402
from modalprompt.core.io import atomic_save_tensors  # noqa: E402
from tests.core._tiny import make_backbone, make_dataset  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("output_dir")
    parser.add_argument("result")
    parser.add_argument("--kill-at", type=int, default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--method", default="full_finetune")
    args = parser.parse_args()
    torch.set_num_threads(1)

    model = mp.get_prompt_model(
        make_backbone(), mp.get_config(args.method, num_classes=3, dropout=0.2)
    )
    training = mp.TrainingArguments(
        output_dir=args.output_dir,
        max_epochs=4,
        batch_size=10,
        lr=0.05,
        scheduler="cosine",
        warmup_steps=3,
        save_every=4,
        eval_strategy="epoch",
        verbose=False,
        tensorboard=False,
        grad_accumulation_steps=2,
    )
    callbacks = []
    if args.kill_at is not None:

        def kill(trainer, logs):
            if trainer.state.global_step == args.kill_at:
                os._exit(17)  # dies like a killed process: no cleanup, no final save

        callbacks.append(LambdaCallback(on_step_end=kill))
    trainer = mp.Trainer(
        model,
        training,
        train_data=make_dataset(),
        eval_data=make_dataset(40, seed=1),
        callbacks=callbacks,
    )
    trainer.fit(resume_from="latest" if args.resume else None)
    result = args.result if not trainer.dist.enabled else f"{args.result}.rank{trainer.dist.rank}"
    atomic_save_tensors(result, dict(model.state_dict()))
    print(f"rank {trainer.dist.rank} finished at step {trainer.state.global_step}")


if __name__ == "__main__":
    main()
