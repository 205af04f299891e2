"""`IaptModel`: instruction-aware soft tokens generated inside every layer of a frozen model.

Layout and choices (IAPT publishes no code; these are ours where the paper is silent):

* ``num_tokens`` slots are prepended to the input with
  :func:`~modalprompt.nlp.injection.inject_prompt` (encoders: before everything, so BERT's pooler
  reads the first soft token as with prompt tuning; decoders: right before each row's first real
  token, positions counted over real tokens, so left padding is correct). Their input embeddings
  are zeros: they are overwritten before the first layer.
* At the input of layer ``l`` a forward pre-hook replaces the slots' hidden states by
  ``generator_l(H_l, instruction_mask)`` (:class:`~modalprompt.nlp.iapt.generator.
  IaptPromptGenerator`), ``H_l`` being that layer's input. So the tokens of layer ``l`` replace
  those of layer ``l - 1`` (deep-prompt style) and carry no position embedding of their own.
  On decoders they are added to the slots' hidden states instead (``config.insertion``, default
  ``"auto"``; see :class:`IaptConfig` for why and what it measured).
* The generator reads only the instruction: ``instruction_mask`` (default: every attended
  token). With a decoder the soft tokens sit *before* the instruction, so every instruction token
  sees a summary of the whole instruction; a language-model loss on instruction tokens would
  therefore leak the targets, and labels on instruction tokens must be ``-100`` (checked).
* ``generate()`` with the KV cache runs the generators once, at prefill; later steps read the soft
  tokens' keys/values from the cache. Without the cache every step re-runs them on the same
  instruction, which gives the same tokens.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from modalprompt.core.model import PromptModel
from modalprompt.nlp.iapt.config import IaptConfig
from modalprompt.nlp.iapt.generator import IaptPromptGenerator
from modalprompt.nlp.iapt.layers import Insertion, InsertionHook, transformer_layers
from modalprompt.nlp.injection import (
    architecture_kind,
    check_input_ids,
    check_prompt_length,
    check_token_tensor,
    generate_with_prompt,
    inject_prompt,
)
from modalprompt.nlp.prompt_tuning.model import PromptTuningModel
from modalprompt.nlp.steps import BackboneLossSteps

__all__ = ["IaptModel"]


class IaptModel(BackboneLossSteps, PromptModel):
    """IAPT on a frozen encoder-only (BERT, RoBERTa) or decoder-only (GPT-2, Llama) model.

    Args:
        backbone: A transformers ``...ForMaskedLM``, ``...ForCausalLM`` or
            ``...ForSequenceClassification`` model.
        config: :class:`IaptConfig`.

    Attributes:
        generators: One :class:`IaptPromptGenerator` per layer (projections shared across
            layers when ``share_projections``).
        head: Trainable copy of the classification head (``task="classification"``).

    Shapes:
        input_ids / attention_mask / instruction_mask: ``(B, L)``. ``task="classification"`` →
        logits ``(B, C)``; ``task="lm"`` → the backbone output with logits ``(B, k + L, V)``
        (``k = num_tokens``; :meth:`text_logits` keeps the ``L`` real positions).
    """

    # Head handling and the training-loop plumbing are prompt tuning's.
    _setup_head = PromptTuningModel._setup_head
    _use_own_head = PromptTuningModel._use_own_head
    _own_head = PromptTuningModel._own_head
    _check_classification_padding = PromptTuningModel._check_classification_padding
    text_logits = staticmethod(PromptTuningModel.text_logits)

    def __init__(self, backbone: nn.Module, config: IaptConfig) -> None:
        super().__init__(backbone, config)
        self.kind = architecture_kind(backbone)
        if self.kind == "seq2seq":
            raise TypeError(
                f"backbone: IAPT supports encoder-only and decoder-only models, got the "
                f"encoder-decoder {type(backbone).__name__}"
            )
        check_prompt_length(backbone, config.num_tokens, 0)
        layers = list(transformer_layers(backbone))  # a plain list: not registered twice
        hidden = backbone.get_input_embeddings().weight.size(1)
        self.hidden_size = hidden
        insertion = config.insertion
        if insertion == "auto":
            insertion = "add" if self.kind == "decoder" else "replace"
        self.additive_insertion = insertion == "add"
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.generators = nn.ModuleList(self._build_generators(len(layers), hidden))
        self.head: nn.Module | None = None
        self._head_active = False
        if config.task == "classification":
            self._setup_head(backbone, config.train_head)
        self._insertion: Insertion | None = None
        self._hooks = [
            layer.register_forward_pre_hook(InsertionHook(self, i), with_kwargs=True)
            for i, layer in enumerate(layers)
        ]

    def _build_generators(self, count: int, hidden: int) -> list[IaptPromptGenerator]:
        config = self.config
        down = up = None
        if config.share_projections:
            down = nn.Linear(hidden, config.bottleneck)
            up = IaptPromptGenerator._make_up(config.bottleneck, hidden)
        return [
            IaptPromptGenerator(
                hidden,
                config.bottleneck,
                config.num_tokens,
                down=down,
                up=up,
                rational_degrees=tuple(config.rational_degrees),
                activation_init=config.activation_init,
            )
            for _ in range(count)
        ]

    def remove_hooks(self) -> None:
        """Detach this model from the backbone's layers (the backbone is then plain again)."""
        for handle in self._hooks:
            handle.remove()
        self._hooks = []

    # ------------------------------------------------------------------------- insertion
    def active_insertion(self) -> Insertion | None:
        """The :class:`Insertion` of the forward in progress (None outside one)."""
        return self._insertion

    def layer_tokens(self, index: int, hidden: Tensor, instruction: Tensor) -> Tensor:
        """Layer ``index``'s tokens ``(B, k, D)`` from its input ``hidden`` ``(B, T, D)``."""
        generator = self.generators[index]
        dtype = generator.up.weight.dtype
        return generator(hidden.to(dtype), instruction)  # (B, k, D)

    @contextmanager
    def inserting(self, insertion: Insertion) -> Iterator[Insertion]:
        """While active, the backbone's layers get this model's generated tokens."""
        previous, self._insertion = self._insertion, insertion
        try:
            yield insertion
        finally:
            self._insertion = previous

    def _prepare(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None,
        instruction_mask: Tensor | None,
        labels: Tensor | None = None,
        **inputs: Any,
    ) -> tuple[dict[str, Any], Insertion, Any]:
        """Backbone kwargs with ``num_tokens`` zero slots, and the matching :class:`Insertion`."""
        check_input_ids(self.backbone, input_ids)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        check_token_tensor(self.backbone, attention_mask, "attention_mask", input_ids.shape)
        if instruction_mask is None:
            instruction = attention_mask.bool()
        else:
            if tuple(instruction_mask.shape) != tuple(input_ids.shape):
                raise ValueError(
                    f"instruction_mask: expected shape {tuple(input_ids.shape)}, got "
                    f"{tuple(instruction_mask.shape)}"
                )
            instruction = instruction_mask.bool() & attention_mask.bool()
        if not bool(instruction.any(1).all()):
            raise ValueError("instruction_mask: every row needs at least one instruction token")
        self._check_no_leak(instruction, labels, instruction_mask is None)
        slots = torch.zeros(self.config.num_tokens, self.hidden_size, device=input_ids.device)
        injected = inject_prompt(
            self.backbone,
            slots,
            input_ids=input_ids,
            attention_mask=attention_mask,
            labels=labels,
            **inputs,
        )
        spread = torch.zeros_like(injected.virtual_mask)
        spread.scatter_(1, injected.text_index.to(spread.device), instruction.to(spread.device))
        return injected.kwargs, Insertion(injected.virtual_mask, spread), injected

    def _check_no_leak(self, instruction: Tensor, labels: Tensor | None, default: bool) -> None:
        token_labels = (
            labels is not None and labels.dim() == 2 and labels.shape == instruction.shape
        )
        if self.kind != "decoder" or not token_labels:
            return
        if bool((labels[instruction] != -100).any()):
            hint = (
                "pass instruction_mask (1 on the instruction, 0 on the response)"
                if default
                else "set labels to -100 on the instruction tokens"
            )
            raise ValueError(
                "labels: a causal-LM loss on instruction tokens would leak the targets (every "
                f"instruction token sees soft tokens generated from the whole instruction); {hint}"
            )

    # --------------------------------------------------------------------------- forward
    def backbone_forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        instruction_mask: Tensor | None = None,
        **inputs: Any,
    ) -> Any:
        """Run the backbone with generated tokens in every layer; its ``ModelOutput``.

        Args:
            input_ids / attention_mask: ``(B, L)``.
            instruction_mask: ``(B, L)``, 1 on the instruction tokens the generators read
                (default: every attended token).
            **inputs: ``token_type_ids``, ``labels`` (token labels ``(B, L)`` or class labels) and
                other backbone keywords.
        """
        kwargs, insertion, injected = self._prepare(
            input_ids, attention_mask, instruction_mask, **inputs
        )
        if self.config.task == "classification":
            self._check_classification_padding(kwargs["attention_mask"])
        with self.inserting(insertion), self._own_head():
            output = self.backbone(**kwargs)
        output.injected = injected
        return output

    def forward(self, input_ids: Tensor | None = None, **inputs: Any) -> Any:
        """Class logits ``(B, C)`` (task ``"classification"``) or the backbone output (``"lm"``)."""
        output = self.backbone_forward(input_ids=input_ids, **inputs)
        return output.logits if self.config.task == "classification" else output

    @torch.no_grad()
    def generate(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, **generate_kwargs: Any
    ) -> Any:
        """``backbone.generate`` (decoders) with the whole input as the instruction; returns
        ``input_ids`` followed by the new tokens. With the KV cache the generators run once."""
        if self.kind != "decoder":
            raise TypeError(f"backbone: {type(self.backbone).__name__} cannot generate")
        _, insertion, _ = self._prepare(input_ids, attention_mask, None)
        slots = torch.zeros(self.config.num_tokens, self.hidden_size, device=input_ids.device)
        with self.inserting(insertion):
            output = generate_with_prompt(
                self.backbone, slots, input_ids, attention_mask, **generate_kwargs
            )
        self.last_generator_runs = insertion.calls
        return output
