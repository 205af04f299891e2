"""Point-cloud transforms (numpy-free, on ``(N, 3)`` or ``(N, 3+C)`` tensors; features kept).

Each transform draws from the ``torch.Generator`` it is given (or torch's global one), so a
seeded pipeline is reproducible.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "Compose",
    "normalize_unit_sphere",
    "ScaleAndTranslate",
    "RandomRotation",
    "Jitter",
    "PointDropout",
    "AddOutliers",
]


def _xyz(points: Tensor) -> Tensor:
    if points.dim() != 2 or points.size(1) < 3:
        raise ValueError(f"points: expected (N, 3) or (N, 3+C), got {tuple(points.shape)}")
    return points[:, :3]


def normalize_unit_sphere(points: Tensor) -> Tensor:
    """Centre at the mean and scale the farthest point to radius 1."""
    xyz = _xyz(points)
    centred = xyz - xyz.mean(0)
    scaled = centred / centred.norm(dim=1).max().clamp(min=1e-12)
    return torch.cat([scaled, points[:, 3:]], dim=1)


class Compose:
    def __init__(self, *transforms) -> None:
        self.transforms = transforms

    def __call__(self, points: Tensor, generator: torch.Generator | None = None) -> Tensor:
        for transform in self.transforms:
            points = (
                transform(points)
                if transform is normalize_unit_sphere
                else transform(points, generator)
            )
        return points


class ScaleAndTranslate:
    """Per-axis scale in ``[low, high]`` and shift in ``[-shift, shift]`` (Point-MAE's
    ``PointcloudScaleAndTranslate``: 2/3–3/2 and ±0.2)."""

    def __init__(self, low: float = 2 / 3, high: float = 3 / 2, shift: float = 0.2) -> None:
        if not 0 < low <= high or shift < 0:
            raise ValueError(f"expected 0 < low <= high and shift >= 0, got {low}, {high}, {shift}")
        self.low, self.high, self.shift = low, high, shift

    def __call__(self, points: Tensor, generator: torch.Generator | None = None) -> Tensor:
        xyz = _xyz(points)
        scale = torch.empty(3).uniform_(self.low, self.high, generator=generator)
        offset = torch.empty(3).uniform_(-self.shift, self.shift, generator=generator)
        return torch.cat([xyz * scale + offset, points[:, 3:]], dim=1)


class RandomRotation:
    """Rotation by a random angle about ``axis`` (``"y"``: ScanObjectNN's up axis, as IDPT)."""

    def __init__(self, axis: str = "y") -> None:
        if axis not in ("x", "y", "z"):
            raise ValueError(f"axis: expected 'x', 'y' or 'z', got {axis!r}")
        self.axis = "xyz".index(axis)

    def __call__(self, points: Tensor, generator: torch.Generator | None = None) -> Tensor:
        angle = float(torch.rand(1, generator=generator)) * 2 * math.pi
        c, s = math.cos(angle), math.sin(angle)
        i, j = [a for a in range(3) if a != self.axis]
        rotation = torch.eye(3)
        rotation[i, i], rotation[i, j], rotation[j, i], rotation[j, j] = c, -s, s, c
        return torch.cat([_xyz(points) @ rotation.T, points[:, 3:]], dim=1)


class Jitter:
    """Clipped Gaussian noise on every coordinate."""

    def __init__(self, sigma: float = 0.01, clip: float = 0.05) -> None:
        self.sigma, self.clip = sigma, clip

    def __call__(self, points: Tensor, generator: torch.Generator | None = None) -> Tensor:
        noise = (torch.randn(points.size(0), 3, generator=generator) * self.sigma).clamp(
            -self.clip, self.clip
        )
        return torch.cat([_xyz(points) + noise, points[:, 3:]], dim=1)


class PointDropout:
    """Replace a random share (up to ``max_ratio``) of the points by the first point, keeping N
    (PointNet++'s ``random_point_dropout``)."""

    def __init__(self, max_ratio: float = 0.875) -> None:
        if not 0 <= max_ratio < 1:
            raise ValueError(f"max_ratio: expected a number in [0, 1), got {max_ratio}")
        self.max_ratio = max_ratio

    def __call__(self, points: Tensor, generator: torch.Generator | None = None) -> Tensor:
        ratio = float(torch.rand(1, generator=generator)) * self.max_ratio
        drop = torch.rand(points.size(0), generator=generator) <= ratio
        out = points.clone()
        out[drop] = points[0]
        return out


class AddOutliers:
    """Replace ``ratio`` of the points by uniform noise in the bounding cube ``[-extent, extent]``
    (background clutter / sensor outliers, the robustness setting of IDPT)."""

    def __init__(self, ratio: float = 0.1, extent: float = 1.0) -> None:
        if not 0 <= ratio <= 1:
            raise ValueError(f"ratio: expected a number in [0, 1], got {ratio}")
        self.ratio, self.extent = ratio, extent

    def __call__(self, points: Tensor, generator: torch.Generator | None = None) -> Tensor:
        count = int(round(self.ratio * points.size(0)))
        if count == 0:
            return points
        out = points.clone()
        idx = torch.randperm(points.size(0), generator=generator)[:count]
        out[idx, :3] = (torch.rand(count, 3, generator=generator) * 2 - 1) * self.extent
        return out
