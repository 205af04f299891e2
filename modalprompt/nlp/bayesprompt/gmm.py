"""The target-domain approximation of BayesPrompt: a Gaussian mixture and its score in torch.

BayesPrompt fits ``sklearn.mixture.GaussianMixture`` to features of the task's texts and moves
particles along ``grad log p(x)``. The official code evaluates ``p(x)`` in linear space
(``exp(score_samples) + 1e-10``), which underflows to 0 in 1024 dimensions, and re-inverts every
covariance on each of its 1000 SVGD iterations. Here responsibilities are computed in log space
(log-sum-exp) and each covariance is factorised once (Cholesky), so a score costs two triangular
solves per component.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = ["TorchGMM", "fit_gmm"]


class TorchGMM:
    """A full-covariance Gaussian mixture with log density and score ``grad_x log p(x)``.

    Args:
        weights: ``(K,)`` mixture weights. means: ``(K, D)``. covariances: ``(K, D, D)``.

    Shapes:
        x: ``(N, D)`` → ``log_prob``: ``(N,)``; ``score``: ``(N, D)``; ``responsibilities``:
        ``(N, K)``.
    """

    def __init__(self, weights: Tensor, means: Tensor, covariances: Tensor) -> None:
        if means.dim() != 2 or covariances.shape != (means.size(0), means.size(1), means.size(1)):
            raise ValueError(
                f"covariances: expected ({means.size(0)}, {means.size(1)}, {means.size(1)}) for "
                f"means {tuple(means.shape)}, got {tuple(covariances.shape)}"
            )
        if weights.shape != (means.size(0),):
            raise ValueError(f"weights: expected ({means.size(0)},), got {tuple(weights.shape)}")
        self.log_weights = weights.clamp(min=1e-300).log()
        self.means = means
        self.chol = torch.linalg.cholesky(covariances)  # (K, D, D), lower
        log_det = 2 * self.chol.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # (K,)
        self.log_norm = -0.5 * (means.size(1) * math.log(2 * math.pi) + log_det)

    @property
    def dim(self) -> int:
        return self.means.size(1)

    def _whiten(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``L_k^{-1}(x - mu_k)`` for every component: ``(K, N, D)``, and ``x - mu_k``."""
        diff = x.unsqueeze(0) - self.means.unsqueeze(1)  # (K, N, D)
        white = torch.linalg.solve_triangular(self.chol, diff.transpose(1, 2), upper=False)
        return white.transpose(1, 2), diff

    def component_log_prob(self, x: Tensor) -> Tensor:
        """``(N, K)``: ``log pi_k + log N(x | mu_k, Sigma_k)``."""
        white, _ = self._whiten(x)
        return (self.log_weights + self.log_norm).unsqueeze(0) - 0.5 * (white**2).sum(-1).T

    def log_prob(self, x: Tensor) -> Tensor:
        return torch.logsumexp(self.component_log_prob(x), dim=1)

    def responsibilities(self, x: Tensor) -> Tensor:
        return torch.softmax(self.component_log_prob(x), dim=1)

    def score(self, x: Tensor) -> Tensor:
        """``sum_k gamma_k(x) * (-Sigma_k^{-1} (x - mu_k))`` with log-space ``gamma``."""
        white, _ = self._whiten(x)  # (K, N, D)
        log_comp = (self.log_weights + self.log_norm).unsqueeze(0) - 0.5 * (white**2).sum(-1).T
        gamma = torch.softmax(log_comp, dim=1)  # (N, K)
        # Sigma^{-1} d = L^{-T} (L^{-1} d)
        precision_diff = torch.linalg.solve_triangular(
            self.chol.transpose(1, 2), white.transpose(1, 2), upper=True
        ).transpose(1, 2)  # (K, N, D)
        return -(gamma.T.unsqueeze(-1) * precision_diff).sum(0)


def fit_gmm(
    features: Tensor | np.ndarray,
    num_components: int,
    *,
    reg_covar: float = 0.1,
    seed: int = 0,
    max_iter: int = 100,
) -> TorchGMM:
    """Fit scikit-learn's full-covariance ``GaussianMixture`` and return it as a :class:`TorchGMM`.

    Args:
        features: ``(N, D)`` target-domain features.
        num_components: Components; the official code uses ``min(N, num_classes)``.
        reg_covar: Added to the covariance diagonals (official: 0.1).
        seed: ``random_state`` of the fit.
        max_iter: EM iterations.
    """
    from sklearn.mixture import GaussianMixture

    array = (
        features.detach().cpu().double().numpy()
        if isinstance(features, Tensor)
        else np.asarray(features, dtype=np.float64)
    )
    if array.ndim != 2 or array.shape[0] < 2:
        raise ValueError(f"features: expected (N >= 2, D), got shape {array.shape}")
    if not 1 <= num_components <= array.shape[0]:
        raise ValueError(
            f"num_components: expected 1..{array.shape[0]} (one per feature at most), "
            f"got {num_components}"
        )
    gmm = GaussianMixture(
        num_components,
        covariance_type="full",
        reg_covar=reg_covar,
        random_state=seed,
        max_iter=max_iter,
    ).fit(array)
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    return TorchGMM(as_tensor(gmm.weights_), as_tensor(gmm.means_), as_tensor(gmm.covariances_))
