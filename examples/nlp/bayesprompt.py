"""BayesPrompt (Li et al., ICLR 2024) on KnowPrompt-style relation extraction.

Input: ``[sub] SUBJ [sub] [MASK] [obj] OBJ [obj] .`` + the sentence with entity markers; the
relation is read at the mask through one virtual answer token per relation. After a collection
epoch, a Gaussian mixture is fitted to features of the target domain (unlabelled texts), SVGD
moves particles started at the training inputs' features towards it, and from then on the
``[sub]`` / ``[obj]`` rows are averages of sampled particles.

Runs on a tiny random BERT and toy sentences built in code (Measured 2026-12-04 on 2 CPU cores
(``OMP_NUM_THREADS=2``, nothing else running): 9 s wall). With real data read SemEval with
``read_relations`` / ``read_rel2id`` (``../shared/data/text/semeval``) and pass a real language
model (benchmarks/text_mlm.py and examples/nlp/llm_bayesprompt.py do, with SmolLM2-135M-Instruct).

    python examples/nlp/bayesprompt.py
"""

import random

import modalprompt as mp
from modalprompt.core.trainer import Trainer
from modalprompt.core.training_args import TrainingArguments
from modalprompt.nlp.bayesprompt.collate import RelationCollator
from modalprompt.nlp.bayesprompt.config import BayesPromptConfig
from modalprompt.nlp.bayesprompt.relations import RelationExample
from modalprompt.nlp.bayesprompt.train import fit_bayesprompt
from modalprompt.nlp.tiny_models import tiny_relation_masked_lm, tiny_relation_tokenizer

REL2ID = {"Other": 0, "Cause-Effect(e1,e2)": 1, "Entity-Origin(e1,e2)": 2}
CUES = {0: "and", 1: "cause", 2: "from"}  # the word that signals each toy relation
NOUNS = ["water", "oven", "beer", "starches", "car", "engine", "virus", "fever", "tree"]


def sentences(n: int, seed: int) -> list[RelationExample]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = i % 3
        a, b = rng.sample(NOUNS, 2)
        tokens = ("the", a, CUES[label], "the", b, ".")
        out.append(RelationExample(tokens, (1, 2), (4, 5), list(REL2ID)[label]))
    return out


train, test, unlabeled = sentences(12, 0), sentences(30, 1), sentences(60, 2)
args = TrainingArguments(
    max_epochs=20, batch_size=4, lr=1e-3, eval_strategy="no", verbose=False, tensorboard=False
)
for method in ("bayesprompt", "knowprompt"):
    tokenizer = (
        tiny_relation_tokenizer()
    )  # a fresh one: the collator adds [sub], [obj], [class1..K]
    config = BayesPromptConfig.from_relations(REL2ID, tokenizer, svgd_iterations=200)
    model = mp.get_prompt_model(tiny_relation_masked_lm(config.vocab_size), config)
    collate = RelationCollator(tokenizer, REL2ID, max_length=40)
    if method == "bayesprompt":
        # 1 collection epoch, GMM on the unlabelled domain texts, SVGD, then the rest
        trainer = fit_bayesprompt(model, train, None, collate, args, domain_examples=unlabeled)
        print(f"particles: {tuple(model.particles.shape)} (one per training sentence)")
    else:  # the KnowPrompt base: the same model, no particle-written rows
        trainer = Trainer(model, args, train_data=train, collate_fn=collate)
        trainer.fit()
    metrics = trainer.evaluate(test)  # micro-F1 without the "Other" class, and accuracy
    print(f"{method}: " + ", ".join(f"{k} {v:.2f}" for k, v in metrics.items()))
