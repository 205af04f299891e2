"""Inclusive vs exclusive config bounds, exactly at the bound (issue 22).

An off-by-one between ``<`` and ``<=`` passes every test that uses values well inside or well
outside the range; these put the value exactly on each bound, and one ulp beyond it.
"""

from __future__ import annotations

import math

import pytest

import modalprompt as mp
from modalprompt.core.config import ConfigError, check_float, check_int


class _Holder:
    def __init__(self, value) -> None:
        self.x = value


def _accepts(check, value, **bounds) -> bool:
    try:
        check(_Holder(value), "x", **bounds)
    except ConfigError:
        return False
    return True


@pytest.mark.parametrize(
    ("value", "inclusive", "accepted"),
    [
        (0.0, True, True),
        (1.0, True, True),
        (0.0, False, False),
        (1.0, False, False),
        (math.nextafter(0.0, 1.0), False, True),
        (math.nextafter(1.0, 0.0), False, True),
        (math.nextafter(0.0, -1.0), True, False),
        (math.nextafter(1.0, 2.0), True, False),
    ],
)
def test_check_float_bounds_exactly_at_the_edges(value, inclusive, accepted):
    """Guards ``<`` vs ``<=`` on both ends, for both inclusive and exclusive ranges."""
    assert _accepts(check_float, value, minimum=0.0, maximum=1.0, inclusive=inclusive) is accepted


def test_exclusive_bounds_are_named_with_open_brackets():
    with pytest.raises(ConfigError, match=r"\(0.0, 1.0\)"):
        check_float(_Holder(1.0), "x", minimum=0.0, maximum=1.0, inclusive=False)
    with pytest.raises(ConfigError, match=r"> 0.0"):
        check_float(_Holder(0.0), "x", minimum=0.0, inclusive=False)


@pytest.mark.parametrize(("value", "accepted"), [(1, True), (4, True), (0, False), (5, False)])
def test_check_int_bounds_are_inclusive(value, accepted):
    assert _accepts(check_int, value, minimum=1, maximum=4) is accepted


@pytest.mark.parametrize(
    ("method", "field", "value", "accepted"),
    [
        ("relief", "gamma", 1.0, True),  # [0, 1]: a discount of exactly 1 is allowed
        ("relief", "gamma", 0.0, True),
        ("relief", "gae_lambda", 1.0, True),
        ("relief", "ensemble_overlap", 1.0, True),
        ("relief", "max_z", 0.0, False),  # (0, inf): a zero bound would mean no prompt at all
        ("relief", "clip_discrete", 0.0, False),
        ("relief", "entropy_coef", 0.0, True),
        ("relief", "ensemble_size", 1, True),
        ("relief", "ensemble_size", 0, False),
        ("relief", "step_budget", 1, True),
        ("relief", "step_budget", 0, False),
        ("relief", "skip_epochs", 0, True),
        ("idpt", "head_dropout", 0.99, True),
        ("idpt", "head_dropout", 0.0, True),
        ("idpt", "prompt_layer", 0, True),
        ("idpt", "num_classes", 1, False),
    ],
)
def test_method_configs_at_their_bounds(method, field, value, accepted):
    """The documented ranges of real configs, exactly at the edge."""
    try:
        config = mp.get_config(method, **{field: value})
    except ConfigError:
        assert not accepted, f"{method}.{field}={value} should be accepted"
        return
    assert accepted, f"{method}.{field}={value} should be refused"
    assert getattr(config, field) == value


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("betas", (0.9, 1.0), "two numbers in [0, 1)"),  # beta = 1 never forgets: open at 1
        ("betas", (0.9,), "a list of at least 2 item(s)"),
        ("betas", (0.9, 0.99, 0.5), "two numbers in [0, 1)"),
        ("warmup_ratio", -0.1, "a number in [0.0, 1.0]"),
        ("max_grad_norm", 0.0, "a number > 0.0"),
        ("max_grad_norm", -1.0, "a number > 0.0"),
        ("metric", "", "a metric name"),
        ("metric", 5, "a metric name"),
        ("verbose", "yes", "True or False"),
    ],
)
def test_training_arguments_refuse_each_value_outside_its_range(field, value, expected):
    with pytest.raises(ConfigError) as err:
        mp.TrainingArguments(**{field: value})
    assert str(err.value) == f"TrainingArguments.{field}: got {value!r}; expected {expected}"


def test_training_arguments_accept_their_edges():
    args = mp.TrainingArguments(betas=(0.0, 0.999), warmup_ratio=0.0, max_grad_norm=None)
    assert args.betas == (0.0, 0.999) and args.warmup_ratio == 0.0 and args.max_grad_norm is None
    assert mp.TrainingArguments(warmup_ratio=1.0, max_grad_norm=1e-6).warmup_ratio == 1.0


def test_a_union_type_is_named_with_or():
    with pytest.raises(ConfigError) as err:
        mp.get_config("prompt_finetune", tokenizer=3)
    assert str(err.value).endswith("got 3; expected a value of type str or NoneType")
