"""Few-shot sampling and stratified splits, reproducible from a seed.

* :func:`sample_k_shot`: k examples of every class (the protocol of GPF, RELIEF, GraphCLIP and
  LM-BFF style few-shot learning).
* :func:`first_n_after_shuffle`: for multi-label data (MoleculeNet), where "k per class" is not
  defined: shuffle with the seed, keep the first ``n``.
* :func:`stratified_split`: train/val/test fractions with class proportions kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["sample_k_shot", "first_n_after_shuffle", "stratified_split"]


def _labels_array(labels: Sequence[int] | np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D sequence of class labels, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name}: expected integer class labels, got dtype {arr.dtype}")
    return arr


def sample_k_shot(
    labels: Sequence[int] | np.ndarray | torch.Tensor,
    k: int,
    seed: int,
    *,
    classes: Sequence[int] | None = None,
    allow_fewer: bool = False,
) -> np.ndarray:
    """Indices of ``k`` examples per class, drawn without replacement.

    Args:
        labels: ``(N,)`` integer class of each example (negative labels are ignored).
        k: Examples per class (>= 1).
        seed: Seed of the draw; the same seed and labels give the same indices.
        classes: Classes to sample (default: every class present).
        allow_fewer: Take all examples of a class with fewer than ``k`` instead of raising.

    Returns:
        ``(C*k,)`` indices, grouped by class in ascending class order, each group sorted.

    Raises:
        ValueError: ``k`` < 1, or a class has fewer than ``k`` examples and not ``allow_fewer``.
    """
    arr = _labels_array(labels, "labels")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k: expected an integer >= 1, got {k!r}")
    rng = np.random.default_rng(seed)
    wanted = sorted(set(arr[arr >= 0].tolist())) if classes is None else list(classes)
    chosen = []
    for cls in wanted:
        pool = np.flatnonzero(arr == cls)
        if len(pool) < k and not allow_fewer:
            raise ValueError(
                f"class {cls} has {len(pool)} example(s), fewer than k={k}; "
                "pass allow_fewer=True to take them all"
            )
        take = rng.choice(pool, size=min(k, len(pool)), replace=False)
        chosen.append(np.sort(take))
    return np.concatenate(chosen) if chosen else np.zeros(0, dtype=np.int64)


def first_n_after_shuffle(num_items: int, n: int, seed: int) -> np.ndarray:
    """The first ``n`` indices of a seeded permutation of ``range(num_items)``."""
    if n < 0 or n > num_items:
        raise ValueError(f"n: expected 0 <= n <= num_items={num_items}, got {n}")
    return np.random.default_rng(seed).permutation(num_items)[:n]


def stratified_split(
    labels: Sequence[int] | np.ndarray | torch.Tensor,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> list[np.ndarray]:
    """Split indices into parts with (as nearly as possible) the class proportions of the whole.

    Args:
        labels: ``(N,)`` integer class of each example.
        fractions: Part sizes, positive, summing to 1.
        seed: Seed of the shuffle inside each class.

    Returns:
        One sorted index array per fraction; together they partition ``range(N)``.
    """
    arr = _labels_array(labels, "labels")
    fr = np.asarray(fractions, dtype=np.float64)
    if fr.ndim != 1 or len(fr) < 2 or (fr <= 0).any() or not np.isclose(fr.sum(), 1.0):
        raise ValueError(f"fractions: expected >= 2 positive numbers summing to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fr]
    for cls in np.unique(arr):
        pool = rng.permutation(np.flatnonzero(arr == cls))
        cuts = np.round(np.cumsum(fr)[:-1] * len(pool)).astype(int)
        for part, chunk in zip(parts, np.split(pool, cuts)):
            part.append(chunk)
    return [np.sort(np.concatenate(p)) if p else np.zeros(0, dtype=np.int64) for p in parts]
