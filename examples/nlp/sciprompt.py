"""SciPrompt (You et al., EMNLP 2024): a knowledge-augmented weighted verbalizer.

Each class has many label terms with correlation scores (retrieved and filtered offline; the
official lists for Emerging NLP, S2ORC, SDPRA and arXiv are read with ``read_label_terms``). The
class score is a softmax(score-initialised weights)-weighted sum of the terms' calibrated
log-probabilities at the mask; calibration on unlabelled texts also prunes improbable terms.
Zero-shot: calibrate and predict. Few-shot: then fine-tune (weights trainable, as the paper).

This runs on a tiny random BERT built in code (the printed numbers only show the workflow); the
official term files are read when ``../shared/data/text/sciprompt`` is present. For a real run
pass SciBERT (or any masked LM, or a causal LM) and its tokenizer (benchmarks/text_mlm.py uses
SmolLM2-135M-Instruct on Emerging NLP). Measured 2026-12-04 on 2 CPU cores
(``OMP_NUM_THREADS=2``, nothing else running): 5 s wall.

    python examples/nlp/sciprompt.py
"""

import warnings
from pathlib import Path

from torch.utils.data import DataLoader

import modalprompt as mp
from modalprompt.core.trainer import Trainer
from modalprompt.core.training_args import TrainingArguments
from modalprompt.nlp.sciprompt import LabelTerms, SciPromptConfig, read_label_terms
from modalprompt.nlp.tiny_models import tiny_bert, tiny_bert_tokenizer

# 1. the official knowledge files (class name first with score 1, then the filtered terms)
data = Path(__file__).resolve().parents[3] / "shared" / "data" / "text" / "sciprompt"
if (data / "knowledge_output").is_dir():
    official = read_label_terms(
        data / "knowledge_output" / "emerging_nlp_output_words.txt",
        data / "scores" / "emerging_nlp_output_scores.txt",
    )
    print(f"Emerging NLP: {official.num_classes} classes, terms per class {official.counts()}")
    print("  first terms of class 0:", official.as_dict()[official.classes[0]][:3])

# 2. a toy task in the tiny tokenizer's vocabulary: terms and scores per class
terms = LabelTerms.from_lists(
    {"negative": ["terrible", "bad", "awful", "worst"], "positive": ["great", "good", "best"]},
    {"negative": [1.0, 0.8, 0.7, 0.6], "positive": [1.0, 0.9, 0.6]},
)
unlabeled = [{"text_a": t} for t in ["a film", "the plot", "i think so", "the acting was okay"]]
train = [
    {"text_a": "a great movie", "label": 1},
    {"text_a": "the worst plot", "label": 0},
    {"text_a": "i love this film", "label": 1},
    {"text_a": "boring and awful acting", "label": 0},
]
test = [{"text_a": "a fun and wonderful story"}, {"text_a": "awful , boring plot"}]
tokenizer = tiny_bert_tokenizer()
template = "the review is : {mask} . {text_a}"  # official: "The field of this study is ..."

for zero_shot in (True, False):
    config = SciPromptConfig.from_terms(
        terms, template=template, zero_shot=zero_shot, candidate_frac=0.25, max_length=32
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # terms the tokenizer cannot map are dropped (counted)
        model = mp.get_prompt_model(tiny_bert(len(tokenizer)), config, tokenizer=tokenizer)
    model.calibrate(DataLoader(unlabeled, batch_size=4, collate_fn=model.collator()))
    print(f"\nzero_shot={zero_shot}: pruned at calibration {model.pruned_terms}")
    model.print_trainable_parameters()
    if not zero_shot:
        args = TrainingArguments(
            max_steps=40, batch_size=4, lr=1e-3, eval_strategy="no", verbose=False,
            tensorboard=False,
        )  # fmt: skip
        Trainer(model, args, train_data=train, collate_fn=model.collator()).fit()
    probs = model.predict_proba(test)
    for example, p in zip(test, probs):
        print(f"  {example['text_a']!r}: P(positive) = {p[1]:.2f}")
