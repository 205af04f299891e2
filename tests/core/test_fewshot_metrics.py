import warnings

import numpy as np
import pytest
import torch

from modalprompt.core.fewshot import (
    first_n_after_shuffle,
    per_class_split,
    sample_k_shot,
    stratified_split,
)
from modalprompt.core.metrics import accuracy, classification_metrics, macro_f1, roc_auc

LABELS = np.array([0] * 10 + [1] * 5 + [2] * 3 + [-1] * 2)


def test_k_shot_takes_k_of_each_class_reproducibly():
    idx = sample_k_shot(LABELS, 3, seed=7)
    assert len(idx) == 9 and len(set(idx.tolist())) == 9
    assert np.bincount(LABELS[idx]).tolist() == [3, 3, 3]
    assert np.array_equal(idx, sample_k_shot(torch.tensor(LABELS), 3, seed=7))
    draws = {tuple(sample_k_shot(LABELS, 3, seed=s)) for s in range(5)}
    assert len(draws) > 1


def test_k_shot_errors_and_allow_fewer():
    with pytest.raises(ValueError, match="class 2 has 3 example"):
        sample_k_shot(LABELS, 4, seed=0)
    idx = sample_k_shot(LABELS, 4, seed=0, allow_fewer=True)
    assert np.bincount(LABELS[idx]).tolist() == [4, 4, 3]
    with pytest.raises(ValueError, match="k: expected"):
        sample_k_shot(LABELS, 0, seed=0)
    with pytest.raises(ValueError, match="integer class labels"):
        sample_k_shot([0.5, 1.0], 1, seed=0)


def test_per_class_split_cuts_each_class_of_one_permutation_in_order():
    order = torch.randperm(len(LABELS), generator=torch.Generator().manual_seed(5)).tolist()
    (train, val), rest = per_class_split(LABELS, [2, 3], seed=5)
    expect_train, expect_val = [], []
    for c in (0, 1, 2):  # negative labels are no class
        members = [i for i in order if LABELS[i] == c]
        expect_train += members[:2]
        expect_val += members[2:5]  # class 2 has only 1 left: the later chunk comes short
    assert train.tolist() == expect_train and val.tolist() == expect_val
    taken = set(expect_train + expect_val)
    assert rest.tolist() == [i for i in order if i not in taken]  # the -1 rows stay in rest
    (everything,), rest = per_class_split(LABELS, [None], seed=5)
    assert sorted(everything.tolist()) == list(range(18)) and len(rest) == 2


def test_per_class_split_requires_the_first_chunk_or_min_per_class():
    with pytest.raises(ValueError, match="task_args.shots: class 2 has 3 graphs, fewer than"):
        per_class_split(LABELS, [4], seed=0, arg="task_args.shots", unit="graphs")
    with pytest.raises(ValueError, match="class 2 has 3 examples, fewer than the 4 needed"):
        per_class_split(LABELS, [3], seed=0, min_per_class=4)
    with pytest.raises(ValueError, match="shots: expected integers >= 0"):
        per_class_split(LABELS, [-1], seed=0)


def test_first_n_after_shuffle_is_a_prefix_of_one_permutation():
    a, b = first_n_after_shuffle(50, 10, seed=3), first_n_after_shuffle(50, 20, seed=3)
    assert np.array_equal(a, b[:10]) and len(set(b.tolist())) == 20
    with pytest.raises(ValueError, match="n: expected"):
        first_n_after_shuffle(5, 6, seed=0)


def test_stratified_split_partitions_and_keeps_proportions():
    labels = np.array([0] * 50 + [1] * 30 + [2] * 20)
    train, val, test = stratified_split(labels, (0.6, 0.2, 0.2), seed=1)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(100))
    assert np.bincount(labels[train]).tolist() == [30, 18, 12]
    assert np.bincount(labels[val]).tolist() == [10, 6, 4]
    with pytest.raises(ValueError, match="fractions"):
        stratified_split(labels, (0.5, 0.6))


def test_accuracy_and_macro_f1_by_hand():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 2.0]])
    target = torch.tensor([0, 0, 1, 1])
    assert accuracy(logits, target) == 0.5
    # class 0: P=1/2 R=1/2 F1=1/2; class 1: same
    assert macro_f1(logits, target) == pytest.approx(0.5)
    assert classification_metrics(logits, target) == pytest.approx(
        {"accuracy": 0.5, "macro_f1": 0.5}
    )
    with pytest.raises(ValueError, match="2 predictions but 3 targets"):
        accuracy(np.array([0, 1]), np.array([0, 1, 1]))


