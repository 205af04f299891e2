"""`SciPromptModel`: masked LM + template + SciPrompt's knowledge-augmented verbalizer.

Built like :class:`~modalprompt.nlp.prompt_finetune.model.PromptFinetuneModel` (the
:class:`~modalprompt.nlp.classification.MaskedLMPrompt` mixin on a
:class:`~modalprompt.core.model.PromptModel`): the template and the verbalizer are rebuilt from
the config and a tokenizer, so a checkpoint holds only tensors and JSON. The verbalizer's
pruning mask and calibration prior are persistent buffers, restored by ``from_pretrained``.

Workflow (official scripts): build → :meth:`SciPromptModel.calibrate` on the (unlabelled)
training texts, which prunes improbable terms and registers the prior → zero-shot: predict;
few-shot: train on k examples per class (CE over classes), then predict.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from modalprompt.nlp.classification import MaskedLMPrompt, check_answer_is_last, is_decoder
from modalprompt.nlp.prompt_finetune.model import PromptFinetuneModel
from modalprompt.nlp.sciprompt.config import SciPromptConfig
from modalprompt.nlp.sciprompt.terms import LabelTerms, drop_unmappable
from modalprompt.nlp.sciprompt.verbalizer import SciPromptVerbalizer
from modalprompt.nlp.templates import Template
from modalprompt.nlp.verbalizers import SoftVerbalizer

__all__ = ["SciPromptModel"]


class SciPromptModel(PromptFinetuneModel):
    """SciPrompt / SciPrompt-Soft classifier.

    Args:
        backbone: A Hugging Face masked LM (SciBERT in the paper).
        config: :class:`SciPromptConfig`.
        tokenizer: The backbone's tokenizer; default loads ``config.tokenizer``.

    Attributes:
        verbalizer: :class:`SciPromptVerbalizer` or, for ``verbalizer="soft"``,
            :class:`~modalprompt.nlp.verbalizers.SoftVerbalizer`.
        dropped_terms: ``{class: [terms]}`` the tokenizer could not map (dropped); classes are
            ``config.class_names`` or indices.
        pruned_terms: ``{class: [terms]}`` removed by the last :meth:`calibrate`.

    Shapes:
        input_ids, attention_mask, soft_ids: (B, L); mask_positions: (B,); labels: (B,)
        → ``{"logits": (B, C)}`` (+ ``"loss"`` with labels).
    """

    def __init__(self, backbone: nn.Module, config: SciPromptConfig, tokenizer: Any = None) -> None:
        if isinstance(config, SciPromptConfig):
            self.train_backbone = not (config.freeze_backbone or config.zero_shot)
        # PromptModel.__init__ only: PromptFinetuneModel.__init__ would build a ManualVerbalizer
        super(PromptFinetuneModel, self).__init__(backbone, config)
        self.tokenizer = self._check_tokenizer(backbone, tokenizer, config)
        terms = LabelTerms.from_lists(
            config.label_words, config.label_word_scores, config.class_names
        )
        self.dropped_terms: dict[Any, list[str]] = {}
        if config.drop_unmappable:
            terms, self.dropped_terms = drop_unmappable(terms, self.tokenizer)
            if self.dropped_terms:
                n = sum(len(v) for v in self.dropped_terms.values())
                warnings.warn(
                    f"sciprompt: dropped {n} label term(s) the tokenizer cannot map: "
                    f"{self.dropped_terms}",
                    stacklevel=2,
                )
        self.pruned_terms: dict[Any, list[str]] = {}
        verbalizer = self._build_verbalizer(backbone, config, terms)
        template = Template(config.template, self.tokenizer, decoder=is_decoder(backbone))
        if config.term_scoring == "teacher_forced" and not template.decoder:
            raise ValueError(
                f"config.term_scoring: 'teacher_forced' reads terms as continuations of a causal "
                f"LM; {type(backbone).__name__} is a masked LM (use 'mask_logits')"
            )
        self._init_prompt(backbone, template, verbalizer)
        if config.zero_shot:
            self.soft_embeds.requires_grad_(False)
        if config.term_scoring == "teacher_forced" and self.soft_embeds.numel():
            raise ValueError(
                "config.term_scoring: 'teacher_forced' runs the backbone on token ids; the "
                "template has soft tokens (remove them or use 'mask_logits')"
            )

    @staticmethod
    def _check_tokenizer(backbone: nn.Module, tokenizer: Any, config: SciPromptConfig) -> Any:
        from modalprompt.nlp.classification import check_masked_lm
        from modalprompt.nlp.prompt_finetune.model import resolve_tokenizer

        check_masked_lm(backbone)
        tokenizer = resolve_tokenizer(tokenizer, config)
        vocab = backbone.get_input_embeddings().num_embeddings
        if len(tokenizer) > vocab:
            raise ValueError(
                f"tokenizer: {len(tokenizer)} tokens but the backbone embeds only {vocab}; "
                "use the backbone's own tokenizer"
            )
        return tokenizer

    def _build_verbalizer(
        self, backbone: nn.Module, config: SciPromptConfig, terms: LabelTerms
    ) -> nn.Module:
        words = [list(t) for t in terms.terms]
        scores = [list(s) for s in terms.scores]
        if config.verbalizer == "soft":
            return SoftVerbalizer(
                self.tokenizer,
                words,
                backbone.get_output_embeddings().weight,
                classes=list(terms.classes),
                scores=[[max(s, 0.0) for s in row] for row in scores],
            )
        return SciPromptVerbalizer(
            self.tokenizer,
            words,
            scores,
            classes=list(terms.classes),
            multi_token=config.multi_token,
            trainable_weights=config.train_weights and not config.zero_shot,
            pred_temp=config.pred_temp,
        ).to(backbone.get_output_embeddings().weight.device)

    # ------------------------------------------------------------------------- calibration
    @torch.no_grad()
    def calibrate(self, batches: Iterable[Mapping[str, Tensor]]) -> Tensor:
        """Prune improbable terms and register the [MASK] prior (official ``calibrate`` step).

        Args:
            batches: collated batches of the support set (the unlabelled training texts), e.g.
                a ``DataLoader`` with :meth:`collator`.

        Returns:
            The (V,) mean [MASK] logits over the support set. ``pruned_terms`` holds what the
            pruning removed; calibration is registered only when ``config.calibrate``.

        Raises:
            TypeError: for the soft verbalizer, which does not read vocabulary logits.
            ValueError: from pruning with ``on_empty="raise"`` (the verbalizer's pruning and
                calibration are then left as they were). By default a class that pruning would
                empty keeps its most probable term, with a warning.
        """
        if not isinstance(self.verbalizer, SciPromptVerbalizer):
            raise TypeError(
                "calibrate: the soft verbalizer reads the hidden state, not vocabulary logits; "
                "calibration and pruning apply to verbalizer='weighted'"
            )
        verbalizer = self.verbalizer
        saved = verbalizer.calibration_probs.clone(), verbalizer.calibrated.clone()
        batches = list(batches)  # read twice with teacher-forced scoring
        prior = MaskedLMPrompt.calibrate(self, batches)  # registers the prior
        try:
            if self.config.candidate_frac > 0:
                self.pruned_terms = verbalizer.prune(prior, self.config.candidate_frac)
        except ValueError:  # nothing was pruned: restore the previous calibration too
            verbalizer.calibration_probs.copy_(saved[0])
            verbalizer.calibrated.copy_(saved[1])
            raise
        if not self.config.calibrate:
            verbalizer.clear_calibration()
        elif self.config.term_scoring == "teacher_forced":
            # the prior of the scores actually used: the mean term distribution over the support
            # set (KPT normalises the mean logits instead; with exact log-probabilities the mean
            # probability is the prior)
            verbalizer.clear_calibration()
            total, count = None, 0
            for batch in batches:
                probs = self._teacher_forced_term_probs(batch)
                total = probs.sum(0) if total is None else total + probs.sum(0)
                count += probs.shape[0]
            verbalizer.calibration_probs.copy_((total / count).to(verbalizer.calibration_probs))
            verbalizer.calibrated.fill_(True)
        else:
            verbalizer.register_calibration(prior)  # over the kept terms
        return prior

    # ------------------------------------------------------------------ teacher-forced terms
    @torch.no_grad()
    def _teacher_forced_term_probs(self, batch: Mapping[str, Tensor]) -> Tensor:
        """``(B, C, W)`` distribution over the kept terms from their exact continuation
        log-probabilities (``config.term_scoring="teacher_forced"``; no calibration)."""
        from modalprompt.nlp.answer_slot import continuation_log_probs

        verbalizer = self.verbalizer
        kept = verbalizer.word_mask.nonzero().tolist()
        ids, tokens = verbalizer.label_word_ids, verbalizer.token_mask
        sequences = [ids[c, j][tokens[c, j]].tolist() for c, j in kept]
        device = self.soft_embeds.device
        input_ids = batch["input_ids"].to(device)
        flat = continuation_log_probs(
            self.backbone, input_ids, batch["attention_mask"].to(device), sequences
        )
        scores = torch.full(
            (input_ids.shape[0], *verbalizer.word_mask.shape), float("-inf"), device=device
        )
        rows, cols = (list(x) for x in zip(*kept))
        scores[:, rows, cols] = flat.to(device)
        return verbalizer.normalise(scores)

    def class_logits(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        mask_positions: Tensor,
        soft_ids: Tensor | None = None,
        token_type_ids: Tensor | None = None,
    ) -> Tensor:
        """``(B, C)`` class scores; with ``config.term_scoring="teacher_forced"`` from the terms'
        exact continuation log-probabilities (calibrated by the support-set prior when
        registered), else as :class:`~modalprompt.nlp.classification.MaskedLMPrompt`."""
        if self.config.term_scoring != "teacher_forced":
            return super().class_logits(
                input_ids, attention_mask, mask_positions, soft_ids, token_type_ids
            )
        check_answer_is_last(mask_positions, input_ids)
        verbalizer = self.verbalizer
        probs = self._teacher_forced_term_probs(
            {"input_ids": input_ids, "attention_mask": attention_mask}
        )
        if bool(verbalizer.calibrated):
            probs = probs / (verbalizer.calibration_probs.unsqueeze(0) + 1e-15)
            probs = probs / probs.sum((1, 2), keepdim=True)
        return verbalizer.aggregate(torch.log(probs + 1e-15))

    # ---------------------------------------------------------------------------- training
    def training_step(self, batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Cross-entropy of one collated batch; refused in zero-shot mode."""
        if self.config.zero_shot:
            raise RuntimeError(
                "training_step: this SciPrompt model is zero-shot (config.zero_shot=True); "
                "call calibrate() and predict, or build it with zero_shot=False to train"
            )
        return super().training_step(batch)

    def param_groups(self) -> list[dict[str, Any]]:
        """The verbalizer's parameters (with ``weight_lr`` when set) and the rest."""
        verb = [p for p in self.verbalizer.parameters() if p.requires_grad]
        ids = {id(p) for p in verb}
        rest = [p for p in self.trainable_parameters() if id(p) not in ids]
        groups = []
        if rest:
            groups.append({"params": rest, "name": "default"})
        if verb:
            group: dict[str, Any] = {"params": verb, "name": "verbalizer"}
            if self.config.weight_lr is not None:
                group["lr"] = self.config.weight_lr
            groups.append(group)
        return groups
