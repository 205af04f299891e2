"""Issue 19 (nothing lost, nothing silently wrong) and issue 22 (trainer guards), in the core.

Each test failed before its fix: reused output folders, resumes with changed settings, non-finite
checkpoints, corrupt files, oversized warmup, missing default checkpoints, the caller's RNG.
"""

import json
import random
import shutil
import warnings

import numpy as np
import pytest
import torch

import modalprompt as mp
from modalprompt.core.io import CorruptFileError, load_tensors
from modalprompt.core.trainer import NonFiniteLossError
from modalprompt.core.trainer_checkpoint import latest_checkpoint

from ._tiny import make_backbone, make_dataset


def _model(method="linear_probe", seed=0, **overrides):
    return mp.get_prompt_model(
        make_backbone(seed), mp.get_config(method, num_classes=3, **overrides)
    )


def _args(**kw):
    base = dict(max_epochs=2, batch_size=16, lr=0.05, verbose=False, tensorboard=False)
    return mp.TrainingArguments(**{**base, **kw})


def _fit(model, resume_from=None, **kw):
    trainer = mp.Trainer(model, _args(**kw), train_data=make_dataset())
    trainer.fit(resume_from=resume_from)
    return trainer


def _head(model):
    return {k: v.detach().clone() for k, v in model.prompt_state_dict().items()}


def _equal(a, b):
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


class _Stop(Exception):
    pass


def _stop_at(step):
    from modalprompt.core.callbacks import LambdaCallback

    def hook(trainer, logs):
        if trainer.state.global_step == step:
            raise _Stop

    return LambdaCallback(on_step_end=hook)


# ------------------------------------------------------------ 1. a reused output_dir
def test_a_new_run_refuses_a_folder_with_another_runs_checkpoints(tmp_path):
    _fit(_model(), output_dir=str(tmp_path), max_epochs=4)  # an earlier, longer run
    with pytest.raises(ValueError, match=r"output_dir.*another run.*overwrite_output_dir"):
        _fit(_model(), output_dir=str(tmp_path), max_epochs=2)


def test_overwrite_replaces_the_old_run_and_latest_is_the_new_one(tmp_path):
    _fit(_model(), output_dir=str(tmp_path), max_epochs=4, save_every=2)
    model = _model()
    with pytest.warns(UserWarning, match="deleted another run"):
        _fit(model, output_dir=str(tmp_path), max_epochs=2, save_every=2, overwrite_output_dir=True)
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == [
        "checkpoint-10",
        "checkpoint-12",
    ]
    trained = _head(model)
    again = _model()
    with pytest.warns(UserWarning, match="finished run"):
        trainer = _fit(again, "latest", output_dir=str(tmp_path), max_epochs=2, save_every=2)
    assert trainer.state.global_step == 12 and _equal(_head(again), trained)


def test_a_run_prunes_only_its_own_checkpoints(tmp_path):
    _fit(_model(), output_dir=str(tmp_path / "other"), max_epochs=1, save_every=6)
    from modalprompt.core.callbacks import LambdaCallback

    def plant(trainer, logs):  # another process writes into the folder meanwhile
        if trainer.state.global_step == 1:
            shutil.copytree(tmp_path / "other" / "checkpoint-6", tmp_path / "run" / "checkpoint-99")

    trainer = mp.Trainer(
        _model(),
        _args(output_dir=str(tmp_path / "run"), save_every=2, save_total_limit=2),
        train_data=make_dataset(),
        callbacks=[LambdaCallback(on_step_end=plant)],
    )
    trainer.fit()
    names = sorted(p.name for p in (tmp_path / "run").glob("checkpoint-*"))
    assert names == ["checkpoint-10", "checkpoint-12", "checkpoint-99"]
    with pytest.raises(ValueError, match="2 runs"):
        latest_checkpoint(tmp_path / "run")


# ------------------------------------------------------------ 2. resume with changed settings
def _half_run(tmp_path, stop=7, **kw):
    """A run killed at step ``stop`` (default: one checkpoint, at the end of epoch 0, step 6)."""
    with pytest.raises(_Stop):
        mp.Trainer(
            _model(),
            _args(output_dir=str(tmp_path), **kw),
            train_data=make_dataset(),
            callbacks=[_stop_at(stop)],
        ).fit()


