import numpy as np
import pytest
import torch

from modalprompt.pointcloud.datasets import H5PointClouds, PointFolder
from modalprompt.pointcloud.datasets.meshes import read_mesh, sample_surface
from modalprompt.pointcloud.datasets.transforms import (
    AddOutliers,
    Compose,
    Jitter,
    PointDropout,
    RandomRotation,
    ScaleAndTranslate,
    normalize_unit_sphere,
)
from modalprompt.pointcloud.testing import tiny_backbone

SQUARE_OBJ = "v 0 0 0\nv 2 0 0\nv 2 1 0\nv 0 1 0\nf 1 2 3 4\n"
SQUARE_OFF = "OFF\n4 1 0\n0 0 0\n2 0 0\n2 1 0\n0 1 0\n4 0 1 2 3\n"
SQUARE_PLY = (
    "ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\n"
    "property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n"
    "0 0 0\n2 0 0\n2 1 0\n0 1 0\n4 0 1 2 3\n"
)


@pytest.mark.parametrize(
    "suffix, text", [(".obj", SQUARE_OBJ), (".off", SQUARE_OFF), (".ply", SQUARE_PLY)]
)
def test_meshes_parse_and_sample_uniformly_by_area(tmp_path, suffix, text):
    path = tmp_path / f"square{suffix}"
    path.write_text(text)
    vertices, faces = read_mesh(path)
    assert vertices.shape == (4, 3) and faces.shape == (2, 3)
    pts = sample_surface(vertices, faces, 4000, np.random.default_rng(0))
    assert (pts[:, 0] >= 0).all() and (pts[:, 0] <= 2).all() and np.allclose(pts[:, 2], 0)
    assert abs(pts[:, 0].mean() - 1.0) < 0.05 and abs(pts[:, 1].mean() - 0.5) < 0.05


def test_point_folder_reads_every_format_and_rejects_empty_files(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "s.obj").write_text(SQUARE_OBJ)
    np.save(tmp_path / "b" / "p.npy", np.random.default_rng(0).normal(size=(50, 6)))
    (tmp_path / "b" / "q.txt").write_text("\n".join("1,2,3,0,0,1" for _ in range(5)))
    ds = PointFolder(tmp_path, num_points=64)
    assert ds.class_names == ["a", "b"] and len(ds) == 3
    points, label = ds[1]
    assert points.shape == (64, 3) and label == 1
    assert torch.equal(ds[0][0], ds[0][0])  # seeded per item
    (tmp_path / "b" / "empty.off").write_text("OFF\n0 0 0\n")
    with pytest.raises(ValueError, match="no vertices"):
        PointFolder(tmp_path, num_points=8)[1]


def test_h5_release_layouts(tmp_path):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "ply_data_train0.h5", "w") as f:
        f["data"] = np.random.default_rng(0).normal(size=(4, 2048, 3)).astype(np.float32)
        f["label"] = np.arange(4).reshape(4, 1)
    ds = H5PointClouds.modelnet40(tmp_path, "train", num_points=1024)
    assert len(ds) == 4 and ds[2][0].shape == (1024, 3) and ds[2][1] == 2
    (tmp_path / "main_split").mkdir()
    with h5py.File(
        tmp_path / "main_split" / "test_objectdataset_augmentedrot_scale75.h5", "w"
    ) as f:
        f["data"] = np.zeros((2, 2048, 3), np.float32)
        f["label"] = np.array([3, 4])
    assert H5PointClouds.scanobjectnn(tmp_path, "PB_T50_RS", "test")[1][1] == 4
    with pytest.raises(FileNotFoundError, match="main_split_nobg"):
        H5PointClouds.scanobjectnn(tmp_path, "OBJ_ONLY", "test")


def test_transforms_are_seeded_and_keep_features():
    g = torch.Generator().manual_seed(0)
    points = torch.randn(100, 5)
    pipeline = Compose(
        normalize_unit_sphere,
        ScaleAndTranslate(),
        RandomRotation("y"),
        Jitter(),
        PointDropout(0.5),
        AddOutliers(0.1),
    )
    a = pipeline(points, torch.Generator().manual_seed(1))
    b = pipeline(points, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == (100, 5)
    assert torch.allclose(normalize_unit_sphere(points)[:, :3].norm(dim=1).max(), torch.tensor(1.0))
    rotated = RandomRotation("y")(points, g)
    torch.testing.assert_close(rotated[:, 1], points[:, 1])  # the up axis does not move
    torch.testing.assert_close(rotated[:, :3].norm(dim=1), points[:, :3].norm(dim=1))
    assert torch.equal(rotated[:, 3:], points[:, 3:])


def test_backbone_rejects_bad_clouds_and_ignores_extra_features():
    backbone = tiny_backbone()
    points = torch.randn(2, 64, 3)
    with_features = torch.cat([points, torch.randn(2, 64, 4)], dim=-1)
    torch.testing.assert_close(backbone(with_features), backbone(points))
    points[1, 5, 0] = float("nan")
    with pytest.raises(ValueError, match=r"NaN or inf coordinates in cloud\(s\) \[1\]"):
        backbone(points)
    with pytest.raises(ValueError, match="fewer than num_group"):
        backbone(torch.randn(1, 6, 3))
    with pytest.raises(ValueError, match=r"expected \(B, N, 3\)"):
        backbone(torch.randn(64, 3))
