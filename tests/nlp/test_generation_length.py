"""``check_generation_length`` against hand-counted positions: virtual + input + new tokens must
fit the backbone's position limit, whichever of the four ways the new-token count is given."""

from __future__ import annotations

import types

import pytest

from modalprompt.nlp.injection import check_generation_length


def _backbone(limit=64, max_new_tokens=None, max_length=None, model_type="gpt2"):
    """Just what the check reads: ``config`` (limit, model type) and ``generation_config``."""
    return types.SimpleNamespace(
        config=types.SimpleNamespace(max_position_embeddings=limit, model_type=model_type),
        generation_config=types.SimpleNamespace(
            max_new_tokens=max_new_tokens, max_length=max_length
        ),
    )


@pytest.mark.parametrize(
    ("backbone", "kwargs", "fits"),
    [
        # max_new_tokens: 10 virtual + 30 input + 24 new = 64 fits exactly, 25 does not
        (_backbone(), {"max_new_tokens": 24}, True),
        (_backbone(), {"max_new_tokens": 25}, False),
        # max_length counts the virtual and input tokens: 64 -> 24 new, 65 -> 25
        (_backbone(), {"max_length": 64}, True),
        (_backbone(), {"max_length": 65}, False),
        # the backbone's generation_config decides without either keyword
        (_backbone(max_new_tokens=24), {}, True),
        (_backbone(max_new_tokens=25), {}, False),
        (_backbone(max_length=64), {}, True),
        (_backbone(max_length=65), {}, False),
        # neither set anywhere: transformers' default max_length 20 (here, 40 used: 0 new)
        (_backbone(limit=40), {}, True),
        # an explicit keyword wins over the generation_config
        (_backbone(max_new_tokens=100), {"max_new_tokens": 24}, True),
        (_backbone(max_new_tokens=1), {"max_length": 65}, False),
        # no declared limit (relative positions): anything goes
        (_backbone(limit=None), {"max_new_tokens": 10_000}, True),
    ],
)
def test_positions_are_counted_by_hand(backbone, kwargs, fits):
    if fits:
        check_generation_length(backbone, 10, 30, dict(kwargs))
    else:
        with pytest.raises(ValueError, match="more than the backbone's limit"):
            check_generation_length(backbone, 10, 30, dict(kwargs))


def test_the_message_names_the_source_and_the_counts():
    with pytest.raises(ValueError) as err:
        check_generation_length(_backbone(), 10, 30, {"max_new_tokens": 30})
    assert str(err.value) == (
        "max_new_tokens: 10 virtual + 30 input + 30 new tokens = 70 positions, more than the "
        "backbone's limit of 64 (SimpleNamespace); at most 24 new tokens fit"
    )
    with pytest.raises(ValueError, match=r"^generation_config.max_new_tokens: .* 25 new tokens"):
        check_generation_length(_backbone(max_new_tokens=25), 10, 30, {})
    with pytest.raises(ValueError, match=r"^generation_config.max_length: .* 25 new tokens"):
        check_generation_length(_backbone(max_length=65), 10, 30, {})
    with pytest.raises(ValueError, match=r"^max_length: .* 25 new tokens"):
        check_generation_length(_backbone(), 10, 30, {"max_length": 65})
    with pytest.raises(ValueError, match="at most 0 new tokens fit"):
        check_generation_length(_backbone(limit=30), 10, 30, {"max_new_tokens": 1})


@pytest.mark.parametrize("max_length", [40, 39])
def test_max_length_without_room_for_one_new_token_is_named(max_length):
    with pytest.raises(ValueError, match=rf"max_length: {max_length} leaves no room .* \(40\)"):
        check_generation_length(_backbone(), 10, 30, {"max_length": max_length})
    check_generation_length(_backbone(), 10, 30, {"max_length": 41})  # one new token: fine


def test_transformers_default_max_length_of_20_is_assumed():
    check_generation_length(_backbone(limit=20), 2, 8, {})  # 2 + 8 + 10 new = 20
    with pytest.raises(ValueError, match=r"generation_config.max_length: .* 10 new tokens = 20"):
        check_generation_length(_backbone(limit=19), 2, 8, {})