def test_resume_with_changed_arguments_names_each_difference(tmp_path):
    _half_run(tmp_path, scheduler="linear")
    trainer = mp.Trainer(
        _model(),
        _args(output_dir=str(tmp_path), scheduler="linear", max_epochs=3, lr=1e-5),
        train_data=make_dataset(),
    )
    with pytest.raises(ValueError, match=r"lr: 0\.05 -> 1e-05.*max_epochs: 2 -> 3") as err:
        trainer.fit(resume_from="latest")
    assert "resume_with_changes" in str(err.value) and "checkpoint-6" in str(err.value)
    assert str(err.value).endswith(
        "Use the saved values for an exact resume, or pass TrainingArguments("
        "resume_with_changes=True) to continue with the new ones (the learning-rate schedule is "
        "then rebuilt over the new number of steps)"
    )
    # the data count too
    trainer = mp.Trainer(
        _model(), _args(output_dir=str(tmp_path), scheduler="linear"), train_data=make_dataset(80)
    )
    with pytest.raises(ValueError, match="train_examples: 96 -> 80"):
        trainer.fit(resume_from="latest")


def test_resume_with_changes_uses_the_new_values(tmp_path):
    _half_run(tmp_path, scheduler="linear")
    lrs = []
    from modalprompt.core.callbacks import LambdaCallback

    trainer = mp.Trainer(
        _model(),
        _args(
            output_dir=str(tmp_path),
            scheduler="linear",
            max_epochs=4,
            lr=1e-3,
            resume_with_changes=True,
        ),
        train_data=make_dataset(),
        callbacks=[
            LambdaCallback(
                on_fit_start=lambda t: lrs.append(t.optimizer.param_groups[0]["lr"]),
                on_step_end=lambda t, _: lrs.append(t.optimizer.param_groups[0]["lr"]),
            )
        ],
    )
    with pytest.warns(UserWarning, match=r"changed training arguments.*rebuilt over 24 steps"):
        trainer.fit(resume_from="latest")
    assert trainer.state.global_step == 24 and len(lrs) == 1 + 18
    # step 7, the first after the resume, already runs at the new schedule's rate (not at the
    # checkpoint's 0.05 * (1 - 6 / 12))
    assert lrs.pop(0) == pytest.approx(1e-3 * (1 - 6 / 24))
    # the new lr, on a linear decay over the new total (not the old 12 steps, not the old lr)
    assert lrs[0] == pytest.approx(1e-3 * (1 - 7 / 24))
    assert all(lr > 0 for lr in lrs[:-1]) and lrs[-1] == pytest.approx(0.0)


def test_resume_with_another_optimizer_starts_its_state_afresh(tmp_path):
    _half_run(tmp_path, optimizer="sgd")
    trainer = mp.Trainer(
        _model(),
        _args(output_dir=str(tmp_path), optimizer="adamw", resume_with_changes=True),
        train_data=make_dataset(),
    )
    with pytest.warns(UserWarning, match="optimizer changed from 'sgd' to 'adamw'"):
        trainer.fit(resume_from="latest")
    assert trainer.state.global_step == 12


def test_resume_with_a_new_batch_size_keeps_the_position_in_examples(tmp_path):
    _half_run(tmp_path, stop=4, save_every=3)  # 3 batches of 16 in epoch 0 = 48 examples
    trainer = mp.Trainer(
        _model(),
        _args(output_dir=str(tmp_path), batch_size=8, resume_with_changes=True),
        train_data=make_dataset(),
    )
    with pytest.warns(UserWarning, match="batch_size: 16 -> 8"):
        trainer._start("latest")
    assert trainer.state.batch_in_epoch == 6 and trainer.state.global_step == 3


def test_resume_with_a_batch_size_that_does_not_divide_the_examples(tmp_path):
    _half_run(tmp_path, stop=4, save_every=3)  # 48 examples seen when step 3 was saved
    trainer = mp.Trainer(
        _model(),
        _args(output_dir=str(tmp_path), batch_size=10, resume_with_changes=True),
        train_data=make_dataset(),
    )
    with pytest.warns(UserWarning, match="batch_size: 16 -> 10"):
        trainer._start("latest")
    position = trainer.state.batch_in_epoch
    assert position == 4 and isinstance(position, int)  # 4 whole batches of 10, not 4.8


