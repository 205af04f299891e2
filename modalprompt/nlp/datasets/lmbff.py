"""Reader for the LM-BFF k-shot splits and PCP's unlabelled pools, plus the per-task prompts.

Layout (LM-BFF ``data/k-shot``, as shipped by PowerfulPromptFT)::

    <root>/k-shot/<TASK>/16-<seed>/{train,dev,test}.{tsv,csv}
    <root>/unlabeled/<TASK>/{train,dev}.json

Every task is parsed as LM-BFF's ``processors.py`` does:

* SST-2: ``.tsv`` with header ``sentence label``;
* CoLA: ``.tsv`` without header, columns (source, label, mark, sentence);
* MRPC: ``.tsv`` with header, label in column 0, sentences in columns 3 and 4;
* RTE: ``.tsv`` header ``index sentence1 sentence2 label`` (``entailment`` / ``not_entailment``);
* SNLI: ``.tsv`` with the SNLI header, sentence1 = column 7, sentence2 = column 8, gold label last;
* sst-5, mr, cr: ``.csv`` without header, ``label,text``.

Examples are plain dicts ``{"text_a", "text_b", "label"}`` with ``label`` the class index in the
order of :data:`LMBFF_PROMPTS` (LM-BFF's label lists). SNLI's LM-BFF ``test.tsv`` is not shipped
with the shared data; :func:`load_snli_test` reads ``text/snli/test.tsv`` (header ``premise
hypothesis label``, 0/1/2 = entailment/neutral/contradiction) instead.
"""

from __future__ import annotations

import csv
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "LMBFF_TASKS",
    "LMBFF_PROMPTS",
    "TaskPrompt",
    "load_lmbff_split",
    "load_lmbff",
    "load_unlabeled",
    "load_snli_test",
]


@dataclass(frozen=True)
class TaskPrompt:
    """LM-BFF / PCP hard prompt of one task (brief §4.3 table).

    Attributes:
        template: in :mod:`modalprompt.nlp.templates` syntax.
        labels: the raw labels in class order, as the files spell them.
        label_words: one label word per class, same order.
        pair: whether the task has ``text_b``.
    """

    template: str
    labels: tuple[str, ...]
    label_words: tuple[str, ...]
    pair: bool = False


_SENT = "{text_a} It was {mask} ."
LMBFF_PROMPTS: dict[str, TaskPrompt] = {
    "SST-2": TaskPrompt(_SENT, ("0", "1"), ("terrible", "great")),
    "sst-5": TaskPrompt(
        _SENT, ("0", "1", "2", "3", "4"), ("terrible", "bad", "okay", "good", "great")
    ),
    "mr": TaskPrompt(_SENT, ("0", "1"), ("terrible", "great")),
    "cr": TaskPrompt(_SENT, ("0", "1"), ("terrible", "great")),
    "CoLA": TaskPrompt("{text_a} This is {mask}", ("0", "1"), ("incorrect", "correct")),
    "MRPC": TaskPrompt("{text_a} {mask} , {text_b}", ("0", "1"), ("No", "Yes"), pair=True),
    "RTE": TaskPrompt(
        "{text_a} . {mask} , I think that {text_b}",
        ("entailment", "not_entailment"),
        ("Clearly", "Yet"),
        pair=True,
    ),
    "SNLI": TaskPrompt(
        "{text_a} . {mask} , in this case {text_b}",
        ("contradiction", "entailment", "neutral"),
        ("No", "Yes", "Maybe"),
        pair=True,
    ),
}
LMBFF_TASKS = tuple(LMBFF_PROMPTS)
_SNLI_INT = {"0": "entailment", "1": "neutral", "2": "contradiction"}


def _check_task(task: str) -> TaskPrompt:
    if task not in LMBFF_PROMPTS:
        raise ValueError(f"task must be one of {list(LMBFF_TASKS)}, got {task!r}")
    return LMBFF_PROMPTS[task]


def _example(prompt: TaskPrompt, a: str, b: str | None, label: str) -> dict[str, Any]:
    label = label.strip()
    if label not in prompt.labels:
        raise ValueError(f"label {label!r} is not one of {list(prompt.labels)}")
    return {"text_a": a, "text_b": b, "label": prompt.labels.index(label)}


def _read_rows(path: Path, delimiter: str) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        if delimiter == "\t":
            return [line.rstrip("\n").split("\t") for line in f if line.strip()]
        return [row for row in csv.reader(f) if row]


