"""Text tasks for run files: LM-BFF k-shot, Emerging NLP, SemEval relations, procedural text.

Which backbone a text task builds depends on the method (the CLI passes its name):

* ``prompt_tuning``, ``ept``, ``iapt``: a sequence classifier (all-MiniLM-L6-v2 with a new head
  on the mean of its states, or ``AutoModelForSequenceClassification`` from ``backbone``);
* ``prompt_finetune``, ``sciprompt``, ``pcp``, ``bayesprompt``: a masked LM
  (``AutoModelForMaskedLM``; MiniLM ships without its MLM head, which then starts random);
* ``linear_probe``, ``full_finetune``: the encoder's mean-pooled sentence embedding.

``backbone`` is a local Hugging Face folder (default: the installed all-MiniLM-L6-v2; nothing is
downloaded). The procedural tasks use the tiny random models of :mod:`modalprompt.nlp.tiny_models`
unless ``backbone`` names a folder, so they run in seconds.
"""

from __future__ import annotations

import random
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from modalprompt.core.tasks import Task, progress, register_task, shared_data_dir

__all__ = ["CLASSIFIER_METHODS", "MASKED_LM_METHODS", "FEATURE_METHODS", "TEXT_METHODS"]

CLASSIFIER_METHODS = ("prompt_tuning", "ept", "iapt")
MASKED_LM_METHODS = ("prompt_finetune", "sciprompt", "pcp")
FEATURE_METHODS = ("linear_probe", "full_finetune")
TEXT_METHODS = CLASSIFIER_METHODS + MASKED_LM_METHODS + FEATURE_METHODS


# ------------------------------------------------------------------------------- backbones
def _quiet_hf() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # newly initialised heads are expected here, not news
    hf_logging.disable_progress_bar()


def _tiny_tokenizer_dir() -> str:
    """The tiny WordPiece tokenizer saved at a fixed temporary path (configs name the folder,
    so ``modalprompt eval`` finds the same one)."""
    from modalprompt.nlp.tiny_models import tiny_bert_tokenizer

    folder = Path(tempfile.gettempdir()) / "modalprompt-tiny-bert-tokenizer"
    if not (folder / "tokenizer.json").is_file():
        tiny_bert_tokenizer().save_pretrained(str(folder))
    return str(folder)


def _folder(backbone: str | None) -> str:
    """``backbone`` checked, or the installed all-MiniLM-L6-v2's folder."""
    if backbone is not None:
        if not Path(backbone).is_dir():
            raise FileNotFoundError(f"task_args.backbone: {backbone} is not a local model folder")
        return backbone
    from modalprompt.core.pretrained import minilm_path

    return str(minilm_path())


def _form(method: str | None) -> str:
    if method in CLASSIFIER_METHODS:
        return "classifier"
    if method in FEATURE_METHODS:
        return "features"
    return "masked_lm"


def _build_backbone(form: str, folder: str | None, num_labels: int) -> nn.Module:
    """The backbone of ``form`` from ``folder`` (None: the tiny random BERT)."""
    from modalprompt.nlp.demo import MeanPooledEncoder

    _quiet_hf()
    torch.manual_seed(0)
    if folder is None:
        from modalprompt.nlp import tiny_models

        if form == "classifier":
            return tiny_models.tiny_bert_classifier(num_labels=num_labels)
        mlm = tiny_models.tiny_bert()
        return MeanPooledEncoder(mlm.bert).eval() if form == "features" else mlm
    import transformers

    if form == "classifier":
        from modalprompt.core.pretrained import minilm_path

        if Path(folder) == minilm_path():
            from modalprompt.nlp.mean_pooling import load_minilm_classifier

            return load_minilm_classifier(num_labels)
        auto = transformers.AutoModelForSequenceClassification
        return auto.from_pretrained(folder, num_labels=num_labels, local_files_only=True).eval()
    if form == "features":
        model = transformers.AutoModel.from_pretrained(folder, local_files_only=True)
        return MeanPooledEncoder(model).eval()
    model, info = transformers.AutoModelForMaskedLM.from_pretrained(
        folder, local_files_only=True, output_loading_info=True
    )
    if info.get("missing_keys"):
        warnings.warn(
            f"task_args.backbone: {folder} has no trained masked-LM head "
            f"({len(info['missing_keys'])} tensors newly initialised); prompt-based methods read "
            "that head (modalprompt.nlp.mlm_head.warm_up_mlm_head trains it on unlabelled text)",
            stacklevel=2,
        )
    return model.eval()