def test_resume_restores_the_best_state_and_its_metric(tmp_path):
    evaluation = make_dataset(32, seed=1)
    first = mp.Trainer(
        _model(),
        _args(output_dir=str(tmp_path)),
        train_data=make_dataset(),
        eval_data=evaluation,
        callbacks=[_stop_at(7)],
    )
    with pytest.raises(_Stop):
        first.fit()  # killed after epoch 0's evaluation and checkpoint (step 6)
    assert first.best_state is not None
    again = mp.Trainer(
        _model(), _args(output_dir=str(tmp_path)), train_data=make_dataset(), eval_data=evaluation
    )
    again._start("latest")
    assert again.best_state is not None and _equal(again.best_state, first.best_state)
    assert again.state.best_metric == first.state.best_metric
    assert again.state.best_step == first.state.best_step == 6


def test_a_finished_run_resumed_with_more_epochs_trains_them(tmp_path):
    model = _model()
    _fit(model, output_dir=str(tmp_path))
    before = _head(model)
    again = _model()
    with pytest.warns(UserWarning, match="max_epochs: 2 -> 3"):
        trainer = _fit(
            again, "latest", output_dir=str(tmp_path), max_epochs=3, resume_with_changes=True
        )
    assert trainer.state.global_step == 18 and trainer.state.finished
    assert not _equal(_head(again), before)


# ------------------------------------------------------------ 3. non-finite checkpoints
def test_a_checkpoint_with_inf_is_never_written_or_named(tmp_path):
    model = _model()
    model.register_buffer("stat", torch.zeros(2))  # part of the prompt state, like running_var
    calls = {"n": 0}

    def step_fn(batch):
        calls["n"] += 1
        if calls["n"] == 3:
            model.stat.fill_(float("inf"))
        return model.training_step(batch)

    trainer = mp.Trainer(
        model,
        _args(output_dir=str(tmp_path), save_every=2),
        train_data=make_dataset(),
        step_fn=step_fn,
    )
    with pytest.raises(
        NonFiniteLossError, match=r"model:stat.*checkpoint-4 was not written.*checkpoint-2"
    ):
        trainer.fit()
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-2"]
    assert all(
        torch.isfinite(v).all()
        for v in load_tensors(tmp_path / "checkpoint-2" / "model.safetensors").values()
    )


def test_a_diverging_run_names_only_a_finite_checkpoint(tmp_path):
    """The issue's case: SGD at lr 1e6 drives BatchNorm's running_var to inf before the loss."""
    trainer = mp.Trainer(
        _model("full_finetune"),
        _args(
            output_dir=str(tmp_path),
            optimizer="sgd",
            lr=1e6,
            max_grad_norm=None,
            save_every=1,
            save_total_limit=100,
        ),
        train_data=make_dataset(),
    )
    with pytest.raises(NonFiniteLossError, match=r"running_var.*last good checkpoint is") as err:
        trainer.fit()
    named = str(err.value).split("last good checkpoint is ")[1].split(". ")[0]
    for folder in tmp_path.glob("checkpoint-*"):
        state = load_tensors(folder / "model.safetensors")
        assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    assert (tmp_path / named.rsplit("/", 1)[1]).is_dir()


def test_nan_in_evaluation_data_is_an_error_naming_the_examples():
    data = make_dataset(20, seed=1)
    data.tensors[0][[3, 11]] = float("nan")
    trainer = mp.Trainer(_model(), _args(), train_data=make_dataset(), eval_data=data)
    with pytest.raises(ValueError, match=r"2 of 20 examples gave non-finite 'logits'.*\[3, 11\]"):
        trainer.evaluate()


# ------------------------------------------------------------ 5. corrupt checkpoints
def _saved(tmp_path):
    model = _model()
    model.save_pretrained(tmp_path / "m")
    return model, tmp_path / "m"


