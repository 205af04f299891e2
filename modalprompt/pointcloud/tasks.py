"""Point-cloud tasks for run files: procedural shapes, SHREC'11, ModelNet40, ScanObjectNN, folders.

Every task builds a :class:`~modalprompt.pointcloud.backbones.PointTransformer` (``backbone``:
:class:`~modalprompt.pointcloud.backbones.PointTransformerConfig` fields; default the papers'
12 x 384) and loads ``checkpoint`` into it (an official Point-MAE / Point-BERT ``.pth`` or a
safetensors file written by ``pretrain_point_mae``). No pre-trained point-cloud checkpoint ships
with the library: without one the backbone is randomly initialised, which a warning says.

Few-shot: ``shots`` training clouds per class are drawn with ``split_seed``; up to ``val_shots``
further clouds per class are the validation set. The test set is the reader's test split.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from modalprompt.core.fewshot import per_class_split
from modalprompt.core.tasks import Task, progress, register_task, shared_data_dir

__all__ = ["POINTCLOUD_METHODS", "build_backbone"]

#: Methods whose model takes a point transformer (the baselines read its ``(B, D)`` features).
POINTCLOUD_METHODS = (
    "idpt",
    "point_peft",
    "vpt_shallow",
    "vpt_deep",
    "linear_probe",
    "full_finetune",
)


def build_backbone(backbone: dict[str, Any] | None, checkpoint: str | None) -> nn.Module:
    """A frozen-ready point transformer of size ``backbone`` with ``checkpoint`` loaded."""
    from modalprompt.pointcloud.backbones import (
        PointTransformer,
        PointTransformerConfig,
        load_official_checkpoint,
    )

    fields = PointTransformerConfig.__dataclass_fields__
    unknown = sorted(set(backbone or {}) - set(fields))
    if unknown:
        raise ValueError(f"task_args.backbone: unknown key(s) {unknown}; allowed: {sorted(fields)}")
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise FileNotFoundError(f"task_args.checkpoint: no file at {checkpoint}")
    torch.manual_seed(0)  # a random backbone is the same in `train` and `eval`
    model = PointTransformer(PointTransformerConfig(**(backbone or {})))
    if checkpoint is None:
        warnings.warn(
            "task_args.checkpoint: none given, so the point transformer is randomly initialised "
            "(pre-train one with modalprompt.pointcloud.pretrain.point_mae.pretrain_point_mae "
            "and pass its file as checkpoint)",
            stacklevel=2,
        )
    else:
        load_official_checkpoint(model, checkpoint)
    return model.eval()


def _check_counts(**values: int | None) -> None:
    for name, value in values.items():
        if value is not None and value < 1:
            raise ValueError(f"task_args.{name}: expected an integer >= 1, got {value}")


def _fewshot(
    data: Dataset, labels: list[int], shots: int | None, val_shots: int, seed: int
) -> tuple[Dataset, Dataset | None]:
    """``shots`` items per class for training (all when None), then ``val_shots`` per class."""
    (train, val), _ = per_class_split(
        labels, [shots, val_shots], seed, arg="task_args.shots", unit="training clouds"
    )
    train_ids, val_ids = sorted(train.tolist()), sorted(val.tolist())
    return Subset(data, train_ids), (Subset(data, val_ids) if val_ids else None)


def _bank_builder(train: Dataset):
    """Point-PEFT's memory bank is built from the training clouds before training."""

    def prepare(model: nn.Module) -> None:
        if hasattr(model, "build_memory_bank"):
            progress(f"building the memory bank from {len(train)} training clouds")
            model.build_memory_bank(train)

    return prepare


def _labels(data: Any) -> list[int]:
    return [int(v) for v in data.labels]


def _task(backbone, train, val, test, num_classes: int) -> Task:
    return Task(
        backbone=backbone,
        train_data=train,
        eval_data=val,
        test_data=test,
        config_overrides={"num_classes": num_classes},
        prepare=_bank_builder(train),
    )


@register_task(
    "pointcloud/synthetic_shapes",
    description="procedural shapes (sphere, cube, torus, ...); no files needed",
    methods=POINTCLOUD_METHODS,
)
def synthetic_shapes(
    num_classes: int = 8,
    shots: int = 10,
    val_size: int = 80,
    test_size: int = 160,
    num_points: int = 1024,
    seed: int = 0,
    backbone: dict | None = None,
    checkpoint: str | None = None,
) -> Task:
    """:class:`~modalprompt.pointcloud.datasets.SyntheticShapes`, ``shots`` per class."""
    from modalprompt.pointcloud.datasets import SHAPE_CLASSES, SyntheticShapes

    _check_counts(shots=shots, val_size=val_size, test_size=test_size, num_points=num_points)
    if not 2 <= num_classes <= len(SHAPE_CLASSES):
        raise ValueError(
            f"task_args.num_classes: expected 2..{len(SHAPE_CLASSES)}, got {num_classes}"
        )
    classes = tuple(SHAPE_CLASSES)[:num_classes]
    model = build_backbone(backbone, checkpoint)
    train = SyntheticShapes(num_classes * shots, num_points, classes, seed=3 * seed + 1)
    val = SyntheticShapes(val_size, num_points, classes, seed=3 * seed + 2)
    test = SyntheticShapes(test_size, num_points, classes, seed=3 * seed + 3)
    return _task(model, train, val, test, num_classes)


