"""`SyntheticShapes`: procedural point clouds of parametric shape classes (the embedded default).

Each item is deterministic in ``(seed, index)``: a surface sample of the class's shape under a
random rotation, anisotropic scale, optional partial view (points facing away from a random
viewpoint dropped, as a single depth scan would miss them) and Gaussian noise, normalised to the
unit sphere.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["SyntheticShapes", "SHAPE_CLASSES"]


def _sphere(rng, n):
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _cube(rng, n):
    p = rng.uniform(-1, 1, size=(n, 3))
    axis = rng.integers(0, 3, n)
    p[np.arange(n), axis] = rng.choice([-1.0, 1.0], n)
    return p


def _cylinder(rng, n):
    t = rng.uniform(0, 2 * math.pi, n)
    return np.stack([np.cos(t), np.sin(t), rng.uniform(-1, 1, n)], 1)


def _cone(rng, n):
    t, h = rng.uniform(0, 2 * math.pi, n), np.sqrt(rng.uniform(0, 1, n))
    return np.stack([h * np.cos(t), h * np.sin(t), 1 - 2 * h], 1)


def _torus(rng, n):
    u, v = rng.uniform(0, 2 * math.pi, n), rng.uniform(0, 2 * math.pi, n)
    return np.stack(
        [(1 + 0.35 * np.cos(v)) * np.cos(u), (1 + 0.35 * np.cos(v)) * np.sin(u), 0.35 * np.sin(v)],
        1,
    )


def _pyramid(rng, n):
    base = rng.uniform(-1, 1, size=(n, 2))
    t = rng.uniform(0, 1, n)[:, None]
    apex = np.array([0.0, 0.0, 1.0])
    pts = np.concatenate([base, -np.ones((n, 1))], 1) * (1 - t) + apex * t
    return pts


def _disk(rng, n):
    r, t = np.sqrt(rng.uniform(0, 1, n)), rng.uniform(0, 2 * math.pi, n)
    return np.stack([r * np.cos(t), r * np.sin(t), rng.normal(scale=0.02, size=n)], 1)


def _helix(rng, n):
    t = rng.uniform(0, 4 * math.pi, n)
    tube = rng.normal(scale=0.08, size=(n, 3))
    return np.stack([np.cos(t), np.sin(t), t / (2 * math.pi) - 1], 1) + tube


SHAPE_CLASSES = {
    "sphere": _sphere,
    "cube": _cube,
    "cylinder": _cylinder,
    "cone": _cone,
    "torus": _torus,
    "pyramid": _pyramid,
    "disk": _disk,
    "helix": _helix,
}


def _rotation(rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


class SyntheticShapes(Dataset):
    """Procedural shapes: ``(points (num_points, 3) float32, label int)``.

    Args:
        size: Items. num_points: Points per cloud. classes: Shape names (default: all 8).
        partial: Probability that an item is a partial view. noise: Std of the Gaussian jitter.
        seed: Base seed (train/val/test sets should use different seeds).
    """

    def __init__(
        self,
        size: int = 512,
        num_points: int = 1024,
        classes: tuple[str, ...] | None = None,
        partial: float = 0.3,
        noise: float = 0.01,
        seed: int = 0,
    ) -> None:
        classes = tuple(classes or SHAPE_CLASSES)
        unknown = sorted(set(classes) - set(SHAPE_CLASSES))
        if unknown:
            raise ValueError(f"classes: unknown {unknown}; choose from {sorted(SHAPE_CLASSES)}")
        if size < 1 or num_points < 1:
            raise ValueError(f"size and num_points must be >= 1, got {size}, {num_points}")
        self.size, self.num_points, self.classes = size, num_points, classes
        self.partial, self.noise, self.seed = partial, noise, seed

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of range for {self.size} items")
        rng = np.random.default_rng([self.seed, index])
        label = index % len(self.classes)
        oversample = self.num_points * 3
        pts = SHAPE_CLASSES[self.classes[label]](rng, oversample)
        pts = pts * rng.uniform(0.6, 1.4, size=3)
        if rng.uniform() < self.partial:
            view = _sphere(rng, 1)[0]
            keep = pts @ view > np.quantile(pts @ view, 0.35)
            pts = pts[keep]
        pts = pts @ _rotation(rng).T
        pts = pts[rng.choice(len(pts), self.num_points, replace=len(pts) < self.num_points)]
        pts = pts + rng.normal(scale=self.noise, size=pts.shape)
        pts = pts - pts.mean(0)
        pts = pts / max(np.linalg.norm(pts, axis=1).max(), 1e-9)
        return torch.from_numpy(pts.astype(np.float32)), label
