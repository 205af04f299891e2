"""Seeding and RNG capture (issue 22): every global generator (python, numpy, torch) is seeded,
captured and restored, and ``seeded`` leaves the caller's generators exactly as they were."""

import json
import random

import numpy as np
import pytest
import torch

from modalprompt.core.seeding import (
    capture_rng_state,
    restore_rng_state,
    seed_everything,
    seeded,
)


def _draw():
    """One draw from each global generator."""
    return random.random(), float(np.random.rand()), float(torch.rand(()))


def test_seed_everything_seeds_each_generator():
    seed_everything(11)
    first = _draw()
    seed_everything(11)
    assert _draw() == first
    seed_everything(12)
    other = _draw()
    assert all(a != b for a, b in zip(first, other))  # each generator follows the seed
    seed_everything(2**32 + 11)  # numpy gets the seed modulo 2**32
    np_draw = float(np.random.rand())
    seed_everything(11)
    assert float(np.random.rand()) == np_draw


@pytest.mark.parametrize("bad", [-1, 1.5, True, "3"])
def test_bad_seeds_are_named(bad):
    with pytest.raises(ValueError, match="seed: expected a non-negative integer"):
        seed_everything(bad)
    with pytest.raises(ValueError, match="seed: expected a non-negative integer"):
        with seeded(bad):
            pass


def test_capture_and_restore_round_trip_every_generator_through_json():
    seed_everything(3)
    np.random.randn()  # numpy's cached Gaussian is part of its state
    scalars, tensors = capture_rng_state()
    scalars = json.loads(json.dumps(scalars))  # what a checkpoint stores
    expected = (*_draw(), float(np.random.randn()))
    _draw()  # move every generator on
    restore_rng_state(scalars, {k: v.clone() for k, v in tensors.items()})
    assert (*_draw(), float(np.random.randn())) == expected
    assert tensors["numpy_keys"].dtype == torch.int64  # safetensors-friendly


def test_seeded_draws_from_the_seed_and_leaves_the_caller_alone():
    seed_everything(5)
    outside = _draw()
    seed_everything(5)
    with seeded(9):
        inside = _draw()
    assert _draw() == outside  # nothing drawn inside moved the caller's generators
    with seeded(9):
        assert _draw() == inside
    with seeded(10):
        assert all(a != b for a, b in zip(_draw(), inside))
    seed_everything(5)
    with pytest.raises(RuntimeError):
        with seeded(9):
            _draw()
            raise RuntimeError("inside")
    assert _draw() == outside  # restored on an exception too


def test_cuda_generators_round_trip_on_the_devices_both_runs_have(monkeypatch):
    """CUDA without a GPU: torch.cuda's generator calls recorded. Every device's state is
    captured; restoring sets devices 0 .. min(saved, present) - 1 only (a checkpoint from a
    3-GPU run resumed on 2 GPUs, or the reverse, must not index a missing device)."""
    states = {i: torch.tensor([10 + i], dtype=torch.uint8) for i in range(3)}
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_rng_state", lambda i: states[i].clone())
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda t, i: restored.append((i, int(t))))
    scalars, tensors = capture_rng_state()
    assert scalars["cuda_devices"] == 2
    assert {k for k in tensors if k.startswith("torch_cuda_")} == {"torch_cuda_0", "torch_cuda_1"}
    restore_rng_state(scalars, tensors)
    assert restored == [(0, 10), (1, 11)]
    restored.clear()  # saved on 3 devices, 2 present now
    restore_rng_state({**scalars, "cuda_devices": 3}, {**tensors, "torch_cuda_2": states[2]})
    assert restored == [(0, 10), (1, 11)]
    restored.clear()  # saved on 1 device, 2 present now
    restore_rng_state({**scalars, "cuda_devices": 1}, {"torch_cuda_0": states[0], **tensors})
    assert restored == [(0, 10)]
    restored.clear()  # a checkpoint without the entry (saved on CPU)
    del scalars["cuda_devices"]
    restore_rng_state(scalars, tensors)
    assert restored == []
