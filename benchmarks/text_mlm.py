"""Masked-LM prompt methods on real text: PCP, SciPrompt and BayesPrompt with all-MiniLM-L6-v2.

The only pre-trained text model available offline is all-MiniLM-L6-v2 (``../shared/MODELS.md``),
a 6-layer BERT encoder **without a trained MLM head**. It is loaded as ``BertForMaskedLM`` from
its local folder, so the head (transform dense + LayerNorm and the output bias; the decoder is
tied to the trained word embeddings) starts random. Before any method runs, this benchmark
trains that head on the task's unlabelled text (plain masked-LM; encoder frozen, its states at
the masked positions computed once with fixed masks, so only the head trains) and prints the
loss before and after. Every method then starts from that warmed-up model.

Sections (each on the real data in ``../shared/data/text``, or ``--data``):

1. LM-BFF 16-shot (SST-2 and CR, split seeds 13/21/42): PCP vs prompt-based FT vs TAPT vs
   CLS-head FT, test accuracy mean ± std over seeds, and the wall time of every PCP stage.
   PCP's stage 1 (prompt FT on the k-shot split) *is* the prompt-FT baseline, so it is trained
   once and used for both rows.
2. SciPrompt on Emerging NLP (21 classes; the only SciPrompt set shipped with texts): weighted
   verbalizer (the official retrieved terms and scores, calibration, pruning) vs a single label
   word (the class name), zero-shot and few-shot.
3. BayesPrompt vs its KnowPrompt base (the same model trained for the same epochs without the
   particle-written ``[sub]``/``[obj]`` rows) on SemEval-2010 Task 8 k-shot; micro-F1 without
   ``Other``.

The schedules are far shorter than the papers' (1000 fine-tuning steps, 100 MLM epochs, 50
relation epochs on RoBERTa-large) so that the full run ends in under 30 minutes on 2 shared CPU
cores; test sets are fixed random subsets (sizes printed). ``--quick`` (under 5 minutes) runs
SST-2 only, one split seed per section and smaller subsets. To save time the vocabulary
projection runs only where it is read (the [MASK] positions of the prompt models, the masked
tokens of MLM training): :func:`mask_only_mlm_class`, checked to give the same logits, losses
and gradients as the plain ``BertForMaskedLM``.

usage: OMP_NUM_THREADS=1 python benchmarks/text_mlm.py [--quick] [--data DIR]
       (or: modalprompt bench text_mlm [--quick])
"""

from __future__ import annotations

import argparse
import copy
import csv
import random
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from _report import spread, subset
from torch import nn
from torch.utils.data import DataLoader

from modalprompt.core.metrics import accuracy, classification_metrics
from modalprompt.core.pretrained import minilm_path
from modalprompt.core.trainer import Trainer
from modalprompt.core.training_args import TrainingArguments

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "text"


# ----------------------------------------------------------------------------------- helpers


