"""Metric edges by hand (issue 22): label vs score inputs, classes absent from both sides,
targets outside the classes, empty inputs, one-task ROC-AUC given as vectors."""

import os

import numpy as np
import pytest
import torch

from modalprompt.core.metrics import accuracy, classification_metrics, macro_f1, roc_auc


def test_accuracy_reads_labels_or_the_argmax_of_scores():
    assert accuracy(torch.tensor([2, 0, 1]), torch.tensor([2, 1, 1])) == pytest.approx(2 / 3)
    scores = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]], dtype=torch.float64)
    assert accuracy(scores, [1, 0, 0]) == pytest.approx(2 / 3)
    assert accuracy(scores, torch.tensor([[1], [0], [0]])) == pytest.approx(2 / 3)  # reshaped


@pytest.mark.parametrize("target", [[0, 2, 1], [0, -1, 1], [0, 0.5, 1], [0, float("nan"), 1]])
def test_targets_outside_the_score_columns_are_refused(target):
    scores = torch.zeros(3, 2)
    with pytest.raises(ValueError, match=r"accuracy: target class indices must lie in \[0, 2\)"):
        accuracy(scores, np.array(target))
    with pytest.raises(ValueError, match=r"macro_f1: target class indices must lie in \[0, 2\)"):
        macro_f1(scores, np.array(target), num_classes=2)


def test_empty_inputs_are_refused_by_name():
    with pytest.raises(ValueError, match="accuracy: no examples to score"):
        accuracy(np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match="macro_f1: got 2 predictions but 1 targets"):
        macro_f1(np.zeros(2), np.zeros(1))


def test_macro_f1_counts_absent_classes_only_when_told_the_class_count():
    pred, target = np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0])
    # class 0: P 1, R 2/3 -> 0.8; class 1: P 1/2, R 1 -> 2/3
    assert macro_f1(pred, target) == pytest.approx((0.8 + 2 / 3) / 2)
    # a third class nobody predicts or has scores 0 and pulls the mean down
    assert macro_f1(pred, target, num_classes=3) == pytest.approx((0.8 + 2 / 3) / 3)
    logits = torch.nn.functional.one_hot(torch.tensor(pred), 3).float()
    got = classification_metrics(logits, torch.tensor(target))
    assert got == pytest.approx({"accuracy": 0.75, "macro_f1": (0.8 + 2 / 3) / 3})
    with pytest.raises(ValueError):
        classification_metrics(logits, torch.tensor([0, 1, 3, 0]))


def test_roc_auc_of_one_task_given_as_vectors():
    scores = torch.tensor([0.1, 0.4, 0.35, 0.8])
    target = torch.tensor([0.0, 0.0, 1.0, 1.0])
    # positives {0.35, 0.8} vs negatives {0.1, 0.4}: 3 of 4 pairs ordered right
    assert roc_auc(scores, target) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="roc_auc: scores .* and target .* must have one shape"):
        roc_auc(np.zeros((4, 2)), np.zeros((4, 3)))


def test_roc_auc_counts_every_skipped_task_and_names_bad_labels():
    scores = np.array([[0.1, 0.2, 0.3], [0.9, 0.8, 0.7], [0.4, 0.5, 0.6]])
    target = np.array([[0, 1, 1], [1, 1, np.nan], [0, 1, 1]])  # tasks 1 and 2: one class each
    with pytest.warns(UserWarning, match="skipped 2 of 3 task"):
        assert roc_auc(scores, target) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"found \[-1\.\s+2\.\]"):
        roc_auc(np.zeros((3, 1)), np.array([[-1.0], [2.0], [0.0]]))


def test_roc_auc_skips_every_one_class_task_counts_them_and_warns_at_the_caller():
    scores = np.array(
        [[0.1, 0.2, 0.9, 0.3], [0.4, 0.2, 0.1, 0.6], [0.8, 0.5, 0.3, 0.7], [0.2, 0.9, 0.5, 0.1]]
    )
    target = np.array([[1, 0, 1, 0], [1, 0, 0, 1], [1, 0, 0, 0], [1, 0, 1, 1]], dtype=float)
    # tasks 0 and 1 hold one class; task 2: every positive above every negative (1.0); task 3:
    # positives 0.6 and 0.1 against negatives 0.3 and 0.7: one pair of four ordered (0.25)
    with pytest.warns(
        UserWarning, match=r"^roc_auc: skipped 2 of 4 task\(s\) with one class only$"
    ) as caught:
        value = roc_auc(scores, target)
    assert value == pytest.approx((1.0 + 0.25) / 2)
    if "MUTANT_UNDER_TEST" not in os.environ:  # mutmut's trampolines add frames in between
        assert caught[0].filename == __file__  # stacklevel points at the caller


def test_roc_auc_errors_say_what_was_found():
    with pytest.raises(
        ValueError, match=r"^roc_auc: no task has both positive and negative labels$"
    ):
        roc_auc(np.array([0.1, 0.2]), np.array([1.0, 1.0]))
    bad = np.array([0, 1, 2, 3, 4, 5, 6, 7], dtype=float)
    with pytest.raises(ValueError, match=r"found \[2\. 3\. 4\. 5\. 6\.\]$"):  # the first five
        roc_auc(np.zeros(8), bad)