def test_a_flipped_byte_is_caught_by_the_manifest(tmp_path):
    _, folder = _saved(tmp_path)
    assert (folder / "manifest.json").is_file()
    weights = folder / "prompt.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=r"prompt\.safetensors: SHA-256 .* differs"):
        mp.PromptModel.from_pretrained(make_backbone(), folder)


def test_load_errors_name_the_file_and_what_was_expected(tmp_path):
    _, folder = _saved(tmp_path)
    (folder / "manifest.json").unlink()  # as an older version wrote it: no integrity check
    weights = folder / "prompt.safetensors"
    original = weights.read_bytes()
    weights.write_bytes(original[:-7])
    with pytest.warns(UserWarning, match="no manifest.json"):
        with pytest.raises(CorruptFileError, match=r"prompt\.safetensors: not a readable"):
            mp.PromptModel.from_pretrained(make_backbone(), folder)
    weights.write_bytes(original)
    warnings.simplefilter("ignore")
    (folder / "config.json").write_text("[1]")
    with pytest.raises(CorruptFileError, match=r"config\.json: expected a JSON object"):
        mp.PromptModel.from_pretrained(make_backbone(), folder)
    (folder / "config.json").write_text("{\n  'method': 1")
    with pytest.raises(CorruptFileError, match=r"config\.json: not valid JSON \(line 2"):
        mp.PromptModel.from_pretrained(make_backbone(), folder)
    _saved(tmp_path)
    (folder / "manifest.json").unlink()
    (folder / "backbone_fingerprint.json").write_text("{}")
    with pytest.raises(CorruptFileError, match=r"backbone_fingerprint\.json: expected .*'tensors'"):
        mp.PromptModel.from_pretrained(make_backbone(), folder)


def test_a_config_or_state_that_does_not_fit_names_its_file(tmp_path):
    from modalprompt.core.io import atomic_save_tensors, write_manifest

    model, folder = _saved(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "num_tokens": 3}))
    write_manifest(folder)  # consistent files, wrong content
    with pytest.raises(CorruptFileError, match=r"config\.json: .*unknown key.*num_tokens"):
        mp.PromptModel.from_pretrained(make_backbone(), folder)
    (folder / "config.json").write_text(json.dumps(config))
    atomic_save_tensors(
        folder / "prompt.safetensors", {**model.prompt_state_dict(), "x": torch.ones(1)}
    )
    write_manifest(folder)
    with pytest.raises(CorruptFileError, match=r"prompt\.safetensors: .*unexpected keys \['x'\]"):
        mp.PromptModel.from_pretrained(make_backbone(), folder)


def test_latest_skips_a_corrupt_newest_checkpoint(tmp_path):
    _fit(_model(), output_dir=str(tmp_path), save_every=2, save_total_limit=3, max_steps=6)
    (tmp_path / "checkpoint-6" / "model.safetensors").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match=r"skipping checkpoint .*checkpoint-6.*model\.safetensors"):
        assert latest_checkpoint(tmp_path) == tmp_path / "checkpoint-4"
    trainer = mp.Trainer(
        _model(),
        _args(output_dir=str(tmp_path), save_every=2, save_total_limit=3, max_steps=6),
        train_data=make_dataset(),
    )
    with pytest.warns(UserWarning, match="skipping"):
        trainer._start("latest")
    assert trainer.state.global_step == 4
    with pytest.raises(CorruptFileError, match="checkpoint-6"):
        mp.Trainer(
            _model(),
            _args(max_steps=6, save_every=2, save_total_limit=3, output_dir=str(tmp_path)),
            train_data=make_dataset(),
        )._start(tmp_path / "checkpoint-6")


