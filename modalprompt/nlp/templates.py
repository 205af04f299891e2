"""Prompt templates for masked-LM classification: a small text mini-language and safe truncation.

Syntax (a simplification of OpenPrompt's ``{"placeholder": "text_a"}`` JSON mini-language):

========================  ===================================================================
``{text_a}``, ``{text_b}``  the example's text fields (truncated first when too long)
``{mask}``                the mask token, taken from the tokenizer (``[MASK]``, ``<mask>``, ...)
``{soft}``                one trainable soft token, randomly initialised
``{soft:It was}``         trainable soft tokens, one per sub-token of "It was", initialised
                          from those tokens' input embeddings (OpenPrompt ``{"soft": "..."}``)
``{meta:entity}``         the value of ``example["meta"]["entity"]`` (or ``example["entity"]``)
``{{`` / ``}}``           literal braces
anything else             literal text, tokenised as written
========================  ===================================================================

Example (LM-BFF's SST-2 template): ``"{text_a} It was {mask} ."``.

Everything is encoded as ONE sequence with the tokenizer's own special tokens around it (as
LM-BFF / PCP do for sentence pairs). When the encoding is longer than ``max_length``, tokens are
removed from the end of the currently longest text field (``text_a``, ``text_b`` or meta fields),
one at a time, until it fits; the template tokens and the mask are never cut. This is LM-BFF's
"truncate the longest sentence" rule applied per token.

Byte-level BPE tokenizers (RoBERTa, GPT-2) are sensitive to leading spaces: every piece that
follows whitespace in the template is encoded with a leading space, as the word would be inside
a sentence.

**Decoders** (causal LMs, as OpenPrompt runs GPT-2): the answer is the next token after the
template, so ``{mask}`` must be the template's last part (a ``ValueError`` otherwise) and no mask
token is inserted; ``EncodedPrompt.mask_position`` is then the last position, whose next-token
distribution holds the answer. With ``chat=True`` the filled-in template (without the final
``{mask}``) becomes the user turn of the tokenizer's chat template and the answer is the first
token of the assistant turn. Truncation never cuts the template, the chat wrapper or the slot.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Template", "TemplatePart", "EncodedPrompt"]

_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_TEXT_FIELDS = ("text_a", "text_b")


@dataclass(frozen=True)
class TemplatePart:
    """One parsed piece of a template.

    Attributes:
        kind: ``"text"`` (literal), ``"field"`` (text_a / text_b), ``"meta"``, ``"mask"`` or
            ``"soft"``.
        value: the literal text, field name, meta key or soft init words ("" for random init).
        space: whether whitespace precedes the part in the template.
    """

    kind: str
    value: str
    space: bool


@dataclass
class EncodedPrompt:
    """One wrapped, tokenised example.

    Attributes:
        input_ids: token ids including special tokens; soft positions hold the tokenizer's
            unk id (their embeddings are replaced by the model).
        soft_ids: per position, the index of the soft token, or -1.
        mask_position: index of the mask token in ``input_ids``.
        num_truncated: how many text tokens were removed to fit ``max_length``.
    """

    input_ids: list[int]
    soft_ids: list[int]
    mask_position: int
    num_truncated: int


def parse_template(text: str) -> list[TemplatePart]:
    """Parse the mini-language into parts; raises ``ValueError`` on unknown placeholders."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"template text must be a non-empty string, got {text!r}")
    parts: list[TemplatePart] = []
    pos = 0
    literal = ""

    def flush() -> None:
        nonlocal literal
        if literal.strip():
            parts.append(TemplatePart("text", literal.strip(), literal[:1].isspace()))
        literal = ""

    def raw(segment: str) -> str:
        if "{" in segment or "}" in segment:
            raise ValueError(
                f"template: unbalanced brace in {text!r} near {segment.strip()!r}; placeholders "
                "are {text_a}, {text_b}, {mask}, {soft}, {soft:words}, {meta:key}; write a "
                "literal brace as {{ or }}"
            )
        return segment

    for match in _FIELD.finditer(text):
        literal += raw(text[pos : match.start()])
        pos = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            literal += token[0]
            continue
        had_space = bool(literal) and literal[-1].isspace()
        flush()
        name = match.group(1).strip()
        key, _, arg = name.partition(":")
        key, arg = key.strip(), arg.strip()
        if key in _TEXT_FIELDS and not arg:
            parts.append(TemplatePart("field", key, had_space))
        elif key == "mask" and not arg:
            parts.append(TemplatePart("mask", "", had_space))
        elif key == "soft":
            parts.append(TemplatePart("soft", arg, had_space))
        elif key == "meta" and arg:
            parts.append(TemplatePart("meta", arg, had_space))
        else:
            raise ValueError(
                f"template: unknown placeholder {{{name}}}; expected one of {{text_a}}, "
                "{text_b}, {mask}, {soft}, {soft:init words}, {meta:key}"
            )
    literal += raw(text[pos:])
    flush()
    n_mask = sum(p.kind == "mask" for p in parts)
    if n_mask != 1:
        raise ValueError(f"template must contain exactly one {{mask}}, found {n_mask} in {text!r}")
    return parts


