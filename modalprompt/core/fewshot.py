"""Few-shot sampling and stratified splits, reproducible from a seed.

One sampler serves every domain's few-shot tasks:

* :func:`per_class_split`: a seeded permutation of all examples; in it, each class's members
  in order are cut into consecutive chunks (``shots`` for training, then e.g. ``val_shots``);
  the examples no chunk took are returned too, in permutation order. The node tasks of Cora,
  the graph tasks and the point-cloud tasks all split with it.
* :func:`sample_k_shot`: k examples of every class (the protocol of GPF, RELIEF, GraphCLIP and
  LM-BFF style few-shot learning): the first chunk of :func:`per_class_split`, each class sorted.
* :func:`first_n_after_shuffle`: for multi-label data (MoleculeNet), where "k per class" is not
  defined: shuffle with the seed, keep the first ``n``.
* :func:`stratified_split`: train/val/test fractions with class proportions kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["per_class_split", "sample_k_shot", "first_n_after_shuffle", "stratified_split"]


def _labels_array(labels: Sequence[int] | np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D sequence of class labels, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name}: expected integer class labels, got dtype {arr.dtype}")
    return arr


def per_class_split(
    labels: Sequence[int] | np.ndarray | torch.Tensor,
    counts: Sequence[int | None],
    seed: int,
    *,
    min_per_class: int | None = None,
    arg: str = "shots",
    unit: str = "examples",
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Cut every class into consecutive chunks of a seeded permutation.

    ``order = torch.randperm(N)`` from a generator seeded with ``seed``; for each class ``c``
    (ascending, negative labels ignored) its members in ``order`` give ``counts[0]`` to the
    first chunk, the next ``counts[1]`` to the second, and so on (``None``: all that remain).
    Only the first chunk is required in full; later ones take what is left.

    Args:
        labels: ``(N,)`` integer class of each example.
        counts: Examples per class for each chunk (each >= 0, or None for the rest).
        seed: Seed of the permutation; the same seed and labels give the same chunks.
        min_per_class: Members a class needs (default ``counts[0]``; e.g. ``shots + 1`` to keep
            one for testing).
        arg, unit: How the error names the argument and the examples ("task_args.shots",
            "graphs").

    Returns:
        ``(chunks, rest)``: one ``(C * counts[i],)`` long tensor per count, class by class and in
        permutation order inside a class; ``rest``: every index no chunk took, in permutation
        order.

    Raises:
        ValueError: a class has fewer than ``min_per_class`` members, or a count is negative.
    """
    arr = _labels_array(labels, "labels")
    for count in counts:
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int) or count < 0
        ):
            raise ValueError(f"{arg}: expected integers >= 0 per class, got {count!r}")
    need = (counts[0] or 0) if min_per_class is None else min_per_class
    label_t = torch.as_tensor(arr, dtype=torch.long)
    order = torch.randperm(len(arr), generator=torch.Generator().manual_seed(seed))
    chunks: list[list[torch.Tensor]] = [[] for _ in counts]
    taken = torch.zeros(len(arr), dtype=torch.bool)
    for cls in sorted(set(arr[arr >= 0].tolist())):
        members = order[label_t[order] == cls]
        if members.numel() < need:
            raise ValueError(
                f"{arg}: class {cls} has {members.numel()} {unit}, fewer than the {need} needed"
            )
        start = 0
        for chunk, count in zip(chunks, counts):
            stop = members.numel() if count is None else start + count
            chunk.append(members[start:stop])
            start = min(stop, members.numel())
        taken[members[:start]] = True
    empty = torch.zeros(0, dtype=torch.long)
    return [torch.cat(c) if c else empty for c in chunks], order[~taken[order]]


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
    if classes is not None:
        missing = sorted(set(classes) - set(arr.tolist()))
        if missing and not allow_fewer:
            raise ValueError(f"classes: class {missing[0]} has 0 example(s), fewer than k={k}")
        arr = np.where(np.isin(arr, list(classes)), arr, -1)
    (chosen_t,), _ = per_class_split(
        arr, [k], seed, min_per_class=0 if allow_fewer else k, arg="k", unit="example(s)"
    )
    chosen = chosen_t.numpy()
    by_class = [np.sort(chosen[arr[chosen] == c]) for c in sorted(set(arr[chosen].tolist()))]
    return np.concatenate(by_class) if by_class else np.zeros(0, dtype=np.int64)


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
