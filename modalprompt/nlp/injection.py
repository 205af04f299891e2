"""Prepend virtual tokens to the input of any Hugging Face model through ``inputs_embeds``.

One place owns the embedding concatenation and everything that has to follow it (attention mask,
token type ids, position ids, labels, generation), for the three architecture kinds:

* ``"encoder"`` (BERT, RoBERTa, ...): the ``n`` virtual tokens go first, the attention mask gets
  ``n`` ones, ``token_type_ids`` get ``n`` zeros, token-level labels get ``n`` ``-100`` and the
  position ids are the model's defaults over the longer sequence — exactly what PEFT does, so the
  pooler still reads position 0 (the first virtual token, as in PEFT).
* ``"decoder"`` (GPT-2, Llama, Qwen2, ...): with ``placement="before_text"`` (default) the virtual
  tokens go right before each row's first real token (``P x <pad>`` for right padding,
  ``<pad> P x`` for left padding) and the position ids count real tokens only, so every row gives
  the same outputs as if it were alone and unpadded. ``placement="start"`` reproduces PEFT's layout
  (``P <pad> x`` for left padding, default position ids) bit for bit. Token-level labels get
  ``-100`` on the virtual positions.
* ``"seq2seq"`` (T5, BART): the virtual tokens are prepended to the encoder input; the decoder
  side (``labels``, ``decoder_input_ids``) is passed through unchanged.

Generation (:func:`generate_with_prompt`) uses ``inputs_embeds`` with the KV cache, and a forward
hook on the input embeddings without it (transformers drops ``inputs_embeds`` after the first step
when there is no cache), so ``use_cache=True`` and ``use_cache=False`` give the same tokens.
"""

from __future__ import annotations

import dataclasses
import inspect
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import torch
from torch import Tensor, nn

__all__ = [
    "ArchitectureKind",
    "Placement",
    "InjectedInputs",
    "architecture_kind",
    "position_limit",
    "check_prompt_length",
    "check_input_ids",
    "check_generation_length",
    "check_token_tensor",
    "inject_prompt",
    "generate_with_prompt",
]

ArchitectureKind = Literal["encoder", "decoder", "seq2seq"]
Placement = Literal["before_text", "start"]
PLACEMENTS = ("before_text", "start")


# ----------------------------------------------------------------------------- architecture
def architecture_kind(backbone: nn.Module) -> ArchitectureKind:
    """``"encoder"``, ``"decoder"`` or ``"seq2seq"`` for a Hugging Face ``PreTrainedModel``.

    Raises:
        TypeError: ``backbone`` is not a transformers model that takes ``inputs_embeds``, or its
            architecture is none of the three kinds.
    """
    config = getattr(backbone, "config", None)
    if config is None or not callable(getattr(backbone, "get_input_embeddings", None)):
        raise TypeError(
            f"backbone: expected a Hugging Face transformers model (with .config and "
            f".get_input_embeddings()), got {type(backbone).__name__}"
        )
    if "inputs_embeds" not in inspect.signature(backbone.forward).parameters:
        raise TypeError(
            f"backbone: {type(backbone).__name__}.forward takes no inputs_embeds, so virtual "
            "tokens cannot be prepended to its input"
        )
    if getattr(config, "is_encoder_decoder", False):
        return "seq2seq"
    if getattr(config, "is_decoder", False):
        return "decoder"
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    model_type = getattr(config, "model_type", "")
    if model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return "encoder"
    if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return "decoder"
    raise TypeError(
        f"backbone: unsupported architecture {model_type!r} ({type(backbone).__name__}); "
        "supported are encoder-only masked LMs (BERT, RoBERTa, ...), decoder-only causal LMs "
        "(GPT-2, Llama, Qwen2, ...) and encoder-decoder models (T5, BART, ...)"
    )


