"""SciPrompt's weighted verbalizer with KPT-style calibration and pruning that survive a save.

:class:`~modalprompt.nlp.verbalizers.WeightedVerbalizer` computes, for class c with label terms
``w_{c,j}`` (multi-token terms by the mean of their sub-token logits)::

    p_{c,j} = softmax over all kept (c, j) of ℓ_{c,j}        (B, C, W)
    p̃      = normalise(p / p_prior)                          (contextual calibration)
    score_c = Σ_j softmax_j(α_c)_j · log p̃_{c,j}            (B, C)

with ``α`` initialised to the terms' scores (clamped at 0 as the official code does) and
trainable. :class:`SciPromptVerbalizer` adds what the official ``register_calibrate_logits``
does (from KPT): given the mean [MASK] logits over a support set, every term with a sub-token in
the bottom ``candidate_frac`` of those prior logits is removed, and the prior's label-term
distribution is stored for calibration. Both live in persistent buffers of fixed shape (the
kept-term mask (C, W), the prior (C, W) and a flag), so ``save_pretrained`` /
``from_pretrained`` restore a pruned, calibrated verbalizer exactly.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from modalprompt.nlp.verbalizers import WeightedVerbalizer

__all__ = ["SciPromptVerbalizer"]


class SciPromptVerbalizer(WeightedVerbalizer):
    """Weighted verbalizer whose pruning and calibration are part of its saved state.

    Args:
        tokenizer, label_words, scores, classes, multi_token, trainable_weights, prefix_space:
            as :class:`~modalprompt.nlp.verbalizers.WeightedVerbalizer`; negative scores start
            at 0 (official ``clamp(min=0)``).
        pred_temp: temperature on ``α`` at evaluation (official ``pred_temp``, 1.0).

    Buffers (saved):
        word_mask: (C, W) bool, the label terms still in use.
        calibration_probs: (C, W) label-term distribution under the [MASK] prior.
        calibrated: () bool, whether calibration is on.

    Shapes:
        mask_logits: (B, V) → class logits (B, C).
    """

    def __init__(
        self,
        tokenizer: Any,
        label_words: Mapping[Any, Sequence[str]] | Sequence[Sequence[str]],
        scores: Mapping[Any, Sequence[float]] | Sequence[Sequence[float]] | None = None,
        classes: Sequence[Any] | None = None,
        multi_token: str = "mean",
        trainable_weights: bool = True,
        prefix_space: bool | None = None,
        pred_temp: float = 1.0,
    ) -> None:
        super().__init__(
            tokenizer, label_words, scores, classes, multi_token, trainable_weights, prefix_space
        )
        if pred_temp <= 0:
            raise ValueError(f"pred_temp: expected > 0, got {pred_temp}")
        self.pred_temp = float(pred_temp)
        with torch.no_grad():
            self.word_weights.clamp_(min=0.0).mul_(self.word_mask)  # padding slots at 0
        self.register_buffer("word_mask", self.word_mask.clone(), persistent=True)
        self.register_buffer(
            "calibration_probs", torch.zeros(self.word_mask.shape), persistent=True
        )
        self.register_buffer("calibrated", torch.tensor(False), persistent=True)

    # ------------------------------------------------------------------------ calibration
    @torch.no_grad()
    def register_calibration(self, prior_mask_logits: Tensor) -> None:
        """Store the label-term distribution of the [MASK] prior and switch calibration on.

        Args:
            prior_mask_logits: (V,) or (N, V) vocabulary logits at the mask over a support set
                (averaged over N).
        """
        prior = self._mean_prior(prior_mask_logits)
        probs = self.normalise(self.project(prior.unsqueeze(0)))[0]
        self.calibration_probs.copy_(probs.to(self.calibration_probs))
        self.calibrated.fill_(True)

    def clear_calibration(self) -> None:
        """Switch calibration off (the pruning stays)."""
        self.calibration_probs.zero_()
        self.calibrated.fill_(False)

    def word_log_probs(self, mask_logits: Tensor) -> Tensor:
        """Normalised, calibrated when registered, log-probabilities of the terms, (B, C, W)."""
        probs = self.normalise(self.project(mask_logits))
        if bool(self.calibrated):
            probs = probs / (self.calibration_probs.unsqueeze(0) + 1e-15)
            b = probs.shape[0]
            probs = probs / probs.reshape(b, -1).sum(-1).reshape(b, 1, 1)
        return torch.log(probs + 1e-15)

    # --------------------------------------------------------------------------- pruning
    @torch.no_grad()
    def prune(
        self, prior_mask_logits: Tensor, candidate_frac: float = 0.5, on_empty: str = "keep_best"
    ) -> dict[Any, list[str]]:
        """Remove every term with a sub-token among the ``candidate_frac`` lowest prior logits.

        This is KPT's / the official ``register_calibrate_logits`` filter: the vocabulary is
        ranked by the mean [MASK] logits over the support set, and a term that contains any
        token of the bottom ``int(candidate_frac * V)`` is dropped (its weight is masked).

        Args:
            prior_mask_logits: (V,) or (N, V) [MASK] logits over the support set.
            candidate_frac: fraction of the vocabulary treated as improbable, in [0, 1).
            on_empty: what to do when a class would lose every term (the official filter then
                leaves it with none, and its score is undefined): ``"keep_best"`` keeps that
                class's term with the highest mean prior logit and warns; ``"raise"`` raises.

        Returns:
            ``{class: [removed terms]}`` for the classes that lost terms.

        Raises:
            ValueError: with ``on_empty="raise"``, when a class would lose all its terms (nothing
                is changed then).
        """
        if on_empty not in ("keep_best", "raise"):
            raise ValueError(f"on_empty: expected 'keep_best' or 'raise', got {on_empty!r}")
        if not 0.0 <= candidate_frac < 1.0:
            raise ValueError(f"candidate_frac: expected a value in [0, 1), got {candidate_frac}")
        prior = self._mean_prior(prior_mask_logits)
        n_low = int(candidate_frac * prior.shape[0])
        low = torch.zeros(prior.shape[0], dtype=torch.bool, device=prior.device)
        low[torch.argsort(prior)[:n_low]] = True
        hit = (low[self.label_word_ids.to(prior.device)] & self.token_mask.to(prior.device)).any(-1)
        keep = self.word_mask & ~hit.to(self.word_mask.device)
        empty = [c for c, k in zip(self.classes, keep) if not bool(k.any())]
        if empty and on_empty == "keep_best":
            ids = self.label_word_ids.to(prior.device)
            tokens = self.token_mask.to(prior.device)
            mean_prior = (prior[ids] * tokens).sum(-1) / tokens.sum(-1).clamp(min=1)  # (C, W)
            mean_prior = mean_prior.masked_fill(~self.word_mask.to(prior.device), float("-inf"))
            for c in range(self.num_classes):
                if not bool(keep[c].any()):
                    keep[c, int(mean_prior[c].argmax())] = True
            warnings.warn(
                f"prune: candidate_frac={candidate_frac} would remove every term of classes "
                f"{empty}; each keeps its most probable term",
                stacklevel=2,
            )
        elif empty:
            raise ValueError(
                f"prune: candidate_frac={candidate_frac} would remove every label term of "
                f"classes {empty}; lower candidate_frac or give them more frequent terms"
            )
        removed = self.word_mask & ~keep
        self.word_mask.copy_(keep)
        return {
            self.classes[c]: [
                self.label_words[c][j]
                for j in range(len(self.label_words[c]))
                if bool(removed[c, j])
            ]
            for c in range(self.num_classes)
            if bool(removed[c].any())
        }

    def kept_label_words(self) -> dict[Any, list[tuple[str, float]]]:
        """``{class: [(term, α), ...]}`` of the terms still in use."""
        return {
            cls: [
                (w, float(self.word_weights.detach()[c, j]))
                for j, w in enumerate(self.label_words[c])
                if bool(self.word_mask[c, j])
            ]
            for c, cls in enumerate(self.classes)
        }

    # --------------------------------------------------------------------------- aggregate
    def aggregate(self, word_scores: Tensor) -> Tensor:
        """Softmax(α)-weighted sum over each class's kept terms: (B, C, W) → (B, C)."""
        alpha = self.word_weights if self.training else self.pred_temp * self.word_weights
        w = alpha.masked_fill(~self.word_mask, float("-inf")).softmax(-1)
        return (word_scores * w.unsqueeze(0)).sum(-1)

    def _mean_prior(self, prior_mask_logits: Tensor) -> Tensor:
        prior = prior_mask_logits.detach().float()
        if prior.dim() == 2:
            prior = prior.mean(0)
        vocab = self.label_word_ids.max().item() + 1
        if prior.dim() != 1 or prior.shape[0] < vocab:
            raise ValueError(
                "prior_mask_logits: expected (V,) or (N, V) vocabulary logits with "
                f"V >= {vocab}, got {tuple(prior_mask_logits.shape)}"
            )
        return prior.to(self.label_word_ids.device)
