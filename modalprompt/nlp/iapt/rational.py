"""Learnable rational activations (Padé activation units, "safe" form) for IAPT's generators.

``R(x) = (a_0 + a_1 x + ... + a_p x^p) / (1 + |b_1 x + ... + b_q x^q|)``

The denominator is >= 1, so there are no poles. Coefficients start at a least-squares fit of a
known activation (GELU by default) on ``[-3, 3]``, as the PAU paper initialises them, and are
trained per layer.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["RationalActivation", "fit_rational"]

_REFERENCE = {
    "gelu": lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2))),
    "relu": lambda x: np.maximum(x, 0.0),
    "tanh": np.tanh,
    "identity": lambda x: x,
}


def fit_rational(
    name: str, p: int = 5, q: int = 4, span: float = 3.0
) -> tuple[np.ndarray, np.ndarray]:
    """Numerator (p+1,) and denominator (q,) coefficients approximating activation ``name``.

    Solves the linearised problem ``P(x) - f(x) (b_1 x + ... + b_q x^q) = f(x)`` by least squares
    on a grid (the absolute value is dropped for the fit; the fitted polynomial is checked to stay
    positive-or-small where it matters by the caller's tests).
    """
    if name not in _REFERENCE:
        raise ValueError(f"init: expected one of {sorted(_REFERENCE)}, got {name!r}")
    x = np.linspace(-span, span, 2001)
    f = _REFERENCE[name](x)
    num_cols = np.stack([x**j for j in range(p + 1)], axis=1)
    den_cols = np.stack([-f * x**k for k in range(1, q + 1)], axis=1)
    solution, *_ = np.linalg.lstsq(np.concatenate([num_cols, den_cols], axis=1), f, rcond=None)
    return solution[: p + 1], solution[p + 1 :]


class RationalActivation(nn.Module):
    """Element-wise safe Padé activation with trainable coefficients.

    Args:
        p: Numerator degree. q: Denominator degree. init: Activation to start from.

    Shapes:
        x: any → same shape.
    """

    def __init__(self, p: int = 5, q: int = 4, init: str = "gelu") -> None:
        super().__init__()
        numerator, denominator = fit_rational(init, p, q)
        self.numerator = nn.Parameter(torch.tensor(numerator, dtype=torch.float32))
        self.denominator = nn.Parameter(torch.tensor(denominator, dtype=torch.float32))

    def forward(self, x: Tensor) -> Tensor:
        num = torch.zeros_like(x)
        for coefficient in reversed(self.numerator):  # Horner
            num = num * x + coefficient
        den = torch.zeros_like(x)
        for coefficient in reversed(self.denominator):
            den = (den + coefficient) * x
        return num / (1 + den.abs())

    def extra_repr(self) -> str:
        return f"p={self.numerator.numel() - 1}, q={self.denominator.numel()}"
