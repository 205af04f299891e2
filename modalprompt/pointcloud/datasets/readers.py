"""Readers of real point-cloud data: SHREC'11 (``.npz``) and ModelNet40's resampled ``.txt``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["Shrec11", "read_modelnet_txt"]


def read_modelnet_txt(path: str | Path, with_normals: bool = False) -> np.ndarray:
    """Read a ``modelnet40_normal_resampled`` file (``x,y,z,nx,ny,nz`` rows): ``(N, 3)`` or 6."""
    data = np.loadtxt(path, delimiter=",", dtype=np.float32)
    if data.ndim != 2 or data.shape[1] < 3:
        raise ValueError(f"{path}: expected comma-separated rows of at least 3 values")
    return data if with_normals else data[:, :3]


class Shrec11(Dataset):
    """SHREC'11 as 2,048-point clouds (``train.npz`` / ``test.npz`` with ``points``, ``labels``,
    ``class_names``), optionally subsampled to ``num_points`` (the first points: the files are
    already uniform random surface samples). Items: ``(points (n, 3) float32, label)``."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        num_points: int | None = 1024,
        normalize: bool = True,
    ) -> None:
        if split not in ("train", "test"):
            raise ValueError(f"split: expected 'train' or 'test', got {split!r}")
        file = Path(root) / f"{split}.npz"
        if not file.is_file():
            raise FileNotFoundError(f"root: no {split}.npz in {root}")
        with np.load(file, allow_pickle=False) as data:
            self.points = data["points"].astype(np.float32)
            self.labels = data["labels"].astype(np.int64)
            self.class_names = [str(c) for c in data["class_names"]]
        if num_points is not None and not 1 <= num_points <= self.points.shape[1]:
            raise ValueError(f"num_points: expected 1..{self.points.shape[1]}, got {num_points}")
        self.num_points, self.normalize = num_points, normalize

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        pts = self.points[index][: self.num_points] if self.num_points else self.points[index]
        if self.normalize:
            pts = pts - pts.mean(0)
            pts = pts / max(float(np.linalg.norm(pts, axis=1).max()), 1e-9)
        return torch.from_numpy(np.ascontiguousarray(pts)), int(self.labels[index])