@register_task(
    "pointcloud/shrec11",
    description="SHREC'11 (30 classes, train.npz / test.npz); default root: the shared data",
    methods=POINTCLOUD_METHODS,
)
def shrec11(
    root: str | None = None,
    shots: int | None = None,
    val_shots: int = 2,
    split_seed: int = 0,
    num_points: int = 1024,
    backbone: dict | None = None,
    checkpoint: str | None = None,
) -> Task:
    """:class:`~modalprompt.pointcloud.datasets.Shrec11`; validation from the training split."""
    from modalprompt.pointcloud.datasets import Shrec11

    _check_counts(shots=shots, num_points=num_points)
    folder = Path(root) if root else shared_data_dir() / "pointcloud" / "shrec11"
    if not (folder / "train.npz").is_file():
        raise FileNotFoundError(f"task_args.root: no train.npz in {folder}")
    model = build_backbone(backbone, checkpoint)
    full = Shrec11(folder, "train", num_points)
    train, val = _fewshot(full, _labels(full), shots, val_shots, split_seed)
    test = Shrec11(folder, "test", num_points)
    return _task(model, train, val, test, len(full.class_names))


@register_task(
    "pointcloud/modelnet40",
    description="ModelNet40, the 2,048-point HDF5 release (ply_data_{train,test}*.h5)",
    methods=POINTCLOUD_METHODS,
)
def modelnet40(
    root: str | None = None,
    shots: int | None = None,
    val_shots: int = 2,
    split_seed: int = 0,
    num_points: int = 1024,
    backbone: dict | None = None,
    checkpoint: str | None = None,
) -> Task:
    """:meth:`H5PointClouds.modelnet40 <modalprompt.pointcloud.datasets.H5PointClouds>`."""
    from modalprompt.pointcloud.datasets import H5PointClouds

    _check_counts(shots=shots, num_points=num_points)
    folder = Path(root) if root else shared_data_dir() / "pointcloud" / "modelnet40_ply_hdf5_2048"
    if not sorted(folder.glob("ply_data_train*.h5")):
        raise FileNotFoundError(
            f"task_args.root: no ply_data_train*.h5 in {folder} (the shared data hold only a "
            "10-shape ModelNet40 format fixture; copy the HDF5 release there)"
        )
    model = build_backbone(backbone, checkpoint)
    full = H5PointClouds.modelnet40(folder, "train", num_points=num_points)
    train, val = _fewshot(full, _labels(full), shots, val_shots, split_seed)
    test = H5PointClouds.modelnet40(folder, "test", num_points=num_points)
    return _task(model, train, val, test, 40)


@register_task(
    "pointcloud/scanobjectnn",
    description="ScanObjectNN h5_files release (variant OBJ_BG, OBJ_ONLY or PB_T50_RS)",
    methods=POINTCLOUD_METHODS,
)
def scanobjectnn(
    root: str | None = None,
    variant: str = "PB_T50_RS",
    shots: int | None = None,
    val_shots: int = 2,
    split_seed: int = 0,
    num_points: int = 1024,
    backbone: dict | None = None,
    checkpoint: str | None = None,
) -> Task:
    """:meth:`H5PointClouds.scanobjectnn <modalprompt.pointcloud.datasets.H5PointClouds>`."""
    from modalprompt.pointcloud.datasets import H5PointClouds
    from modalprompt.pointcloud.datasets.readers import SCANOBJECTNN_FILES

    _check_counts(shots=shots, num_points=num_points)
    if variant not in SCANOBJECTNN_FILES:
        raise ValueError(
            f"task_args.variant: expected one of {sorted(SCANOBJECTNN_FILES)}, got {variant!r}"
        )
    folder = Path(root) if root else shared_data_dir() / "pointcloud" / "scanobjectnn"
    sub, train_file, _ = SCANOBJECTNN_FILES[variant]
    if not (folder / sub / train_file).is_file():
        raise FileNotFoundError(
            f"task_args.root: no {sub}/{train_file} in {folder} (ScanObjectNN is not in the "
            "shared data; copy its h5_files release there)"
        )
    model = build_backbone(backbone, checkpoint)
    full = H5PointClouds.scanobjectnn(folder, variant, "train", num_points=num_points)
    train, val = _fewshot(full, _labels(full), shots, val_shots, split_seed)
    test = H5PointClouds.scanobjectnn(folder, variant, "test", num_points=num_points)
    return _task(model, train, val, test, 15)


@register_task(
    "pointcloud/folder",
    description="root/<class>/<file> point files or meshes, split by split_seed",
    methods=POINTCLOUD_METHODS,
)
def folder(
    root: str,
    shots: int = 10,
    val_shots: int = 2,
    test_fraction: float = 0.2,
    split_seed: int = 0,
    num_points: int = 1024,
    backbone: dict | None = None,
    checkpoint: str | None = None,
) -> Task:
    """:class:`~modalprompt.pointcloud.datasets.PointFolder`; a class's test clouds are the
    last ``test_fraction`` of its files in a seeded order, the rest feed the shots."""
    from modalprompt.pointcloud.datasets import PointFolder

    _check_counts(shots=shots, num_points=num_points)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"task_args.test_fraction: expected in (0, 1), got {test_fraction}")
    if not Path(root).is_dir():
        raise FileNotFoundError(f"task_args.root: {root} is not a folder")
    model = build_backbone(backbone, checkpoint)
    data = PointFolder(root, num_points, seed=split_seed)
    labels = [label for _, label in data.files]
    gen = torch.Generator().manual_seed(split_seed)
    order = torch.randperm(len(labels), generator=gen).tolist()
    test_idx: list[int] = []
    for c in sorted(set(labels)):
        members = [i for i in order if labels[i] == c]
        test_idx += members[len(members) - max(1, int(len(members) * test_fraction)) :]
    rest = sorted(set(range(len(labels))) - set(test_idx))
    pool = Subset(data, rest)
    train, val = _fewshot(pool, [labels[i] for i in rest], shots, val_shots, split_seed)
    return _task(model, train, val, Subset(data, sorted(test_idx)), len(data.class_names))
