"""Fuzz every registered method's config: random values for random fields either build a config
that survives ``to_dict``/``from_dict`` unchanged, or raise ConfigError/ValueError/TypeError
from the library naming a field (one given, or the other side of a cross-field rule)."""

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import modalprompt as mp

from ._ours import outcome

ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.sampled_from([0, 1, -1, 2, 3]),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, 0.5, 1.0, -0.5, 1e-3, float("nan"), float("inf")]),
    st.text(max_size=12),
    st.lists(st.integers(min_value=-3, max_value=10), max_size=4),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _like(default):
    """Values near a field's default type (the most telling mistakes), or anything at all."""
    if isinstance(default, bool):
        return st.one_of(st.booleans(), ANY_VALUE)
    if isinstance(default, int):
        return st.one_of(st.integers(min_value=-5, max_value=2**20), ANY_VALUE)
    if isinstance(default, float):
        return st.one_of(st.floats(min_value=-2.0, max_value=10.0), ANY_VALUE)
    if isinstance(default, str):
        return st.one_of(st.just(default), st.text(max_size=8), ANY_VALUE)
    return ANY_VALUE


def _fields(name):
    cls = mp.get_method_spec(name).config_cls
    fields = {}
    for f in dataclasses.fields(cls):
        if f.name == "method" or not f.init:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        fields[f.name] = _like(default)
    return fields


def _equal(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


@pytest.mark.parametrize("name", mp.list_methods(), ids=str)
def test_config_fields_build_or_are_named(name):
    fields = _fields(name)

    @given(
        chosen=st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=3, unique=True),
        data=st.data(),
        unknown=st.booleans(),
    )
    def run(chosen, data, unknown):
        overrides = {k: data.draw(fields[k], label=k) for k in chosen}
        if unknown:
            overrides["no_such_field"] = 1
        # a cross-field rule may name the other field (vocab_size=1 → mask_token_id's range)
        config, error = outcome(lambda: mp.get_config(name, **overrides), [*fields, *overrides])
        if error is not None:
            assert isinstance(error, ValueError | TypeError)
            return
        assert not unknown, "an unknown field was accepted"
        again = type(config).from_dict(config.to_dict())
        for k, v in config.to_dict().items():
            assert _equal(v, again.to_dict()[k]), f"{k} changed in a to_dict round trip"

    run()