def position_limit(backbone: nn.Module) -> int | None:
    """The longest sequence (virtual + real tokens) the backbone's position embeddings allow.

    None when the model declares no limit (T5's relative positions). RoBERTa-style models offset
    positions by ``pad_token_id + 1``, which is subtracted.
    """
    config = backbone.config
    limit = getattr(config, "max_position_embeddings", None)
    if not isinstance(limit, int):
        return None
    model_type = getattr(config, "model_type", "")
    if "roberta" in model_type or model_type == "camembert":
        limit -= (getattr(config, "pad_token_id", None) or 0) + 1
    return limit


def check_prompt_length(backbone: nn.Module, num_virtual_tokens: int, input_length: int) -> None:
    """Raise when ``num_virtual_tokens + input_length`` exceeds :func:`position_limit`."""
    limit = position_limit(backbone)
    if limit is None or num_virtual_tokens + input_length <= limit:
        return
    if num_virtual_tokens > limit or input_length == 0:
        raise ValueError(
            f"num_virtual_tokens: {num_virtual_tokens} virtual tokens exceed the backbone's "
            f"position limit of {limit} ({type(backbone).__name__})"
        )
    raise ValueError(
        f"input_ids: {input_length} tokens + num_virtual_tokens={num_virtual_tokens} virtual "
        f"tokens = {num_virtual_tokens + input_length} positions, more than the backbone's limit "
        f"of {limit}; truncate inputs to at most {limit - num_virtual_tokens} tokens"
    )


_INTEGER_DTYPES = (torch.long, torch.int32, torch.int16, torch.int8, torch.uint8)


def check_input_ids(
    backbone: nn.Module | None,
    input_ids: Any,
    name: str = "input_ids",
    vocab_size: int | None = None,
) -> None:
    """Raise naming ``input_ids`` unless it is a ``(B, L)`` integer tensor with ``B, L >= 1`` and
    every id in ``[0, V)`` (``V`` = ``vocab_size``, else the rows of the backbone's input
    embeddings; no range check when neither is known). Float ids are refused, never rounded;
    torch would otherwise fail inside the embedding lookup."""
    if not isinstance(input_ids, Tensor):
        raise TypeError(
            f"{name}: expected a (B, L) tensor of token ids, got {type(input_ids).__name__}"
        )
    if input_ids.dtype not in _INTEGER_DTYPES:
        raise TypeError(
            f"{name}: expected integer token ids (torch.long), got {input_ids.dtype}; token ids "
            "are never rounded from floats"
        )
    if input_ids.dim() != 2:
        raise ValueError(f"{name}: expected (B, L), got shape {tuple(input_ids.shape)}")
    if input_ids.numel() == 0:
        raise ValueError(
            f"{name}: empty input of shape {tuple(input_ids.shape)}; expected at least one row "
            "and one token"
        )
    vocab = vocab_size
    if vocab is None and hasattr(backbone, "get_input_embeddings"):
        vocab = getattr(backbone.get_input_embeddings(), "num_embeddings", None)
    if isinstance(vocab, int):
        bad = (input_ids < 0) | (input_ids >= vocab)
        if bool(bad.any()):
            raise ValueError(
                f"{name}: token ids must lie in [0, {vocab}) (the backbone's vocabulary), found "
                f"{sorted(set(input_ids[bad].tolist()))[:5]}; does the tokenizer match the model?"
            )


