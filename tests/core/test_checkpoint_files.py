"""Checkpoint files by hand (issue 22, mutation survivors): the optimizer state's flat form,
the files a trainer checkpoint must list, the interrupted-save backup, and the messages."""

from __future__ import annotations

import json

import pytest
import torch

import modalprompt as mp
from modalprompt.core.io import (
    MANIFEST_NAME,
    CorruptFileError,
    atomic_save_tensors,
    recoverable_dir,
    write_manifest,
)
from modalprompt.core.trainer_checkpoint import (
    load_trainer_checkpoint,
    optimizer_state_from_flat,
    optimizer_state_to_flat,
    training_args_changes,
)

from ._tiny import make_backbone, make_dataset


class _CountingSGD(torch.optim.SGD):
    """SGD that keeps a plain ``int`` per parameter beside its momentum tensor, as custom
    optimizers do (the built-in ones hold tensors only)."""

    def step(self, closure=None):
        loss = super().step(closure)
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["updates"] = self.state[p].get("updates", 0) + 1
        return loss


def _stepped(optimizer_cls=_CountingSGD) -> torch.optim.Optimizer:
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    optimizer = optimizer_cls([w], lr=0.1, momentum=0.9)
    for _ in range(2):
        optimizer.zero_grad()
        (w**2).sum().backward()
        optimizer.step()
    return optimizer


def test_optimizer_state_round_trips_its_numbers_and_tensors():
    optimizer = _stepped()
    original = optimizer.state_dict()
    meta, tensors = optimizer_state_to_flat(optimizer)
    assert meta["scalars"] == {"0": {"updates": 2}}
    assert set(tensors) == {"0.momentum_buffer"}
    meta = json.loads(json.dumps(meta))  # as written to and read from trainer_state.json
    again = optimizer_state_from_flat(meta, tensors)
    assert set(again["state"]) == {0}  # the parameter id is an int again
    assert again["state"][0]["updates"] == 2
    assert torch.equal(
        again["state"][0]["momentum_buffer"], original["state"][0]["momentum_buffer"]
    )
    assert again["param_groups"] == json.loads(json.dumps(original["param_groups"]))
    fresh = _stepped()
    fresh.load_state_dict(again)  # torch accepts it
    assert fresh.state[fresh.param_groups[0]["params"][0]]["updates"] == 2


def _checkpoint(tmp_path):
    model = mp.get_prompt_model(make_backbone(0), mp.get_config("linear_probe", num_classes=3))
    args = mp.TrainingArguments(
        max_epochs=1, batch_size=16, lr=0.05, verbose=False, tensorboard=False,
        output_dir=str(tmp_path / "run"),
    )  # fmt: skip
    trainer = mp.Trainer(model, args, train_data=make_dataset())
    trainer.fit()
    folders = sorted((tmp_path / "run").glob("checkpoint-*"))
    assert folders, "the run wrote no checkpoint"
    return folders[-1]


def test_a_checkpoint_whose_manifest_drops_a_required_file_is_refused(tmp_path):
    """Deleting a file *and* its manifest entry leaves a self-consistent manifest: only the
    list of files a trainer checkpoint needs can notice."""
    folder = _checkpoint(tmp_path)
    load_trainer_checkpoint(folder)  # intact
    (folder / "rng.safetensors").unlink()
    write_manifest(folder)  # consistent again, without the file
    with pytest.raises(CorruptFileError, match=r"does not list rng\.safetensors"):
        load_trainer_checkpoint(folder)


def test_the_backup_is_used_only_when_the_target_is_missing(tmp_path):
    target, backup = tmp_path / "checkpoint-4", tmp_path / ".checkpoint-4.old"
    backup.mkdir()
    target.mkdir()
    assert recoverable_dir(target) == target  # both there: the save finished
    target.rmdir()
    with pytest.warns(UserWarning, match="a save was interrupted"):
        assert recoverable_dir(target) == backup
    backup.rmdir()
    assert recoverable_dir(target) == target  # neither: the caller reports the missing folder


def test_saving_a_non_tensor_names_the_entry_and_its_type(tmp_path):
    with pytest.raises(
        TypeError, match=r"^tensors\['w'\]: expected a torch\.Tensor, got <class 'list'>$"
    ):
        atomic_save_tensors(tmp_path / "t.safetensors", {"w": [1.0, 2.0]})
    assert not (tmp_path / "t.safetensors").exists()
    assert MANIFEST_NAME not in {p.name for p in tmp_path.iterdir()}


def test_argument_changes_show_unset_on_either_side():
    changes = training_args_changes({"lr": 0.1, "warmup": 5}, {"lr": 0.1, "max_steps": 9})
    assert changes == ["max_steps: (unset) -> 9", "warmup: 5 -> (unset)"]


def test_a_listed_file_that_is_missing_and_a_malformed_manifest_are_named(tmp_path):
    from modalprompt.core.io import verify_manifest

    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"1234")
    write_manifest(folder)
    (folder / "a.bin").unlink()
    manifest = folder / MANIFEST_NAME
    with pytest.raises(CorruptFileError) as err:
        verify_manifest(folder)
    assert str(err.value) == f"{folder / 'a.bin'}: listed in {manifest} but missing"
    manifest.write_text(json.dumps({"format": "x", "files": {}, "pad": "y" * 200}))
    with pytest.raises(CorruptFileError) as err:
        verify_manifest(folder)
    shown = str({"format": "x", "files": {}, "pad": "y" * 200})[:80]  # the first 80 characters
    assert str(err.value).endswith(f"'files', got {shown}")
