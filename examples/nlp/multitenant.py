"""Several prompt tenants on one frozen backbone, served in mixed batches.

PEFT batches mixed adapters (``adapter_names``) for LoRA only; prompt methods cannot mix
(peft#759). ``MultiTenantPromptModel`` gives every row of a batch its own tenant's soft prompt
(prompt tuning, EPT with its own input offset, or IAPT with its own per-layer generators) and,
for classifiers, its own head.

1. Classification on real 16-shot data: an SST-2 tenant (prompt tuning, 20 tokens) and a CR
   tenant (EPT) trained on the *same* all-MiniLM-L6-v2 object (frozen; mean-pooling head as in
   ``examples/nlp/ept.py``, since MiniLM's [CLS]/pooler carry no sentence information), then one
   batch that interleaves SST-2 and CR test sentences.
2. Generation on a tiny random GPT-2 (no pre-trained decoder is available offline): three
   prompt-tuning tenants, an IAPT tenant and ``"__base__"`` (no prompt) in one left-padded
   batch, with the KV cache; each row equals its tenant run alone.

Measured 2026-12-04 on 2 CPU cores (``OMP_NUM_THREADS=2``, nothing else running): 14 s wall:

    OMP_NUM_THREADS=1 python examples/nlp/multitenant.py [--data ../shared/data/text/lmbff]
"""

import argparse
import random
from pathlib import Path

import torch
from transformers import AutoTokenizer
from transformers.utils import logging as hf_logging

import modalprompt as mp
from modalprompt.core.pretrained import minilm_path
from modalprompt.nlp.datasets.lmbff import load_lmbff
from modalprompt.nlp.ept.config import EptConfig
from modalprompt.nlp.mean_pooling import MeanPoolBertForSequenceClassification
from modalprompt.nlp.multitenant import MultiTenantPromptModel
from modalprompt.nlp.tiny_models import tiny_causal_lm

parser = argparse.ArgumentParser()
default = Path(__file__).resolve().parents[3] / "shared" / "data" / "text" / "lmbff"
parser.add_argument("--data", default=str(default))
args = parser.parse_args()
MAX_LENGTH = 48  # every row padded to EPT's max_length


# ------------------------------------------------------------- 1. classification tenants
hf_logging.set_verbosity_error()  # "classifier.* newly initialised" is expected
torch.manual_seed(0)
backbone = MeanPoolBertForSequenceClassification.from_pretrained(minilm_path(), num_labels=2)
backbone.eval()
tokenizer = AutoTokenizer.from_pretrained(minilm_path())


def encode(examples):
    enc = tokenizer(
        [e["text_a"] for e in examples],
        padding="max_length",
        truncation=True,
        max_length=MAX_LENGTH,
        return_tensors="pt",
    )
    return [
        {**{k: v[i] for k, v in enc.items()}, "labels": torch.tensor(e["label"])}
        for i, e in enumerate(examples)
    ]


def collate(items):
    return {k: torch.stack([item[k] for item in items]) for k in items[0]}


common = {"task": "classification", "init": "vocab", "seed": 13}
configs = {
    "SST-2": mp.get_config("prompt_tuning", num_virtual_tokens=20, **common),
    "cr": EptConfig.for_budget(
        384, 20, num_virtual_tokens=4, max_length=MAX_LENGTH, num_spaces=2, space_rank=2, **common
    ),
}
tenants, tests = {}, {}
for task, config in configs.items():
    split = load_lmbff(args.data, task, seed=13)
    tenants[task] = mp.get_prompt_model(backbone, config)  # the same backbone object
    training = mp.TrainingArguments(
        max_epochs=5, batch_size=8, lr=2e-2, eval_strategy="no", seed=13, verbose=True
    )
    mp.Trainer(tenants[task], training, train_data=encode(split["train"]), collate_fn=collate).fit()
    tests[task] = encode(random.Random(0).sample(split["test"], 32))
    print(f"tenant {task!r}: {type(tenants[task]).__name__}, trained on 32 examples")

server = MultiTenantPromptModel(tenants).eval()
rows = [x for pair in zip(tests["SST-2"], tests["cr"], strict=True) for x in pair]
names = ["SST-2", "cr"] * len(tests["cr"])  # alternate rows: each needs its own tenant
batch = collate(rows)
labels = batch.pop("labels")
with torch.no_grad():
    mixed = server(adapter_names=names, **batch)  # (64, 2): one forward for both tenants
    alone = torch.empty_like(mixed)
    for task in tenants:
        index = torch.tensor([i for i, n in enumerate(names) if n == task])
        alone[index] = tenants[task].eval()(**{k: v[index] for k, v in batch.items()})
for task in tenants:
    index = torch.tensor([i for i, n in enumerate(names) if n == task])
    acc = (mixed[index].argmax(-1) == labels[index]).float().mean()
    print(f"{task}: accuracy {acc:.2f} on 32 test sentences served in the mixed batch")
print(f"mixed batch vs each tenant alone: max |logit diff| {(mixed - alone).abs().max():.1e}")
server.close()

# ------------------------------------------------------------------ 2. generation tenants
decoder = tiny_causal_lm("gpt2")  # random weights: the tokens mean nothing, only routing does
gen_tenants = {
    f"user{i}": mp.get_prompt_model(
        decoder, mp.get_config("prompt_tuning", num_virtual_tokens=n, seed=i)
    )
    for i, n in enumerate((2, 5, 8))
}
gen_tenants["iapt"] = mp.get_prompt_model(decoder, mp.get_config("iapt", num_tokens=4, seed=3))
gen_server = MultiTenantPromptModel(gen_tenants)
ids = torch.randint(5, 64, (5, 6), generator=torch.Generator().manual_seed(0))
mask = torch.ones_like(ids)
ids[1, :2], mask[1, :2] = 0, 0  # left padding
ids[3, :3], mask[3, :3] = 0, 0
users = ["user0", "user1", "__base__", "user2", "iapt"]
kw = {"max_new_tokens": 6, "do_sample": False, "pad_token_id": 0}
tokens = gen_server.generate(ids, users, attention_mask=mask, **kw)  # KV cache on
for row, user in enumerate(users):
    if user == "__base__":
        real = mask[row].bool()
        solo = decoder.generate(ids[row : row + 1, real], **kw)[0, int(real.sum()) :]
    else:
        one = gen_tenants[user].generate(
            ids[row : row + 1], attention_mask=mask[row : row + 1], **kw
        )
        solo = one[0, ids.size(1) :]
    same = torch.equal(tokens[row, ids.size(1) :], solo)
    print(f"row {row} ({user:8s}): {tokens[row, ids.size(1) :].tolist()}  same as alone: {same}")