def test_latest_uses_the_previous_version_of_a_checkpoint_whose_save_was_interrupted(tmp_path):
    _fit(_model(), output_dir=str(tmp_path), save_every=2, save_total_limit=3, max_steps=6)
    # killed while re-saving checkpoint-6: the old version was moved aside, the new one is not in
    (tmp_path / "checkpoint-6").rename(tmp_path / ".checkpoint-6.old")
    with pytest.warns(
        UserWarning,
        match=r"using .*\.checkpoint-6\.old: a save of checkpoint-6 was interrupted after moving "
        r"this previous version aside",
    ):
        assert latest_checkpoint(tmp_path) == tmp_path / ".checkpoint-6.old"
    trainer = mp.Trainer(
        _model(),
        _args(output_dir=str(tmp_path), save_every=2, save_total_limit=3, max_steps=6),
        train_data=make_dataset(),
    )
    with pytest.warns(UserWarning, match="interrupted"):
        trainer._start("latest")
    assert trainer.state.global_step == 6


def test_a_save_killed_between_its_renames_is_recovered(tmp_path, monkeypatch):
    model, folder = _saved(tmp_path)
    import modalprompt.core.io as io

    real, calls = io.os.replace, {"n": 0}

    def dies_on_the_second_rename(src, dst):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the process dies after moving the old folder aside
        return real(src, dst)

    monkeypatch.setattr(io.os, "replace", dies_on_the_second_rename)
    with pytest.raises(KeyboardInterrupt):
        io.replace_dir_atomically(io.make_staging_dir(folder), folder)
    monkeypatch.undo()
    assert not folder.exists() and (tmp_path / ".m.old").is_dir()
    with pytest.warns(UserWarning, match=r"m is missing.*\.m\.old"):
        loaded = mp.PromptModel.from_pretrained(make_backbone(), folder)
    assert _equal(_head(loaded), _head(model))
    model.save_pretrained(folder)  # the next save puts the previous version back first
    assert folder.is_dir() and not (tmp_path / ".m.old").exists()


# ------------------------------------------------------------ 7. warmup longer than the run
def test_warmup_longer_than_the_run_is_refused_with_the_numbers():
    with pytest.raises(ValueError, match=r"warmup_steps: got 500.*only 12 optimizer steps"):
        mp.Trainer(_model(), _args(warmup_steps=500), train_data=make_dataset())


# ------------------------------------------------------------ 9. checkpoints by default
def test_default_arguments_checkpoint_every_epoch_so_a_killed_run_resumes(tmp_path):
    reference = _model()
    _fit(reference, output_dir=str(tmp_path / "full"), max_epochs=3)
    with pytest.raises(_Stop):
        mp.Trainer(
            _model(),
            _args(output_dir=str(tmp_path / "run"), max_epochs=3),
            train_data=make_dataset(),
            callbacks=[_stop_at(9)],
        ).fit()
    assert sorted(p.name for p in (tmp_path / "run").glob("checkpoint-*")) == ["checkpoint-6"]
    resumed = _model()
    trainer = _fit(resumed, "latest", output_dir=str(tmp_path / "run"), max_epochs=3)
    assert trainer.state.global_step == 18 and _equal(_head(resumed), _head(reference))


def test_metrics_log_holds_each_step_once_across_a_kill_and_a_new_run(tmp_path):
    with pytest.raises(_Stop):
        mp.Trainer(
            _model(),
            _args(output_dir=str(tmp_path), log_every=1),
            train_data=make_dataset(),
            eval_data=make_dataset(20, seed=1),
            callbacks=[_stop_at(9)],
        ).fit()
    trainer = mp.Trainer(
        _model(),
        _args(output_dir=str(tmp_path), log_every=1),
        train_data=make_dataset(),
        eval_data=make_dataset(20, seed=1),
    )
    trainer.fit(resume_from="latest")
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["split"] == "train"] == list(range(1, 13))
    assert [r["step"] for r in records if r["split"] == "eval"] == [6, 12]
    with pytest.warns(UserWarning, match="deleted another run"):
        _fit(_model(), output_dir=str(tmp_path), overwrite_output_dir=True, log_every=1)
    assert (tmp_path / "metrics.previous-1.jsonl").read_text().count("\n") == len(records)
    assert (tmp_path / "metrics.jsonl").read_text().count('"train"') == 12


def test_save_every_zero_writes_no_checkpoint_but_the_model(tmp_path):
    _fit(_model(), output_dir=str(tmp_path), save_every=0)
    assert not list(tmp_path.glob("checkpoint-*"))
    assert (tmp_path / "model" / "manifest.json").is_file()


