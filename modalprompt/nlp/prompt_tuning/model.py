"""`PromptTuningModel`: ``n`` trainable soft tokens in front of a frozen Hugging Face model.

Given the same prompt tensor its outputs equal PEFT's prompt tuning (``PeftModelForCausalLM``,
``PeftModelForSequenceClassification``, ``PeftModelForSeq2SeqLM``); differences, all deliberate:

* decoders put the virtual tokens right before each row's first real token and count positions
  over real tokens (``placement="before_text"``), so left-padded batches are correct (PEFT puts
  them before the padding: peft#1093); ``placement="start"`` gives PEFT's layout;
* ``generate`` gives the same tokens with and without the KV cache;
* the prompt can be per sample (pass ``prompt=`` a ``(B, n, D)`` tensor to :meth:`forward`).
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from modalprompt.core.model import PromptModel, unfreeze
from modalprompt.nlp.injection import (
    architecture_kind,
    check_prompt_length,
    generate_with_prompt,
    inject_prompt,
)
from modalprompt.nlp.prompt_tuning.config import PromptTuningConfig
from modalprompt.nlp.prompt_tuning.init import initial_prompt, text_init_ids
from modalprompt.nlp.steps import BackboneLossSteps

__all__ = ["PromptTuningModel", "HEAD_NAMES"]

HEAD_NAMES = ("classifier", "score")  # what PEFT's SEQ_CLS adds to modules_to_save


class PromptTuningModel(BackboneLossSteps, PromptModel):
    """Vanilla prompt tuning on a frozen transformers model.

    Args:
        backbone: An encoder (``BertForMaskedLM``, ``BertForSequenceClassification``, ...), decoder
            (``GPT2LMHeadModel``, ``LlamaForCausalLM``, ...) or encoder-decoder
            (``T5ForConditionalGeneration``) model.
        config: :class:`PromptTuningConfig`.
        tokenizer: The backbone's tokenizer; needed only to tokenise ``init_text`` (the ids are
            then kept in ``self.config.init_token_ids``, so reloading needs no tokenizer).

    Attributes:
        prompt_embeddings: ``(n, D)`` float32, the trainable soft prompt.
        head: For ``task="classification"`` with ``train_head``: a trainable copy of the
            backbone's ``classifier``/``score`` module, used in its place.

    Shapes:
        input_ids / attention_mask / token_type_ids: ``(B, L)``. ``task="classification"`` →
        logits ``(B, C)``; ``task="lm"`` → the backbone's output, whose ``logits`` are
        ``(B, n + L, V)`` (encoder/decoder; :meth:`text_logits` keeps the ``L`` real positions)
        or the decoder's ``(B, L_dec, V)`` (seq2seq).
    """

    def __init__(
        self, backbone: nn.Module, config: PromptTuningConfig, tokenizer: Any = None
    ) -> None:
        super().__init__(backbone, config)
        self.kind = architecture_kind(backbone)
        n = config.num_virtual_tokens
        check_prompt_length(backbone, n, 0)
        if config.init == "text" and config.init_token_ids is None:
            if tokenizer is None:
                raise ValueError(
                    "tokenizer: init='text' needs the backbone's tokenizer to tokenise init_text "
                    "(or give config.init_token_ids)"
                )
            ids = text_init_ids(tokenizer, config.init_text)
            self.config = config = config.replace(init_token_ids=ids)
        weight = initial_prompt(
            backbone.get_input_embeddings(),
            n,
            config.init,
            token_ids=config.init_token_ids,
            seed=config.seed,
        )
        self.prompt_embeddings = nn.Parameter(weight)
        self.head: nn.Module | None = None
        self._head_active = False
        if config.task == "classification":
            self._setup_head(backbone, config.train_head)

    @classmethod
    def from_peft(
        cls, backbone: nn.Module, directory: str | Path, **overrides: Any
    ) -> PromptTuningModel:
        """Load a PEFT ``PROMPT_TUNING`` adapter folder (prompt and SEQ_CLS head) onto
        ``backbone``; ``overrides`` set config fields. Save it again with ``save_pretrained``."""
        from modalprompt.nlp.prompt_tuning.peft_format import load_peft_prompt_tuning

        return load_peft_prompt_tuning(backbone, directory, **overrides)

    # ------------------------------------------------------------------------------ head
    def _setup_head(self, backbone: nn.Module, trainable: bool) -> None:
        name = next(
            (n for n in HEAD_NAMES if isinstance(getattr(backbone, n, None), nn.Module)), None
        )
        if name is None:
            raise TypeError(
                f"backbone: task='classification' needs a ...ForSequenceClassification model with "
                f"a {' or '.join(map(repr, HEAD_NAMES))} head, got {type(backbone).__name__}; "
                "use task='lm' for language-model heads"
            )
        if not trainable:
            return
        original = getattr(backbone, name)
        self.head = unfreeze(copy.deepcopy(original))
        original.register_forward_hook(self._use_own_head)

    def _use_own_head(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> Any:
        """Forward hook on the backbone's head: while this model runs, its copy answers."""
        if not self._head_active or self.head is None:
            return None
        return self.head(*args)

    @contextmanager
    def _own_head(self):
        previous, self._head_active = self._head_active, True
        try:
            yield
        finally:
            self._head_active = previous

    # --------------------------------------------------------------------------- forward
    def get_prompt(self, batch_size: int | None = None) -> Tensor:
        """The soft prompt ``(n, D)``, or ``(B, n, D)`` repeated for ``batch_size`` (as PEFT)."""
        if batch_size is None:
            return self.prompt_embeddings
        return self.prompt_embeddings.unsqueeze(0).expand(batch_size, -1, -1)

    def backbone_forward(self, prompt: Tensor | None = None, **inputs: Any) -> Any:
        """Run the backbone with the prompt injected; returns its ``ModelOutput``.

        Args:
            prompt: Overrides the learned prompt: ``(n, D)`` or per-sample ``(B, n, D)``.
            **inputs: ``input_ids`` (or ``inputs_embeds``), ``attention_mask``,
                ``token_type_ids``, ``position_ids``, ``labels`` and any backbone keyword.
        """
        prompt = self.prompt_embeddings if prompt is None else prompt
        injected = inject_prompt(self.backbone, prompt, placement=self.config.placement, **inputs)
        if self.config.task == "classification":
            self._check_classification_padding(injected.kwargs["attention_mask"])
        with self._own_head():
            output = self.backbone(**injected.kwargs)
        output.injected = injected  # not a ModelOutput field: kept out of to_tuple()
        return output

    def _check_classification_padding(self, mask: Tensor) -> None:
        if self.kind == "decoder" and bool((mask[:, -1] == 0).any()):
            raise ValueError(
                "attention_mask: a decoder-only classifier reads the last position, but some "
                "rows end in padding; pad on the left (tokenizer.padding_side = 'left')"
            )

    def forward(self, input_ids: Tensor | None = None, **inputs: Any) -> Any:
        """Class logits ``(B, C)`` (task ``"classification"``) or the backbone output (``"lm"``)."""
        output = self.backbone_forward(input_ids=input_ids, **inputs)
        return output.logits if self.config.task == "classification" else output

    @staticmethod
    def text_logits(output: Any) -> Tensor:
        """An encoder/decoder output's logits at the real-token positions: ``(B, L, V)``."""
        return output.injected.text_positions(output.logits)

    @torch.no_grad()
    def generate(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, **generate_kwargs: Any
    ) -> Any:
        """``backbone.generate`` with the soft prompt (decoder-only: returns ``input_ids`` + new
        tokens; seq2seq: the decoder sequences). See
        :func:`~modalprompt.nlp.injection.generate_with_prompt`."""
        return generate_with_prompt(
            self.backbone,
            self.prompt_embeddings,
            input_ids,
            attention_mask,
            placement=self.config.placement,
            **generate_kwargs,
        )
