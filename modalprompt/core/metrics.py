"""Evaluation metrics (scikit-learn underneath): accuracy, macro-F1, multi-task ROC-AUC."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.metrics import f1_score, roc_auc_score

__all__ = ["accuracy", "macro_f1", "roc_auc", "classification_metrics"]

ArrayLike = np.ndarray | torch.Tensor


def _numpy(x: ArrayLike) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64 if x.is_floating_point() else x.dtype).numpy()
    return np.asarray(x)


def _predictions(scores_or_labels: ArrayLike) -> np.ndarray:
    arr = _numpy(scores_or_labels)
    return arr.argmax(axis=-1) if arr.ndim == 2 else arr


def _check_lengths(name: str, pred: np.ndarray, target: np.ndarray) -> None:
    if pred.shape[0] != target.shape[0]:
        raise ValueError(f"{name}: got {pred.shape[0]} predictions but {target.shape[0]} targets")
    if target.shape[0] == 0:
        raise ValueError(f"{name}: no examples to score")


def accuracy(pred: ArrayLike, target: ArrayLike) -> float:
    """Fraction correct. ``pred``: labels ``(N,)`` or scores ``(N, C)``; ``target``: ``(N,)``."""
    p, t = _predictions(pred), _numpy(target).reshape(-1)
    _check_lengths("accuracy", p, t)
    scores = _numpy(pred)
    if scores.ndim == 2:  # (N, C) scores: a target outside [0, C) would silently count as wrong
        _check_targets("accuracy", t, scores.shape[1])
    return float((p == t).mean())


def _check_targets(name: str, target: np.ndarray, num_classes: int) -> None:
    """Refuse targets that are not class indices in ``[0, num_classes)``, naming them."""
    bad = ~np.isfinite(target.astype(np.float64)) | (target < 0) | (target >= num_classes)
    bad |= np.isfinite(target.astype(np.float64)) & (np.mod(target, 1) != 0)
    if bad.any():
        raise ValueError(
            f"{name}: target class indices must lie in [0, {num_classes}), found "
            f"{np.unique(target[bad])[:5].tolist()}"
        )


def macro_f1(pred: ArrayLike, target: ArrayLike, num_classes: int | None = None) -> float:
    """Unweighted mean of per-class F1 (classes absent from both sides count when
    ``num_classes`` is given, as 0)."""
    p, t = _predictions(pred), _numpy(target).reshape(-1)
    _check_lengths("macro_f1", p, t)
    if num_classes is not None:
        _check_targets("macro_f1", t, num_classes)
    labels = list(range(num_classes)) if num_classes is not None else None
    return float(f1_score(t, p, average="macro", labels=labels, zero_division=0))


def roc_auc(scores: ArrayLike, target: ArrayLike) -> float:
    """ROC-AUC averaged over tasks, as MoleculeNet/pretrain-gnns evaluate it.

    Args:
        scores: ``(N,)`` or ``(N, T)`` real-valued scores (logits or probabilities).
        target: same shape; 1/0 labels, NaN (or -1 is NOT accepted: use NaN) for missing ones.

    Missing labels are masked per task; tasks whose present labels are all one class are
    skipped (with a warning saying how many).

    Raises:
        ValueError: shapes differ, or no task has both classes.
    """
    s, t = _numpy(scores).astype(np.float64), _numpy(target).astype(np.float64)
    if s.ndim == 1:
        s, t = s[:, None], t.reshape(-1, 1)
    if s.shape != t.shape:
        raise ValueError(f"roc_auc: scores {s.shape} and target {t.shape} must have one shape")
    present = ~np.isnan(t)
    bad = present & ~np.isin(t, (0.0, 1.0))
    if bad.any():
        raise ValueError(f"roc_auc: target must be 0, 1 or NaN; found {np.unique(t[bad])[:5]}")
    aucs, skipped = [], 0
    for task in range(t.shape[1]):
        mask = present[:, task]
        labels = t[mask, task]
        if labels.size == 0 or labels.min() == labels.max():
            skipped += 1
            continue
        aucs.append(roc_auc_score(labels, s[mask, task]))
    if not aucs:
        raise ValueError("roc_auc: no task has both positive and negative labels")
    if skipped:
        warnings.warn(
            f"roc_auc: skipped {skipped} of {t.shape[1]} task(s) with one class only", stacklevel=2
        )
    return float(np.mean(aucs))


def classification_metrics(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """``accuracy`` and ``macro_f1`` of ``(N, C)`` logits against ``(N,)`` labels."""
    num_classes = logits.shape[-1] if logits.ndim == 2 else None
    if num_classes is not None:  # out-of-range labels would silently score 0
        from modalprompt.core.validation import check_class_labels

        labels = check_class_labels(torch.as_tensor(labels), num_classes, batch_size=len(logits))
    return {
        "accuracy": accuracy(logits, labels),
        "macro_f1": macro_f1(logits, labels, num_classes=num_classes),
    }
