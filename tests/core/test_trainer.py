import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

import modalprompt as mp
from modalprompt.core.io import load_tensors
from modalprompt.core.optim import schedule_factor
from modalprompt.core.trainer import NonFiniteLossError

from ._tiny import make_backbone, make_dataset

SCRIPT = Path(__file__).with_name("_train_script.py")
REPO = Path(__file__).resolve().parents[2]


def _model(method="linear_probe", seed=0, **overrides):
    return mp.get_prompt_model(
        make_backbone(seed), mp.get_config(method, num_classes=3, **overrides)
    )


def _args(**kw):
    base = dict(max_epochs=3, batch_size=16, lr=0.05, verbose=False, tensorboard=False)
    return mp.TrainingArguments(**{**base, **kw})


def test_training_learns_and_writes_metrics(tmp_path):
    model = _model()
    trainer = mp.Trainer(
        model,
        _args(output_dir=str(tmp_path), max_epochs=8, log_every=2),
        train_data=make_dataset(),
        eval_data=make_dataset(60, seed=1),
    )
    before = trainer.evaluate()["accuracy"]
    state = trainer.fit()
    assert state.global_step == 8 * 6 and state.epoch == 8
    assert trainer.evaluate()["accuracy"] > max(before + 0.3, 0.6)
    lines = [json.loads(l) for l in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in lines if r["split"] == "eval"]
    trains = [r for r in lines if r["split"] == "train"]
    assert [r["epoch"] for r in evals] == list(range(1, 9))
    assert len(trains) == 24 and all(math.isfinite(r["loss"]) for r in trains)
    assert (tmp_path / "model" / "prompt.safetensors").is_file()


def test_two_runs_with_one_seed_are_bitwise_equal():
    results = []
    for _ in range(2):
        model = _model("full_finetune", dropout=0.3)
        mp.Trainer(model, _args(), train_data=make_dataset()).fit()
        results.append({k: v.clone() for k, v in model.state_dict().items()})
    assert all(torch.equal(results[0][k], results[1][k]) for k in results[0])


def test_per_group_learning_rates_and_schedules():
    model = _model("full_finetune", backbone_lr_scale=0.1)
    trainer = mp.Trainer(
        model,
        _args(lr=1.0, scheduler="linear", warmup_steps=2, max_steps=10),
        train_data=make_dataset(),
    )
    lrs = {g["name"]: g["lr"] for g in trainer.optimizer.param_groups}
    assert lrs == pytest.approx({"head": 1 / 3, "backbone": 0.1 / 3})
    assert schedule_factor(0, 10, 2, "linear") == pytest.approx(1 / 3)
    assert schedule_factor(2, 10, 2, "linear") == pytest.approx(1.0)
    assert schedule_factor(6, 10, 2, "linear") == pytest.approx(0.5)
    assert schedule_factor(6, 10, 2, "cosine") == pytest.approx(0.5)
    assert schedule_factor(4, 10, 2, "cosine") == pytest.approx(0.5 * (1 + math.cos(math.pi / 4)))
    trainer.fit()
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.0)


def test_gradient_accumulation_equals_a_big_batch():
    finals = []
    for batch_size, accumulation in ((16, 1), (8, 2)):
        model = _model()
        args = _args(
            batch_size=batch_size,
            grad_accumulation_steps=accumulation,
            max_epochs=2,
            shuffle=False,
            optimizer="sgd",
            momentum=0.0,
            max_grad_norm=None,
        )
        trainer = mp.Trainer(model, args, train_data=make_dataset(64))
        trainer.fit()
        assert trainer.state.global_step == 8
        finals.append(model.head[1].weight.detach().clone())
    torch.testing.assert_close(finals[0], finals[1], rtol=1e-5, atol=1e-6)


def test_gradient_clipping_bounds_the_update():
    model = _model()
    trainer = mp.Trainer(
        model,
        _args(
            max_steps=1, optimizer="sgd", momentum=0.0, lr=1.0, max_grad_norm=1e-3, shuffle=False
        ),
        train_data=make_dataset(),
    )
    before = [p.detach().clone() for p in model.trainable_parameters()]
    trainer.fit()
    delta = torch.cat(
        [(p.detach() - b).flatten() for p, b in zip(model.trainable_parameters(), before)]
    )
    assert delta.norm().item() == pytest.approx(1e-3, rel=1e-3)


def test_early_stopping_and_restore_best(tmp_path):
    model = _model()
    scores = iter([0.5, 0.9, 0.6, 0.7, 0.8, 0.95])
    snapshots = {}

    def metrics_fn(outputs):
        return {"accuracy": next(scores)}

    def remember(trainer, metrics):
        snapshots[trainer.state.global_step] = model.head[1].weight.detach().clone()

    from modalprompt.core.callbacks import LambdaCallback

    trainer = mp.Trainer(
        model,
        _args(max_epochs=10, early_stopping_patience=3),
        train_data=make_dataset(),
        eval_data=make_dataset(20),
        metrics_fn=metrics_fn,
        callbacks=[LambdaCallback(on_evaluate=remember)],
    )
    state = trainer.fit()
    assert state.epoch == 5 and state.best_metric == 0.9 and state.best_step == 12
    assert torch.equal(model.head[1].weight, snapshots[12])


