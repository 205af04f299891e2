"""`BayesPromptModel`: KnowPrompt-style relation extraction whose prompt rows come from particles.

The masked LM is used unchanged: the added tokens (``[sub]``, ``[obj]``, four entity markers and
one answer token per relation) live in this model (``added_embeddings``, ids ``V..``), are mixed
into ``inputs_embeds``, and the answer logits are the masked position's output hidden state (the
input of the LM head's decoder, captured with a hook) times the answer tokens' embeddings (tied
weights, as ``resize_token_embeddings`` would give) plus a bias. This works for any Hugging Face
masked LM (BERT, RoBERTa, ELECTRA, DeBERTa) without resizing its vocabulary.

On a causal LM (Llama, GPT-2, SmolLM2) the answer slot is the next token after the prompt, which
the collator puts last (``RelationCollator(..., decoder=True)``: the marked sentence, then
``[sub] S [sub] [obj] O [obj] .``, left-padded: the last input is a fixed token, not a row the
particles overwrite); the answer logits are the last position's hidden
state times the answer tokens' embeddings, the LM head run on that position only
(``logits_to_keep=1``), with position ids counted over the real tokens so left padding changes
nothing.

After the collection epoch(s) ``particles`` hold the SVGD result; from then on the ``[sub]`` and
``[obj]`` rows are the mean of sampled particles. Differs from the official code: those two rows
are not trainable once particles exist (the official optimiser updates them and then overwrites
them every step), and the written vector is a buffer of this model, saved with it.

Measured on SmolLM2-135M (``benchmarks/text_mlm.py --bayes-variants``): the particle mean, a
mean of static token embeddings, lies next to whitespace and punctuation tokens (``' '``,
``' ,'``), far from the rows KnowPrompt learns; written into ``[sub]``/``[obj]`` it erases the
entity markers and training stalls, while the particles' spread around the trained rows, or
frozen trained rows alone, train as KnowPrompt does. This is the method as published (the
official features are even pad-dominated), so it is kept; the benchmark's docstring has the
numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from modalprompt.core.metrics import accuracy
from modalprompt.core.model import PromptModel
from modalprompt.core.validation import check_class_labels
from modalprompt.nlp.bayesprompt.config import BayesPromptConfig
from modalprompt.nlp.bayesprompt.features import abstraction_vector
from modalprompt.nlp.injection import check_input_ids

__all__ = ["BayesPromptModel", "relation_micro_f1", "ADDED_TOKENS"]

ADDED_TOKENS = (
    "[sub]",
    "[obj]",
    "[subject_start]",
    "[subject_end]",
    "[object_start]",
    "[object_end]",
)


def relation_micro_f1(pred: Tensor, gold: Tensor, na_class: int | None) -> float:
    """Micro-F1 over relation predictions, ignoring the "no relation" class (as KnowPrompt)."""
    if na_class is None:
        return accuracy(pred, gold)
    correct = ((pred == gold) & (gold != na_class)).sum().item()
    predicted = (pred != na_class).sum().item()
    actual = (gold != na_class).sum().item()
    precision = correct / predicted if predicted else 0.0
    recall = correct / actual if actual else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


class BayesPromptModel(PromptModel):
    """BayesPrompt on a Hugging Face masked LM (fully fine-tuned, as the official code).

    Args:
        backbone: ``AutoModelForMaskedLM`` (any architecture with an output-embedding decoder).
        config: :class:`BayesPromptConfig`.

    Shapes:
        input_ids / attention_mask (/ token_type_ids): ``(B, L)`` with exactly one mask token per
        row → class logits ``(B, K)``.
    """

    train_backbone = True
    gradient_exemptions = {  # see core.testing.check_prompt_model
        "backbone.cls.predictions.bias": "the answer logits read the decoder's input (hidden "
        "state times answer embeddings + answer_bias), never the MLM decoder's vocabulary bias",
        "backbone.cls.predictions.decoder.bias": "the same tensor under its tied name",
        "backbone.lm_head.bias": "as above, RoBERTa-style naming of the MLM decoder's bias",
        "backbone.lm_head.decoder.bias": "the same tensor under its tied name",
    }

    def __init__(self, backbone: nn.Module, config: BayesPromptConfig) -> None:
        from modalprompt.nlp.classification import check_masked_lm, is_decoder

        check_masked_lm(backbone)
        super().__init__(backbone, config)
        self.decoder = is_decoder(backbone)
        if not self.decoder and config.mask_token_id is None:
            raise ValueError(
                "config.mask_token_id: None, but the backbone is a masked LM, whose answer slot "
                "is its mask token; build the config with BayesPromptConfig.from_relations"
            )
        embeddings = backbone.get_input_embeddings()
        if embeddings.num_embeddings != config.vocab_size:
            raise ValueError(
                f"config.vocab_size is {config.vocab_size} but the backbone has "
                f"{embeddings.num_embeddings} input embeddings; build the config from the "
                "backbone's own tokenizer (before adding tokens)"
            )
        weight = embeddings.weight.detach()
        mean = weight.mean(0)
        rows = [mean.clone() for _ in ADDED_TOKENS]
        for ids in config.label_word_ids or [()] * config.num_classes:
            rows.append(weight[list(ids)].mean(0) if ids else mean.clone())
        self.added_embeddings = nn.Embedding(len(rows), weight.size(1))
        with torch.no_grad():
            self.added_embeddings.weight.copy_(torch.stack(rows))
        self.answer_bias = nn.Parameter(torch.zeros(config.num_classes))
        self.register_buffer("particles", torch.zeros(0, weight.size(1)))
        self._captured: Tensor | None = None
        backbone.get_output_embeddings().register_forward_pre_hook(self._capture)

    # ----------------------------------------------------------------------------- tokens
    @property
    def answer_ids(self) -> Tensor:
        start = self.config.vocab_size + len(ADDED_TOKENS)
        return torch.arange(start, start + self.config.num_classes, device=self.answer_bias.device)

    def _capture(self, module: nn.Module, args: tuple[Tensor, ...]) -> None:
        self._captured = args[0]

    def has_particles(self) -> bool:
        return self.particles.numel() > 0

    def set_particles(self, particles: Tensor) -> None:
        """Store the SVGD particles ``(n, D)``; the ``[sub]``/``[obj]`` rows stop training."""
        self.particles = particles.detach().to(self.particles.device, self.particles.dtype)

    def prompt_vector(self) -> Tensor:
        """The vector written to ``[sub]`` and ``[obj]`` for this forward."""
        num = self.config.num_samples or min(self.particles.size(0), self.config.num_classes)
        if self.training:
            return abstraction_vector(self.particles, num)  # torch's generator: resumable
        if self.config.eval_mode == "mean":
            return abstraction_vector(self.particles, num, deterministic=True)
        generator = torch.Generator().manual_seed(self.config.seed)
        return abstraction_vector(self.particles, num, generator)

    def embed(self, input_ids: Tensor) -> Tensor:
        """Input embeddings with the added tokens (``(B, L)`` ids → ``(B, L, D)``)."""
        vocab = self.config.vocab_size
        if bool((input_ids >= vocab + self.added_embeddings.num_embeddings).any()):
            raise ValueError(
                "input_ids: ids beyond the added tokens; was the tokenizer extended "
                "by this model's collator?"
            )
        base = self.backbone.get_input_embeddings()(input_ids.clamp(max=vocab - 1))
        added_rows = self.added_embeddings.weight
        if self.has_particles():
            vector = self.prompt_vector()
            added_rows = torch.cat([vector.expand(2, -1), added_rows[2:]])
        added = added_rows[(input_ids - vocab).clamp(min=0)]
        return torch.where((input_ids >= vocab).unsqueeze(-1), added, base)

    # ---------------------------------------------------------------------------- forward
    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        token_type_ids: Tensor | None = None,
        **_: Any,
    ) -> Tensor:
        vocab = self.config.vocab_size + self.added_embeddings.num_embeddings
        check_input_ids(None, input_ids, vocab_size=vocab)
        if self.decoder:
            hidden = self._answer_state_decoder(input_ids, attention_mask)
        else:
            hidden = self._answer_state_masked(input_ids, attention_mask, token_type_ids)
        answers = self.added_embeddings.weight[len(ADDED_TOKENS) :]
        return hidden @ answers.T + self.answer_bias

    def _answer_state_masked(
        self, input_ids: Tensor, attention_mask: Tensor, token_type_ids: Tensor | None
    ) -> Tensor:
        """The mask position's state before the LM head's decoder, ``(B, D)``."""
        mask_id = self.config.mask_token_id
        positions = (input_ids == mask_id).nonzero()
        if positions.size(0) != input_ids.size(0) or bool(
            (positions[:, 0] != torch.arange(input_ids.size(0), device=input_ids.device)).any()
        ):
            raise ValueError(f"input_ids: every row needs exactly one mask token (id {mask_id})")
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        self.backbone(inputs_embeds=self.embed(input_ids), attention_mask=attention_mask, **kwargs)
        hidden = self._captured[positions[:, 0], positions[:, 1]]  # (B, D) before the decoder
        self._captured = None
        return hidden

    def _answer_state_decoder(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """The last position's state before the LM head, ``(B, D)``: the answer slot."""
        if bool((attention_mask[:, -1] == 0).any()):
            raise ValueError(
                "attention_mask: a causal LM reads the answer at the last position, so rows must "
                "be left-padded (RelationCollator(..., decoder=True) pads left)"
            )
        positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        self.backbone(
            inputs_embeds=self.embed(input_ids),
            attention_mask=attention_mask,
            position_ids=positions,
            logits_to_keep=1,
        )
        hidden = self._captured[:, -1]  # (B, D): the LM head saw only the last position
        self._captured = None
        return hidden

    @torch.no_grad()
    def features(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """BayesPrompt's text features: mask-aware mean of the input embeddings ``(B, D)``."""
        mask = attention_mask.unsqueeze(-1).to(self.added_embeddings.weight.dtype)
        return (self.embed(input_ids) * mask).sum(1) / mask.sum(1).clamp(min=1)

    def training_step(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        logits = self(**batch)
        labels = check_class_labels(batch["labels"], logits.size(-1), batch_size=logits.size(0))
        return {"loss": nn.functional.cross_entropy(logits, labels)}

    @torch.no_grad()
    def validation_step(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        logits = self(**batch)
        labels = check_class_labels(batch["labels"], logits.size(-1), batch_size=logits.size(0))
        return {"logits": logits, "labels": labels}

    def compute_metrics(self, outputs: Mapping[str, Tensor]) -> dict[str, float]:
        pred = outputs["logits"].argmax(-1)
        return {
            "micro_f1": relation_micro_f1(pred, outputs["labels"], self.config.na_class),
            "accuracy": accuracy(pred, outputs["labels"]),
        }

    def load_prompt_state_dict(self, state: Mapping[str, Tensor]) -> None:
        if "particles" in state:  # the particle count is data-dependent
            self.particles = torch.zeros_like(state["particles"], device=self.particles.device)
        super().load_prompt_state_dict(state)
