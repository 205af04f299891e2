"""Fuzz the CLI's run files: YAML/JSON with random structure (random keys, wrong types, nested
junk, syntax errors, bad bytes, unknown methods and tasks) run through ``modalprompt train``
in-process. Each one either fails before any work with a RunFileError whose message starts with
the file's name (``file:line:`` where the line is known), or is valid: then the CLI reaches the
build step, which the test replaces by a sentinel so that nothing is ever trained."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from unittest import mock

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import modalprompt as mp
from modalprompt import cli
from modalprompt.core.tasks import list_tasks

_CASES = itertools.count()
_BASE: list[Path] = []


@pytest.fixture(scope="module", autouse=True)
def _base(tmp_path_factory):
    """One folder for the module's cases (numbered, not random: hypothesis warns on ``random``)."""
    _BASE[:] = [tmp_path_factory.mktemp("fuzz-run-files")]
    # one valid file first: the lazy imports it triggers touch `random`, which hypothesis
    # reports when it happens inside a generated example
    assert _train(b"method: gpf\ntask: graph/synthetic\n", ".yaml") is None


def _folder() -> Path:
    folder = _BASE[0] / f"case{next(_CASES)}"
    folder.mkdir()
    return folder


class _Valid(Exception):
    """Raised in place of building the task: the run file passed every check."""


def _reached_build(run, method):
    raise _Valid(run.path)


KEY = st.one_of(
    st.sampled_from(list(cli.RUN_FILE_KEYS)),
    st.sampled_from(["trainig", "methods", "Task", "", "max_epochs"]),
    st.text(max_size=6),
)
SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 2**33),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["1e-3", "yes", "~", "null", "0x10", "-1"]),
)
JUNK = st.recursive(
    SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
TASKS = sorted(list_tasks())
TRAINING_KEYS = sorted(mp.TrainingArguments.__dataclass_fields__)
SECTION = st.dictionaries(st.text(max_size=8), JUNK, max_size=3)


@st.composite
def run_files(draw):
    run = {}
    if draw(st.booleans()):
        run["method"] = draw(st.one_of(st.sampled_from(mp.list_methods()), SCALAR))
    if draw(st.booleans()):
        run["task"] = draw(st.one_of(st.sampled_from(TASKS), SCALAR))
    for key in ("task_args", "config"):
        if draw(st.booleans()):
            run[key] = draw(st.one_of(SECTION, JUNK))
    if draw(st.booleans()):
        training = draw(st.dictionaries(st.sampled_from(TRAINING_KEYS), JUNK, max_size=3) | JUNK)
        run["training"] = training
    if draw(st.booleans()):
        run["output_dir"] = draw(st.one_of(st.text(max_size=5), JUNK))
    run.update(draw(st.dictionaries(KEY, JUNK, max_size=2)))
    return run


def _text(data, fmt: str, damage: str | None) -> bytes:
    if fmt == "json":
        text = json.dumps(data, indent=2)
    else:
        text = yaml.safe_dump(data, sort_keys=False)
    if damage == "cut":
        text = text[: max(1, len(text) * 2 // 3)]
    elif damage == "brace":
        text = text + "\n{ [unclosed: \n"
    elif damage == "tab":
        text = "\t" + text.replace("\n", "\n\t  ", 1)
    raw = text.encode("utf-8")
    if damage == "bytes":
        raw = raw[: len(raw) // 2] + b"\xff\xfe" + raw[len(raw) // 2 :]
    return raw


def _train(raw: bytes, suffix: str) -> str | None:
    """The RunFileError message, or None when the run file reached the build step."""
    path = _folder() / f"run{suffix}"
    path.write_bytes(raw)
    with mock.patch.object(cli, "_build", _reached_build):
        try:
            cli.main(["train", "--config", str(path)])
        except _Valid:
            return None
        except cli.RunFileError as error:
            message = str(error)
            assert str(path) in message, message[:300]
            return message
        except SystemExit as error:
            # multi-phase methods without a runner: refused after every check passed
            assert "the run file is valid" in str(error), str(error)[:300]
            return None
        except Exception as error:  # noqa: BLE001
            raise AssertionError(f"foreign {type(error).__name__}: {str(error)[:300]}") from error
    raise AssertionError("train returned without building (the sentinel should stop it)")


@given(
    data=st.one_of(run_files(), JUNK),
    fmt=st.sampled_from(["yaml", "json"]),
    damage=st.sampled_from([None, None, "cut", "brace", "tab", "bytes"]),
)
def test_random_run_file_fails_clearly_or_is_valid(data, fmt, damage):
    message = _train(_text(data, fmt, damage), ".yaml" if fmt == "yaml" else ".json")
    if message is not None and "syntax error" in message:
        head = message.split(": ", 1)[0]
        assert head.rsplit(":", 1)[-1].isdigit(), f"no line in {message[:200]}"


@given(
    text=st.text(max_size=80),
    suffix=st.sampled_from([".yaml", ".yml", ".json", ".toml"]),
)
def test_arbitrary_text_as_run_file(text, suffix):
    _train(text.encode("utf-8", errors="surrogatepass"), suffix)


def _pairs():
    from modalprompt.core.tasks import get_task_spec

    return [
        (method, task)
        for task in TASKS
        for method in (get_task_spec(task).methods or mp.list_methods())
    ]


PAIRS = _pairs()
TINY_TRAINING = {"max_steps": 1, "max_epochs": 1, "batch_size": 2}


@given(
    pair=st.sampled_from(PAIRS),
    section=st.sampled_from(["task_args", "config", "training", "output_dir", "none"]),
    keys=st.lists(st.one_of(st.sampled_from(TRAINING_KEYS), st.text(max_size=6)), max_size=2),
    values=st.lists(JUNK, min_size=2, max_size=2),
    whole=st.one_of(st.none(), JUNK),
    fmt=st.sampled_from(["yaml", "json"]),
)
def test_valid_pair_with_one_bad_section(pair, section, keys, values, whole, fmt):
    """A method and task that go together, with junk in one section: deeper checks are reached."""
    method, task = pair
    run = {"method": method, "task": task, "training": dict(TINY_TRAINING)}
    if section == "training":
        run["training"].update(zip(keys, values))
    elif section == "output_dir":
        run["output_dir"] = values[0]
    elif section != "none":
        run[section] = whole if whole is not None else dict(zip(keys, values))
    message = _train(_text(run, fmt, None), ".yaml" if fmt == "yaml" else ".json")
    if message is not None and section != "none":
        assert section in message, message[:300]