def check_token_tensor(
    backbone: nn.Module | None, values: Any, name: str, shape: tuple[int, int]
) -> None:
    """Raise naming ``name`` unless ``values`` (``attention_mask`` or ``token_type_ids``) fits
    inputs of ``shape`` ``(B, L)`` (one row broadcast to all is allowed): an attention mask holds
    0/1 (bool, integer or float), token type ids are integers in ``[0, type_vocab_size)``."""
    shape = (int(shape[0]), int(shape[1]))
    if not isinstance(values, Tensor):
        raise TypeError(f"{name}: expected a {shape} tensor, got {type(values).__name__}")
    if values.dim() != 2 or values.size(1) != shape[1] or values.size(0) not in (1, shape[0]):
        raise ValueError(
            f"{name}: expected shape {shape} like input_ids, got {tuple(values.shape)}"
        )
    if name == "attention_mask":
        if not bool(((values == 0) | (values == 1)).all()):
            found = sorted(set(values[(values != 0) & (values != 1)].tolist()))[:5]
            raise ValueError(f"{name}: expected 0/1 values, found {found}")
        return
    if values.dtype not in _INTEGER_DTYPES:
        raise TypeError(f"{name}: expected integer ids (torch.long), got {values.dtype}")
    types = getattr(getattr(backbone, "config", None), "type_vocab_size", None)
    if isinstance(types, int) and bool(((values < 0) | (values >= types)).any()):
        found = sorted(set(values[(values < 0) | (values >= types)].tolist()))[:5]
        raise ValueError(f"{name}: expected ids in [0, {types}) (type_vocab_size), found {found}")


def check_generation_length(
    backbone: nn.Module, num_virtual_tokens: int, input_length: int, generate_kwargs: dict
) -> None:
    """Raise naming ``max_new_tokens`` (or ``max_length``) when generation would run past the
    backbone's position limit (:func:`position_limit`): ``num_virtual_tokens + input_length``
    prompt positions plus the new tokens. Without either keyword the backbone's
    ``generation_config`` decides, as in ``generate``. ``max_length`` counts the virtual tokens,
    as ``generate`` sees them in its prefix."""
    limit = position_limit(backbone)
    used = num_virtual_tokens + input_length
    config = getattr(backbone, "generation_config", None)
    if generate_kwargs.get("max_new_tokens") is not None:
        name, new = "max_new_tokens", int(generate_kwargs["max_new_tokens"])
    elif generate_kwargs.get("max_length") is not None:
        name, new = "max_length", int(generate_kwargs["max_length"]) - used
        if new < 1:
            raise ValueError(
                f"max_length: {generate_kwargs['max_length']} leaves no room for new tokens: it "
                f"counts the {num_virtual_tokens} virtual and {input_length} input tokens "
                f"({used}); expected more than {used}, or pass max_new_tokens"
            )
    elif getattr(config, "max_new_tokens", None) is not None:
        name, new = "generation_config.max_new_tokens", int(config.max_new_tokens)
    else:
        name = "generation_config.max_length"
        new = int(getattr(config, "max_length", None) or 20) - used
    if limit is not None and used + new > limit:
        raise ValueError(
            f"{name}: {num_virtual_tokens} virtual + {input_length} input + {new} new tokens = "
            f"{used + new} positions, more than the backbone's limit of {limit} "
            f"({type(backbone).__name__}); at most {max(limit - used, 0)} new tokens fit"
        )


# ------------------------------------------------------------------------------- injection
@dataclasses.dataclass
class InjectedInputs:
    """Backbone keyword arguments with the virtual tokens in place.

    Attributes:
        kwargs: For ``backbone(**kwargs)``: ``inputs_embeds`` ``(B, n + L, D)``, ``attention_mask``
            ``(B, n + L)`` and, as they apply, ``token_type_ids``, ``position_ids``, ``labels``
            and any extra keyword arguments passed through.
        virtual_mask: ``(B, n + L)`` bool, True at the virtual positions (encoder side for
            seq2seq).
        text_index: ``(B, L)`` long, where each input token landed in the longer sequence.
    """

    kwargs: dict[str, Any]
    virtual_mask: Tensor
    text_index: Tensor

    def text_positions(self, values: Tensor) -> Tensor:
        """Keep the real-token positions: ``(B, n + L, ...)`` → ``(B, L, ...)`` (e.g. logits)."""
        index = self.text_index.to(values.device)
        index = index.view(*index.shape, *([1] * (values.dim() - 2)))
        return values.gather(1, index.expand(-1, -1, *values.shape[2:]))