def mask_only_mlm_class() -> type:
    """``BertForMaskedLM`` that, called with ``inputs_embeds`` and no ``labels`` (as the prompt
    models call it), projects onto the vocabulary only at the [MASK] positions (found as rows
    equal to the [MASK] embedding) and leaves zeros elsewhere. The prompt models read the logits
    at the mask only, so their outputs and gradients are unchanged; the projection over the
    30,522-token vocabulary at every position would otherwise double the cost of each step.
    With ``labels`` (masked-LM training) the projection runs at the labelled positions only and
    the loss is the same mean cross-entropy (``logits`` then holds those positions' rows)."""
    from transformers import BertForMaskedLM
    from transformers.modeling_outputs import MaskedLMOutput

    class MaskOnlyBertForMaskedLM(BertForMaskedLM):
        def forward(self, input_ids=None, attention_mask=None, token_type_ids=None,
                    inputs_embeds=None, labels=None, **kwargs):  # fmt: skip
            if labels is not None and input_ids is not None and not kwargs:
                # masked-LM training: the loss reads the labelled positions only
                hidden = self.bert(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    token_type_ids=token_type_ids,
                ).last_hidden_state
                keep = labels != -100
                logits = self.cls(hidden[keep])
                loss = nn.functional.cross_entropy(logits, labels[keep])
                return MaskedLMOutput(loss=loss, logits=logits)
            if labels is not None or inputs_embeds is None or kwargs:
                return super().forward(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    token_type_ids=token_type_ids,
                    inputs_embeds=inputs_embeds,
                    labels=labels,
                    **kwargs,
                )
            hidden = self.bert(
                inputs_embeds=inputs_embeds,
                attention_mask=attention_mask,
                token_type_ids=token_type_ids,
            ).last_hidden_state
            mask_row = self.get_input_embeddings().weight[self.config.mask_token_id]
            where = (inputs_embeds == mask_row.to(inputs_embeds.dtype)).all(-1)
            head = self.cls.predictions
            states = head.transform(hidden)  # (B, L, H): cheap at every position
            decoder = head.decoder
            # hooks on the decoder (BayesPrompt and hidden-reading verbalizers capture its
            # input) see the full (B, L, H) input, as with the plain model
            for hook in list(decoder._forward_pre_hooks.values()):
                hook(decoder, (states,))
            for hook in list(decoder._forward_hooks.values()):
                hook(decoder, (states,), None)
            logits = hidden.new_zeros(*hidden.shape[:2], self.config.vocab_size)
            logits[where] = nn.functional.linear(states[where], decoder.weight, decoder.bias)
            return MaskedLMOutput(logits=logits)

    return MaskOnlyBertForMaskedLM


def load_mlm(folder: str | Path) -> nn.Module:
    """A masked LM from a local folder, with the mask-only projection (eval mode)."""
    return mask_only_mlm_class().from_pretrained(str(folder)).eval()


def load_minilm() -> tuple[nn.Module, Any]:
    """MiniLM as a masked LM (head newly initialised) and its tokenizer."""
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the "MISSING cls.predictions.*" report is expected
    hf_logging.disable_progress_bar()
    path = minilm_path()
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = load_mlm(path)
    model.config.mask_token_id = tokenizer.mask_token_id
    return model, tokenizer


def warm_up_head(
    model: nn.Module,
    tokenizer: Any,
    texts: list[str],
    *,
    epochs: int,
    max_length: int = 64,
    lr: float = 2e-3,
    batch_size: int = 256,
    seed: int = 0,
) -> tuple[float, float, int]:
    """Train the MLM head (transform + output bias; decoder tied to the word embeddings) on
    ``texts`` with the encoder frozen. Masks (15 %, 80/10/10) are drawn once and the encoder
    states at the masked positions computed once; 10 % of them are held out for the loss.

    Returns:
        (held-out loss before, after, number of masked tokens used for training).
    """
    from transformers import DataCollatorForLanguageModeling

    from modalprompt.nlp.pcp.pretrain import tokenize_lines

    collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, seed=seed)
    features = tokenize_lines(tokenizer, texts, max_length)
    states, targets = [], []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(features), 64):
            batch = collate(features[i : i + 64])
            labels = batch.pop("labels")
            hidden = model.bert(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).last_hidden_state
            keep = labels != -100
            states.append(hidden[keep])
            targets.append(labels[keep])
    states, targets = torch.cat(states), torch.cat(targets)
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(targets), generator=g)
    n_val = max(1, len(perm) // 10)
    val, train = perm[:n_val], perm[n_val:]
    head = model.cls.predictions
    params = [*head.transform.parameters(), head.bias]
    flags = {p: p.requires_grad for p in model.parameters()}
    model.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)

    def held_out() -> float:
        with torch.no_grad():
            return nn.functional.cross_entropy(model.cls(states[val]), targets[val]).item()

    before = held_out()
    optimizer = torch.optim.Adam(params, lr=lr)
    for _ in range(epochs):
        order = train[torch.randperm(len(train), generator=g)]
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            loss = nn.functional.cross_entropy(model.cls(states[idx]), targets[idx])
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    for p, flag in flags.items():
        p.requires_grad_(flag)
    return before, held_out(), len(train)


