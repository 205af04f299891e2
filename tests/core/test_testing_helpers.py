"""The core's test helpers are tested like library code: a comparison that never fails would let
every save/load round trip of ``check_prompt_model`` pass; a type check that accepts everything
would let a task's wrong JSON argument through."""

from __future__ import annotations

import typing
from collections.abc import Sequence
from typing import Any, Literal

import pytest
import torch

from modalprompt.core.tasks import _hint_text, _matches
from modalprompt.core.testing import assert_outputs_equal


def test_equal_nested_outputs_pass_and_nan_equals_nan():
    t = torch.tensor([1.0, float("nan"), 3.0])
    nested = {"logits": t, "parts": [t.clone(), (torch.ones(2), 3)], "name": "x"}
    assert_outputs_equal(
        nested, {"logits": t.clone(), "parts": [t, (torch.ones(2), 3)], "name": "x"}
    )


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [
        (torch.ones(2), torch.ones(3), r"^out differs after save/load$"),
        (torch.ones(2), torch.tensor([1.0, 2.0]), r"^out differs after save/load$"),
        (torch.ones(2), [1.0, 1.0], r"^out differs after save/load$"),
        ({"a": 1, "b": 2}, {"a": 1, "c": 2}, r"^out: keys \['a', 'b'\] vs \['a', 'c'\]$"),
        ({"a": torch.zeros(1)}, {"a": torch.ones(1)}, r"^out\['a'\] differs after save/load$"),
        ([1, 2], [1, 2, 3], r"^out: lengths 2 vs 3$"),
        ((1, torch.zeros(1)), (1, torch.ones(1)), r"^out\[1\] differs after save/load$"),
        ([0, [1, 2]], [0, [1, 5]], r"^out\[1\]\[1\]: 2 vs 5$"),
        ("a", "b", r"^out: 'a' vs 'b'$"),
    ],
)
def test_each_difference_is_named_with_its_path(a, b, message):
    with pytest.raises(AssertionError, match=message):
        assert_outputs_equal(a, b, "out")


def test_model_outputs_are_compared_field_by_field():
    transformers = pytest.importorskip("transformers")
    output = transformers.modeling_outputs.SequenceClassifierOutput
    same = output(logits=torch.ones(2, 3))
    assert_outputs_equal(same, output(logits=torch.ones(2, 3)))
    with pytest.raises(AssertionError, match=r"^output\['logits'\] differs after save/load$"):
        assert_outputs_equal(same, output(logits=torch.zeros(2, 3)))


class _Tupled:
    """Anything with ``to_tuple`` that is not a mapping (older ModelOutput-like results)."""

    def __init__(self, *fields):
        self.fields = fields

    def to_tuple(self):
        return self.fields


def test_objects_with_to_tuple_are_compared_by_their_fields():
    assert_outputs_equal(_Tupled(torch.ones(2), 1), _Tupled(torch.ones(2), 1))
    with pytest.raises(AssertionError, match=r"^output\[1\]: 1 vs 2$"):
        assert_outputs_equal(_Tupled(torch.ones(2), 1), _Tupled(torch.ones(2), 2))


@pytest.mark.parametrize(
    ("value", "hint", "fits"),
    [
        (3, Any, True),
        ("x", Any, True),
        (3, int, True),
        (True, int, False),
        (3.5, int, False),
        (3, float, True),
        (False, float, False),
        (True, bool, True),
        (1, bool, False),
        (None, type(None), True),
        (0, type(None), False),
        (None, int | None, True),
        ("x", int | None, False),
        (2, typing.Optional[int], True),  # noqa: UP045 (the typing.Union spelling)
        ("b", Literal["a", "b"], True),
        ("c", Literal["a", "b"], False),
        ([1, 2], list[int], True),
        ([1, "2"], list[int], False),
        ((1, 2), tuple[int, ...], True),
        ((1, 2.5), tuple[int, ...], False),
        ("ab", Sequence[str], False),
        (["a"], Sequence[str], True),
        ([1, "a"], tuple[int, str], True),  # several item types: only the container is checked
        ([1], list, True),
        (3, list, False),
        ({"a": 1}, dict[str, int], True),
        ({"a": 1}, dict, True),
        ([("a", 1)], dict, False),
        ("text", str, True),
        (3, str, False),
    ],
)
def test_a_json_value_is_checked_against_its_annotation(value, hint, fits):
    assert _matches(value, hint) is fits


def test_annotations_are_named_for_people():
    import inspect

    assert _hint_text(inspect.Parameter.empty) == "any value"
    assert _hint_text(Any) == "any value"
    assert _hint_text("int | None") == "int | None"
    assert _hint_text(int) == "int"
    assert _hint_text(list[int]) == "list[int]"
    assert _hint_text(typing.Optional[int]) == "Optional[int]"  # noqa: UP045


@pytest.mark.parametrize(
    ("minimum", "maximum", "inclusive", "text"),
    [
        (None, None, True, ""),
        (0, None, True, " >= 0"),
        (0, None, False, " > 0"),
        (None, 1, True, " <= 1"),
        (None, 1, False, " < 1"),
        (0, 1, True, " in [0, 1]"),
        (0, 1, False, " in (0, 1)"),
    ],
)
def test_config_bounds_are_written_as_intervals(minimum, maximum, inclusive, text):
    from modalprompt.core.config import _bounds

    assert _bounds(minimum, maximum, inclusive) == text


def test_register_task_keeps_what_it_is_given_and_refuses_an_empty_method_list(monkeypatch):
    from modalprompt.core import tasks

    monkeypatch.setattr(tasks, "_TASKS", dict(tasks._TASKS))

    @tasks.register_task("any/kept", description="one line", methods=["gpf", "linear_probe"])
    def build(**kwargs):
        raise AssertionError("not built here")

    spec = tasks._TASKS["any/kept"]
    assert (spec.name, spec.builder, spec.description) == ("any/kept", build, "one line")
    assert spec.methods == ("gpf", "linear_probe")
    tasks.register_task("any/open", description="d")(build)
    assert tasks._TASKS["any/open"].methods is None
    with pytest.raises(
        ValueError, match=r"register_task\('any/none'\): methods must name at least"
    ):
        tasks.register_task("any/none", description="d", methods=[])
    with pytest.raises(ValueError, match=r"name must be '<domain>/<task>', got 'flat'"):
        tasks.register_task("flat", description="d")


@pytest.mark.parametrize(
    ("tree", "path"),
    [
        (object(), "/"),
        ({"a": [1, (2, object())]}, "/a/1/1"),
        ({0: {"b": object()}}, "/0/b"),
        ({(1, object()): 2}, "/key/1"),
    ],
)
def test_a_value_a_checkpoint_cannot_hold_is_named_by_its_path(tree, path):
    from modalprompt.core.state_tree import split_tensors

    with pytest.raises(
        TypeError, match=rf"^state at {path}: cannot store a object in a checkpoint"
    ):
        split_tensors(tree)


def test_tensor_keys_carry_their_path_and_round_trip():
    from modalprompt.core.state_tree import join_tensors, split_tensors

    tree = {"opt": [torch.ones(2), {"m": torch.zeros(1)}], 3: (torch.full((1,), 2.0), "x")}
    skeleton, tensors = split_tensors(tree)
    assert sorted(tensors) == ["/3/0#2", "/opt/0#0", "/opt/1/m#1"]
    back = join_tensors(skeleton, tensors)
    assert torch.equal(back["opt"][0], torch.ones(2)) and back[3][1] == "x"
    assert isinstance(back[3], tuple) and torch.equal(back[3][0], torch.full((1,), 2.0))
