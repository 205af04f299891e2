"""IAPT's rational activation against an independent float64 evaluation (issue 22).

``R(x) = P(x) / (1 + |b_1 x + ... + b_q x^q|)``: the "safe" Padé form whose denominator is at
least 1, so ``|R(x)| <= |P(x)|`` and there is no pole whatever the coefficients learn.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from modalprompt.nlp.iapt.rational import RationalActivation


def _reference(x: np.ndarray, numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``P(x) / (1 + |Q(x)|)`` with ``P = sum a_i x^i`` and ``Q = sum_{j>=1} b_j x^j``."""
    num = np.polynomial.polynomial.polyval(x, numerator)
    den = np.polynomial.polynomial.polyval(x, np.concatenate([[0.0], denominator]))
    return num / (1.0 + np.abs(den))


def _with(numerator, denominator) -> RationalActivation:
    act = RationalActivation()
    with torch.no_grad():
        act.numerator.copy_(torch.tensor(numerator))
        act.denominator.copy_(torch.tensor(denominator))
    return act


def test_rational_equals_the_formula_for_learned_coefficients():
    """Guards the Horner loops (coefficient order, the denominator's missing constant term)
    against a polynomial evaluation written independently, for coefficients away from init."""
    g = torch.Generator().manual_seed(0)
    act = RationalActivation()
    with torch.no_grad():
        act.numerator.add_(0.3 * torch.randn(act.numerator.shape, generator=g))
        act.denominator.add_(0.3 * torch.randn(act.denominator.shape, generator=g))
    x = torch.linspace(-4, 4, 161)
    want = _reference(
        x.double().numpy(),
        act.numerator.detach().double().numpy(),
        act.denominator.detach().double().numpy(),
    )
    np.testing.assert_allclose(act(x).detach().double().numpy(), want, rtol=1e-5, atol=1e-5)


def test_denominator_is_at_least_one_where_the_plain_pade_form_has_a_pole():
    """Guards dropping the ``abs`` (``1 + Q``) or the ``1 +``: with ``Q(x) = -x`` the plain
    form has a pole at x = 1; the safe form gives ``P(1) / 2`` there and stays within
    ``|P(x)|`` everywhere (bounded by its numerator)."""
    act = _with([0.5, 1.0, 0.0, 0.0, 0.0, 0.0], [-1.0, 0.0, 0.0, 0.0])  # P = 0.5 + x, Q = -x
    x = torch.tensor([-2.0, -1.0, 0.0, 0.5, 1.0, 3.0])
    out = act(x).detach()
    torch.testing.assert_close(out, (0.5 + x) / (1 + x.abs()))
    assert out[4].item() == 0.75
    wide = torch.linspace(-50, 50, 2001)
    numerator = 0.5 + wide
    assert torch.isfinite(act(wide)).all()
    assert (act(wide).detach().abs() <= numerator.abs() + 1e-6).all()


def test_gelu_initialisation_is_close_to_gelu_and_bounded_by_its_numerator():
    """Guards the least-squares initialisation (a wrong reference or basis gives another curve)
    and the safe denominator at the initial coefficients."""
    act = RationalActivation(init="gelu")
    x = torch.linspace(-3, 3, 601)
    gelu = 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
    assert (act(x).detach() - gelu).abs().max() < 0.02
    numerator = np.polynomial.polynomial.polyval(x.double().numpy(), act.numerator.detach().numpy())
    assert (act(x).detach().abs().double().numpy() <= np.abs(numerator) + 1e-6).all()