class Template:
    """A prompt template bound to a Hugging Face tokenizer.

    Args:
        text: the template in the mini-language of this module, e.g. ``"{text_a} It was {mask} ."``.
        tokenizer: any Hugging Face (fast or slow) tokenizer; a masked LM's has a mask token.
        decoder: ``True`` for a causal LM (the answer is the next token after the template);
            ``None`` guesses from the tokenizer (no mask token: a decoder). Pass it explicitly
            for decoders whose tokenizer defines a mask token anyway (Gemma 3's does).
        chat: decoders only: wrap the filled-in template in the tokenizer's chat template.
        system: with ``chat``: a system message (None: the chat template's default, if any).

    Attributes:
        parts: the parsed template.
        num_soft: number of soft tokens.
        soft_init_ids: per soft token, the vocabulary id it is initialised from, or -1 (random).
    """

    def __init__(
        self,
        text: str,
        tokenizer: Any,
        *,
        decoder: bool | None = None,
        chat: bool = False,
        system: str | None = None,
    ) -> None:
        has_mask = getattr(tokenizer, "mask_token_id", None) is not None
        self.decoder = (not has_mask) if decoder is None else bool(decoder)
        if not self.decoder and not has_mask:
            raise ValueError(
                "tokenizer: a masked-LM template needs a tokenizer with a mask token; for a "
                "causal LM pass decoder=True (the answer slot is then the next token)"
            )
        if chat and not self.decoder:
            raise ValueError("chat: the chat template is for decoders (decoder=True)")
        self.text = text
        self.tokenizer = tokenizer
        self.chat = chat
        self.parts = parse_template(text)
        if self.decoder and self.parts[-1].kind != "mask":
            slot = next(i for i, p in enumerate(self.parts) if p.kind == "mask")
            after = self.parts[slot + 1]
            raise ValueError(
                f"template: for a decoder the answer slot {{mask}} must come last (the answer is "
                f"the next token after the template); found {after.kind} {after.value!r} after "
                f"it in {text!r}"
            )
        self._bpe_space = tokenizer.tokenize(" a") != tokenizer.tokenize("a")
        self._fixed: list[list[int]] = []
        self.soft_init_ids: list[int] = []
        for i, part in enumerate(self.parts):
            if part.kind == "text":
                self._fixed.append(self._encode(part.value, part.space and i > 0))
            elif part.kind == "soft":
                if part.value:
                    ids = self._encode(part.value, part.space and i > 0)
                    self.soft_init_ids.extend(ids)
                    self._fixed.append(ids)
                else:
                    self.soft_init_ids.append(-1)
                    self._fixed.append([-1])
            else:
                self._fixed.append([])
        self.num_soft = len(self.soft_init_ids)
        # The tokenizer's own special tokens around one sequence ([CLS] .. [SEP], <s> .. </s>),
        # found by encoding the mask alone (transformers 5 dropped build_inputs_with_special_tokens
        # from the fast tokenizers).
        if self.decoder:
            self._prefix, self._suffix = self._decoder_wrapper(chat, system)
        else:
            probe = list(tokenizer(tokenizer.mask_token, add_special_tokens=True)["input_ids"])
            at = probe.index(tokenizer.mask_token_id)
            self._prefix, self._suffix = probe[:at], probe[at + 1 :]
        self.fields = [p.value for p in self.parts if p.kind in ("field", "meta")]

    def __repr__(self) -> str:
        kind = ", decoder=True" + (", chat=True" if self.chat else "") if self.decoder else ""
        return f"Template({self.text!r}, num_soft={self.num_soft}{kind})"

    def _decoder_wrapper(self, chat: bool, system: str | None) -> tuple[list[int], list[int]]:
        """Token ids before and after the template body on a decoder: the BOS the tokenizer
        adds (if any), or the chat template's turns up to the assistant's answer."""
        tok = self.tokenizer
        if not chat:  # keep what the tokenizer puts before a text (BOS); never an EOS after it
            probe = list(tok("a", add_special_tokens=True)["input_ids"])
            plain = list(tok("a", add_special_tokens=False)["input_ids"])
            at = next((i for i in range(len(probe)) if probe[i : i + len(plain)] == plain), 0)
            return probe[:at], []
        if not getattr(tok, "chat_template", None):
            raise ValueError("chat: the tokenizer has no chat template")
        sentinel = "\u2063TEMPLATE\u2063"
        messages = [{"role": "user", "content": sentinel}]
        if system is not None:
            messages.insert(0, {"role": "system", "content": system})
        rendered = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        before, found, after = rendered.partition(sentinel)
        if not found:
            raise ValueError("chat: the tokenizer's chat template drops the user message")
        encode = lambda t: list(tok(t, add_special_tokens=False)["input_ids"]) if t else []  # noqa: E731
        return encode(before), encode(after)

    def _encode(self, text: str, space: bool) -> list[int]:
        if space and self._bpe_space:
            text = " " + text
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _field_value(self, example: Mapping[str, Any], part: TemplatePart) -> str:
        if part.kind == "field":
            value = example.get(part.value)
            if value is None:
                raise ValueError(f"example: the template uses {{{part.value}}} but it is missing")
            return str(value)
        meta = example.get("meta") or {}
        value = meta.get(part.value, example.get(part.value))
        if value is None:
            raise ValueError(f"example: the template uses {{meta:{part.value}}} but it is missing")
        return str(value)

    def encode(self, example: Mapping[str, Any], max_length: int = 512) -> EncodedPrompt:
        """Wrap and tokenise one example, truncating text fields (never the mask) to fit.

        Args:
            example: a mapping with ``text_a`` (and ``text_b`` / ``meta`` as the template needs).
            max_length: maximum number of tokens including special tokens.

        Returns:
            The :class:`EncodedPrompt`.

        Raises:
            ValueError: when a field is missing, or when the template alone (without any text)
                does not fit in ``max_length``.
        """
        pieces: list[list[int]] = []
        for i, (part, fixed) in enumerate(zip(self.parts, self._fixed)):
            if part.kind in ("field", "meta"):
                pieces.append(self._encode(self._field_value(example, part), part.space and i > 0))
            else:
                pieces.append(list(fixed))
        n_special = len(self._prefix) + len(self._suffix)
        variable = [i for i, p in enumerate(self.parts) if p.kind in ("field", "meta")]
        slot = 0 if self.decoder else 1  # a masked LM's mask token takes a position
        total = sum(len(p) for p in pieces) + slot + n_special
        excess = total - max_length
        truncated = 0
        while excess > 0:
            longest = max(variable, key=lambda i: len(pieces[i]), default=None)
            if longest is None or not pieces[longest]:
                raise ValueError(
                    f"max_length={max_length} is too small: the template alone needs "
                    f"{total - truncated} tokens with special tokens"
                )
            pieces[longest].pop()
            excess -= 1
            truncated += 1
        body: list[int] = []
        soft: list[int] = []
        soft_index = 0
        unk = self.tokenizer.unk_token_id if self.tokenizer.unk_token_id is not None else 0
        for part, ids in zip(self.parts, pieces):
            if part.kind == "mask":
                if not self.decoder:
                    body.append(self.tokenizer.mask_token_id)
                    soft.append(-1)
            elif part.kind == "soft":
                body.extend([unk] * len(ids))
                soft.extend(range(soft_index, soft_index + len(ids)))
                soft_index += len(ids)
            else:
                body.extend(ids)
                soft.extend([-1] * len(ids))
        input_ids = [*self._prefix, *body, *self._suffix]
        soft_ids = [-1] * len(self._prefix) + soft + [-1] * len(self._suffix)
        if self.decoder:  # the next-token distribution at the last position holds the answer
            return EncodedPrompt(input_ids, soft_ids, len(input_ids) - 1, truncated)
        mask_position = [
            i
            for i, (t, s) in enumerate(zip(input_ids, soft_ids))
            if t == self.tokenizer.mask_token_id and s < 0
        ]
        return EncodedPrompt(input_ids, soft_ids, mask_position[0], truncated)

    def wrap(self, example: Mapping[str, Any], mask_filler: str | None = None) -> str:
        """The template filled in as plain text (the mask as ``mask_filler`` or the mask token).

        Used by PCP to build its template-wrapped corpus with the predicted label word.
        Soft tokens are rendered as their init words (or nothing).
        """
        out: list[str] = []
        for part in self.parts:
            if part.kind == "text":
                value = part.value
            elif part.kind in ("field", "meta"):
                value = self._field_value(example, part)
            elif part.kind == "mask":
                value = self.tokenizer.mask_token if mask_filler is None else mask_filler
            else:
                value = part.value
            if value:
                out.append((" " if part.space and out else "") + value)
        return "".join(out)

    def encode_batch(
        self, examples: Sequence[Mapping[str, Any]], max_length: int = 512
    ) -> list[EncodedPrompt]:
        """:meth:`encode` over a list of examples."""
        return [self.encode(e, max_length) for e in examples]
