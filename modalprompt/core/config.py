"""Method configurations: validated dataclasses that round-trip through JSON.

Every method's hyper-parameters live in a ``@dataclass(kw_only=True)`` subclass of
:class:`PromptConfig`. Fields carry the paper's defaults; ``__post_init__`` validates each
one with a message that names the field, the value and what is allowed, so a typo in a JSON
file fails at load time rather than three hours into training.

Example::

    @dataclass(kw_only=True)
    class MyConfig(PromptConfig):
        num_tokens: int = 10
        lr: float = 1e-3

        def __post_init__(self) -> None:
            super().__post_init__()
            check_int(self, "num_tokens", minimum=1)
            check_float(self, "lr", minimum=0.0, inclusive=False)
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from modalprompt.core.io import atomic_write_json, read_json

C = TypeVar("C", bound="PromptConfig")


class ConfigError(ValueError):
    """A configuration value or key is not allowed; the message says which and why."""


@dataclasses.dataclass(kw_only=True)
class PromptConfig:
    """Base class of every method's configuration.

    Args:
        method: Registry name of the method (filled in by the registry for subclasses that
            were registered, so users rarely pass it).
        seed: Seed for everything the method draws at random (initialisation, sampling).
    """

    method: str = ""
    seed: int = 0

    def __post_init__(self) -> None:
        registered = getattr(type(self), "_registered_name", None)
        if not self.method and registered:
            self.method = registered
        if registered and self.method != registered:
            raise ConfigError(
                f"{type(self).__name__}.method: got {self.method!r}, but this config class is "
                f"registered as {registered!r}"
            )
        check_type(self, "method", str)
        check_int(self, "seed", minimum=0)

    # --------------------------------------------------------------------------- dict / JSON
    def to_dict(self) -> dict[str, Any]:
        """All fields as JSON-compatible values (Enums become their values)."""
        return {f.name: _to_jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
        """Build from a mapping; unknown keys raise :class:`ConfigError` listing the valid ones.

        Keys written by the library itself (``modalprompt_version``) are ignored.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"{cls.__name__}.from_dict: expected a mapping, got {type(data)}")
        data = {k: v for k, v in data.items() if k not in _RESERVED_KEYS}
        valid = cls.field_names()
        unknown = sorted(set(data) - set(valid))
        if unknown:
            raise ConfigError(
                f"{cls.__name__}: unknown key(s) {unknown}; valid keys are {sorted(valid)}"
            )
        return cls(**data)

    def to_json(self, path: str | Path) -> None:
        """Write the config (plus the library version) to ``path`` atomically."""
        from modalprompt import __version__

        atomic_write_json(path, {**self.to_dict(), "modalprompt_version": __version__})

    @classmethod
    def from_json(cls: type[C], path: str | Path) -> C:
        """Read a config written by :meth:`to_json`; a syntax error names the file and line,
        and anything but a JSON object is refused naming the file."""
        data = read_json(path)
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"{path}: expected a JSON object of {cls.__name__} fields, got "
                f"{type(data).__name__} {str(data)[:60]}"
            )
        return cls.from_dict(data)

    def replace(self: C, **changes: Any) -> C:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


_RESERVED_KEYS = frozenset({"modalprompt_version"})


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


# ------------------------------------------------------------------------------- validators
def _fail(config: Any, name: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"{type(config).__name__}.{name}: got {value!r}; expected {allowed}")


def check_type(config: Any, name: str, types: type | tuple[type, ...]) -> None:
    value = getattr(config, name)
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
        names = " or ".join(t.__name__ for t in _as_tuple(types))
        raise _fail(config, name, value, f"a value of type {names}")


def check_int(
    config: Any,
    name: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    optional: bool = False,
) -> None:
    """``config.name`` is an int (not a bool) within ``[minimum, maximum]``."""
    value = getattr(config, name)
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(config, name, value, f"an integer{_bounds(minimum, maximum, True)}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise _fail(config, name, value, f"an integer{_bounds(minimum, maximum, True)}")


def check_float(
    config: Any,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    inclusive: bool = True,
    optional: bool = False,
) -> None:
    """``config.name`` is a finite real number within the bounds (ints are converted)."""
    value = getattr(config, name)
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(config, name, value, f"a finite number{_bounds(minimum, maximum, inclusive)}")
    low_bad = minimum is not None and (value < minimum if inclusive else value <= minimum)
    high_bad = maximum is not None and (value > maximum if inclusive else value >= maximum)
    if low_bad or high_bad:
        raise _fail(config, name, value, f"a number{_bounds(minimum, maximum, inclusive)}")
    object.__setattr__(config, name, float(value))


def check_choice(config: Any, name: str, choices: Iterable[Any] | type[enum.Enum]) -> None:
    """``config.name`` is one of ``choices``; a ``str`` Enum also accepts its values."""
    value = getattr(config, name)
    if isinstance(choices, type) and issubclass(choices, enum.Enum):
        try:
            object.__setattr__(config, name, choices(value))
        except ValueError:
            allowed = [c.value for c in choices]
            raise _fail(config, name, value, f"one of {allowed}") from None
        return
    allowed = list(choices)
    if value not in allowed:
        raise _fail(config, name, value, f"one of {allowed}")


def check_bool(config: Any, name: str) -> None:
    value = getattr(config, name)
    if not isinstance(value, bool):
        raise _fail(config, name, value, "True or False")


def check_sequence(
    config: Any,
    name: str,
    item_type: type | tuple[type, ...],
    *,
    min_length: int = 0,
    optional: bool = False,
) -> None:
    """``config.name`` is a list/tuple of ``item_type`` (stored as a tuple, JSON gives lists)."""
    value = getattr(config, name)
    if optional and value is None:
        return
    if not isinstance(value, list | tuple) or len(value) < min_length:
        raise _fail(config, name, value, f"a list of at least {min_length} item(s)")
    for item in value:
        if (
            isinstance(item, bool)
            and bool not in _as_tuple(item_type)
            or not isinstance(item, item_type)
        ):
            names = " or ".join(t.__name__ for t in _as_tuple(item_type))
            raise _fail(config, name, value, f"a list whose items are {names}")
    object.__setattr__(config, name, tuple(value))


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _bounds(minimum: float | None, maximum: float | None, inclusive: bool) -> str:
    lo, hi = ("[", "]") if inclusive else ("(", ")")
    if minimum is None and maximum is None:
        return ""
    if maximum is None:
        return f" {'>=' if inclusive else '>'} {minimum}"
    if minimum is None:
        return f" {'<=' if inclusive else '<'} {maximum}"
    return f" in {lo}{minimum}, {maximum}{hi}"
