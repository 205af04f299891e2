"""GraphCLIP's pre-training objective by hand: InfoNCE and the invariant (adversarial) term.

test_graphclip.py compares ``clip_loss`` with a log-softmax rewrite on random inputs; these add a
closed form where the two directions differ, the temperature clamp, and the value and start of
the FLAG-style invariant term.
"""

from __future__ import annotations

import math

import pytest
import torch

pytest.importorskip("torch_geometric")

from modalprompt.graph.graphclip.objective import adversarial_step, clip_loss  # noqa: E402


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_clip_loss_closed_form_with_unequal_directions():
    """Guards the transpose of the text-to-graph term, the normalisation of both embeddings
    and the ``exp`` of the scale: cosines [[1, 0.6], [0, 0.8]] at s = 10."""
    g = torch.tensor([[3.0, 0.0], [0.0, 0.5]])  # unit directions e1, e2 with other norms
    t = torch.tensor([[2.0, 0.0], [1.2, 1.6]])  # e1 and (0.6, 0.8)
    # graph -> text rows: [10, 6] (label 0), [0, 8] (label 1): softplus(-4), softplus(-8)
    # text -> graph rows: [10, 0] (label 0), [6, 8] (label 1): softplus(-10), softplus(-2)
    want = 0.25 * (_softplus(-4) + _softplus(-8) + _softplus(-10) + _softplus(-2))
    assert clip_loss(g, t, torch.tensor(math.log(10.0))).item() == pytest.approx(want, rel=1e-5)


def test_clip_temperature_is_clamped_at_100():
    """Guards the clamp (CLIP's ``logit_scale`` ceiling): s = 1000 acts as s = 100, s = 50
    is untouched."""
    g = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    t = torch.tensor([[0.9, 0.1], [0.8, 0.6]])
    at = lambda s: clip_loss(g, t, torch.tensor(math.log(s)))  # noqa: E731
    assert at(1000.0).item() == pytest.approx(at(100.0).item(), rel=1e-6)
    assert at(50.0).item() != pytest.approx(at(100.0).item(), rel=1e-3)


def test_invariant_term_starts_in_the_init_box_and_returns_the_last_loss():
    """Guards the FLAG start ``delta ~ U(-init, init)`` and the returned value: the loss at the
    last perturbation (undoing the ``/ steps`` of the accumulated backward)."""
    torch.manual_seed(0)
    w = torch.ones(4, requires_grad=True)
    x = torch.zeros(3, 4)
    seen = []

    def loss_fn(z):
        seen.append(z.detach().clone())
        return (z * w).sum()

    out = adversarial_step(loss_fn, x, steps=3, step_size=0.1, init=0.05)
    start = seen[0]
    assert start.abs().max() <= 0.05 and start.std() > 0.01
    assert (start < 0).any() and (start > 0).any()  # symmetric box, not [0, init)
    torch.testing.assert_close(seen[2], start + 0.2)  # two ascent steps of +0.1 (dL/dz = 1)
    assert out.item() == pytest.approx(seen[2].sum().item(), rel=1e-6)
    assert not out.requires_grad
