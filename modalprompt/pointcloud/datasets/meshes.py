"""Reading ASCII meshes and point files (OBJ, OFF, PLY, NPY, TXT) and sampling meshes by area."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

__all__ = ["read_mesh", "read_points_file", "sample_surface", "POINT_SUFFIXES"]

POINT_SUFFIXES = (".npy", ".txt", ".xyz", ".ply", ".off", ".obj")


def _read_obj(path: Path) -> tuple[np.ndarray, np.ndarray]:
    vertices, faces = [], []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "v":
            if len(parts) < 4:
                raise ValueError(f"{path}: a 'v' line needs x y z, got {line!r}")
            vertices.append([float(v) for v in parts[1:4]])
        elif parts[0] == "f":
            ids = [int(p.split("/")[0]) for p in parts[1:]]
            ids = [i - 1 if i > 0 else len(vertices) + i for i in ids]
            faces += [[ids[0], ids[k], ids[k + 1]] for k in range(1, len(ids) - 1)]
    return np.asarray(vertices, np.float64).reshape(-1, 3), np.asarray(faces, np.int64).reshape(
        -1, 3
    )


def _read_off(path: Path) -> tuple[np.ndarray, np.ndarray]:
    tokens = path.read_text(encoding="utf-8", errors="replace").split()
    if not tokens or not tokens[0].startswith("OFF"):
        raise ValueError(f"{path}: not an OFF file (no OFF header)")
    head = tokens[0][3:]  # ModelNet's broken "OFF490 518 0" headers
    rest = ([head] if head else []) + tokens[1:]
    nv, nf = int(rest[0]), int(rest[1])
    values = rest[3:]
    vertices = np.asarray(values[: 3 * nv], np.float64).reshape(nv, 3)
    faces, pos = [], 3 * nv
    for _ in range(nf):
        k = int(values[pos])
        ids = [int(v) for v in values[pos + 1 : pos + 1 + k]]
        faces += [[ids[0], ids[j], ids[j + 1]] for j in range(1, k - 1)]
        pos += 1 + k
    return vertices, np.asarray(faces, np.int64).reshape(-1, 3)


def _read_ply(path: Path) -> tuple[np.ndarray, np.ndarray]:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if not lines or lines[0].strip() != "ply":
        raise ValueError(f"{path}: not a PLY file")
    if not any(line.startswith("format ascii") for line in lines[:5]):
        raise ValueError(f"{path}: only ASCII PLY is supported")
    counts, end = {}, None
    for i, line in enumerate(lines):
        parts = line.split()
        if parts[:1] == ["element"]:
            counts[parts[1]] = int(parts[2])
        if line.strip() == "end_header":
            end = i + 1
            break
    if end is None:
        raise ValueError(f"{path}: PLY header has no end_header")
    nv, nf = counts.get("vertex", 0), counts.get("face", 0)
    vertices = np.asarray(
        [[float(v) for v in lines[end + i].split()[:3]] for i in range(nv)], np.float64
    )
    faces = []
    for i in range(nf):
        ids = [int(v) for v in lines[end + nv + i].split()]
        faces += [[ids[1], ids[j], ids[j + 1]] for j in range(2, ids[0])]
    return vertices.reshape(-1, 3), np.asarray(faces, np.int64).reshape(-1, 3)


def read_mesh(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices ``(V, 3)`` and triangle faces ``(F, 3)`` of an ASCII OBJ, OFF or PLY file."""
    path = Path(path)
    reader = {".obj": _read_obj, ".off": _read_off, ".ply": _read_ply}.get(path.suffix.lower())
    if reader is None:
        raise ValueError(f"{path}: expected .obj, .off or .ply")
    try:
        vertices, faces = reader(path)
    except ValueError as err:
        if str(err).startswith(str(path)):
            raise
        raise ValueError(f"{path}: malformed {path.suffix} file: {err}") from None
    except IndexError:
        raise ValueError(
            f"{path}: malformed {path.suffix} file: fewer values than declared"
        ) from None
    if len(vertices) == 0:
        raise ValueError(f"{path}: the file holds no vertices")
    if not np.isfinite(vertices).all():
        raise ValueError(f"{path}: vertex coordinates must be finite (found NaN or inf)")
    if len(faces) and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ValueError(
            f"{path}: a face names a vertex outside the {len(vertices)} vertices of the file"
        )
    return vertices, faces


def sample_surface(
    vertices: np.ndarray, faces: np.ndarray, count: int, rng: np.random.Generator
) -> np.ndarray:
    """``count`` points uniform on the surface: triangles by area, barycentric
    ``(1 - sqrt(r1), sqrt(r1)(1 - r2), sqrt(r1) r2)``."""
    tri = vertices[faces]  # (F, 3, 3)
    areas = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    if areas.sum() <= 0:
        raise ValueError("the mesh has no surface area to sample")
    chosen = rng.choice(len(faces), size=count, p=areas / areas.sum())
    r1, r2 = np.sqrt(rng.random(count)), rng.random(count)
    a, b, c = tri[chosen, 0], tri[chosen, 1], tri[chosen, 2]
    return (1 - r1)[:, None] * a + (r1 * (1 - r2))[:, None] * b + (r1 * r2)[:, None] * c


def read_points_file(path: str | Path, num_points: int, rng: np.random.Generator) -> np.ndarray:
    """``(num_points, 3)`` float32 from a point file (``.npy``/``.txt``/``.xyz``: first three
    columns, subsampled) or a mesh (sampled by area; a mesh without faces is read as points)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        points = np.load(path, allow_pickle=False)
    elif suffix in (".txt", ".xyz"):
        points = _load_txt(path)
    elif suffix in (".obj", ".off", ".ply"):
        vertices, faces = read_mesh(path)
        if len(faces):
            return sample_surface(vertices, faces, num_points, rng).astype(np.float32)
        points = vertices
    else:
        raise ValueError(f"{path}: unsupported suffix; expected one of {POINT_SUFFIXES}")
    if points.ndim != 2 or points.shape[1] < 3 or len(points) == 0:
        raise ValueError(f"{path}: expected an (N, >=3) array of points, got shape {points.shape}")
    points = points[:, :3]
    if not np.isfinite(points).all():
        raise ValueError(f"{path}: point coordinates must be finite (found NaN or inf)")
    idx = rng.choice(len(points), num_points, replace=len(points) < num_points)
    return points[idx].astype(np.float32)


def _load_txt(path: Path, delimiter: str | None = "auto") -> np.ndarray:
    """Rows of numbers from a text file; a bad row or non-UTF-8 bytes raise a ValueError naming
    the file."""
    try:
        text = path.read_text(encoding="utf-8")
        if delimiter == "auto":
            delimiter = "," if "," in text[:200] else None
        return np.loadtxt(io.StringIO(text), delimiter=delimiter, ndmin=2, dtype=np.float64)
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text (byte {err.start}: {err.reason})") from None
    except ValueError as err:
        raise ValueError(f"{path}: expected rows of numbers: {err}") from None
