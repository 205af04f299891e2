"""Readers of real point-cloud data: SHREC'11 (``.npz``) and ModelNet40's resampled ``.txt``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["Shrec11", "read_modelnet_txt", "H5PointClouds", "PointFolder", "SCANOBJECTNN_FILES"]


def read_modelnet_txt(path: str | Path, with_normals: bool = False) -> np.ndarray:
    """Read a ``modelnet40_normal_resampled`` file (``x,y,z,nx,ny,nz`` rows): ``(N, 3)`` or 6."""
    from modalprompt.pointcloud.datasets.meshes import _load_txt

    data = _load_txt(Path(path), ",").astype(np.float32)
    if data.ndim != 2 or data.shape[1] < 3 or len(data) == 0:
        raise ValueError(f"{path}: expected comma-separated rows of at least 3 values")
    if not np.isfinite(data).all():
        raise ValueError(f"{path}: coordinates must be finite (found NaN or inf)")
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


SCANOBJECTNN_FILES = {
    # variant: (folder, train file, test file) in the official h5_files release
    "OBJ_BG": ("main_split", "training_objectdataset.h5", "test_objectdataset.h5"),
    "OBJ_ONLY": ("main_split_nobg", "training_objectdataset.h5", "test_objectdataset.h5"),
    "PB_T50_RS": (
        "main_split",
        "training_objectdataset_augmentedrot_scale75.h5",
        "test_objectdataset_augmentedrot_scale75.h5",
    ),
}


class H5PointClouds(Dataset):
    """Point clouds from HDF5 files with ``data`` ``(N, P, >=3)`` and ``label`` ``(N,)``/``(N, 1)``:
    the 2,048-point ModelNet40 release (``ply_data_{train,test}*.h5``) and ScanObjectNN.

    Use :meth:`modelnet40` / :meth:`scanobjectnn` to find the official files under ``root``.
    Items: ``(points (num_points, 3) float32, label)`` (the first ``num_points``, unit sphere).
    """

    def __init__(
        self, files: list[Path], num_points: int | None = None, normalize: bool = True
    ) -> None:
        import h5py

        if not files:
            raise FileNotFoundError("files: no HDF5 file given")
        points, labels = [], []
        for file in files:
            with h5py.File(file, "r") as handle:
                if "data" not in handle or "label" not in handle:
                    raise ValueError(
                        f"{file}: expected datasets 'data' and 'label', found {list(handle)}"
                    )
                points.append(np.asarray(handle["data"][:], np.float32)[..., :3])
                labels.append(np.asarray(handle["label"][:]).reshape(-1).astype(np.int64))
        self.points, self.labels = np.concatenate(points), np.concatenate(labels)
        if len(self.points) == 0:
            raise ValueError(f"files: {files} hold no clouds")
        self.num_points, self.normalize = num_points, normalize

    @classmethod
    def modelnet40(cls, root: str | Path, split: str = "train", **kwargs) -> H5PointClouds:
        files = sorted(Path(root).glob(f"ply_data_{split}*.h5"))
        if not files:
            raise FileNotFoundError(f"root: no ply_data_{split}*.h5 in {root}")
        return cls(files, **kwargs)

    @classmethod
    def scanobjectnn(
        cls, root: str | Path, variant: str = "PB_T50_RS", split: str = "train", **kwargs
    ) -> H5PointClouds:
        if variant not in SCANOBJECTNN_FILES:
            raise ValueError(
                f"variant: expected one of {sorted(SCANOBJECTNN_FILES)}, got {variant!r}"
            )
        folder, train, test = SCANOBJECTNN_FILES[variant]
        file = Path(root) / folder / (train if split == "train" else test)
        if not file.is_file():
            raise FileNotFoundError(f"root: no {folder}/{file.name} in {root}")
        return cls([file], **kwargs)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        pts = self.points[index][: self.num_points] if self.num_points else self.points[index]
        if self.normalize:
            pts = pts - pts.mean(0)
            pts = pts / max(float(np.linalg.norm(pts, axis=1).max()), 1e-9)
        return torch.from_numpy(np.ascontiguousarray(pts)), int(self.labels[index])


class PointFolder(Dataset):
    """``root/<class>/<file>`` with point files or meshes (``.npy .txt .xyz .ply .off .obj``);
    meshes are sampled by area. Sampling is seeded per file (``seed``, index), so an item is the
    same every time. Items: ``(points (num_points, 3) float32, label)``."""

    def __init__(
        self, root: str | Path, num_points: int = 1024, seed: int = 0, normalize: bool = True
    ) -> None:
        from modalprompt.pointcloud.datasets.meshes import POINT_SUFFIXES

        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"root: {root} is not a folder")
        self.class_names = sorted(p.name for p in root.iterdir() if p.is_dir())
        self.files = [
            (f, label)
            for label, name in enumerate(self.class_names)
            for f in sorted((root / name).rglob("*"))
            if f.suffix.lower() in POINT_SUFFIXES
        ]
        if not self.files:
            raise ValueError(
                f"root: no point or mesh files ({', '.join(POINT_SUFFIXES)}) under {root}"
            )
        self.num_points, self.seed, self.normalize = num_points, seed, normalize

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from modalprompt.pointcloud.datasets.meshes import read_points_file

        path, label = self.files[index]
        pts = read_points_file(path, self.num_points, np.random.default_rng([self.seed, index]))
        if not np.isfinite(pts).all():
            raise ValueError(f"{path}: NaN or inf coordinates")
        if self.normalize:
            pts = pts - pts.mean(0)
            pts = pts / max(float(np.linalg.norm(pts, axis=1).max()), 1e-9)
        return torch.from_numpy(pts.astype(np.float32)), label
