"""BayesPrompt's Gaussian mixture against hand-computed and SciPy densities (issue 22).

The scikit-learn comparison in test_numerics.py uses well-separated blobs, where every
responsibility is 0 or 1 and a dropped mixture weight or log-determinant hardly shows; here the
points sit between components with unequal weights and variances.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from modalprompt.nlp.bayesprompt.gmm import TorchGMM


def test_responsibilities_of_a_1d_mixture_by_hand():
    """Guards the mixture weights, the normalising constant (``-0.5 log det``) and the softmax
    axis: two components pi = (0.25, 0.75), N(0, 1) and N(2, 4), evaluated at x = 1 and 2."""
    gmm = TorchGMM(
        torch.tensor([0.25, 0.75], dtype=torch.float64),
        torch.tensor([[0.0], [2.0]], dtype=torch.float64),
        torch.tensor([[[1.0]], [[4.0]]], dtype=torch.float64),
    )
    x = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    # pi_k N(x | mu_k, s_k^2) = pi_k exp(-(x - mu_k)^2 / (2 s_k^2)) / (s_k sqrt(2 pi))
    first = [0.25 * math.exp(-0.5) / 1.0, 0.25 * math.exp(-2.0) / 1.0]
    second = [0.75 * math.exp(-1 / 8) / 2.0, 0.75 * 1.0 / 2.0]
    want = torch.tensor([[f / (f + s), s / (f + s)] for f, s in zip(first, second)])
    torch.testing.assert_close(gmm.responsibilities(x), want.double())
    density = torch.tensor([f + s for f, s in zip(first, second)]) / math.sqrt(2 * math.pi)
    torch.testing.assert_close(gmm.log_prob(x), density.double().log())


def test_correlated_2d_mixture_matches_scipy():
    """Guards the Cholesky whitening (triangular side, transpose) with full covariances: log
    densities and responsibilities against ``scipy.stats.multivariate_normal``."""
    from scipy.stats import multivariate_normal

    weights = np.array([0.2, 0.5, 0.3])
    means = np.array([[0.0, 0.0], [1.5, -0.5], [-1.0, 2.0]])
    covariances = np.array(
        [[[1.0, 0.6], [0.6, 0.8]], [[0.5, -0.3], [-0.3, 1.5]], [[2.0, 0.0], [0.0, 0.3]]]
    )
    x = np.random.default_rng(0).normal(size=(25, 2))
    joint = np.stack(
        [w * multivariate_normal(m, c).pdf(x) for w, m, c in zip(weights, means, covariances)], 1
    )
    as_t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    gmm = TorchGMM(as_t(weights), as_t(means), as_t(covariances))
    np.testing.assert_allclose(gmm.log_prob(as_t(x)).numpy(), np.log(joint.sum(1)), rtol=1e-10)
    np.testing.assert_allclose(
        gmm.responsibilities(as_t(x)).numpy(), joint / joint.sum(1, keepdims=True), atol=1e-12
    )
