"""Subgraph summarisers: a deterministic default, an instruct LLM, and an on-disk cache.

GraphCLIP's summaries come from an LLM; any ``Callable[[list[str]], str]`` taking the subgraph's
node texts (centre first) can be plugged in. :class:`LLMSummariser` prompts an instruction-tuned
causal LM (e.g. SmolLM2-135M-Instruct from ``modalprompt.nlp.load_pretrained``) the way the
official GraphCLIP generation script does: a system turn saying the assistant understands graphs,
then a user turn with the subgraph's node texts and a request for (1) the key findings of the
centre paper and (2) the themes its neighbours share, optionally (3) which of the given research
areas it belongs to. Our departures, for a 135M model on a CPU: the subgraph is listed as
"centre" and "linked" documents instead of GraphML (edges are not given to the summariser; the
official file lists them, but a 135M model cannot read 32-node GraphML in its context), the
request comes after the texts and the answer is started with "The centre document" (with the
request first, SmolLM2-135M mostly copied the listing back; measured on 4 Cora subgraphs: 2 of 4
copies before, real summaries after), texts are truncated to a character budget, decoding is
greedy (the official samples at temperature 0.8) so a summary is reproducible, and the answer is
capped at ``max_new_tokens`` (official: 512).

The cache stores one JSON file per summary under ``sha256(summariser name + texts)`` and writes
atomically; :meth:`CachedSummariser.summarise_many` generates every missing summary in batches.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from modalprompt.core.io import atomic_write_json, read_json

__all__ = ["default_summary", "CachedSummariser", "LLMSummariser", "check_subgraph_texts"]

Summariser = Callable[[list[str]], str]


def check_subgraph_texts(texts: Sequence[str]) -> None:
    """Raise a ValueError unless ``texts`` is a non-empty list of strings with a centre text."""
    if isinstance(texts, str) or not isinstance(texts, Sequence) or not texts:
        raise ValueError(
            f"texts: a subgraph summary needs a list of node texts, centre first; got {texts!r}"
        )
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise ValueError(f"texts: entries {bad[:5]} are not strings")
    if not texts[0].strip():
        raise ValueError("texts: the centre node (texts[0]) has no text to summarise")


def default_summary(texts: list[str], max_words: int = 12) -> str:
    """Deterministic summary: the centre text plus the most frequent neighbour words."""
    check_subgraph_texts(texts)
    counts = Counter(w for t in texts[1:] for w in t.lower().split())
    top = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:max_words]]
    neighbours = f" Its {len(texts) - 1} neighbours mention: {' '.join(top)}." if top else ""
    return f"Centre node: {texts[0]}.{neighbours}"


class CachedSummariser:
    """Wrap a summariser with a JSON cache in ``cache_dir`` (None = memory only).

    Args:
        summariser: ``texts -> summary`` (with ``summarise_batch``, as :class:`LLMSummariser`
            has, :meth:`summarise_many` generates the missing summaries in batches).
        cache_dir: Folder for ``<sha256>.json`` files.
        name: Part of the key, so two summarisers never share entries (default: the
            summariser's own ``name`` if it has one, else ``"default"``).
        max_chars: Longest summary kept; a longer one is cut at a word boundary, with a warning,
            and counted in ``clipped`` (the text encoder would truncate it silently anyway).

    Raises (when a summary is made): ValueError naming the summariser when it returns anything
    but a non-empty string.
    """

    def __init__(
        self,
        summariser: Summariser = default_summary,
        cache_dir: str | Path | None = None,
        name: str | None = None,
        max_chars: int = 2000,
    ) -> None:
        if isinstance(max_chars, bool) or not isinstance(max_chars, int) or max_chars < 1:
            raise ValueError(f"max_chars: expected an integer >= 1, got {max_chars!r}")
        self.summariser = summariser
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.name = name if name is not None else getattr(summariser, "name", "default")
        self.max_chars = max_chars
        self._memory: dict[str, str] = {}
        self.calls = 0
        self.clipped = 0

    def key(self, texts: list[str]) -> str:
        payload = json.dumps([self.name, list(texts)], ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()

    def _path(self, key: str) -> Path | None:
        return self.cache_dir / f"{key}.json" if self.cache_dir else None

    def _lookup(self, key: str) -> str | None:
        if key in self._memory:
            return self._memory[key]
        path = self._path(key)
        if path is not None and path.exists():
            summary = read_json(path)["summary"]
            self._memory[key] = summary
            return summary
        return None

    def _store(self, key: str, summary: Any) -> str:
        if not isinstance(summary, str) or not summary.strip():
            raise ValueError(
                f"summariser {self.name!r} returned an empty summary ({summary!r}); a "
                "graph-summary pair needs text"
            )
        if len(summary) > self.max_chars:
            self.clipped += 1
            warnings.warn(
                f"summariser {self.name!r}: a {len(summary)}-character summary cut to "
                f"max_chars={self.max_chars} ({self.clipped} so far)",
                stacklevel=3,
            )
            summary = summary[: self.max_chars].rsplit(" ", 1)[0]
        path = self._path(key)
        if path is not None:
            atomic_write_json(path, {"summary": summary})
        self._memory[key] = summary
        return summary

    def __call__(self, texts: list[str]) -> str:
        check_subgraph_texts(texts)
        k = self.key(texts)
        found = self._lookup(k)
        if found is not None:
            return found
        self.calls += 1
        return self._store(k, self.summariser(list(texts)))

    def summarise_many(self, subgraphs: Sequence[list[str]]) -> list[str]:
        """Summaries of many subgraphs: cached ones read, the rest made (batched when the
        summariser has ``summarise_batch``) and cached."""
        for texts in subgraphs:
            check_subgraph_texts(texts)
        keys = [self.key(texts) for texts in subgraphs]
        missing: dict[str, list[str]] = {}
        for k, texts in zip(keys, subgraphs):
            if self._lookup(k) is None:
                missing.setdefault(k, list(texts))
        batch = getattr(self.summariser, "summarise_batch", None)
        pending = list(missing.items())
        step = getattr(self.summariser, "batch_size", 1) if batch else 1
        for start in range(0, len(pending), step):
            chunk = pending[start : start + step]
            made = batch([t for _, t in chunk]) if batch else [self.summariser(chunk[0][1])]
            self.calls += len(chunk)
            for (k, _), summary in zip(chunk, made):
                self._store(k, summary)
        return [self._memory[k] for k in keys]


SYSTEM = (
    "You are a helpful assistant that understands graphs of documents: you read the documents "
    "of a subgraph and describe what they are about."
)
REQUEST = (
    "These are documents of a {domain}: a centre document and documents linked to it. In at "
    "most {sentences} sentences of your own, summarise the main topic and contribution of the "
    "centre document and the themes its linked documents share.{categories}"
)
ANSWER_PREFIX = "The centre document"


class LLMSummariser:
    """Summaries of subgraphs by an instruction-tuned causal LM: greedy, batched, KV cache.

    Args:
        model: A transformers causal LM with ``generate`` (frozen; eval mode is set).
        tokenizer: Its tokenizer, with a chat template (an instruct model's).
        domain: What the graph is, in the request ("citation network of machine learning
            papers", ...).
        categories: Optional research areas to name the one the centre belongs to (the official
            prompt's second task); leave out classes that must stay unseen.
        max_new_tokens: Length cap of a summary, in tokens.
        centre_chars / neighbour_chars: Character budget of the centre text and of each
            neighbour text (longer ones are cut at a word boundary).
        max_neighbours: How many neighbours (in the given order) are listed at most.
        sentences: The length the request asks for.
        batch_size: Subgraphs generated together (left padding).
        max_context: Token limit of a prompt plus its answer (default: the model's positions).
        no_repeat_ngram_size: Greedy decoding never repeats an n-gram of this size (0: off);
            without it SmolLM2-135M looped on one sentence in 3 of 5 Cora summaries.

    ``summarise_batch(list of texts lists)`` returns one summary each; calling the object on one
    list of texts summarises it alone. Neighbours are dropped from the end (then the centre text
    is cut) until the prompt fits in ``max_context - max_new_tokens``; ``truncated`` counts the
    prompts that needed it. An empty generation falls back to :func:`default_summary` with a
    warning and is counted in ``fallbacks``.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        domain: str = "citation network of scientific papers",
        categories: Sequence[str] | None = None,
        max_new_tokens: int = 64,
        centre_chars: int = 500,
        neighbour_chars: int = 120,
        max_neighbours: int = 6,
        sentences: int = 3,
        batch_size: int = 8,
        max_context: int | None = None,
        no_repeat_ngram_size: int = 4,
    ) -> None:
        if not callable(getattr(model, "generate", None)):
            raise TypeError(f"model: expected a causal LM with generate(), got {type(model)}")
        if not getattr(tokenizer, "chat_template", None):
            raise ValueError("tokenizer: an instruct model's tokenizer with a chat template needed")
        for name, value in (
            ("max_new_tokens", max_new_tokens),
            ("centre_chars", centre_chars),
            ("neighbour_chars", neighbour_chars),
            ("sentences", sentences),
            ("batch_size", batch_size),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
        for name, value in (
            ("max_neighbours", max_neighbours),
            ("no_repeat_ngram_size", no_repeat_ngram_size),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name}: expected an integer >= 0, got {value!r}")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.centre_chars, self.neighbour_chars = centre_chars, neighbour_chars
        self.max_neighbours = max_neighbours
        self.batch_size = batch_size
        self.no_repeat_ngram_size = no_repeat_ngram_size
        limit = max_context or getattr(getattr(model, "config", None), "max_position_embeddings", 0)
        if not isinstance(limit, int) or limit <= 0:
            raise ValueError("max_context: the model declares no position limit; give one")
        self.max_context = limit
        listed = ""
        if categories:
            listed = f" Then name which of these areas it belongs to: {', '.join(categories)}."
        self.request = REQUEST.format(domain=domain, categories=listed, sentences=sentences)
        budget = self.max_context - max_new_tokens
        needed = len(self._encode(self._prompt(["x"], 0)))
        if needed > budget:
            raise ValueError(
                f"max_context: {self.max_context} tokens leave {budget} for the prompt after "
                f"max_new_tokens={max_new_tokens}, but the instruction alone needs {needed}"
            )
        self.truncated = 0
        self.fallbacks = 0
        self.generated = 0

    @property
    def name(self) -> str:
        """Cache key part: the model, the request and the budgets."""
        config = getattr(self.model, "config", None)
        model = getattr(config, "_name_or_path", "") or type(self.model).__name__
        return json.dumps(
            [model, self.request, self.max_new_tokens, self.centre_chars, self.neighbour_chars,
             self.max_neighbours, self.no_repeat_ngram_size],
        )  # fmt: skip

    @staticmethod
    def _cut(text: str, chars: int) -> str:
        text = " ".join(text.split())
        if len(text) <= chars:
            return text
        return text[:chars].rsplit(" ", 1)[0] + " ..."

    def _prompt(
        self, texts: Sequence[str], neighbours: int, centre_chars: int | None = None
    ) -> str:
        lines = [f"Centre document: {self._cut(texts[0], centre_chars or self.centre_chars)}"]
        for i, text in enumerate(texts[1 : 1 + neighbours], start=1):
            if text.strip():
                lines.append(f"Linked document {i}: {self._cut(text, self.neighbour_chars)}")
        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": "\n".join(lines) + "\n\n" + self.request},
        ]
        rendered = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        return rendered + ANSWER_PREFIX

    def _encode(self, prompt: str) -> list[int]:
        return list(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])

    def _fitting_prompt(self, texts: Sequence[str]) -> str:
        """The prompt with as many neighbours as fit (the centre text cut if it alone is too
        long)."""
        budget = self.max_context - self.max_new_tokens
        neighbours = min(self.max_neighbours, len(texts) - 1)
        prompt = self._prompt(texts, neighbours)
        if len(self._encode(prompt)) <= budget:
            return prompt
        self.truncated += 1
        while neighbours > 0:
            neighbours -= 1
            prompt = self._prompt(texts, neighbours)
            if len(self._encode(prompt)) <= budget:
                return prompt
        chars = self.centre_chars
        while chars > 16:
            chars //= 2
            prompt = self._prompt(texts, 0, chars)
            if len(self._encode(prompt)) <= budget:
                return prompt
        raise ValueError(f"max_context: {self.max_context} tokens cannot hold this subgraph")

    def summarise_batch(self, subgraphs: Sequence[Sequence[str]]) -> list[str]:
        """One summary per subgraph (a list of node texts, centre first), in order."""
        import torch

        for texts in subgraphs:
            check_subgraph_texts(texts)
        out: list[str] = []
        side = self.tokenizer.padding_side
        self.tokenizer.padding_side = "left"
        pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = self.tokenizer.eos_token_id
        try:
            for start in range(0, len(subgraphs), self.batch_size):
                chunk = subgraphs[start : start + self.batch_size]
                prompts = [self._fitting_prompt(texts) for texts in chunk]
                if self.tokenizer.pad_token_id is None:
                    self.tokenizer.pad_token = self.tokenizer.eos_token
                enc = self.tokenizer(
                    prompts, padding=True, add_special_tokens=False, return_tensors="pt"
                )
                device = next(self.model.parameters()).device
                with torch.no_grad():
                    ids = self.model.generate(
                        input_ids=enc["input_ids"].to(device),
                        attention_mask=enc["attention_mask"].to(device),
                        max_new_tokens=self.max_new_tokens,
                        do_sample=False,
                        no_repeat_ngram_size=self.no_repeat_ngram_size,
                        pad_token_id=pad,
                    )
                new = ids[:, enc["input_ids"].shape[1] :]
                for texts, row in zip(chunk, new):
                    text = " ".join(self.tokenizer.decode(row, skip_special_tokens=True).split())
                    if text:
                        text = ANSWER_PREFIX + ("" if text[0] in ",.;:'" else " ") + text
                    else:
                        self.fallbacks += 1
                        warnings.warn(
                            "LLMSummariser: the model generated nothing for a subgraph; using "
                            f"default_summary instead ({self.fallbacks} so far)",
                            stacklevel=2,
                        )
                        text = default_summary(list(texts))
                    out.append(text)
                self.generated += len(chunk)
        finally:
            self.tokenizer.padding_side = side
        return out

    def __call__(self, texts: list[str]) -> str:
        return self.summarise_batch([texts])[0]
