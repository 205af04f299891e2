"""A small training run that SIGKILLs itself at a chosen point (run as a separate process).

usage: python _fault_script.py OUTPUT_DIR RESULT_FILE [--resume]
           [--kill-at-step N | --kill-in-save STEP | --kill-in-rename STEP]

* ``--kill-at-step N``: dies right after optimizer step N;
* ``--kill-in-save STEP``: dies while checkpoint-STEP is being assembled (after its
  ``optimizer.safetensors``, before its manifest and rename);
* ``--kill-in-rename STEP``: dies when checkpoint-STEP is saved a second time (the final save at
  the step of the last per-epoch save), between moving the old folder aside and moving the new
  one in.

Three epochs of 6 steps; with ``save_every`` unset a checkpoint is written after every epoch.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import modalprompt as mp  # noqa: E402
import modalprompt.core.io as mp_io  # noqa: E402
import modalprompt.core.trainer_checkpoint as mp_ckpt  # noqa: E402
from modalprompt.core.callbacks import LambdaCallback  # noqa: E402
from modalprompt.core.io import atomic_save_tensors  # noqa: E402
from tests.core._tiny import make_backbone, make_dataset  # noqa: E402


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _arm_kill_in_save(step: int) -> None:
    real = mp_ckpt.atomic_save_tensors

    def save(path, tensors, metadata=None):
        real(path, tensors, metadata)
        path = Path(path)
        if path.name == "optimizer.safetensors" and path.parent.name.startswith(
            f".checkpoint-{step}."
        ):
            _die()

    mp_ckpt.atomic_save_tensors = save


def _arm_kill_in_rename(step: int) -> None:
    real = os.replace

    def replace(src, dst):
        dst = Path(dst)
        backup = dst.with_name(f".{dst.name}.old")
        if dst.name == f"checkpoint-{step}" and Path(src).is_dir() and backup.exists():
            _die()  # the old folder is aside, the new one not yet in place
        real(src, dst)

    mp_io.os.replace = replace


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("output_dir")
    parser.add_argument("result")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--kill-at-step", type=int)
    parser.add_argument("--kill-in-save", type=int)
    parser.add_argument("--kill-in-rename", type=int)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.kill_in_save is not None:
        _arm_kill_in_save(args.kill_in_save)
    if args.kill_in_rename is not None:
        _arm_kill_in_rename(args.kill_in_rename)

    model = mp.get_prompt_model(
        make_backbone(), mp.get_config("full_finetune", num_classes=3, dropout=0.2)
    )
    training = mp.TrainingArguments(
        output_dir=args.output_dir,
        max_epochs=3,
        batch_size=16,
        lr=0.05,
        scheduler="cosine",
        warmup_steps=2,
        verbose=False,
        tensorboard=False,
    )
    callbacks = []
    if args.kill_at_step is not None:
        callbacks.append(
            LambdaCallback(
                on_step_end=lambda t, _: _die() if t.state.global_step == args.kill_at_step else 0
            )
        )
    trainer = mp.Trainer(
        model,
        training,
        train_data=make_dataset(),
        eval_data=make_dataset(40, seed=1),
        callbacks=callbacks,
    )
    trainer.fit(resume_from="latest" if args.resume else None)
    atomic_save_tensors(args.result, dict(model.state_dict()))
    print(f"finished at step {trainer.state.global_step}")


if __name__ == "__main__":
    main()
