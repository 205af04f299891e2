"""Fuzz every registered method through ``get_prompt_model`` on its contract-test tiny case:
one tensor of the tiny batch is damaged (another dtype, emptied, flattened, its last dimension
narrowed, one value set to NaN/inf/-1/a huge or fractional number) and the training and
evaluation steps must end in a clear error of ours or a correct (finite) result.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import modalprompt as mp
from modalprompt.core.testing import tiny_case

from ._ours import outcome
from .test_fuzz_forward import _check_step

PYG_KEYS = ("x", "edge_index", "edge_attr", "y")
DTYPES = [torch.float64, torch.float32, torch.float16, torch.long, torch.int32, torch.bool]
VALUES = [float("nan"), float("inf"), -1, 10**6, 0.5]


@functools.cache
def _case(name):
    spec = mp.get_method_spec(name)
    try:
        case = tiny_case(spec)
    except ImportError as err:  # an extra that is not installed
        pytest.skip(f"{name}: {err}")
    return mp.get_prompt_model(case.backbone, case.config), case.batch


def _slots(batch):
    """``(key, tensor)`` of the batch's tensors (tuple index, mapping key or PyG attribute)."""
    if isinstance(batch, Mapping):
        return [(k, v) for k, v in batch.items() if isinstance(v, torch.Tensor)]
    if isinstance(batch, list | tuple):
        return [(i, v) for i, v in enumerate(batch) if isinstance(v, torch.Tensor)]
    return [
        (k, getattr(batch, k))
        for k in PYG_KEYS
        if isinstance(getattr(batch, k, None), torch.Tensor)
    ]


def _replace(batch, key, value):
    if isinstance(batch, Mapping):
        return {**batch, key: value}
    if isinstance(batch, list | tuple):
        items = list(batch)
        items[key] = value
        return type(batch)(items)
    batch = copy.copy(batch)
    setattr(batch, key, value)
    return batch


def _damage(draw, t: torch.Tensor, user_input: bool = False) -> tuple[torch.Tensor, bool]:
    """A damaged copy of ``t`` and whether it now holds NaN/inf.

    ``user_input``: the input of a user's own backbone (the core heads): its shape and integer
    dtypes are the backbone's contract, not ours, so only float dtypes, emptiness and values
    are damaged there.
    """
    ops = ["dtype", "empty"] if user_input else ["dtype", "empty", "flatten", "narrow"]
    op = draw(st.sampled_from([*ops, "value", "value"]), label="op")
    if op == "dtype":
        dtypes = [d for d in DTYPES if d != t.dtype and (d.is_floating_point or not user_input)]
        return t.to(draw(st.sampled_from(dtypes), label="dtype")), False
    if op == "empty":
        return t[:0], False
    if op == "flatten":
        return t.reshape(-1), False
    if op == "narrow" and t.dim() >= 2 and t.size(-1) > 1:
        return t[..., :-1], False
    if t.numel() == 0:
        return t, False
    value = draw(st.sampled_from(VALUES), label="value")
    if not t.is_floating_point() and isinstance(value, float):
        value = -1
    t = t.clone()
    t.view(-1)[draw(st.integers(0, t.numel() - 1), label="index")] = value
    return t, t.is_floating_point() and not bool(torch.isfinite(t).all())


@pytest.mark.parametrize("name", mp.list_methods(), ids=str)
@given(data=st.data())
def test_damaged_batches(name, data):
    model, batch = _case(name)
    slots = _slots(batch)
    key, tensor = slots[data.draw(st.integers(0, len(slots) - 1), label="tensor")]
    domain = mp.get_method_spec(name).domain
    damaged, nonfinite = _damage(data.draw, tensor, user_input=domain == "any" and key == 0)
    # NaN inputs pass through the core heads of a user's backbone by design (the trainer's
    # non-finite guard stops them); elsewhere they are refused by name
    nonfinite_ok = nonfinite and domain == "any"
    _check_step(copy.deepcopy(model), _replace(batch, key, damaged), [], nonfinite_ok)


@functools.cache
def _foreign_backbones():
    """One tiny backbone per domain, plus a bare ``nn.Linear``."""
    backbones = {"linear": torch.nn.Linear(3, 3)}
    for name in ("linear_probe", "gpf", "idpt", "prompt_tuning", "prompt_finetune"):
        try:
            backbones[name] = tiny_case(mp.get_method_spec(name)).backbone
        except ImportError:  # an extra that is not installed
            continue
    return backbones


@pytest.mark.parametrize("name", mp.list_methods(), ids=str)
def test_get_prompt_model_on_every_domains_backbone(name):
    """A method on another domain's backbone builds (the core heads take any backbone) or is
    refused naming the backbone, never an AttributeError from deep inside (found by this test
    for prompt_finetune, pcp, sciprompt, bayesprompt and graphclip)."""
    _case(name)  # skips when the method's extra is not installed
    config = tiny_case(mp.get_method_spec(name)).config
    for backbone_name, backbone in _foreign_backbones().items():
        if backbone_name == name:
            continue
        fresh = copy.deepcopy(backbone)
        outcome(
            lambda b=fresh: mp.get_prompt_model(b, config),
            ["backbone", "tokenizer", "feature_dim"],  # feature_dim: the core heads' width
        )
