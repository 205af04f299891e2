"""The small parts of the phase runner (issue 22): plan entries, the numbers a phase logs, Phase
and Repeat validation, ModuleState's choice of state, ValueState copies, per-phase seeds."""

import pytest
import torch
from torch import nn

from modalprompt.core.phases import (
    ModuleState,
    Phase,
    Repeat,
    ValueState,
    _entries,
    _numbers,
    _phase_seed,
)


def _phase(name):
    return Phase(name, lambda _: None, lambda _: range(1))


def test_entries_unroll_repeats_in_round_order():
    a, b, c = _phase("a"), _phase("b"), _phase("c")
    got = [(p.name, r) for p, r in _entries([a, Repeat(2, [b, c]), Repeat(0, [a])])]
    assert got == [("a", 0), ("b", 0), ("c", 0), ("b", 1), ("c", 1)]
    with pytest.raises(TypeError, match="plan: expected Phase or Repeat items, got str"):
        _entries([a, "b"])


def test_numbers_turn_scalar_tensors_into_numbers_and_refuse_the_rest():
    got = _numbers({"loss": torch.tensor(0.5), "n": 3, "name": "x"}, "phase 'p'")
    assert got == {"loss": 0.5, "n": 3, "name": "x"} and isinstance(got["loss"], float)
    assert _numbers(None, "phase 'p'") == {}
    assert _numbers({"one": torch.ones(1, 1)}, "w") == {"one": 1.0}
    with pytest.raises(ValueError, match=r"phase 'p': 'v' is a tensor of shape \(2,\)"):
        _numbers({"v": torch.ones(2)}, "phase 'p'")
    with pytest.raises(TypeError, match="phase 'p': expected a mapping of numbers or None, got"):
        _numbers([1.0], "phase 'p'")


@pytest.mark.parametrize(
    "make, error",
    [
        (lambda: Phase("", lambda _: None, lambda _: []), "Phase.name: expected a non-empty"),
        (lambda: Phase(3, lambda _: None, lambda _: []), "Phase.name: expected a non-empty"),
        (lambda: Phase("p", None, lambda _: []), r"Phase\('p'\).step: expected a callable"),
        (lambda: Phase("p", lambda _: None, [1]), r"Phase\('p'\).batches: expected a callable"),
        (lambda: Repeat(-1, [_phase("a")]), "Repeat.times: expected an integer >= 0, got -1"),
        (lambda: Repeat(True, [_phase("a")]), "Repeat.times: expected an integer >= 0"),
        (lambda: Repeat(1.0, [_phase("a")]), "Repeat.times: expected an integer >= 0"),
        (lambda: Repeat(1, []), "Repeat.phases: expected a non-empty list of Phase"),
        (lambda: Repeat(1, [_phase("a"), "b"]), "Repeat.phases: expected a non-empty list"),
    ],
)
def test_phase_and_repeat_refuse_bad_parts(make, error):
    with pytest.raises((ValueError, TypeError), match=error):
        make()


def test_module_state_prefers_the_prompt_state():
    class Prompted(nn.Module):
        def __init__(self):
            super().__init__()
            self.frozen, self.prompt = nn.Linear(2, 2), nn.Parameter(torch.zeros(3))
            self.loaded = None

        def prompt_state_dict(self):
            return {"prompt": self.prompt.detach().clone()}

        def load_prompt_state_dict(self, state):
            self.loaded = dict(state)

    prompted = Prompted()
    assert list(ModuleState(prompted).state_dict()) == ["prompt"]
    ModuleState(prompted).load_state_dict({"prompt": torch.ones(3)})
    assert torch.equal(prompted.loaded["prompt"], torch.ones(3))
    plain, other = nn.Linear(2, 2), nn.Linear(2, 2)
    assert set(ModuleState(plain).state_dict()) == {"weight", "bias"}
    ModuleState(other).load_state_dict(ModuleState(plain).state_dict())
    assert torch.equal(other.weight, plain.weight)


def test_value_state_loads_a_copy():
    source = {"history": [1, 2]}
    state = ValueState(None)
    state.load_state_dict(source)
    source["history"].append(3)
    assert state.value == {"history": [1, 2]} and state.state_dict() is state.value


def test_phase_seeds_differ_by_seed_phase_and_rank_and_stay_in_range():
    seeds = {_phase_seed(s, i, r) for s in (0, 1) for i in (0, 1, 2) for r in (0, 1)}
    assert len(seeds) == 12 and all(0 <= s < 2**31 - 1 for s in seeds)
    assert _phase_seed(2**40, 5, 3) < 2**31 - 1


def test_settings_state_refuses_other_settings_by_name():
    from modalprompt.core.phases import SettingsState

    now = SettingsState(lr=0.1, steps=3, invariant=True)
    now.load_state_dict({"lr": 0.1, "steps": 3, "invariant": True})  # the same: accepted
    assert now.state_dict() == {"lr": 0.1, "steps": 3, "invariant": True}
    with pytest.raises(ValueError, match=r"^resume_from: the checkpoint was saved with lr=0\.2,"):
        now.load_state_dict({"lr": 0.2, "steps": 3, "invariant": True})
    with pytest.raises(ValueError, match=r"saved with invariant='\(not saved\)', this run has "):
        now.load_state_dict({"lr": 0.1, "steps": 3})
    with pytest.raises(ValueError, match=r"saved with extra=1, this run has extra='\(not set\)'"):
        now.load_state_dict({"lr": 0.1, "steps": 3, "invariant": True, "extra": 1})
    assert now.state_dict() == {"lr": 0.1, "steps": 3, "invariant": True}  # unchanged
