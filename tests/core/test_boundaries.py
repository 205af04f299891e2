"""Issue 19 finding 8 in the core and point clouds: bad inputs are named at our boundary.

Each test failed before its fix with a torch error (``Target 3 is out of bounds``, ``mat1 and
mat2 must have the same dtype``, a reshape error) or a silently wrong result (accuracy 0.0 for
labels out of range, a NaN loss for an empty batch).
"""

import pytest
import torch

import modalprompt as mp
from modalprompt.core.metrics import classification_metrics
from modalprompt.core.testing import tiny_case
from modalprompt.core.validation import check_class_labels, match_float_dtype


def _model(name):
    case = tiny_case(mp.get_method_spec(name))
    model = mp.get_prompt_model(case.backbone, case.config)
    return model, case.batch, case.config.num_classes


METHODS = ["linear_probe", "full_finetune", "idpt", "point_peft"]


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("bad", [-1, 3])
def test_training_step_names_labels_outside_the_classes(name, bad):
    model, (x, y), num_classes = _model(name)
    assert num_classes == 3
    with pytest.raises(ValueError, match=rf"labels: class indices must lie in \[0, 3\).*\[{bad}\]"):
        model.training_step((x, torch.full_like(y, bad)))


@pytest.mark.parametrize("name", METHODS)
def test_evaluation_names_labels_outside_the_classes(name):
    model, (x, y), _ = _model(name)
    model.eval()
    with pytest.raises(ValueError, match=r"labels: class indices must lie in \[0, 3\)"):
        model.validation_step((x, torch.full_like(y, 3)))


@pytest.mark.parametrize("name", METHODS)
def test_an_empty_batch_is_named_not_a_nan_loss(name):
    model, (x, y), _ = _model(name)
    with pytest.raises(ValueError, match=r"labels: empty batch"):
        model.training_step((x[:0], y[:0]))


@pytest.mark.parametrize("name", METHODS)
def test_float64_inputs_are_cast_to_the_backbones_dtype(name):
    model, (x, y), _ = _model(name)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x.double()), model(x))


def test_labels_count_and_fractional_labels_are_named():
    model, (x, y), _ = _model("linear_probe")
    with pytest.raises(ValueError, match=r"labels: expected 8 labels.*got 7"):
        model.training_step((x, y[:-1]))
    with pytest.raises(ValueError, match=r"labels: class indices must be whole numbers.*1.5"):
        model.training_step((x, torch.full((8,), 1.5)))
    loss = model.training_step((x, y.float()))["loss"]  # whole floats are cast to long
    assert torch.equal(loss, model.training_step((x, y))["loss"])


def test_core_metrics_refuse_labels_outside_the_classes():
    logits = torch.randn(4, 3)
    with pytest.raises(ValueError, match=r"labels: class indices must lie in \[0, 3\).*\[3\]"):
        classification_metrics(logits, torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"labels: expected 4 labels"):
        classification_metrics(logits, torch.tensor([0, 1]))


def test_check_class_labels_types():
    with pytest.raises(TypeError, match=r"labels: expected a tensor"):
        check_class_labels([0, 1], 3)
    with pytest.raises(TypeError, match=r"labels: expected integer class indices.*bool"):
        check_class_labels(torch.tensor([True]), 3)
    with pytest.raises(ValueError, match=r"whole numbers.*nan"):
        check_class_labels(torch.tensor([float("nan")]), 3)
    assert check_class_labels(torch.tensor([[2.0], [0.0]]), 3).tolist() == [2, 0]


def test_match_float_dtype_leaves_integers_alone():
    out = match_float_dtype(
        {"a": torch.ones(2, dtype=torch.float64), "b": [torch.ones(2, dtype=torch.long)]},
        torch.float32,
    )
    assert out["a"].dtype == torch.float32 and out["b"][0].dtype == torch.long


def test_points_of_another_type_or_an_empty_batch_are_named():
    model, (x, y), _ = _model("vpt_shallow")
    with pytest.raises(TypeError, match=r"points: expected a real \(B, N, 3\) tensor.*bool"):
        model(x > 0)
    with pytest.raises(ValueError, match=r"points: empty batch"):
        model(x[:0])
    model.eval()
    with torch.no_grad():
        assert torch.equal(model((x * 100).round().long()), model((x * 100).round()))


def test_accuracy_and_macro_f1_refuse_targets_outside_the_classes():
    from modalprompt.core.metrics import accuracy, macro_f1

    scores = torch.randn(3, 2)
    with pytest.raises(ValueError, match=r"accuracy: target class indices must lie in \[0, 2\)"):
        accuracy(scores, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"macro_f1: target class indices .*\[-1\]"):
        macro_f1(torch.tensor([0, 1, 1]), torch.tensor([0, -1, 1]), num_classes=2)
    assert accuracy(torch.tensor([0, 1, 5]), torch.tensor([0, 1, 5])) == 1.0  # labels: no C