def _batched_prompt(prompt: Tensor, batch_size: int, hidden: int) -> Tensor:
    """``(n, D)`` or ``(B, n, D)`` → ``(B, n, D)``, validated."""
    if not isinstance(prompt, Tensor) or prompt.dim() not in (2, 3):
        shape = tuple(prompt.shape) if isinstance(prompt, Tensor) else type(prompt).__name__
        raise ValueError(
            f"prompt: expected a (n, {hidden}) or (B, n, {hidden}) tensor, got {shape}"
        )
    if prompt.size(-1) != hidden:
        raise ValueError(
            f"prompt: last dimension {prompt.size(-1)} != the backbone's hidden size {hidden}"
        )
    if prompt.size(-2) < 1:
        raise ValueError("prompt: needs at least one virtual token, got n=0")
    if prompt.dim() == 2:
        return prompt.unsqueeze(0).expand(batch_size, -1, -1)
    if prompt.size(0) != batch_size:
        raise ValueError(
            f"prompt: per-sample prompts for batch size {prompt.size(0)}, but the input has "
            f"batch size {batch_size}"
        )
    return prompt


class _Layout:
    """Index maps from the longer sequence (length ``T = n + L``) back to prompt and text.

    ``start`` ``(B,)`` is where each row's virtual tokens begin.
    """

    def __init__(self, start: Tensor, num_virtual: int, length: int) -> None:
        j = torch.arange(num_virtual + length, device=start.device).unsqueeze(0)  # (1, T)
        begin = start.unsqueeze(1)  # (B, 1)
        self.is_virtual = (j >= begin) & (j < begin + num_virtual)  # (B, T)
        self.text_src = torch.where(j < begin, j, j - num_virtual).clamp(0, max(length - 1, 0))
        self.prompt_src = (j - begin).clamp(0, num_virtual - 1)  # (B, T)
        i = torch.arange(length, device=start.device).unsqueeze(0)
        self.text_index = i + num_virtual * (i >= begin).long()  # (B, L)
        self.start = start

    def spread(self, values: Tensor, fill: int | float) -> Tensor:
        """A per-token ``(B, L)`` tensor on the longer sequence, ``fill`` at virtual positions."""
        gathered = values.gather(1, self.text_src.expand(values.size(0), -1))
        return gathered.masked_fill(self.is_virtual, fill)

    def merge(self, prompt: Tensor, embeds: Tensor) -> Tensor:
        """``(B, n, D)`` prompt and ``(B, L, D)`` embeddings → ``(B, n + L, D)``."""
        d = embeds.size(-1)
        text = embeds.gather(1, self.text_src.unsqueeze(-1).expand(-1, -1, d))
        virtual = prompt.gather(1, self.prompt_src.unsqueeze(-1).expand(-1, -1, d))
        return torch.where(self.is_virtual.unsqueeze(-1), virtual, text)


def _first_real_token(attention_mask: Tensor) -> Tensor:
    """``(B, L)`` mask → ``(B,)`` index of each row's first attended token (0 for empty rows)."""
    real = attention_mask.bool()
    return torch.where(
        real.any(1), real.int().argmax(1), torch.zeros_like(real[:, 0], dtype=torch.long)
    )


