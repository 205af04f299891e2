import dataclasses
import enum
import json

import pytest

from modalprompt.core.config import (
    ConfigError,
    PromptConfig,
    check_choice,
    check_float,
    check_int,
    check_sequence,
)


class Pooling(str, enum.Enum):
    MEAN = "mean"
    MAX = "max"


@dataclasses.dataclass(kw_only=True)
class DemoConfig(PromptConfig):
    num_tokens: int = 10
    lr: float = 1e-3
    pooling: Pooling = Pooling.MEAN
    layers: tuple[int, ...] = (0, 1)

    def __post_init__(self):
        super().__post_init__()
        check_int(self, "num_tokens", minimum=1)
        check_float(self, "lr", minimum=0.0, inclusive=False)
        check_choice(self, "pooling", Pooling)
        check_sequence(self, "layers", int, min_length=1)


def test_round_trip_dict_and_json(tmp_path):
    config = DemoConfig(num_tokens=3, lr=0.5, pooling="max", layers=[2, 3])
    assert config.pooling is Pooling.MAX and config.layers == (2, 3)
    assert DemoConfig.from_dict(config.to_dict()) == config
    path = tmp_path / "c.json"
    config.to_json(path)
    raw = json.loads(path.read_text())
    assert raw["pooling"] == "max" and raw["layers"] == [2, 3] and "modalprompt_version" in raw
    assert DemoConfig.from_json(path) == config


@pytest.mark.parametrize(
    "kwargs, field, fragment",
    [
        ({"num_tokens": 0}, "num_tokens", "integer >= 1"),
        ({"num_tokens": 2.5}, "num_tokens", "integer"),
        ({"num_tokens": True}, "num_tokens", "integer"),
        ({"lr": 0.0}, "lr", "> 0.0"),
        ({"lr": float("nan")}, "lr", "finite"),
        ({"pooling": "sum"}, "pooling", "['mean', 'max']"),
        ({"layers": []}, "layers", "at least 1"),
        ({"layers": [1, "a"]}, "layers", "items are int"),
        ({"seed": -1}, "seed", ">= 0"),
    ],
)
def test_bad_values_name_field_value_and_allowed(kwargs, field, fragment):
    with pytest.raises(ConfigError) as info:
        DemoConfig(**kwargs)
    message = str(info.value)
    assert f"DemoConfig.{field}" in message
    assert repr(next(iter(kwargs.values())))[:6] in message
    assert fragment in message


def test_unknown_keys_list_the_valid_ones():
    with pytest.raises(ConfigError, match="unknown key") as info:
        DemoConfig.from_dict({"num_tokenz": 3})
    assert "num_tokenz" in str(info.value) and "num_tokens" in str(info.value)


def test_ints_are_accepted_for_floats_and_stored_as_float():
    assert DemoConfig(lr=1).lr == 1.0 and isinstance(DemoConfig(lr=1).lr, float)


def test_from_json_names_the_file_and_line_of_a_bad_file(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{\n  "alpha": 1,\n  oops\n}')
    with pytest.raises(ValueError, match=r"c\.json: not valid JSON \(line 3"):
        DemoConfig.from_json(path)
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"c\.json: expected a JSON object of DemoConfig fields"):
        DemoConfig.from_json(path)
