"""The core phase runner: plans, rows tagged with the phase, checkpoints, exact resume after a
crash inside a phase, the NaN guard, and the state serialisation it relies on."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from modalprompt.core.phases import ModuleState, Phase, PhaseRunner, Repeat, ValueState
from modalprompt.core.state_tree import GeneratorState, join_tensors, split_tensors
from modalprompt.core.trainer import NonFiniteLossError


class Crash(RuntimeError):
    pass


class TwoStage:
    """A 'fit' stage with its own Adam (draws data from the global RNG and a generator), then
    a bookkeeping stage; repeated three rounds after a warm-up."""

    def __init__(self, crash_at: int | None = None, nan_at: int | None = None) -> None:
        torch.manual_seed(0)
        self.model = nn.Linear(3, 1)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=0.05)
        self.generator = torch.Generator().manual_seed(1)
        self.book = ValueState({"rounds": []})
        self.calls, self.crash_at, self.nan_at = 0, crash_at, nan_at

    def fit_step(self, _: int) -> dict[str, torch.Tensor]:
        self.calls += 1
        if self.calls == self.crash_at:
            raise Crash
        if self.calls == self.nan_at:
            return {"loss": torch.tensor(float("nan"))}
        x = torch.randn(8, 3)  # global RNG
        noise = torch.randn(8, 1, generator=self.generator)
        loss = (self.model(x) - (x.sum(1, keepdim=True) + 0.1 * noise)).pow(2).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach()}

    def summary(self, round_: int) -> dict[str, float]:
        value = float(self.model.weight.detach().sum())
        self.book.value["rounds"].append(value)
        return {"weight_sum": value}

    def plan(self) -> list:
        return [
            Phase("warmup", self.fit_step, lambda r: range(2)),
            Repeat(
                3,
                [
                    Phase("fit", self.fit_step, lambda r: range(3)),
                    Phase("summary", lambda _: None, lambda r: [], end=self.summary),
                ],
            ),
        ]

    def runner(self, out, **kw) -> PhaseRunner:
        state = {
            "model": ModuleState(self.model),
            "optimizer": self.optimizer,
            "generator": GeneratorState(self.generator),
            "book": self.book,
        }
        return PhaseRunner(self.plan(), state=state, output_dir=out, seed=7, **kw)


def _rows(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]


def test_rows_are_tagged_with_phase_and_round(tmp_path):
    job = TwoStage()
    rows = job.runner(tmp_path).run()
    assert [(r["phase"], r["round"]) for r in rows if "weight_sum" in r] == [
        ("summary", 0),
        ("summary", 1),
        ("summary", 2),
    ]
    assert [r["step"] for r in rows if r["phase"] == "fit" and r["round"] == 1] == [1, 2, 3]
    assert _rows(tmp_path) == json.loads(json.dumps(rows))
    saved = sorted(p.name for p in (tmp_path / "phase_checkpoints").iterdir())
    assert saved == ["checkpoint-6", "checkpoint-7"]  # 7 phases; the newest two are kept


@pytest.mark.parametrize("crash_at", [1, 4, 6, 11])  # warm-up, fit of round 0/1, last fit step
def test_crash_inside_a_phase_resumes_to_the_uninterrupted_end(tmp_path, crash_at):
    whole = TwoStage()
    whole.runner(tmp_path / "whole").run()
    broken = TwoStage(crash_at=crash_at)
    with pytest.raises(Crash):
        broken.runner(tmp_path / "broken").run()
    torch.manual_seed(123)  # the resume must not depend on the caller's RNG
    resumed = TwoStage()  # a fresh process's objects
    resumed.runner(tmp_path / "broken").run(resume_from="latest")
    for a, b in zip(whole.model.parameters(), resumed.model.parameters()):
        assert torch.equal(a, b)
    assert resumed.book.value == whole.book.value
    assert _rows(tmp_path / "broken") == _rows(tmp_path / "whole")  # no row twice


def test_resuming_a_finished_run_runs_nothing(tmp_path):
    TwoStage().runner(tmp_path).run()
    again = TwoStage(crash_at=1)  # would raise if any step ran
    with pytest.warns(UserWarning, match="nothing is left"):
        assert again.runner(tmp_path).run(resume_from="latest") == []


def test_non_finite_step_output_stops_naming_phase_round_and_last_checkpoint(tmp_path):
    job = TwoStage(nan_at=6)  # the 4th fit step: round 1, step 1
    with pytest.raises(
        NonFiniteLossError, match=r"phase 'fit' \(round 1, step 1\): loss=nan.*checkpoint-3"
    ):
        job.runner(tmp_path).run()


def test_a_non_finite_phase_end_summary_is_named_and_refused_in_full():
    """The phase's ``end`` summary is guarded too, and named as the round's end."""
    job = TwoStage()
    job.summary = lambda round_: {"weight_sum": float("inf"), "rounds": 1, "gap": float("nan")}
    with pytest.raises(NonFiniteLossError) as err:
        job.runner(None).run()
    assert str(err.value) == (
        "phase 'summary' (round 0, end): weight_sum=inf, gap=nan; training stopped. Lower the "
        "learning "
        "rate, enable clipping or check the data for NaN/inf"
    )


def test_changed_plan_or_state_is_refused_on_resume(tmp_path):
    broken = TwoStage(crash_at=6)
    with pytest.raises(Crash):
        broken.runner(tmp_path).run()
    other = TwoStage()
    plan = other.plan()
    plan[1] = Repeat(4, plan[1].phases)
    runner = PhaseRunner(plan, state=other.runner(None).state, output_dir=tmp_path)
    with pytest.raises(ValueError, match="plan differs"):
        runner.run(resume_from="latest")
    fewer = TwoStage().runner(tmp_path)
    del fewer.state["book"]
    with pytest.raises(ValueError, match="holds state"):
        fewer.run(resume_from="latest")


def test_a_changed_plan_names_its_first_difference(tmp_path):
    broken = TwoStage(crash_at=6)
    with pytest.raises(Crash):
        broken.runner(tmp_path).run()

    def resume_with(plan):
        runner = PhaseRunner(plan, state=TwoStage().runner(None).state, output_dir=tmp_path)
        with pytest.raises(ValueError, match="plan differs") as err:
            runner.run(resume_from="latest")
        return str(err.value)

    plan = TwoStage().plan()
    plan[1] = Repeat(4, plan[1].phases)  # longer: the saved plan has no phase 7
    assert "(7 phases saved, 9 now; first difference at phase 7: (none) saved vs fit@3 now)" in (
        resume_with(plan)
    )
    plan = TwoStage().plan()
    plan[1] = Repeat(2, plan[1].phases)  # shorter
    assert "(7 phases saved, 5 now; first difference at phase 5: fit@2 saved vs (none) now)" in (
        resume_with(plan)
    )
    plan = TwoStage().plan()
    plan[0] = Phase("warm", plan[0].step, plan[0].batches)  # renamed: same length
    assert "first difference at phase 0: warmup@0 saved vs warm@0 now" in resume_with(plan)


def test_state_the_checkpoint_lacks_is_refused(tmp_path):
    broken = TwoStage(crash_at=6)
    with pytest.raises(Crash):
        broken.runner(tmp_path).run()
    more = TwoStage().runner(tmp_path)
    more.state["extra"] = ValueState({"n": 0})
    with pytest.raises(ValueError, match=r"holds state \['book', .*this run has .*'extra'"):
        more.run(resume_from="latest")


def test_a_resumed_run_keeps_its_run_id(tmp_path):
    broken = TwoStage(crash_at=6)
    first = broken.runner(tmp_path)
    with pytest.raises(Crash):
        first.run()
    resumed = TwoStage().runner(tmp_path)
    resumed.run(resume_from="latest")
    assert resumed.run_id == first.run_id and len(first.run_id) == 12


def test_a_state_with_nan_is_never_checkpointed(tmp_path):
    job = TwoStage()
    runner = job.runner(tmp_path)
    first = runner.save_checkpoint()
    with torch.no_grad():
        job.model.weight[0, 1] = float("nan")
    with pytest.raises(
        NonFiniteLossError,
        match=r"NaN/inf in 1 tensor\(s\) of the state after 0 phases \(/model/weight#\d+\); "
        r"the checkpoint was not written; the last good checkpoint is .*checkpoint-0",
    ):
        runner.save_checkpoint()
    assert sorted(p.name for p in first.parent.iterdir()) == ["checkpoint-0"]
    with pytest.raises(ValueError, match="save_checkpoint needs output_dir"):
        TwoStage().runner(None).save_checkpoint()


def test_new_run_refuses_a_used_folder_unless_overwriting(tmp_path):
    TwoStage().runner(tmp_path).run()
    with pytest.raises(ValueError) as err:
        TwoStage().runner(tmp_path).run()
    names = ", ".join(f"checkpoint-{k}" for k in (6, 7))  # the run kept its last two
    assert str(err.value) == (
        f"output_dir: {tmp_path} already holds checkpoints of a run ({names} in "
        "phase_checkpoints/); continue it with resume_from='latest', pass "
        "overwrite_output_dir=True to delete them, or choose another output_dir"
    )
    TwoStage().runner(tmp_path, overwrite_output_dir=True).run()
    assert (tmp_path / "metrics.previous-1.jsonl").is_file()
    first = (tmp_path / "metrics.previous-1.jsonl").read_text()
    TwoStage().runner(tmp_path, overwrite_output_dir=True).run()  # a third run: nothing lost
    assert sorted(p.name for p in tmp_path.glob("metrics*.jsonl")) == [
        "metrics.jsonl",
        "metrics.previous-1.jsonl",
        "metrics.previous-2.jsonl",
    ]
    assert (tmp_path / "metrics.previous-1.jsonl").read_text() == first


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match=r"state\['net'\].*ModuleState"):
        PhaseRunner([], state={"net": object()})
    with pytest.raises(ValueError, match="Repeat.times"):
        Repeat(-1, [Phase("a", lambda b: None, lambda r: [])])
    with pytest.raises(ValueError, match="Phase.name"):
        Phase("", lambda b: None, lambda r: [])
    with pytest.raises(ValueError, match="log_every"):
        PhaseRunner([], state={}, log_every=0)
    with pytest.raises(ValueError, match="needs output_dir"):
        PhaseRunner([], state={}).run(resume_from="latest")


def test_state_tree_round_trips_optimizer_state_and_numpy():
    net = nn.Linear(2, 2)
    opt = torch.optim.Adam(net.parameters(), betas=(0.8, 0.9))
    net(torch.ones(1, 2)).sum().backward()
    opt.step()
    tree = {
        "opt": opt.state_dict(),
        "stats": {"mean": np.array(0.5), "count": np.float64(3.0)},
        "pair": (1, "a"),
        "none": None,
    }
    value, tensors = split_tensors(tree)
    back = join_tensors(json.loads(json.dumps(value)), tensors)
    assert back["pair"] == (1, "a") and back["none"] is None
    assert back["stats"]["count"] == 3.0 and back["stats"]["mean"] == np.array(0.5)
    assert back["opt"]["param_groups"][0]["betas"] == (0.8, 0.9)
    fresh = torch.optim.Adam(nn.Linear(2, 2).parameters())
    fresh.load_state_dict(back["opt"])
    restored, original = fresh.state_dict()["state"], opt.state_dict()["state"]
    assert restored.keys() == original.keys() == {0, 1}
    for key in (0, 1):
        for name in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(restored[key][name], original[key][name])
    with pytest.raises(TypeError, match="state at /bad"):
        split_tensors({"bad": object()})


def test_epoch_loss_weighted_means_per_epoch_and_its_state_round_trips():
    from modalprompt.core.phases import EpochLoss

    book = EpochLoss()
    book.start()
    book.add(1.0, weight=3)
    book.add(5.0, weight=1)
    assert book.weight == 4 and book.finish() == 2.0  # (3 * 1 + 5) / 4, not (1 + 5) / 2
    book.start()
    assert book.finish() == 0.0  # an epoch without steps
    again = EpochLoss()
    again.load_state_dict(book.state_dict())
    again.start()
    again.add(4.0)
    again.finish()
    assert again.losses == [2.0, 0.0, 4.0] and book.losses == [2.0, 0.0]


def test_verbose_runs_off_a_terminal_print_throttled_progress_lines(capsys, monkeypatch):
    from modalprompt.core import phases

    clock = iter(range(0, 1000, 4))  # every call to the clock advances 4 s
    monkeypatch.setattr(phases.time, "monotonic", lambda: next(clock))
    runner = phases.PhaseRunner(
        [phases.Phase("fit", lambda i: {"loss": 0.5}, lambda r: range(6))],
        state={}, verbose=True,
    )  # fmt: skip
    runner.run()
    err = capsys.readouterr().err  # stderr of a test is no terminal
    lines = [line for line in err.splitlines() if line.startswith("[fit] step")]
    assert lines and all("/6, loss 0.5000" in line for line in lines)
    assert len(lines) < 6  # throttled: not one per step