def inject_prompt(
    backbone: nn.Module,
    prompt: Tensor,
    *,
    input_ids: Tensor | None = None,
    inputs_embeds: Tensor | None = None,
    attention_mask: Tensor | None = None,
    token_type_ids: Tensor | None = None,
    position_ids: Tensor | None = None,
    labels: Tensor | None = None,
    placement: Placement = "before_text",
    prompt_lengths: Tensor | None = None,
    **kwargs: Any,
) -> InjectedInputs:
    """Prepend ``prompt`` to the input of ``backbone``; call ``backbone(**result.kwargs)``.

    Args:
        backbone: A Hugging Face encoder, decoder or encoder-decoder model.
        prompt: Virtual tokens ``(n, D)`` shared by the batch, or ``(B, n, D)`` per sample.
        input_ids: ``(B, L)`` token ids (or give ``inputs_embeds`` ``(B, L, D)``).
        attention_mask: ``(B, L)``; all ones when None.
        token_type_ids: ``(B, L)``; extended with zeros (encoders).
        position_ids: ``(B, L)``; decoders with ``placement="before_text"`` shift them by ``n``
            after the virtual tokens; elsewhere they are ignored with a warning, as PEFT does.
        labels: ``(B, L)`` token labels get ``-100`` on virtual positions (encoders, decoders);
            sequence labels ``(B,)`` and seq2seq labels pass through unchanged.
        placement: Decoders only: ``"before_text"`` (right before each row's first real token,
            correct for left and right padding) or ``"start"`` (PEFT's layout).
        prompt_lengths: ``(B,)`` for per-sample prompts of different lengths padded to a common
            ``n`` (mixed-tenant batches): row ``i`` uses its first ``prompt_lengths[i]`` virtual
            tokens (``0``: none); the rest are masked out and skipped by the position ids, so
            each row gives what its own prompt gives alone (see :func:`_mask_unused_slots`).
        **kwargs: Passed through to the backbone (e.g. ``decoder_input_ids``).

    Returns:
        :class:`InjectedInputs`.
    """
    kind = architecture_kind(backbone)
    if placement not in PLACEMENTS:
        raise ValueError(f"placement: got {placement!r}; expected one of {PLACEMENTS}")
    if (input_ids is None) == (inputs_embeds is None):
        raise ValueError("input_ids / inputs_embeds: pass exactly one of them")
    if inputs_embeds is None:
        check_input_ids(backbone, input_ids)
        inputs_embeds = backbone.get_input_embeddings()(input_ids)
    elif inputs_embeds.dim() != 3 or 0 in inputs_embeds.shape[:2]:
        raise ValueError(
            f"inputs_embeds: expected (B, L, D) with B, L >= 1, got {tuple(inputs_embeds.shape)}"
        )
    batch, length, hidden = inputs_embeds.shape
    device = inputs_embeds.device
    prompt = _batched_prompt(prompt, batch, hidden).to(device=device, dtype=inputs_embeds.dtype)
    n = prompt.size(1)
    if attention_mask is None:
        attention_mask = torch.ones(batch, length, dtype=torch.long, device=device)
    elif not isinstance(attention_mask, Tensor) or tuple(attention_mask.shape) != (batch, length):
        found = (
            tuple(attention_mask.shape) if isinstance(attention_mask, Tensor) else attention_mask
        )
        raise ValueError(
            f"attention_mask: expected a 2-D mask of shape {(batch, length)}, got {found}"
        )
    else:
        check_token_tensor(backbone, attention_mask, "attention_mask", (batch, length))
    if token_type_ids is not None:
        check_token_tensor(backbone, token_type_ids, "token_type_ids", (batch, length))
    check_prompt_length(backbone, n, length)

    adjacent = kind == "decoder" and placement == "before_text"
    # seq2seq encoders (T5: relative positions) also get the prompt right before the first real
    # token, so left padding does not stretch the prompt-text distances; "start" keeps PEFT's
    before_text = placement == "before_text" and kind in ("decoder", "seq2seq")
    start = (
        _first_real_token(attention_mask) if before_text else torch.zeros(batch, dtype=torch.long)
    )
    layout = _Layout(start.to(device), n, length)
    out: dict[str, Any] = dict(kwargs)
    out["inputs_embeds"] = layout.merge(prompt, inputs_embeds)
    out["attention_mask"] = layout.spread(attention_mask, 1)

    if token_type_ids is not None:
        if kind == "encoder":
            out["token_type_ids"] = layout.spread(token_type_ids.expand(batch, -1), 0)
        else:
            warnings.warn(
                "token_type_ids are ignored for decoder and seq2seq backbones", stacklevel=2
            )
    unused = None
    if prompt_lengths is not None:
        unused = _mask_unused_slots(backbone, kind, adjacent, layout, n, prompt_lengths, out)
    if adjacent:
        out["position_ids"] = _decoder_positions(
            layout, out["attention_mask"], position_ids, n, unused
        )
    elif "position_ids" in out:
        pass  # set for unequal prompt lengths
    elif position_ids is not None and kind == "encoder" and _takes_positions(backbone):
        out["position_ids"] = _encoder_positions(layout, attention_mask, position_ids, n)
    elif position_ids is not None:
        warnings.warn(
            "position_ids are ignored with virtual tokens at the start of the sequence; the "
            "backbone's default positions are used (as PEFT does)",
            stacklevel=2,
        )
    if labels is not None:
        token_level = kind != "seq2seq" and labels.dim() == 2 and labels.size(1) == length
        out["labels"] = layout.spread(labels, -100) if token_level else labels
    return InjectedInputs(out, layout.is_virtual, layout.text_index)