def _tokenizer(folder: str | None) -> Any:
    from transformers import AutoTokenizer

    if folder is None:
        folder = _tiny_tokenizer_dir()
    return AutoTokenizer.from_pretrained(folder, local_files_only=True)


class _ClassifierCollator:
    """Tokenise ``text_a`` (+ ``text_b``), padded to ``max_length`` (EPT's offset is per
    position)."""

    def __init__(self, tokenizer: Any, max_length: int) -> None:
        self.tokenizer, self.max_length = tokenizer, max_length

    def __call__(self, examples: Sequence[dict[str, Any]]) -> dict[str, torch.Tensor]:
        a = [e["text_a"] for e in examples]
        b = [e.get("text_b") for e in examples]
        enc = self.tokenizer(
            a,
            b if all(x is not None for x in b) else None,
            padding="max_length",
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        batch = {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}
        batch["labels"] = torch.tensor([int(e["label"]) for e in examples])
        return batch


def _calibrate(train: list[dict[str, Any]]):
    """SciPrompt calibrates its verbalizer on unlabelled task texts before training."""

    def prepare(model: nn.Module) -> None:
        if getattr(model.config, "calibrate", False) and hasattr(model, "calibrate"):
            from torch.utils.data import DataLoader

            texts = [{"text_a": e["text_a"]} for e in train]
            progress(f"calibrating the verbalizer on {len(texts)} texts")
            model.calibrate(DataLoader(texts, batch_size=32, collate_fn=model.collator()))

    return prepare


def _text_task(
    method: str | None,
    folder: str | None,
    splits: dict[str, list[dict[str, Any]]],
    template: str,
    label_words: Sequence[Sequence[str]],
    max_length: int,
    label_word_scores: Sequence[Sequence[float]] | None = None,
    class_names: Sequence[str] | None = None,
    extras: dict[str, Any] | None = None,
) -> Task:
    """A classification task over ``{"text_a", "text_b", "label"}`` examples for ``method``."""
    num_labels = len(label_words)
    form = _form(method)
    backbone = _build_backbone(form, folder, num_labels)
    overrides: dict[str, Any] = {}
    collate = None
    if form == "classifier":
        overrides = {"task": "classification"}
        if method == "ept":
            overrides["max_length"] = max_length
        collate = _ClassifierCollator(_tokenizer(folder), max_length)
    elif form == "features":
        overrides = {"num_classes": num_labels}
        collate = _ClassifierCollator(_tokenizer(folder), max_length)
    else:
        overrides = {
            "tokenizer": folder or _tiny_tokenizer_dir(),
            "template": template,
            "label_words": [list(w) for w in label_words],
            "max_length": max_length,
        }
        if method == "sciprompt":
            overrides["label_word_scores"] = (
                [list(s) for s in label_word_scores] if label_word_scores else None
            )
            overrides["class_names"] = list(class_names) if class_names else None
    return Task(
        backbone=backbone,
        train_data=splits["train"],
        eval_data=splits.get("dev"),
        test_data=splits.get("test"),
        collate_fn=collate,
        config_overrides=overrides,
        prepare=_calibrate(splits["train"]) if method == "sciprompt" else None,
        extras=extras or {},
    )


def _subset(items: list, n: int | None, seed: int = 0) -> list:
    if n is None or n >= len(items):
        return items
    return [items[i] for i in sorted(random.Random(seed).sample(range(len(items)), n))]


def _check_positive(**values: int | None) -> None:
    for name, value in values.items():
        if value is not None and value < 1:
            raise ValueError(f"task_args.{name}: expected an integer >= 1, got {value}")


# ----------------------------------------------------------------------------------- tasks
_POSITIVE = ("great", "good", "wonderful", "fun", "best")
_NEGATIVE = ("terrible", "bad", "awful", "boring", "worst")
_SUBJECTS = ("the movie", "the film", "the story", "the plot", "the acting", "this film")


def procedural_reviews(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` short reviews over the tiny test vocabulary; label 1 = positive, and a ``not``
    flips the adjective's polarity."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = i % 2
        negate = rng.random() < 0.25
        polar = label if not negate else 1 - label
        adjective = rng.choice(_POSITIVE if polar else _NEGATIVE)
        verb = "was not" if negate else rng.choice(("was", "is"))
        out.append({"text_a": f"{rng.choice(_SUBJECTS)} {verb} {adjective} .", "label": label})
    rng.shuffle(out)
    return out


@register_task(
    "nlp/synthetic_reviews",
    description="procedural 2-class reviews; tiny random BERT unless backbone names a folder",
    methods=TEXT_METHODS,
)
def synthetic_reviews(
    num_train: int = 16,
    num_val: int = 16,
    num_test: int = 64,
    max_length: int = 16,
    seed: int = 0,
    backbone: str | None = None,
    method: str | None = None,
) -> Task:
    """:func:`procedural_reviews`, template ``"{text_a} it was {mask} ."``."""
    _check_positive(num_train=num_train, num_val=num_val, num_test=num_test)
    _check_positive(max_length=max_length)
    folder = None if backbone is None else _folder(backbone)
    splits = {
        "train": procedural_reviews(num_train, 3 * seed),
        "dev": procedural_reviews(num_val, 3 * seed + 1),
        "test": procedural_reviews(num_test, 3 * seed + 2),
    }
    words = (("terrible", "bad", "awful"), ("great", "good", "wonderful"))
    scores = ((1.0, 0.8, 0.6), (1.0, 0.8, 0.6))
    pool = [{"text_a": e["text_a"]} for e in splits["train"]]
    return _text_task(
        method, folder, splits, "{text_a} it was {mask} .", words, max_length, scores,
        ("negative", "positive"), extras={"unlabeled": pool},
    )  # fmt: skip


@register_task(
    "nlp/lmbff",
    description="LM-BFF k-shot splits (SST-2, sst-5, mr, cr, CoLA, MRPC, RTE, SNLI)",
    methods=TEXT_METHODS,
)
def lmbff(
    task: str = "SST-2",
    root: str | None = None,
    shots: int = 16,
    split_seed: int = 13,
    test_size: int | None = None,
    max_length: int = 128,
    backbone: str | None = None,
    method: str | None = None,
) -> Task:
    """:func:`~modalprompt.nlp.datasets.lmbff.load_lmbff` with LM-BFF's template and label words
    for ``task``; PCP's unlabelled pool (``unlabeled/<task>/train.json``) rides along."""
    from modalprompt.nlp.datasets.lmbff import (
        LMBFF_PROMPTS,
        load_lmbff,
        load_snli_test,
        load_unlabeled,
    )

    if task not in LMBFF_PROMPTS:
        raise ValueError(f"task_args.task: expected one of {list(LMBFF_PROMPTS)}, got {task!r}")
    _check_positive(shots=shots, test_size=test_size, max_length=max_length)
    base = Path(root) if root else shared_data_dir() / "text" / "lmbff"
    shots_dir = base / "k-shot" if (base / "k-shot").is_dir() else base
    split_dir = shots_dir / task / f"{shots}-{split_seed}"
    if not split_dir.is_dir():
        raise FileNotFoundError(f"task_args.root/shots/split_seed: no folder {split_dir}")
    folder = _folder(backbone)
    splits = load_lmbff(shots_dir, task, seed=split_seed, k=shots)
    if "test" not in splits and task == "SNLI":
        splits["test"] = load_snli_test(base.parent / "snli" / "test.tsv")
    if "test" in splits:
        splits["test"] = _subset(splits["test"], test_size)
    extras = {}
    if method == "pcp" and (base / "unlabeled" / task / "train.json").is_file():
        extras["unlabeled"] = load_unlabeled(base, task)
    prompt = LMBFF_PROMPTS[task]
    words = [(w,) for w in prompt.label_words]
    return _text_task(method, folder, splits, prompt.template, words, max_length, extras=extras)


@register_task(
    "nlp/emerging_nlp",
    description="SciPrompt's Emerging NLP (21 topics of NLP abstracts), official label terms",
    methods=TEXT_METHODS,
)
def emerging_nlp(
    root: str | None = None,
    shots: int = 4,
    val_shots: int = 2,
    split_seed: int = 0,
    test_size: int | None = None,
    max_length: int = 128,
    backbone: str | None = None,
    method: str | None = None,
) -> Task:
    """Emerging NLP's ``train_set.csv`` / ``test_set.csv`` with the official retrieved label terms
    and scores (:func:`~modalprompt.nlp.sciprompt.terms.read_label_terms`); ``shots`` training
    abstracts per class, ``val_shots`` more for validation; the other training abstracts are
    PCP's unlabelled pool."""
    import csv

    from modalprompt.nlp.sciprompt.config import SciPromptConfig
    from modalprompt.nlp.sciprompt.terms import read_label_mappings, read_label_terms

    _check_positive(shots=shots, val_shots=val_shots, test_size=test_size, max_length=max_length)
    base = Path(root) if root else shared_data_dir() / "text" / "sciprompt"
    if not (base / "EmergingNLP" / "train_set.csv").is_file():
        raise FileNotFoundError(f"task_args.root: no EmergingNLP/train_set.csv in {base}")
    folder = _folder(backbone)
    classes, _ = read_label_mappings(base / "label_mappings" / "Emerging_NLP_label_mappings.json")
    terms = read_label_terms(
        base / "knowledge_output" / "emerging_nlp_output_words.txt",
        base / "scores" / "emerging_nlp_output_scores.txt",
        classes=classes,
    )
    data = {}
    for split, name in (("train", "train_set.csv"), ("test", "test_set.csv")):
        with (base / "EmergingNLP" / name).open(encoding="utf-8", newline="") as handle:
            rows = [r for r in csv.reader(handle) if r]
        data[split] = [{"text_a": r[0], "label": classes.index(r[1].strip())} for r in rows]
    rng = random.Random(split_seed)
    train, dev = [], []
    for c in range(len(classes)):
        members = [e for e in data["train"] if e["label"] == c]
        rng.shuffle(members)
        if len(members) < shots:
            raise ValueError(f"task_args.shots: class {classes[c]!r} has only {len(members)}")
        train += members[:shots]
        dev += members[shots : shots + val_shots]
    splits = {"train": train, "dev": dev or None, "test": _subset(data["test"], test_size)}
    template = SciPromptConfig.template
    words = terms.terms if method == "sciprompt" else [t[:1] for t in terms.terms]
    chosen = {id(e) for e in train + dev}
    pool = [{"text_a": e["text_a"]} for e in data["train"] if id(e) not in chosen]
    return _text_task(
        method, folder, splits, template, words, max_length, terms.scores, classes,
        extras={"unlabeled": pool},
    )  # fmt: skip


# -------------------------------------------------------------------------------- relations
_RELATIONS = {"Other": 0, "Cause-Effect(e1,e2)": 1, "Content-Container(e1,e2)": 2}
_PAIRS = {
    "Cause-Effect(e1,e2)": (("virus", "fever"), ("oven", "water")),
    "Content-Container(e1,e2)": (("beer", "container"), ("message", "product")),
    "Other": (("tree", "car"), ("engine", "forest")),
}
_VERBS = {
    "Cause-Effect(e1,e2)": "produced",
    "Content-Container(e1,e2)": "was in",
    "Other": "was with",
}


def procedural_relations(n: int, seed: int = 0) -> list[Any]:
    """``n`` relation sentences over BayesPrompt's tiny test vocabulary (3 relations)."""
    from modalprompt.nlp.bayesprompt.relations import RelationExample

    rng = random.Random(seed)
    names = sorted(_RELATIONS, key=_RELATIONS.get)
    out = []
    for i in range(n):
        relation = names[i % len(names)]
        subject, obj = rng.choice(_PAIRS[relation])
        tokens = ("the", subject, *_VERBS[relation].split(), "the", obj, ".")
        pos = len(tokens) - 2
        out.append(RelationExample(tokens, (1, 2), (pos, pos + 1), relation))
    return out


def _relation_task(
    folder: str | None, rel2id: dict[str, int], splits: dict[str, list], max_length: int
) -> Task:
    from modalprompt.nlp.bayesprompt.collate import RelationCollator
    from modalprompt.nlp.bayesprompt.config import BayesPromptConfig

    _quiet_hf()
    if folder is None:
        from modalprompt.nlp.tiny_models import tiny_relation_masked_lm, tiny_relation_tokenizer

        tokenizer = tiny_relation_tokenizer()
        backbone = tiny_relation_masked_lm(len(tokenizer))
    else:
        tokenizer = _tokenizer(folder)
        backbone = _build_backbone("masked_lm", folder, len(rel2id))
    fixed = BayesPromptConfig.from_relations(rel2id, tokenizer).to_dict()
    keep = ("num_classes", "vocab_size", "mask_token_id", "label_word_ids", "na_class")
    collate = RelationCollator(tokenizer, rel2id, max_length=max_length)
    return Task(
        backbone=backbone,
        train_data=splits["train"],
        eval_data=splits.get("dev"),
        test_data=splits.get("test"),
        collate_fn=collate,
        config_overrides={k: fixed[k] for k in keep},
        metric="micro_f1",
        extras={"domain_examples": splits.get("domain")},
    )


@register_task(
    "nlp/synthetic_relations",
    description="procedural relation sentences (3 relations) on a tiny random BERT; BayesPrompt",
    methods=("bayesprompt",),
)
def synthetic_relations(
    num_train: int = 12, num_val: int = 12, num_test: int = 24, max_length: int = 32, seed: int = 0
) -> Task:
    """:func:`procedural_relations` on BayesPrompt's tiny masked LM and tokenizer."""
    _check_positive(num_train=num_train, num_val=num_val, num_test=num_test)
    _check_positive(max_length=max_length)
    splits = {
        "train": procedural_relations(num_train, 3 * seed),
        "dev": procedural_relations(num_val, 3 * seed + 1),
        "test": procedural_relations(num_test, 3 * seed + 2),
    }
    return _relation_task(None, dict(_RELATIONS), splits, max_length)


@register_task(
    "nlp/semeval",
    description="SemEval-2010 Task 8 relation classification, k-shot splits; BayesPrompt",
    methods=("bayesprompt",),
)
def semeval(
    root: str | None = None,
    shots: int = 5,
    split_seed: int = 1,
    val_size: int | None = 200,
    test_size: int | None = None,
    domain_size: int | None = 500,
    max_length: int = 128,
    backbone: str | None = None,
) -> Task:
    """:func:`~modalprompt.nlp.bayesprompt.relations.read_relations` of ``k-shot/<shots>-<seed>``;
    ``domain_size`` unlabelled training sentences feed BayesPrompt's GMM (as the official code)."""
    from modalprompt.nlp.bayesprompt.relations import read_rel2id, read_relations

    _check_positive(shots=shots, val_size=val_size, test_size=test_size, max_length=max_length)
    _check_positive(domain_size=domain_size)
    base = Path(root) if root else shared_data_dir() / "text" / "semeval"
    split_dir = base / "k-shot" / f"{shots}-{split_seed}"
    if not (split_dir / "train.txt").is_file():
        raise FileNotFoundError(f"task_args.root/shots/split_seed: no train.txt in {split_dir}")
    folder = _folder(backbone)
    splits = {
        "train": read_relations(split_dir / "train.txt"),
        "dev": _subset(read_relations(base / "val.txt"), val_size),
        "test": _subset(read_relations(base / "test.txt"), test_size),
        "domain": _subset(read_relations(base / "train.txt"), domain_size, seed=3),
    }
    return _relation_task(folder, read_rel2id(base / "rel2id.json"), splits, max_length)
