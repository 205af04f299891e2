"""BayesPrompt's phases (collection, particles, one train phase per epoch) resume after a crash
inside a phase to the uninterrupted run's end, bitwise, with each metrics row once."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("transformers")

import modalprompt as mp  # noqa: E402
from modalprompt.core.trainer import Trainer  # noqa: E402
from modalprompt.nlp.bayesprompt.train import fit_bayesprompt  # noqa: E402
from tests.nlp.bayesprompt.test_model import _examples, _setup  # noqa: E402


class Crash(RuntimeError):
    pass


def _fit(out, resume_from=None):
    _, model, collate = _setup(eval_mode="sample", collection_epochs=1)
    args = mp.TrainingArguments(
        max_epochs=4,
        batch_size=10,
        lr=1e-2,
        metric="accuracy",
        verbose=False,
        tensorboard=False,
        output_dir=str(out),
    )
    trainer = fit_bayesprompt(
        model, _examples(30), _examples(9, seed=1), collate, args, resume_from=resume_from
    )
    return model, trainer


def _rows(folder):
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("crash_at", [2, 5, 11])  # collection, 1st train epoch, last step
def test_crash_inside_a_phase_resumes_bitwise(tmp_path, monkeypatch, crash_at):
    whole, _ = _fit(tmp_path / "whole")
    train_steps, calls = Trainer.train_steps, [0]

    def crashing(self, n):
        calls[0] += 1
        if calls[0] == crash_at:
            raise Crash
        return train_steps(self, n)

    monkeypatch.setattr(Trainer, "train_steps", crashing)
    with pytest.raises(Crash):
        _fit(tmp_path / "broken")
    monkeypatch.setattr(Trainer, "train_steps", train_steps)
    resumed, trainer = _fit(tmp_path / "broken", resume_from="latest")
    expected, got = whole.prompt_state_dict(), resumed.prompt_state_dict()
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    assert _rows(tmp_path / "broken") == _rows(tmp_path / "whole")
    rows = _rows(tmp_path / "whole")  # the trainer logs a loss every 10 steps, evaluates per epoch
    assert [(r["phase"], r["round"]) for r in rows] == [
        ("collection", 0),
        ("particles", 0),
        ("train", 0),
        ("train", 1),
        ("train", 2),
        ("train", 2),
    ]
    assert rows[1]["particles"] == 30 and trainer.state.global_step == 12
    assert sum("eval_accuracy" in r for r in rows) == 4 and sum("loss" in r for r in rows) == 2