def _mask_unused_slots(
    backbone: nn.Module,
    kind: ArchitectureKind,
    adjacent: bool,
    layout: _Layout,
    n: int,
    prompt_lengths: Tensor,
    out: dict[str, Any],
) -> Tensor | None:
    """Mask the virtual slots ``>= prompt_lengths[i]``; ``(B,)`` unused counts, or None if none.

    Decoders with ``"before_text"`` count positions over attended tokens, so masking is enough.
    Elsewhere the positions a row would get alone (``0 .. n_i + L - 1``, RoBERTa's offset added)
    are passed explicitly; models without ``position_ids`` (T5) cannot take unequal lengths.
    """
    batch = layout.start.size(0)
    lengths = torch.as_tensor(prompt_lengths, device=layout.start.device).long().reshape(-1)
    if lengths.numel() != batch or bool(((lengths < 0) | (lengths > n)).any()):
        raise ValueError(
            f"prompt_lengths: expected {batch} values in [0, {n}], got {lengths.tolist()}"
        )
    unused_count = n - lengths  # (B,)
    if not bool(unused_count.any()):
        return None
    unused = layout.is_virtual & (layout.prompt_src >= lengths.unsqueeze(1))
    out["attention_mask"] = out["attention_mask"].masked_fill(unused, 0)
    if adjacent:
        return unused_count
    if "position_ids" not in inspect.signature(backbone.forward).parameters or kind == "seq2seq":
        raise ValueError(
            f"prompt_lengths: {type(backbone).__name__} cannot take prompts of different lengths "
            "in one batch (its positions cannot be set per row); group rows by prompt length"
        )
    j = torch.arange(layout.is_virtual.size(1), device=lengths.device).unsqueeze(0)
    text = j >= (layout.start.unsqueeze(1) + n)
    positions = torch.where(text, j - unused_count.unsqueeze(1), j).masked_fill(unused, 0)
    model_type = getattr(backbone.config, "model_type", "")
    if "roberta" in model_type or model_type == "camembert":
        positions = positions + (getattr(backbone.config, "pad_token_id", None) or 0) + 1
    out["position_ids"] = positions
    return unused_count


def _takes_positions(backbone: nn.Module) -> bool:
    return "position_ids" in inspect.signature(backbone.forward).parameters


def _encoder_positions(layout: _Layout, mask: Tensor, position_ids: Tensor, n: int) -> Tensor:
    """Explicit encoder positions with the virtual tokens first: they take the row's first real
    token's position onwards and every text position moves up by ``n`` (a left-padded row then
    sees what it sees alone)."""
    position_ids = position_ids.expand(mask.size(0), -1)
    first = position_ids.gather(1, _first_real_token(mask).unsqueeze(1))  # (B, 1)
    virtual = first + torch.arange(n, device=position_ids.device).unsqueeze(0)
    text = position_ids.gather(1, layout.text_src) + n
    return torch.where(layout.is_virtual, virtual.gather(1, layout.prompt_src), text)