def test_nothing_to_resume_from_says_so(tmp_path):
    with pytest.warns(UserWarning, match="nothing to resume from"):
        trainer = _fit(_model(), "latest", output_dir=str(tmp_path))
    assert trainer.state.global_step == 12


def test_resuming_a_finished_run_does_not_retrain(tmp_path):
    model = _model()
    _fit(model, output_dir=str(tmp_path))
    again = _model(seed=0)
    with pytest.warns(
        UserWarning,
        match=r"finished run \(step 12\); nothing is left to train\. To train further, raise "
        r"max_epochs or max_steps and pass resume_with_changes=True$",
    ):
        trainer = _fit(again, "latest", output_dir=str(tmp_path))
    assert trainer.state.global_step == 12 and _equal(_head(again), _head(model))


# ------------------------------------------------------------ 10. the caller's RNG
def test_fit_leaves_the_callers_random_generators_as_they_were():
    model = _model()  # (make_backbone seeds torch itself)
    torch.manual_seed(1234)
    random.seed(5)
    np.random.seed(6)
    expected = (torch.rand(3), random.random(), np.random.rand())
    torch.manual_seed(1234)
    random.seed(5)
    np.random.seed(6)
    _fit(model, max_epochs=1)
    assert torch.equal(torch.rand(3), expected[0])
    assert (random.random(), np.random.rand()) == expected[1:]


# ------------------------------------------------------------ 4. config.seed seeds new parts
def test_config_seed_alone_decides_the_new_parameters():
    config = mp.get_config("linear_probe", num_classes=3, seed=7)
    backbones = [make_backbone() for _ in range(3)]
    torch.manual_seed(1)
    a = _head(mp.get_prompt_model(backbones[0], config))
    torch.manual_seed(2)
    state = torch.get_rng_state()
    b = _head(mp.get_prompt_model(backbones[1], config))
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG is left alone
    assert _equal(a, b)
    c = _head(mp.get_prompt_model(backbones[2], config.replace(seed=8)))
    assert not _equal(a, c)


# ------------------------------------------------------------ issue 22: trainer guards
def test_clipping_covers_every_parameter_group():
    model = _model("full_finetune", backbone_lr_scale=1.0)
    trainer = mp.Trainer(
        model,
        _args(
            max_steps=1, optimizer="sgd", momentum=0.0, lr=1.0, max_grad_norm=1e-3, shuffle=False
        ),
        train_data=make_dataset(),
    )
    assert len(trainer.optimizer.param_groups) == 2
    before = [p.detach().clone() for p in model.trainable_parameters()]
    trainer.fit()
    delta = torch.cat(
        [(p.detach() - b).flatten() for p, b in zip(model.trainable_parameters(), before)]
    )
    assert delta.norm().item() == pytest.approx(1e-3, rel=1e-3)


def test_an_inf_gradient_with_a_finite_loss_stops_training():
    model = _model("full_finetune")
    calls = {"n": 0}
    param = model.backbone.linear.weight

    def step_fn(batch):
        calls["n"] += 1
        out = model.training_step(batch)
        if calls["n"] == 3:
            param.register_hook(lambda g: torch.full_like(g, float("inf")))
        return out

    trainer = mp.Trainer(model, _args(), train_data=make_dataset(), step_fn=step_fn)
    with pytest.raises(NonFiniteLossError, match="gradient norm is inf at step 3"):
        trainer.fit()
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_trainer_state_dict_round_trips_what_a_phase_checkpoint_needs(tmp_path):
    evaluation = make_dataset(32, seed=1)
    first = mp.Trainer(
        _model(), _args(output_dir=str(tmp_path)), train_data=make_dataset(), eval_data=evaluation
    )
    first.fit()
    first.should_stop = True
    state = first.state_dict()
    second = mp.Trainer(_model(), _args(), train_data=make_dataset(), eval_data=evaluation)
    second.load_state_dict(state)
    assert second.should_stop is True and second.run_id == first.run_id is not None
    assert second.state == first.state and second._window == first._window
    assert second.best_state is not None and _equal(second.best_state, first.best_state)
    assert second._started and second.scheduler.state_dict() == first.scheduler.state_dict()