def report_warm_up(what: str, result: tuple[float, float, int], n_texts: int, secs: float) -> None:
    before, after, n = result
    print(
        f"MLM head warm-up on {n_texts} unlabelled {what} texts ({n} masked tokens; encoder "
        f"frozen, head newly initialised): held-out MLM loss {before:.2f} -> {after:.2f} "
        f"({secs:.0f} s)"
    )


# ------------------------------------------------------------------------------ CLS-head FT
class ClsFinetune(nn.Module):
    """CLS-head fine-tuning baseline: ``BertForSequenceClassification`` from the MiniLM folder
    (pre-trained encoder and pooler, new classifier), whole model trained."""

    def __init__(self, tokenizer: Any, num_labels: int, max_length: int) -> None:
        super().__init__()
        from transformers import BertForSequenceClassification

        self.model = BertForSequenceClassification.from_pretrained(
            str(minilm_path()), num_labels=num_labels
        )
        self.tokenizer, self.max_length = tokenizer, max_length

    def collate(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        pair = examples[0].get("text_b") is not None
        batch = self.tokenizer(
            [e["text_a"] for e in examples],
            [e["text_b"] for e in examples] if pair else None,
            truncation=True,
            max_length=self.max_length,
            padding=True,
            return_tensors="pt",
        )
        return {**batch, "labels": torch.tensor([e["label"] for e in examples])}

    def training_step(self, batch: dict) -> dict[str, torch.Tensor]:
        return {"loss": self.model(**batch).loss}

    @torch.no_grad()
    def validation_step(self, batch: dict) -> dict[str, torch.Tensor]:
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        return {"logits": self.model(**inputs).logits, "labels": batch["labels"]}

    def compute_metrics(self, outputs: dict) -> dict[str, float]:
        return classification_metrics(outputs["logits"], outputs["labels"])


def ft_args(steps: int, lr: float, eval_every: int, seed: int, has_dev: bool = True):
    return TrainingArguments(
        max_steps=steps,
        batch_size=8,
        eval_batch_size=32,
        lr=lr,
        weight_decay=0.01,
        warmup_ratio=0.06,
        scheduler="linear",
        eval_strategy="steps" if has_dev else "no",
        eval_every=eval_every,
        restore_best=True,
        seed=seed,
        verbose=False,
        tensorboard=False,
    )


# ------------------------------------------------------------------------------- 1. LM-BFF
def lmbff_section(quick: bool, data: Path, tmp: Path, tasks: list[str] | None = None) -> None:
    from modalprompt.nlp.datasets.lmbff import LMBFF_PROMPTS, load_lmbff, load_unlabeled
    from modalprompt.nlp.pcp.config import PCPConfig
    from modalprompt.nlp.pcp.corpus import build_pcp_corpus, build_tapt_corpus
    from modalprompt.nlp.pcp.pipeline import (
        load_backbone,
        pretrain_stage,
        prompt_finetune,
        pseudo_label,
    )
    from modalprompt.nlp.templates import Template

    root = data / "lmbff"
    if not (root / "k-shot").is_dir():
        raise SystemExit(f"--data: {root}/k-shot not found (LM-BFF splits are needed)")
    tasks = tasks or (["SST-2"] if quick else ["SST-2", "cr"])
    seeds = [13] if quick else [13, 21, 42]
    warm_texts = 256 if quick else 1000
    warm_epochs = 2 if quick else 3
    pool_size = 64 if quick else 96  # PCP / TAPT unlabelled pool (pseudo-labelled for PCP)
    steps, eval_every = (10, 5) if quick else (20, 5)
    mlm_steps = 4 if quick else 6  # batch 16: one pass over the pool
    n_test = 64 if quick else 160
    lr = 2e-4
    print(
        f"\n== 1. LM-BFF 16-shot, split seeds {seeds}: prompt FT / CLS FT {steps} steps of 8 "
        f"(lr {lr}, best of dev every {eval_every}); PCP / TAPT: {mlm_steps} MLM steps of 16 on "
        f"{pool_size} pool texts (lr 1e-4), then the same prompt FT; test subsets of {n_test}"
    )
    for task in tasks:
        prompt = LMBFF_PROMPTS[task]
        pool_all = [  # the CR pool has an empty line
            e for e in load_unlabeled(root, task, "train", keep_labels=True) if e["text_a"].strip()
        ]
        backbone, tokenizer = load_minilm()
        start = time.perf_counter()
        texts = [e["text_a"] for e in subset(pool_all, warm_texts, seed=1)]
        result = warm_up_head(backbone, tokenizer, texts, epochs=warm_epochs)
        report_warm_up(f"{task} pool", result, len(texts), time.perf_counter() - start)
        rows: dict[str, list[float]] = {}
        stages: dict[str, list[float]] = {}
        pseudo_acc = []
        for seed in seeds:
            split = load_lmbff(root, task, seed=seed)
            train, dev = split["train"], split["dev"]
            test = subset(split["test"], n_test)
            gold = torch.tensor([e["label"] for e in test])
            pool = subset(pool_all, pool_size, seed=seed)
            config = PCPConfig(
                template=prompt.template,
                label_words=[[w] for w in prompt.label_words],
                max_length=64,
                ft_lr=lr,
                ft_steps=steps,
                ft_eval_every=eval_every,
                mlm_batch_size=16,
                mlm_grad_accumulation=1,
                mlm_max_steps=mlm_steps,
                seed=seed,
            )

            def test_acc(model, test=test, gold=gold) -> float:
                return accuracy(model.predict_proba(test), gold)

            # prompt FT = PCP stage 1 (the pseudo-labeler)
            t = time.perf_counter()
            labeler = prompt_finetune(load_backbone(backbone), tokenizer, config, train, dev)
            stages.setdefault("1 prompt FT (pseudo-labeler)", []).append(time.perf_counter() - t)
            rows.setdefault("prompt FT", []).append(test_acc(labeler))
            t = time.perf_counter()
            labels, _, _ = pseudo_label(labeler, pool)
            stages.setdefault("1 pseudo-label the pool", []).append(time.perf_counter() - t)
            raw = [str(e["orig_label"]) for e in pool]
            truth = torch.tensor([prompt.labels.index(r) for r in raw])
            pseudo_acc.append(accuracy(labels, truth))
            del labeler
            t = time.perf_counter()
            corpus = build_pcp_corpus(
                pool, labels, Template(config.template, tokenizer), config.label_words
            )
            ckpt = tmp / f"pcp_{task}_{seed}"
            pretrain_stage(load_backbone(backbone), tokenizer, config, corpus, ckpt)
            stages.setdefault("2 continued pre-training", []).append(time.perf_counter() - t)
            t = time.perf_counter()
            pcp = prompt_finetune(load_mlm(ckpt), tokenizer, config, train, dev)
            shutil.rmtree(ckpt)
            stages.setdefault("3 prompt FT from checkpoint", []).append(time.perf_counter() - t)
            rows.setdefault("PCP", []).append(test_acc(pcp))
            del pcp
            t = time.perf_counter()
            ckpt = tmp / f"tapt_{task}_{seed}"
            corpus = build_tapt_corpus(pool)
            pretrain_stage(load_backbone(backbone), tokenizer, config, corpus, ckpt)
            tapt = prompt_finetune(load_mlm(ckpt), tokenizer, config, train, dev)
            shutil.rmtree(ckpt)
            stages.setdefault("TAPT (MLM + prompt FT)", []).append(time.perf_counter() - t)
            rows.setdefault("TAPT", []).append(test_acc(tapt))
            del tapt
            t = time.perf_counter()
            cls = ClsFinetune(tokenizer, len(prompt.labels), 64)
            Trainer(
                cls,
                ft_args(steps, lr, eval_every, seed),
                train_data=train,
                eval_data=dev,
                collate_fn=cls.collate,
            ).fit()
            with torch.no_grad():
                logits = torch.cat(
                    [
                        cls.validation_step(cls.collate(test[i : i + 32]))["logits"]
                        for i in range(0, len(test), 32)
                    ]
                )
            rows.setdefault("CLS-head FT", []).append(accuracy(logits, gold))
            stages.setdefault("CLS-head FT", []).append(time.perf_counter() - t)
            print(
                f"  {task} seed {seed}: "
                + ", ".join(f"{k} {100 * v[-1]:.1f}" for k, v in rows.items())
                + f" (pseudo-label acc {100 * pseudo_acc[-1]:.1f})"
            )
        print(f"\n{task}: 2 classes, 16-shot, test accuracy (%) over {len(seeds)} split seed(s)")
        for method in ("PCP", "prompt FT", "TAPT", "CLS-head FT"):
            print(f"  {method:<14}{spread(rows[method]):>14}")
        print(f"  PCP pseudo-label accuracy on the pool: {spread(pseudo_acc)}")
        print("  wall time (s, mean over seeds):")
        for stage, secs in stages.items():
            print(f"    {stage:<32}{statistics.mean(secs):7.1f}")


# ----------------------------------------------------------------------------- 2. SciPrompt
def read_emerging(folder: Path, classes: list[str]) -> tuple[list[dict], list[dict]]:
    out = []
    for name in ("train_set.csv", "test_set.csv"):
        with (folder / name).open(encoding="utf-8", newline="") as f:
            rows = [r for r in csv.reader(f) if r]
        out.append([{"text_a": r[0], "label": classes.index(r[1].strip())} for r in rows])
    return out[0], out[1]


def sciprompt_section(quick: bool, data: Path) -> None:
    from modalprompt.nlp.sciprompt.config import SciPromptConfig
    from modalprompt.nlp.sciprompt.model import SciPromptModel
    from modalprompt.nlp.sciprompt.terms import read_label_mappings, read_label_terms

    root = data / "sciprompt"
    if not (root / "EmergingNLP" / "train_set.csv").is_file():
        print(f"\n== 2. SciPrompt: skipped, no Emerging NLP texts under {root}")
        return
    classes, _ = read_label_mappings(root / "label_mappings" / "Emerging_NLP_label_mappings.json")
    terms = read_label_terms(
        root / "knowledge_output" / "emerging_nlp_output_words.txt",
        root / "scores" / "emerging_nlp_output_scores.txt",
        classes=classes,
    )
    train, test_all = read_emerging(root / "EmergingNLP", classes)
    shots = 1 if quick else 4
    seeds = [0] if quick else [0, 1]
    steps = 4 if quick else 12
    max_length = 64 if quick else 96
    n_test = 42 if quick else 126
    n_support = 42 if quick else 84
    test = subset(test_all, n_test)
    support = [{"text_a": e["text_a"]} for e in subset(train, n_support, seed=2)]
    gold = torch.tensor([e["label"] for e in test])
    print(
        f"\n== 2. SciPrompt on Emerging NLP ({len(classes)} classes; texts: SciPrompt's other "
        f"sets ship without texts): {sum(terms.counts().values())} official label terms, "
        f"template {SciPromptConfig.template!r}, max_length {max_length}; calibration on "
        f"{n_support} unlabelled training texts; test subset of {n_test}; few-shot: {shots} per "
        f"class, {steps} steps of 8 (lr 1e-4, full FT), seeds {seeds}"
    )
    backbone, tokenizer = load_minilm()
    start = time.perf_counter()
    result = warm_up_head(
        backbone,
        tokenizer,
        [e["text_a"] for e in train],
        epochs=2 if quick else 3,
        max_length=max_length,
    )
    report_warm_up("Emerging NLP training", result, len(train), time.perf_counter() - start)
    single = tuple((t[0],) for t in terms.terms)  # the class name only
    variants = {
        "weighted (terms + scores)": dict(
            label_words=terms.terms, label_word_scores=terms.scores, candidate_frac=0.5
        ),
        "single label word (name)": dict(label_words=single, candidate_frac=0.0),
    }
    rows: dict[tuple[str, str], list[float]] = {}
    removed, fracs = {}, {}
    for name, fields in variants.items():
        for zero_shot in (True, False):
            for seed in [0] if zero_shot else seeds:
                t = time.perf_counter()
                config = SciPromptConfig(
                    **fields,
                    class_names=tuple(classes),
                    zero_shot=zero_shot,
                    max_length=max_length,
                    seed=seed,
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # dropped unmappable terms: counted below
                    model = SciPromptModel(copy.deepcopy(backbone), config, tokenizer=tokenizer)
                loader = DataLoader(support, batch_size=32, collate_fn=model.collator())
                while True:  # official 0.5; a class whose only terms would go keeps them
                    try:
                        model.calibrate(loader)
                        break
                    except ValueError:  # nothing was changed; prune less
                        frac = round(model.config.candidate_frac - 0.1, 1)
                        model.config = model.config.replace(candidate_frac=max(frac, 0.0))
                fracs[name] = model.config.candidate_frac
                removed[name] = (
                    sum(map(len, model.dropped_terms.values())),
                    sum(map(len, model.pruned_terms.values())),
                )
                if not zero_shot:
                    rng = random.Random(seed)
                    few = [
                        e
                        for c in range(len(classes))
                        for e in rng.sample([x for x in train if x["label"] == c], shots)
                    ]
                    args = ft_args(steps, 1e-4, steps, seed, has_dev=False)
                    Trainer(model, args, train_data=few, collate_fn=model.collator()).fit()
                acc = accuracy(model.predict_proba(test), gold)
                setting = "zero-shot" if zero_shot else f"{shots}-shot"
                rows.setdefault((name, setting), []).append(acc)
                print(
                    f"  {name}, {setting}, seed {seed}: {100 * acc:.1f} "
                    f"({time.perf_counter() - t:.0f} s)"
                )
    dropped, pruned = removed["weighted (terms + scores)"]
    print(
        f"\nEmerging NLP test accuracy (%), chance {100 / len(classes):.1f}; weighted verbalizer: "
        f"{dropped} terms unmappable by the tokenizer, {pruned} pruned at calibration "
        f"(candidate_frac {fracs['weighted (terms + scores)']}: the official 0.5 would empty a "
        "class, lowered by 0.1 until none is)"
    )
    print(f"  {'verbalizer':<28}{'zero-shot':>14}{f'{shots}-shot':>14}")
    for name in variants:
        print(
            f"  {name:<28}{spread(rows[(name, 'zero-shot')]):>14}"
            f"{spread(rows[(name, f'{shots}-shot')]):>14}"
        )


# --------------------------------------------------------------------------- 3. BayesPrompt
def bayesprompt_section(quick: bool, data: Path) -> None:
    from transformers import AutoTokenizer

    from modalprompt.nlp.bayesprompt.collate import RelationCollator
    from modalprompt.nlp.bayesprompt.config import BayesPromptConfig
    from modalprompt.nlp.bayesprompt.model import BayesPromptModel
    from modalprompt.nlp.bayesprompt.relations import read_rel2id, read_relations
    from modalprompt.nlp.bayesprompt.train import fit_bayesprompt

    root = data / "semeval"
    if not (root / "k-shot").is_dir():
        raise SystemExit(f"--data: {root}/k-shot not found (SemEval is needed)")
    k = 5
    seeds = [1] if quick else [1, 2]
    epochs = 2 if quick else 4
    n_test = 64 if quick else 200
    n_domain = 500 if quick else 2000
    lr = 1e-4
    rel2id = read_rel2id(root / "rel2id.json")
    test = subset(read_relations(root / "test.txt"), n_test)
    full_train = read_relations(root / "train.txt")
    domain = subset(full_train, n_domain, seed=3)
    print(
        f"\n== 3. BayesPrompt vs KnowPrompt on SemEval-2010 Task 8, {k}-shot ({k * 18} training "
        f"sentences), split seeds {seeds}: {epochs} epochs of batch 8, lr {lr}, whole model "
        f"trained; BayesPrompt: 1 collection epoch, GMM on {len(domain)} unlabelled training "
        f"sentences (transductive, as the official code), 1000 SVGD iterations; test subset of "
        f"{n_test}"
    )
    backbone, tokenizer = load_minilm()
    start = time.perf_counter()
    texts = [" ".join(e.tokens) for e in subset(full_train, 256 if quick else 1000, seed=4)]
    result = warm_up_head(backbone, tokenizer, texts, epochs=2 if quick else 3)
    report_warm_up("SemEval training", result, len(texts), time.perf_counter() - start)
    path = str(minilm_path())
    rows: dict[str, list[tuple[float, float]]] = {}
    for seed in seeds:
        train = read_relations(root / "k-shot" / f"{k}-{seed}" / "train.txt")
        for method in ("BayesPrompt", "KnowPrompt"):
            t = time.perf_counter()
            tok = AutoTokenizer.from_pretrained(path)
            config = BayesPromptConfig.from_relations(rel2id, tok, seed=seed)
            model = BayesPromptModel(copy.deepcopy(backbone), config)
            collate = RelationCollator(tok, rel2id, max_length=128)
            args = TrainingArguments(
                max_epochs=epochs,
                batch_size=8,
                eval_batch_size=32,
                lr=lr,
                weight_decay=0.01,
                warmup_ratio=0.1,
                scheduler="linear",
                eval_strategy="no",
                seed=seed,
                verbose=False,
                tensorboard=False,
            )
            if method == "BayesPrompt":
                trainer = fit_bayesprompt(model, train, None, collate, args, domain_examples=domain)
            else:
                trainer = Trainer(model, args, train_data=train, collate_fn=collate)
                trainer.fit()
            metrics = trainer.evaluate(test)
            rows.setdefault(method, []).append((metrics["micro_f1"], metrics["accuracy"]))
            print(
                f"  {method} seed {seed}: micro-F1 {100 * metrics['micro_f1']:.1f}, accuracy "
                f"{100 * metrics['accuracy']:.1f} ({time.perf_counter() - t:.0f} s)"
            )
    print(f"\nSemEval {k}-shot test (%), {len(seeds)} split seed(s)")
    print(f"  {'method':<14}{'micro-F1 (no Other)':>22}{'accuracy':>14}")
    for method, values in rows.items():
        print(
            f"  {method:<14}{spread([f for f, _ in values]):>22}"
            f"{spread([a for _, a in values]):>14}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument(
        "--only", choices=("lmbff", "sciprompt", "bayesprompt"), default=None, help="one section"
    )
    parser.add_argument("--tasks", nargs="+", default=None, help="LM-BFF tasks (SST-2 cr ...)")
    args = parser.parse_args()
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # progress lines show up in a log file
    data = Path(args.data)
    if not data.is_dir():
        raise SystemExit(f"--data: {data} not found (the shared text data are needed)")
    start = time.perf_counter()
    print(
        f"all-MiniLM-L6-v2 (6 x 384) as a masked LM, {'quick' if args.quick else 'full'} run, "
        f"{torch.get_num_threads()} thread(s)"
    )
    sections = {
        "lmbff": lambda: lmbff_section(args.quick, data, Path(tmp), args.tasks),
        "sciprompt": lambda: sciprompt_section(args.quick, data),
        "bayesprompt": lambda: bayesprompt_section(args.quick, data),
    }
    with tempfile.TemporaryDirectory(prefix="modalprompt-text-mlm-") as tmp:
        for name, run in sections.items():
            if args.only in (None, name):
                t = time.perf_counter()
                run()
                print(f"[{name}: {time.perf_counter() - t:.0f} s]")
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
