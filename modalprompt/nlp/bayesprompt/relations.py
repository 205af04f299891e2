"""Relation-extraction data for BayesPrompt / KnowPrompt: SemEval-style records and prompts.

Records are JSON lines ``{"token": [...], "h": {"name", "pos": [s, e]}, "t": {...},
"relation": "Cause-Effect(e1,e2)"}`` (SemEval-2010 Task 8 as KnowPrompt/BayesPrompt ship it, and
TACRED-style sets converted to it); ``rel2id.json`` maps relation names to ids.

An example becomes two segments (KnowPrompt, ``use_template_words=1``)::

    [sub] SUBJECT [sub] <mask> [obj] OBJECT [obj] .
    ... [subject_start] SUBJECT [subject_end] ... [object_start] OBJECT [object_end] ...

and the relation is read from the ``<mask>`` position through one virtual answer word per
relation (``[class1]`` ...), initialised with the mean embedding of the relation name's tokens.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

__all__ = [
    "RelationExample",
    "read_relations",
    "read_rel2id",
    "relation_label_words",
    "SUBJECT_MARKERS",
    "OBJECT_MARKERS",
    "PROMPT_MARKERS",
    "mark_sentence",
    "relation_prompt",
]

SUBJECT_MARKERS = ("[subject_start]", "[subject_end]")
OBJECT_MARKERS = ("[object_start]", "[object_end]")
PROMPT_MARKERS = ("[sub]", "[obj]")


@dataclasses.dataclass(frozen=True)
class RelationExample:
    """One sentence with a subject and an object span (token positions, end exclusive)."""

    tokens: tuple[str, ...]
    subject: tuple[int, int]
    object: tuple[int, int]
    relation: str

    @property
    def subject_text(self) -> str:
        return " ".join(self.tokens[self.subject[0] : self.subject[1]])

    @property
    def object_text(self) -> str:
        return " ".join(self.tokens[self.object[0] : self.object[1]])


def read_relations(path: str | Path) -> list[RelationExample]:
    """Read a JSON-lines relation file; a malformed line raises with its line number."""
    examples = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                tokens = tuple(record["token"])
                spans = [tuple(record[key]["pos"]) for key in ("h", "t")]
                relation = record["relation"]
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise ValueError(f"{path}:{number}: not a relation record ({err})") from err
            for (start, end), key in zip(spans, ("h", "t")):
                if not 0 <= start < end <= len(tokens):
                    raise ValueError(
                        f"{path}:{number}: {key}.pos {[start, end]} outside the sentence"
                    )
            examples.append(RelationExample(tokens, spans[0], spans[1], relation))
    return examples


def read_rel2id(path: str | Path) -> dict[str, int]:
    """``{relation: id}``; ids must be 0..K-1 without gaps."""
    with open(path, encoding="utf-8") as handle:
        mapping = json.load(handle)
    if sorted(mapping.values()) != list(range(len(mapping))):
        raise ValueError(
            f"{path}: relation ids must be 0..{len(mapping) - 1}, got {sorted(mapping.values())}"
        )
    return mapping


def relation_label_words(relation: str) -> str:
    """The words a relation's virtual answer token is initialised from.

    As the official ``get_label_word.py``: lower-cased, cut at ``(``, ``:``/``_``/``-`` → space,
    ``no_relation``/``NA`` → "no relation". Differs: the official code replaces the substring
    "per" by "person" and "org" by "organization" anywhere (so "supervisor" would become
    "supersonvisor"); here only the TACRED prefixes ``per:``/``org:`` are expanded.
    """
    if relation in ("no_relation", "NA"):
        return "no relation"
    name = relation.split("(")[0]
    name = re.sub(r"^per:", "person ", name)
    name = re.sub(r"^org:", "organization ", name)
    return re.sub(r"[:_\-]", " ", name).lower().strip()


def mark_sentence(example: RelationExample) -> str:
    """The sentence with entity markers around subject and object."""
    out = []
    for i, token in enumerate(example.tokens):
        if i == example.subject[0]:
            out.append(SUBJECT_MARKERS[0])
        if i == example.object[0]:
            out.append(OBJECT_MARKERS[0])
        out.append(token)
        if i == example.subject[1] - 1:
            out.append(SUBJECT_MARKERS[1])
        if i == example.object[1] - 1:
            out.append(OBJECT_MARKERS[1])
    return " ".join(out)


def relation_prompt(example: RelationExample, mask_token: str | None) -> str:
    """``[sub] SUBJECT [sub] <mask> [obj] OBJECT [obj] .``; with ``mask_token=None`` (a causal
    LM, whose answer slot is the next token) ``[sub] SUBJECT [sub] [obj] OBJECT [obj] .``.

    On a decoder the answer is read from the last input position; the closing ``.`` of the
    masked-LM prompt is kept so that position is a fixed token, never a ``[sub]``/``[obj]`` row,
    which BayesPrompt overwrites with a particle average every batch (the masked LM reads
    ``<mask>``, also fixed). Measured on SmolLM2, 5-shot SemEval, 8 epochs: it changes little
    (micro-F1 after 8 epochs with it / with ``[obj]`` last: BayesPrompt 0.24 / 0.25, KnowPrompt
    0.32 / 0.35, on 160 test sentences, within their noise); it is
    kept because it is the masked-LM prompt's own text and removes one way noise could reach
    the answer."""
    sub, obj = PROMPT_MARKERS
    if mask_token is None:
        return f"{sub} {example.subject_text} {sub} {obj} {example.object_text} {obj} ."
    return f"{sub} {example.subject_text} {sub} {mask_token} {obj} {example.object_text} {obj} ."