def test_roc_auc_masks_missing_labels_and_skips_one_class_tasks():
    scores = np.array([[0.9, 0.1, 0.3], [0.2, 0.8, 0.5], [0.7, 0.4, 0.9], [0.1, 0.6, 0.2]])
    target = np.array([[1, np.nan, 1], [0, 1, 1], [1, 0, np.nan], [0, np.nan, 1]])
    # task 0: perfect (1.0); task 1: labels [1, 0] with scores [0.8, 0.4] -> 1.0; task 2: one class
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert roc_auc(scores, target) == pytest.approx(1.0)
    assert any("skipped 1 of 3" in str(w.message) for w in caught)
    target[1, 1], target[2, 1] = 0, 1  # task 1 now inverted -> 0.0
    with pytest.warns(UserWarning, match="skipped 1 of 3"):
        assert roc_auc(scores, target) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="no task has both"):
        roc_auc(np.ones((3, 1)), np.ones((3, 1)))
    with pytest.raises(ValueError, match="0, 1 or NaN"):
        roc_auc(np.ones((3, 1)), -np.ones((3, 1)))


def test_k_shot_boundaries_classes_and_empty_inputs():
    one = sample_k_shot(LABELS, 1, seed=4)  # k = 1 is allowed
    assert np.bincount(LABELS[one]).tolist() == [1, 1, 1] and one.dtype.kind == "i"
    chosen = sample_k_shot(LABELS, 2, seed=4, classes=[2, 0])  # only the classes asked for
    assert sorted(set(LABELS[chosen].tolist())) == [0, 2] and len(chosen) == 4
    assert np.array_equal(chosen[:2], np.sort(chosen[:2])) and LABELS[chosen[0]] == 0
    with pytest.raises(ValueError, match=r"classes: class 7 has 0 example\(s\), fewer than k=2"):
        sample_k_shot(LABELS, 2, seed=0, classes=[0, 7, 9])
    assert LABELS[sample_k_shot(LABELS, 2, seed=0, classes=[1, 7], allow_fewer=True)].tolist() == [
        1, 1,
    ]  # fmt: skip
    with pytest.raises(ValueError, match=r"k: class 2 has 3 example\(s\), fewer than the 4"):
        sample_k_shot(LABELS, 4, seed=0)
    with pytest.raises(ValueError, match="labels: expected a 1-D sequence"):
        sample_k_shot(np.zeros((2, 2), dtype=int), 1, seed=0)
    empty = sample_k_shot(np.array([-1, -1]), 1, seed=0)
    assert empty.shape == (0,) and empty.dtype == np.int64


def test_stratified_split_edges_of_its_fractions():
    labels = np.array([0] * 10 + [1] * 10)
    two = stratified_split(labels, (0.5, 0.5), seed=3)  # two parts are enough
    assert [len(p) for p in two] == [10, 10]
    assert not np.array_equal(two[0], stratified_split(labels, (0.5, 0.5), seed=4)[0])
    for bad in [(1.0,), (0.5, 0.5, 0.0), (0.6, 0.6), [[0.5, 0.5]]]:
        with pytest.raises(ValueError, match="fractions: expected >= 2 positive numbers"):
            stratified_split(labels, bad)
    empty = stratified_split(np.array([], dtype=int), (0.5, 0.5))
    assert [p.shape for p in empty] == [(0,), (0,)] and empty[0].dtype == np.int64
    assert list(first_n_after_shuffle(5, 0, seed=1)) == []
    assert sorted(first_n_after_shuffle(5, 5, seed=1).tolist()) == list(range(5))


def test_per_class_split_count_edges():
    (train, none), rest = per_class_split(LABELS, [1, 0], seed=2)  # an empty chunk is allowed
    assert len(train) == 3 and none.tolist() == [] and len(rest) == len(LABELS) - 3
    for bad in (True, 1.5, -1):
        with pytest.raises(ValueError, match=r"^shots: expected integers >= 0 per class"):
            per_class_split(LABELS, [1, bad], seed=0)
    with pytest.raises(ValueError, match="^labels: expected integer class labels"):
        per_class_split([0.5], [1], seed=0)


def test_roc_auc_by_pair_counting_on_one_task():
    # positives (0.35, 0.8) vs negatives (0.1, 0.4, 0.35): pairs won 1+0+0.5 and 1+1+1 of 6
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.35])
    target = np.array([0, 0, 1, 1, 0])
    assert roc_auc(scores, target) == pytest.approx(4.5 / 6)
    assert roc_auc(torch.tensor(scores), torch.tensor(target)) == pytest.approx(4.5 / 6)
    with pytest.raises(ValueError, match=r"scores \(5, 1\) and target \(4, 1\) must have one"):
        roc_auc(scores, target[:4])


def test_roc_auc_skips_a_task_without_any_label():
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.4]])
    target = np.array([[1, np.nan], [0, np.nan], [1, np.nan]])
    with pytest.warns(UserWarning, match=r"skipped 1 of 2 task\(s\) with one class only"):
        assert roc_auc(scores, target) == pytest.approx(1.0)


def test_stratified_split_is_a_function_of_its_seed():
    labels = np.array([0] * 40 + [1] * 40)
    first = stratified_split(labels, (0.5, 0.5), seed=7)
    again = stratified_split(labels, (0.5, 0.5), seed=7)
    other = stratified_split(labels, (0.5, 0.5), seed=8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])