def _decoder_positions(
    layout: _Layout,
    mask: Tensor,
    position_ids: Tensor | None,
    n: int,
    unused: Tensor | None = None,
) -> Tensor:
    """Positions that count attended tokens only (padding gets 1, as transformers' generate).

    With explicit ``position_ids`` ``(B, L)`` the used virtual slots continue from the first
    real token's position and every text token moves up by the slots its row uses
    (``n - unused``, ``unused`` ``(B,)`` from ``prompt_lengths``); unused slots, masked out, get
    1 like padding. Returns ``(B, n + L)``.
    """
    if position_ids is None:
        positions = mask.long().cumsum(-1) - 1
        return positions.masked_fill(mask == 0, 1)
    position_ids = position_ids.expand(mask.size(0), -1)
    first = position_ids.gather(1, layout.start.unsqueeze(1))  # (B, 1)
    virtual = first + layout.prompt_src
    used = n if unused is None else (n - unused).unsqueeze(1)
    text = position_ids.gather(1, layout.text_src) + used
    positions = torch.where(layout.is_virtual, virtual, text)
    if unused is not None:
        positions = positions.masked_fill(layout.is_virtual & (layout.prompt_src >= used), 1)
    return positions


# ------------------------------------------------------------------------------ generation
def _check_generation_positions(
    position_ids: Tensor, input_ids: Tensor, attention_mask: Tensor | None
) -> None:
    """``generate`` derives positions from the attention mask (attended tokens counted from 0);
    explicit ``position_ids`` are accepted when they say the same on the attended tokens (the
    Hugging Face convention for left padding), refused otherwise: silently ignoring other
    positions would change the result."""
    if not isinstance(position_ids, Tensor) or position_ids.shape[-1] != input_ids.shape[1]:
        shape = tuple(position_ids.shape) if isinstance(position_ids, Tensor) else position_ids
        raise ValueError(f"position_ids: expected (B, {input_ids.shape[1]}), got {shape}")
    mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask
    expected = mask.long().cumsum(-1) - 1
    attended = mask.bool()
    found = position_ids.expand_as(input_ids).to(expected.device)
    if not bool((found[attended] == expected[attended]).all()):
        raise ValueError(
            "position_ids: generation with a prompt counts positions over the attended tokens "
            "(0, 1, ... after any left padding), as generate derives them from attention_mask; "
            "other positions are not supported here"
        )


