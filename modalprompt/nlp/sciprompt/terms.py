"""Label-term sets: per class, its label terms and their correlation scores.

SciPrompt's verbalizer knowledge is one list of terms per class (the class name first, with
score 1) and one score per term (the bi-encoder cosine between the class name and the term).
The official repository ships them as two aligned text files, read by :func:`read_label_terms`:

* ``knowledge_output/<DS>_output_words.txt``: one line per class, ``classname,term1,term2,...``;
* ``scores/<DS>_output_scores.txt``: one line per class, ``1,s1,s2,...`` (same positions).

Blank lines separate groups in the official reader and only the first group is used; the same
rule applies here. Nothing in this module imports torch: it is plain data handling.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "LabelTerms",
    "read_label_terms",
    "read_label_dict",
    "read_label_mappings",
    "unmappable_terms",
    "drop_unmappable",
]


@dataclass(frozen=True)
class LabelTerms:
    """Label terms of every class, with one score per term.

    Attributes:
        classes: class names (or ids) in label order, length C.
        terms: per class, its terms (tuple of C tuples of strings).
        scores: per class, one finite score per term (same nesting as ``terms``).

    Raises:
        ValueError: on a class without terms, an empty term, a count mismatch between terms and
            scores, or a non-finite score; the message names the class.
    """

    classes: tuple[Any, ...]
    terms: tuple[tuple[str, ...], ...]
    scores: tuple[tuple[float, ...], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "terms", tuple(tuple(t) for t in self.terms))
        object.__setattr__(self, "scores", tuple(tuple(float(s) for s in r) for r in self.scores))
        if not self.classes:
            raise ValueError("LabelTerms: needs at least one class")
        if len(self.terms) != len(self.classes) or len(self.scores) != len(self.classes):
            raise ValueError(
                f"LabelTerms: {len(self.classes)} classes but {len(self.terms)} term lists and "
                f"{len(self.scores)} score lists"
            )
        for c, ts, ss in zip(self.classes, self.terms, self.scores):
            if not ts:
                raise ValueError(f"LabelTerms: class {c!r} has no label terms")
            bad = [t for t in ts if not isinstance(t, str) or not t.strip()]
            if bad:
                raise ValueError(f"LabelTerms: class {c!r} has empty or non-string terms {bad}")
            if len(ts) != len(ss):
                raise ValueError(
                    f"LabelTerms: class {c!r} has {len(ts)} terms but {len(ss)} scores"
                )
            if not all(math.isfinite(s) for s in ss):
                raise ValueError(f"LabelTerms: class {c!r} has non-finite scores {list(ss)}")

    @classmethod
    def from_lists(
        cls,
        terms: Mapping[Any, Sequence[str]] | Sequence[Sequence[str]],
        scores: Mapping[Any, Sequence[float]] | Sequence[Sequence[float]] | None = None,
        classes: Sequence[Any] | None = None,
    ) -> LabelTerms:
        """From user lists: ``{class: [terms]}`` or a list of term lists (classes ``0..C-1``).

        ``scores`` has the same nesting; ``None`` gives every term the score 1.
        """
        if isinstance(terms, Mapping):
            classes = list(classes) if classes is not None else list(terms)
            missing = [c for c in classes if c not in terms]
            if missing:
                raise ValueError(f"terms: no label terms for classes {missing}")
            rows = [list(terms[c]) for c in classes]
        else:
            rows = [[t] if isinstance(t, str) else list(t) for t in terms]
            classes = list(classes) if classes is not None else list(range(len(rows)))
        if scores is None:
            score_rows = [[1.0] * len(r) for r in rows]
        elif isinstance(scores, Mapping):
            missing = [c for c in classes if c not in scores]
            if missing:
                raise ValueError(f"scores: no scores for classes {missing}")
            score_rows = [list(scores[c]) for c in classes]
        else:
            score_rows = [list(r) for r in scores]
        return cls(tuple(classes), tuple(map(tuple, rows)), tuple(map(tuple, score_rows)))

    @property
    def num_classes(self) -> int:
        """Number of classes C."""
        return len(self.classes)

    def counts(self) -> dict[Any, int]:
        """Number of terms per class."""
        return {c: len(t) for c, t in zip(self.classes, self.terms)}

    def as_dict(self) -> dict[Any, list[tuple[str, float]]]:
        """``{class: [(term, score), ...]}``."""
        return {c: list(zip(ts, ss)) for c, ts, ss in zip(self.classes, self.terms, self.scores)}

    def select(self, keep: Sequence[Sequence[bool]]) -> LabelTerms:
        """The terms whose flag in ``keep`` (same nesting as ``terms``) is True."""
        if len(keep) != self.num_classes:
            raise ValueError(f"keep: expected {self.num_classes} rows, got {len(keep)}")
        terms, scores = [], []
        for c, ts, ss, ks in zip(self.classes, self.terms, self.scores, keep):
            if len(ks) != len(ts):
                raise ValueError(f"keep: class {c!r} has {len(ts)} terms but {len(ks)} flags")
            terms.append(tuple(t for t, k in zip(ts, ks) if k))
            scores.append(tuple(s for s, k in zip(ss, ks) if k))
        empty = [c for c, t in zip(self.classes, terms) if not t]
        if empty:
            raise ValueError(f"no label terms left for classes {empty}")
        return LabelTerms(self.classes, tuple(terms), tuple(scores))


def _first_group(path: Path) -> list[str]:
    """Non-empty lines of the first blank-line separated group (the official readers' rule)."""
    group: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            if group:
                break
            continue
        group.append(line)
    if not group:
        raise ValueError(f"{path}: no lines")
    return group


def read_label_terms(
    words_file: str | Path,
    scores_file: str | Path | None = None,
    classes: Sequence[Any] | None = None,
) -> LabelTerms:
    """Read SciPrompt's words file (and its aligned scores file).

    Args:
        words_file: ``classname,term1,...`` per line, one line per class.
        scores_file: ``1,s1,...`` per line, aligned with ``words_file``; ``None`` scores every
            term 1 (an unweighted knowledgeable verbalizer).
        classes: class names in label order; default the first term of every line.

    Returns:
        The :class:`LabelTerms` (terms stripped of surrounding spaces, order kept, duplicates kept
        as the official code keeps them).

    Raises:
        ValueError: when the files disagree in line or term counts (the message gives the line),
            a score is not a number, or ``classes`` has the wrong length.
    """
    words_file = Path(words_file)
    word_lines = _first_group(words_file)
    terms = [[t.strip() for t in line.split(",")] for line in word_lines]
    for i, row in enumerate(terms):
        if row and not row[-1]:  # a trailing comma
            row.pop()
        if any(not t for t in row):
            raise ValueError(f"{words_file}: line {i + 1} has an empty term")
    if scores_file is None:
        scores = [[1.0] * len(r) for r in terms]
    else:
        scores_file = Path(scores_file)
        score_lines = _first_group(scores_file)
        if len(score_lines) != len(word_lines):
            raise ValueError(
                f"{scores_file} has {len(score_lines)} lines but {words_file} has "
                f"{len(word_lines)}; they must be aligned, one line per class"
            )
        scores = []
        for i, line in enumerate(score_lines):
            cells = [s.strip() for s in line.split(",")]
            if cells and not cells[-1]:
                cells.pop()
            try:
                row = [float(s) for s in cells]
            except ValueError as err:
                raise ValueError(f"{scores_file}: line {i + 1}: {err}") from None
            if len(row) != len(terms[i]):
                raise ValueError(
                    f"{scores_file}: line {i + 1} has {len(row)} scores but line {i + 1} of "
                    f"{words_file} has {len(terms[i])} terms"
                )
            scores.append(row)
    if classes is None:
        classes = [r[0] for r in terms]
    elif len(classes) != len(terms):
        raise ValueError(f"classes: {len(classes)} given but {words_file} has {len(terms)} lines")
    return LabelTerms(tuple(classes), tuple(map(tuple, terms)), tuple(map(tuple, scores)))


def read_label_dict(path: str | Path) -> dict[str, list[str]]:
    """Read a ``label_dict.txt``: a Python dict literal ``{class: [readable names]}``.

    Parsed with :func:`ast.literal_eval` (no code is executed).
    """
    value = ast.literal_eval(Path(path).read_text(encoding="utf-8"))
    if not isinstance(value, dict) or not all(isinstance(v, list) for v in value.values()):
        raise ValueError(f"{path}: expected a dict literal {{class: [names]}}")
    return value


def read_label_mappings(path: str | Path) -> tuple[list[str], dict[str, str]]:
    """Read ``label_mappings/<DS>_label_mappings.json``.

    Returns:
        ``(classes, readable)``: the class keys in label-id order and each class's readable name
        (the first entry of ``label_name_mapping``, the string the retrieval and filtering use).
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    ids = data.get("label_dict")
    if not isinstance(ids, dict):
        raise ValueError(f"{path}: no 'label_dict' object")
    classes = sorted(ids, key=lambda c: ids[c])
    names = data.get("label_name_mapping", {})
    readable = {c: (names.get(c) or [str(c)])[0] for c in classes}
    return classes, readable


def unmappable_terms(terms: LabelTerms, tokenizer: Any) -> list[list[bool]]:
    """Per term, True when ``tokenizer`` maps it to no token or to the unknown token."""
    unk = getattr(tokenizer, "unk_token_id", None)
    flags = []
    for row in terms.terms:
        out = []
        for t in row:
            ids = list(tokenizer(t, add_special_tokens=False)["input_ids"])
            out.append(not ids or (unk is not None and unk in ids))
        flags.append(out)
    return flags


def drop_unmappable(terms: LabelTerms, tokenizer: Any) -> tuple[LabelTerms, dict[Any, list[str]]]:
    """Remove the terms ``tokenizer`` cannot map (see :func:`unmappable_terms`).

    Returns:
        The remaining terms and ``{class: [dropped terms]}`` (classes with drops only).

    Raises:
        ValueError: when a class is left without terms (the message lists its dropped terms).
    """
    bad = unmappable_terms(terms, tokenizer)
    dropped = {
        c: [t for t, b in zip(ts, bs) if b]
        for c, ts, bs in zip(terms.classes, terms.terms, bad)
        if any(bs)
    }
    empty = [c for c, bs in zip(terms.classes, bad) if all(bs)]
    if empty:
        raise ValueError(
            "label_words: the tokenizer cannot map any label term of classes "
            + ", ".join(f"{c!r} ({dropped[c]})" for c in empty)
            + "; give them terms in the tokenizer's vocabulary"
        )
    return terms.select([[not b for b in bs] for bs in bad]), dropped
