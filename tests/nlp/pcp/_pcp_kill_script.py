"""A small PCP run (separate process) that can SIGKILL itself at the N-th continued
pre-training step.

usage: python _pcp_kill_script.py OUTPUT_DIR RESULT_FILE [--kill-at-mlm-step N] [--resume]
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
from modalprompt.nlp.pcp import pipeline, pretrain  # noqa: E402
from modalprompt.nlp.pcp.pipeline import run_pcp  # noqa: E402
from modalprompt.nlp.prompt_finetune.testing import TINY_EXAMPLES  # noqa: E402
from modalprompt.nlp.tiny_models import tiny_bert, tiny_bert_tokenizer  # noqa: E402

POOL = [
    {"text_a": "a good story"},
    {"text_a": "the worst acting"},
    {"text_a": "i hate this movie"},
    {"text_a": "wonderful fun film"},
    {"text_a": "terrible plot"},
    {"text_a": "a great cast and a fine script"},
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("output_dir")
    parser.add_argument("result")
    parser.add_argument("--kill-at-mlm-step", type=int, default=None)
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    tokenizer = tiny_bert_tokenizer()
    torch.manual_seed(0)
    backbone = tiny_bert(len(tokenizer))
    config = mp.get_config(
        "pcp",
        template="{text_a} it was {mask} .",
        label_words=[["terrible"], ["great"]],
        max_length=24,
        ft_steps=4,
        ft_batch_size=4,
        ft_eval_every=2,
        ft_lr=1e-3,
        mlm_max_steps=8,
        mlm_batch_size=2,
        mlm_grad_accumulation=1,
        mlm_lr=1e-3,
        mlm_save_every=2,
    )
    step, calls = pretrain._LanguageModelling.training_step, [0]

    def counting_step(self, batch):
        calls[0] += 1
        if calls[0] == args.kill_at_mlm_step:
            os.kill(os.getpid(), signal.SIGKILL)
        return step(self, batch)

    pretrain._LanguageModelling.training_step = counting_step
    labelled, pseudo_label = [0], pipeline.pseudo_label

    def counting_pseudo_label(*a, **kw):
        labelled[0] += 1
        return pseudo_label(*a, **kw)

    pipeline.pseudo_label = counting_pseudo_label
    result = run_pcp(
        backbone,
        tokenizer,
        config,
        TINY_EXAMPLES,
        POOL,
        args.output_dir,
        dev=TINY_EXAMPLES,
        device="cpu",
        resume_from="latest" if args.resume else None,
    )
    state = {f"model.{k}": v.contiguous() for k, v in result.model.prompt_state_dict().items()}
    state["pseudo_labels"] = result.pseudo_labels
    state["mlm_losses"] = torch.tensor(result.mlm.losses, dtype=torch.float64)
    state["calls"] = torch.tensor([calls[0], labelled[0]])  # MLM steps, pseudo-labellings
    atomic_save_tensors(args.result, state)


if __name__ == "__main__":
    main()