def test_non_finite_loss_stops_with_a_clear_error_and_keeps_the_checkpoint(tmp_path):
    model = _model()
    calls = {"n": 0}

    def step_fn(batch):
        calls["n"] += 1
        loss = model.training_step(batch)["loss"]
        return {"loss": loss * (float("nan") if calls["n"] == 5 else 1.0)}

    trainer = mp.Trainer(
        model,
        _args(output_dir=str(tmp_path), save_every=2),
        train_data=make_dataset(),
        step_fn=step_fn,
    )
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at step 5.*checkpoint-4"):
        trainer.fit()
    saved = load_tensors(tmp_path / "checkpoint-4" / "model.safetensors")
    assert all(torch.isfinite(v).all() for v in saved.values())


def test_evaluation_needs_a_known_metric():
    trainer = mp.Trainer(
        _model(), _args(metric="auroc"), train_data=make_dataset(), eval_data=make_dataset(10)
    )
    with pytest.raises(KeyError, match="auroc"):
        trainer.fit()


def test_bad_inputs_are_explained():
    with pytest.raises(ValueError, match="batch_size"):
        mp.TrainingArguments(batch_size=0)
    with pytest.raises(ValueError, match="scheduler"):
        mp.TrainingArguments(scheduler="step")
    frozen = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        mp.Trainer(frozen, _args(), train_data=make_dataset(), step_fn=lambda b: {})
    with pytest.raises(ValueError, match="empty"):
        mp.Trainer(_model(), _args(), train_data=make_dataset(0))


def test_dataloader_input_reuses_its_collate_fn():
    seen = []

    def collate(items):
        seen.append(len(items))
        return torch.stack([x for x, _ in items]), torch.stack([y for _, y in items])

    loader = DataLoader(make_dataset(40), batch_size=16, collate_fn=collate)
    mp.Trainer(_model(), _args(batch_size=16, max_epochs=1), train_data=loader).fit()
    assert seen == [16, 16, 8]


def test_phases_compose_with_train_steps():
    model = _model("full_finetune")
    head = mp.Trainer(
        model,
        _args(),
        train_data=make_dataset(),
        param_groups=[{"params": model.head.parameters()}],
    )
    body = mp.Trainer(
        model,
        _args(),
        train_data=make_dataset(),
        param_groups=[{"params": model.backbone.parameters()}],
    )
    backbone_before = model.backbone.linear.weight.detach().clone()
    head.train_steps(3)
    assert torch.equal(model.backbone.linear.weight, backbone_before)
    body.train_steps(2)
    assert not torch.equal(model.backbone.linear.weight, backbone_before)
    head.train_steps(10)  # crosses the epoch boundary (6 batches per epoch)
    assert head.state.global_step == 13 and head.state.epoch == 2 and body.state.global_step == 2