def load_lmbff_split(path: str | Path, task: str) -> list[dict[str, Any]]:
    """Read one LM-BFF split file of ``task`` into examples.

    Args:
        path: the ``train`` / ``dev`` / ``test`` file (``.tsv`` or ``.csv``).
        task: one of :data:`LMBFF_TASKS`.
    """
    prompt = _check_task(task)
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no LM-BFF split at {path}")
    try:
        return _split_examples(path, task, prompt)
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text (byte {err.start}: {err.reason})") from None
    except IndexError:
        raise ValueError(f"{path}: a row has too few columns for task {task!r}") from None
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def _split_examples(path: Path, task: str, prompt: TaskPrompt) -> list[dict[str, Any]]:
    if task in ("sst-5", "mr", "cr"):
        return [_example(prompt, r[1], None, r[0]) for r in _read_rows(path, ",")]
    rows = _read_rows(path, "\t")
    if task == "SST-2":
        return [_example(prompt, r[0], None, r[1]) for r in rows[1:]]
    if task == "CoLA":
        return [_example(prompt, r[3], None, r[1]) for r in rows]
    if task == "MRPC":
        return [_example(prompt, r[3], r[4], r[0]) for r in rows[1:]]
    if task == "RTE":
        return [_example(prompt, r[1], r[2], r[-1]) for r in rows[1:]]
    return [_example(prompt, r[7], r[8], r[-1]) for r in rows[1:]]  # SNLI


def load_lmbff(
    root: str | Path, task: str, seed: int = 13, k: int = 16
) -> dict[str, list[dict[str, Any]]]:
    """The ``train`` / ``dev`` / ``test`` splits of ``<root>/<task>/<k>-<seed>/``.

    Args:
        root: the ``k-shot`` folder (``.../text/lmbff/k-shot``), or its parent.
        task: one of :data:`LMBFF_TASKS`.
        seed: split seed (13, 21, 42, 87, 100 in LM-BFF).
        k: shots per class.

    Returns:
        ``{"train": [...], "dev": [...], "test": [...]}``; a missing test file (SNLI in the shared
        data) gives no ``"test"`` key — use :func:`load_snli_test`.
    """
    _check_task(task)
    root = Path(root)
    if (root / "k-shot").is_dir():
        root = root / "k-shot"
    folder = root / task / f"{k}-{seed}"
    if not folder.is_dir():
        raise FileNotFoundError(f"root/task/k-seed: no folder {folder}")
    out: dict[str, list[dict[str, Any]]] = {}
    for split in ("train", "dev", "test"):
        for ext in (".tsv", ".csv"):
            if (folder / f"{split}{ext}").is_file():
                out[split] = load_lmbff_split(folder / f"{split}{ext}", task)
                break
    if "train" not in out:
        raise FileNotFoundError(f"root: no train file in {folder}")
    return out


def load_snli_test(path: str | Path) -> list[dict[str, Any]]:
    """SNLI 1.0 test set from ``text/snli/test.tsv`` (header ``premise hypothesis label``)."""
    prompt = LMBFF_PROMPTS["SNLI"]
    rows = _read_rows(Path(path), "\t")
    if not rows or rows[0][:3] != ["premise", "hypothesis", "label"]:
        raise ValueError(f"path: expected a header 'premise hypothesis label' in {path}")
    return [_example(prompt, r[0], r[1], _SNLI_INT.get(r[2], r[2])) for r in rows[1:]]


def load_unlabeled(
    root: str | Path, task: str, split: str = "train", keep_labels: bool = False
) -> list[dict[str, Any]]:
    """PCP's unlabelled pool ``<root>/unlabeled/<task>/<split>.json``.

    Args:
        root: the ``lmbff`` folder (holding ``unlabeled/``) or the ``unlabeled`` folder itself.
        task: one of :data:`LMBFF_TASKS`.
        split: ``train`` or ``dev``.
        keep_labels: keep the source's original label under ``"orig_label"`` (PCP treats the
            pool as unlabelled; ``"label"`` is always ``None``).

    Entries whose ``text_a`` is empty or blank (the CR pool has some) are skipped with a warning
    that gives their count: they cannot be wrapped in a template or tokenised.
    """
    _check_task(task)
    if split not in ("train", "dev"):
        raise ValueError(f"split must be 'train' or 'dev', got {split!r}")
    root = Path(root)
    if (root / "unlabeled").is_dir():
        root = root / "unlabeled"
    path = root / task / f"{split}.json"
    if not path.is_file():
        raise FileNotFoundError(f"root: no unlabelled pool at {path}")
    records = json.loads(path.read_text(encoding="utf-8"))
    out, blank = [], 0
    for key in sorted(records, key=lambda k: int(k) if str(k).isdigit() else k):
        r = records[key]
        if not str(r.get("text_a") or "").strip():
            blank += 1
            continue
        ex = {"text_a": r["text_a"], "text_b": r.get("text_b"), "label": None}
        if keep_labels:
            ex["orig_label"] = r.get("label")
        out.append(ex)
    if blank:
        warnings.warn(f"{path}: skipped {blank} entries with an empty text_a", stacklevel=2)
    return out
