"""Fault suite: SIGKILL during training, during a checkpoint write and during its atomic rename;
a full disk; corrupt and truncated files; resumed runs bitwise equal to uninterrupted ones for a
method of each domain. Each case takes a few seconds."""

from __future__ import annotations

import errno
import re
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

import modalprompt as mp
import modalprompt.core.io as mp_io
from modalprompt.core.io import CorruptFileError, load_tensors, verify_manifest
from modalprompt.core.trainer_checkpoint import latest_checkpoint, load_trainer_checkpoint
from tests.core._tiny import make_backbone, make_dataset

SCRIPT = Path(__file__).with_name("_fault_script.py")


def _run(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=120
    )


def _same(a_path: Path, b_path: Path) -> bool:
    a, b = load_tensors(a_path), load_tensors(b_path)
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The uninterrupted run's final state."""
    folder = tmp_path_factory.mktemp("reference")
    done = _run(folder / "run", folder / "result.safetensors")
    assert done.returncode == 0, done.stderr
    return folder / "result.safetensors"


@pytest.mark.parametrize(
    "fault, expected_latest",
    [
        (("--kill-at-step", 9), "checkpoint-6"),
        (("--kill-in-save", 12), "checkpoint-6"),
        (("--kill-in-rename", 18), ".checkpoint-18.old"),
    ],
    ids=["during-training", "during-checkpoint-write", "between-the-renames"],
)
def test_sigkill_then_resume_is_bitwise_exact(tmp_path, reference, fault, expected_latest):
    killed = _run(tmp_path / "run", tmp_path / "never.safetensors", *fault)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert latest_checkpoint(tmp_path / "run").name == expected_latest
    resumed = _run(tmp_path / "run", tmp_path / "resumed.safetensors", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "finished at step 18" in resumed.stdout
    assert _same(reference, tmp_path / "resumed.safetensors")
    checkpoint = tmp_path / "run" / "checkpoint-18"
    assert verify_manifest(checkpoint)
    assert not [p.name for p in (tmp_path / "run").iterdir() if p.name.startswith(".")]


# ------------------------------------------------------------------------ in-process faults
def _model():
    return mp.get_prompt_model(
        make_backbone(), mp.get_config("full_finetune", num_classes=3, dropout=0.2)
    )


def _trainer(output_dir, model=None, **kw):
    args = dict(max_epochs=3, batch_size=16, lr=0.05, verbose=False, tensorboard=False)
    return mp.Trainer(
        model or _model(),
        mp.TrainingArguments(output_dir=str(output_dir), **{**args, **kw}),
        train_data=make_dataset(),
    )


class _FullDisk:
    """A file handle whose writes fail as on a full disk."""

    def __init__(self, handle) -> None:
        self.handle = handle

    def write(self, data) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.handle.close()


def _fill_disk(monkeypatch) -> None:
    real = mp_io.os.fdopen
    monkeypatch.setattr(mp_io.os, "fdopen", lambda fd, *a, **k: _FullDisk(real(fd, *a, **k)))


def test_a_full_disk_mid_checkpoint_loses_nothing_and_leaves_no_debris(tmp_path, monkeypatch):
    reference = _model()
    _trainer(tmp_path / "reference", reference).fit()
    from modalprompt.core.callbacks import LambdaCallback

    trainer = _trainer(tmp_path / "run")
    trainer.callbacks.append(
        LambdaCallback(
            on_step_end=lambda t, _: _fill_disk(monkeypatch) if t.state.global_step == 12 else 0
        )
    )
    with pytest.raises(OSError, match="No space left"):
        trainer.fit()  # the checkpoint at the end of epoch 2 (step 12) cannot be written
    monkeypatch.undo()
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir() if "checkpoint" in p.name) == ["checkpoint-6"]
    assert not [p for p in (run / "checkpoint-6").iterdir() if p.name.endswith(".tmp")]
    assert verify_manifest(run / "checkpoint-6")
    resumed = _model()
    _trainer(run, resumed).fit(resume_from="latest")
    a, b = reference.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_full_disk_during_save_pretrained_keeps_the_previous_model(tmp_path, monkeypatch):
    model = _model()
    model.save_pretrained(tmp_path / "m")
    with torch.no_grad():
        model.head[1].weight.add_(1.0)
    _fill_disk(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        model.save_pretrained(tmp_path / "m")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    loaded = mp.PromptModel.from_pretrained(make_backbone(), tmp_path / "m")
    assert not torch.equal(loaded.head[1].weight, model.head[1].weight)


CHECKPOINT_FILES = [
    "model.safetensors",
    "best.safetensors",
    "optimizer.safetensors",
    "rng.safetensors",
    "trainer_state.json",
    "manifest.json",
]


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("two") / "run"
    trainer = mp.Trainer(
        _model(),
        mp.TrainingArguments(
            output_dir=str(folder),
            max_steps=4,
            save_every=2,
            batch_size=16,
            eval_strategy="steps",
            eval_every=2,
            verbose=False,
            tensorboard=False,
        ),
        train_data=make_dataset(),
        eval_data=make_dataset(20, seed=1),
    )
    trainer.fit()
    return folder


@pytest.mark.parametrize("name", CHECKPOINT_FILES)
@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_damaged_checkpoint_file_is_named_and_skipped(tmp_path, two_checkpoints, name, damage):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(two_checkpoints, run)
    target = run / "checkpoint-4" / name
    data = bytearray(target.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="checkpoint-4/.*" + re.escape(name)):
        load_trainer_checkpoint(run / "checkpoint-4")
    with pytest.warns(UserWarning, match=r"skipping checkpoint .*checkpoint-4"):
        assert latest_checkpoint(run) == run / "checkpoint-2"


@pytest.mark.parametrize("name", ["model.safetensors", "trainer_state.json"])
def test_without_a_manifest_a_truncated_file_is_still_named(tmp_path, two_checkpoints, name):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(two_checkpoints, run)
    (run / "checkpoint-4" / "manifest.json").unlink()  # as an older version saved it
    target = run / "checkpoint-4" / name
    target.write_bytes(target.read_bytes()[:40])
    with pytest.warns(UserWarning, match="no manifest.json"):
        with pytest.raises(CorruptFileError, match="checkpoint-4/.*" + re.escape(name)):
            load_trainer_checkpoint(run / "checkpoint-4")


# ------------------------------------------------------- resume per domain, bitwise
DOMAIN_METHODS = ["gpf_plus", "idpt", "prompt_tuning"]


class _Killed(Exception):
    pass


@pytest.mark.parametrize("name", DOMAIN_METHODS)
def test_resume_is_bitwise_exact_for_a_method_of_each_domain(tmp_path, name):
    from modalprompt.core.callbacks import LambdaCallback
    from modalprompt.core.testing import tiny_case

    spec = mp.get_method_spec(name)
    try:
        tiny_case(spec)
    except ImportError as err:
        pytest.skip(f"{name} needs the '{spec.extra}' extra: {err}")

    def run(folder, kill_at=None, resume=False):
        case = tiny_case(spec)
        model = mp.get_prompt_model(case.backbone, case.config)
        # every "example" is the tiny batch itself; the RNG (dropout, sampling) still matters
        callbacks = []
        if kill_at is not None:

            def kill(trainer, logs):
                if trainer.state.global_step == kill_at:
                    raise _Killed

            callbacks.append(LambdaCallback(on_step_end=kill))
        trainer = mp.Trainer(
            model,
            mp.TrainingArguments(
                output_dir=str(folder),
                max_epochs=3,
                batch_size=1,
                lr=1e-2,
                save_every=2,
                eval_strategy="no",
                verbose=False,
                tensorboard=False,
                device="cpu",
            ),
            train_data=[case.batch] * 3,
            collate_fn=lambda items: items[0],
            callbacks=callbacks,
        )
        trainer.fit(resume_from="latest" if resume else None)
        return {k: v.detach().clone() for k, v in model.prompt_state_dict().items()}

    full = run(tmp_path / "full")
    with pytest.raises(_Killed):
        run(tmp_path / "run", kill_at=5)
    resumed = run(tmp_path / "run", resume=True)
    assert set(full) == set(resumed)
    assert all(torch.equal(full[k], resumed[k]) for k in full)