@contextmanager
def _embedding_override(backbone: nn.Module, embeds: Tensor) -> Iterator[None]:
    """While active, any call of the input embeddings that covers the whole ``(B, T)`` prefix
    returns ``embeds`` ``(B, T, D)`` for it (rows repeated for beams / multiple sequences)."""
    prefix = embeds.size(1)

    def hook(module: nn.Module, args: tuple[Any, ...], output: Tensor) -> Tensor | None:
        if output.dim() != 3 or output.size(1) < prefix:
            return None  # a cached decoding step: the virtual tokens live in the cache
        rows = embeds
        if output.size(0) != rows.size(0):
            rows = rows.repeat_interleave(output.size(0) // rows.size(0), dim=0)
        return torch.cat([rows.to(output.dtype), output[:, prefix:]], dim=1)

    handle = backbone.get_input_embeddings().register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def generate_with_prompt(
    backbone: nn.Module,
    prompt: Tensor,
    input_ids: Tensor,
    attention_mask: Tensor | None = None,
    *,
    placement: Placement = "before_text",
    inputs_embeds: Tensor | None = None,
    prompt_lengths: Tensor | None = None,
    **generate_kwargs: Any,
) -> Any:
    """``backbone.generate`` with the virtual tokens in the prompt.

    Args:
        backbone: A decoder-only or encoder-decoder model with ``generate``.
        prompt: ``(n, D)`` or ``(B, n, D)`` virtual tokens.
        input_ids / attention_mask: ``(B, L)`` (left padding for batched decoder generation,
            as transformers expects).
        placement: See :func:`inject_prompt` (decoders).
        inputs_embeds: ``(B, L, D)`` embeddings to use for ``input_ids`` instead of looking them
            up (e.g. with EPT's additive offset); ``input_ids`` are still needed.
        prompt_lengths: ``(B,)`` used virtual tokens per row (see :func:`inject_prompt`).
        **generate_kwargs: For ``generate`` (``max_new_tokens``, ``use_cache``, ...).

    Returns:
        Decoder-only: ``(B, L + new)`` — ``input_ids`` followed by the generated tokens (the
        virtual tokens are not in it), as ``generate`` returns for plain ids. Encoder-decoder: the
        decoder sequences, as ``generate`` returns them. A ``return_dict_in_generate`` output has
        its ``sequences`` adjusted the same way.
    """
    kind = architecture_kind(backbone)
    if kind == "encoder":
        raise TypeError(
            f"backbone: {type(backbone).__name__} is an encoder-only model and cannot generate"
        )
    if not callable(getattr(backbone, "generate", None)):
        raise TypeError(f"backbone: {type(backbone).__name__} has no generate()")
    check_input_ids(backbone, input_ids)
    if isinstance(prompt, Tensor) and prompt.dim() in (2, 3):
        check_generation_length(backbone, prompt.size(-2), input_ids.size(1), generate_kwargs)
    position_ids = generate_kwargs.pop("position_ids", None)
    if position_ids is not None:
        _check_generation_positions(position_ids, input_ids, attention_mask)
    if inputs_embeds is not None and tuple(inputs_embeds.shape[:2]) != tuple(input_ids.shape):
        raise ValueError(
            f"inputs_embeds: expected (B, L, D) with (B, L) = {tuple(input_ids.shape)}, got "
            f"{tuple(inputs_embeds.shape)}"
        )
    injected = inject_prompt(
        backbone,
        prompt,
        input_ids=input_ids if inputs_embeds is None else None,
        inputs_embeds=inputs_embeds,
        attention_mask=attention_mask,
        placement=placement,
        prompt_lengths=prompt_lengths,
    )
    embeds, mask = injected.kwargs["inputs_embeds"], injected.kwargs["attention_mask"]
    if kind == "seq2seq":
        return backbone.generate(inputs_embeds=embeds, attention_mask=mask, **generate_kwargs)

    # Placeholder ids at the virtual positions keep generate's bookkeeping (lengths, masks) right;
    # their embeddings are replaced by the prompt.
    prefix_ids = torch.zeros(mask.shape, dtype=input_ids.dtype, device=input_ids.device)
    prefix_ids.scatter_(1, injected.text_index, input_ids)
    use_cache = generate_kwargs.get(
        "use_cache", getattr(backbone.generation_config, "use_cache", True)
    )
    if use_cache:
        output = backbone.generate(
            input_ids=prefix_ids, inputs_embeds=embeds, attention_mask=mask, **generate_kwargs
        )
    else:  # transformers uses inputs_embeds only in the first step when there is no cache
        with _embedding_override(backbone, embeds):
            output = backbone.generate(input_ids=prefix_ids, attention_mask=mask, **generate_kwargs)
    sequences = output if isinstance(output, Tensor) else output.sequences
    new_tokens = sequences[:, prefix_ids.size(1) :]
    expand = sequences.size(0) // input_ids.size(0)
    result = torch.cat([input_ids.repeat_interleave(expand, dim=0), new_tokens], dim=1)
    if isinstance(output, Tensor):
        return result
    output.sequences = result
    return output
