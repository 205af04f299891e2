"""Subgraph summarisers: a deterministic default and an on-disk cache keyed by content.

GraphCLIP's summaries come from an LLM; any ``Callable[[list[str], str], str]`` taking the
subgraph's node texts (centre first) can be plugged in. The cache stores one JSON file per
summary under ``sha256(summariser name + texts)`` and writes atomically.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from modalprompt.core.io import atomic_write_json, read_json

__all__ = ["default_summary", "CachedSummariser"]

Summariser = Callable[[list[str]], str]


def default_summary(texts: list[str], max_words: int = 12) -> str:
    """Deterministic summary: the centre text plus the most frequent neighbour words."""
    if not texts:
        raise ValueError("texts: a subgraph summary needs at least the centre node's text")
    counts = Counter(w for t in texts[1:] for w in t.lower().split())
    top = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:max_words]]
    neighbours = f" Its {len(texts) - 1} neighbours mention: {' '.join(top)}." if top else ""
    return f"Centre node: {texts[0]}.{neighbours}"


class CachedSummariser:
    """Wrap a summariser with a JSON cache in ``cache_dir`` (None = memory only).

    Args:
        summariser: ``texts -> summary``.
        cache_dir: Folder for ``<sha256>.json`` files.
        name: Part of the key, so two summarisers never share entries.
    """

    def __init__(
        self,
        summariser: Summariser = default_summary,
        cache_dir: str | Path | None = None,
        name: str = "default",
    ) -> None:
        self.summariser = summariser
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.name = name
        self._memory: dict[str, str] = {}
        self.calls = 0

    def key(self, texts: list[str]) -> str:
        payload = json.dumps([self.name, list(texts)], ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()

    def __call__(self, texts: list[str]) -> str:
        k = self.key(texts)
        if k in self._memory:
            return self._memory[k]
        path = self.cache_dir / f"{k}.json" if self.cache_dir else None
        if path is not None and path.exists():
            summary = read_json(path)["summary"]
        else:
            summary = self.summariser(list(texts))
            self.calls += 1
            if not isinstance(summary, str) or not summary.strip():
                raise ValueError(f"summariser {self.name!r} returned an empty summary")
            if path is not None:
                atomic_write_json(path, {"summary": summary})
        self._memory[k] = summary
        return summary