def _run_script(*args, env=None):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_parameters(tmp_path):
    full = _run_script(tmp_path / "full", tmp_path / "full.safetensors")
    assert full.returncode == 0, full.stderr
    killed = _run_script(tmp_path / "run", tmp_path / "never.safetensors", "--kill-at", 7)
    assert killed.returncode == 17, killed.stderr
    assert sorted(p.name for p in (tmp_path / "run").glob("checkpoint-*")) == ["checkpoint-4"]
    resumed = _run_script(tmp_path / "run", tmp_path / "resumed.safetensors", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a, b = (
        load_tensors(tmp_path / "full.safetensors"),
        load_tensors(tmp_path / "resumed.safetensors"),
    )
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
    # the restored best state came through the resume too: both runs end on the same best
    state = json.loads(next((tmp_path / "run").glob("checkpoint-*/trainer_state.json")).read_text())
    full_state = json.loads(
        next((tmp_path / "full").glob("checkpoint-*/trainer_state.json")).read_text()
    )
    assert state["state"] == full_state["state"]


@pytest.mark.slow
def test_ddp_with_two_gloo_processes_trains_and_saves_once(tmp_path):
    from tests._subprocess import run_torchrun

    result = run_torchrun(SCRIPT, tmp_path / "ddp", tmp_path / "ddp.safetensors")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert (
        "rank 0 finished at step 12" in result.stdout
        and "rank 1 finished at step 12" in result.stdout
    )
    lines = (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()
    evals = [json.loads(l) for l in lines if '"eval"' in l]
    assert [e["epoch"] for e in evals] == [1, 2, 3, 4]  # logged once, by rank 0 only
    assert (tmp_path / "ddp" / "model" / "prompt.safetensors").is_file()
    assert sorted(p.name for p in (tmp_path / "ddp").glob("checkpoint-*")) == [
        "checkpoint-12",
        "checkpoint-8",
    ]
    rank0 = load_tensors(tmp_path / "ddp.safetensors.rank0")
    rank1 = load_tensors(tmp_path / "ddp.safetensors.rank1")
    # gradients were synchronised: parameters agree (BatchNorm running statistics are per-rank
    # between DDP's buffer broadcasts, as in any DDP run without SyncBatchNorm)
    params = [n for n, _ in _model("full_finetune").named_parameters()]
    assert all(torch.equal(rank0[k], rank1[k]) for k in params)
    initial = _model("full_finetune").state_dict()
    assert not torch.equal(rank0["head.1.weight"], initial["head.1.weight"])


def test_mixed_precision_is_a_no_op_on_cpu():
    finals = []
    for precision in ("no", "bf16"):
        model = _model()
        mp.Trainer(model, _args(precision=precision), train_data=make_dataset()).fit()
        finals.append(model.head[1].weight.detach().clone())
    assert torch.equal(finals[0], finals[1])


def test_tensorboard_logging_when_installed(tmp_path):
    pytest.importorskip("tensorboard")
    args = _args(output_dir=str(tmp_path), tensorboard=True, max_epochs=1, log_every=1)
    mp.Trainer(_model(), args, train_data=make_dataset(), eval_data=make_dataset(20)).fit()
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_verbose_training_off_a_terminal_prints_throttled_progress_lines(capsys, monkeypatch):
    from modalprompt.core import callbacks

    clock = iter(range(0, 100_000, 4))  # every call to the clock advances 4 s
    monkeypatch.setattr(callbacks.time, "monotonic", lambda: next(clock))
    trainer = mp.Trainer(
        _model(), _args(verbose=True, eval_strategy="no"), train_data=make_dataset()
    )
    trainer.fit()
    lines = [l for l in capsys.readouterr().err.splitlines() if l.startswith("[train] step")]
    total = trainer.total_steps
    assert lines and all(f"/{total} (" in line for line in lines)  # loss: when logged
    assert len(lines) < total  # throttled: not one per step


def test_metrics_logger_writes_sorted_json_lines_and_scalars_to_its_writer(tmp_path):
    """The TensorBoard path with a recording writer (tensorboard itself is optional)."""
    from modalprompt.core.callbacks import MetricsLogger

    class RecordingWriter:
        def __init__(self):
            self.scalars, self.flushed = [], 0

        def add_scalar(self, tag, value, step):
            self.scalars.append((tag, value, step))

        def flush(self):
            self.flushed += 1

    logger = MetricsLogger(tmp_path, tensorboard=False)
    logger.writer = RecordingWriter()
    logger._write({"step": 3, "split": "train", "loss": 0.5, "lr": 0.1, "note": "x"})
    logger._write({"split": "eval", "step": 4, "epoch": 1, "accuracy": 0.75})
    logger._on_fit_end(None)
    lines = (tmp_path / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines == [
        '{"loss": 0.5, "lr": 0.1, "note": "x", "split": "train", "step": 3}',
        '{"accuracy": 0.75, "epoch": 1, "split": "eval", "step": 4}',
    ]
    assert logger.writer.scalars == [
        ("train/loss", 0.5, 3),
        ("train/lr", 0.1, 3),
        ("eval/accuracy", 0.75, 4),
    ]  # not the step, the epoch or text
    assert logger.writer.flushed == 1


def test_lambda_callback_accepts_every_hook_and_names_an_unknown_one():
    from modalprompt.core.callbacks import LambdaCallback

    seen = []
    hooks = {
        "on_fit_start": lambda t: seen.append("fit_start"),
        "on_step_end": lambda t, logs: seen.append("step_end"),
        "on_evaluate": lambda t, m: seen.append("evaluate"),
        "on_epoch_end": lambda t: seen.append("epoch_end"),
        "on_fit_end": lambda t: seen.append("fit_end"),
    }
    callback = LambdaCallback(**hooks)
    callback.on_fit_start(None)
    callback.on_step_end(None, {})
    callback.on_evaluate(None, {})
    callback.on_epoch_end(None)
    callback.on_fit_end(None)
    assert seen == ["fit_start", "step_end", "evaluate", "epoch_end", "fit_end"]
    with pytest.raises(
        ValueError, match=r"unknown hook\(s\) \['on_step'\]; valid: \['on_epoch_end'"
    ):
        LambdaCallback(on_step=lambda t, logs: None)


@pytest.mark.parametrize(
    ("strategy", "every", "evaluated_at"),
    [("steps", 4, [4, 8, 12, 16]), ("epoch", 2, [12]), ("epoch", 1, [6, 12, 18]), ("no", 1, [])],
)
def test_evaluation_happens_exactly_where_the_strategy_says(strategy, every, evaluated_at):
    """96 examples, batch 16: 6 steps per epoch, 3 epochs = 18 steps."""
    from modalprompt.core.callbacks import LambdaCallback

    steps = []
    trainer = mp.Trainer(
        _model(),
        _args(eval_strategy=strategy, eval_every=every),
        train_data=make_dataset(),
        eval_data=make_dataset(30, seed=1),
        callbacks=[LambdaCallback(on_evaluate=lambda t, m: steps.append(t.state.global_step))],
    )
    trainer.fit()
    assert trainer.state.global_step == 18
    assert steps == evaluated_at
