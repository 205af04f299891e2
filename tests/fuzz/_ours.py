"""What the fuzz suite accepts as an outcome: a correct result, or a clear error of our own."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import modalprompt

LIBRARY = Path(modalprompt.__file__).resolve().parent
OURS = (ValueError, TypeError)


def raised_here(error: BaseException) -> bool:
    """True when the innermost frame of ``error``'s traceback is in the library's own code."""
    frames = traceback.extract_tb(error.__traceback__)
    return bool(frames) and Path(frames[-1].filename).resolve().is_relative_to(LIBRARY)


def outcome(
    fn: Callable[[], Any], names: Iterable[str] = (), also: tuple[type[BaseException], ...] = ()
) -> tuple[Any, BaseException | None]:
    """``(result, None)``, or ``(None, error)`` for a clear error of ours: a ValueError or
    TypeError (or one of ``also``) raised by the library itself whose message contains one of
    ``names`` (when given). Anything else fails the test with the foreign traceback."""
    try:
        return fn(), None
    except OURS + also as error:
        message = str(error)
        if not raised_here(error):
            raise AssertionError(f"foreign {type(error).__name__}: {message[:300]}") from error
        names = list(names)
        if names and not any(n in message for n in names):
            raise AssertionError(
                f"{type(error).__name__} names none of {names}: {message[:300]}"
            ) from error
        return None, error
    except Exception as error:
        raise AssertionError(f"foreign {type(error).__name__}: {str(error)[:300]}") from error
