import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from modalprompt.pointcloud.ops import (
    ball_query,
    furthest_point_sample,
    gather,
    group,
    knn,
    square_distance,
)


def _clouds(seed, b, n, scale=1.0):
    return torch.from_numpy(np.random.default_rng(seed).normal(size=(b, n, 3)) * scale).float()


def _fps_reference(points: np.ndarray, n: int, skip_near_origin=False) -> list[int]:
    chosen, nearest = [0], np.full(len(points), np.inf)
    for _ in range(1, n):
        nearest = np.minimum(nearest, ((points - points[chosen[-1]]) ** 2).sum(1))
        candidates = nearest.copy()
        if skip_near_origin:
            candidates[(points**2).sum(1) <= 1e-3] = -1
        best = candidates.max()
        chosen.append(int(np.flatnonzero(candidates == best)[0]))
    return chosen


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    b=st.integers(1, 3),
    n=st.integers(2, 40),
    frac=st.floats(0.05, 1.0),
)
def test_fps_matches_the_greedy_reference(seed, b, n, frac):
    xyz = _clouds(seed, b, n)
    k = max(1, int(frac * n))
    out = furthest_point_sample(xyz, k)
    assert out.dtype == torch.int64 and out.shape == (b, k)
    for i in range(b):
        assert out[i].tolist() == _fps_reference(xyz[i].double().numpy(), k)


def test_fps_ties_go_to_the_lowest_index_and_near_origin_quirk():
    xyz = torch.tensor([[[0.0, 0, 0], [1, 0, 0], [-1, 0, 0], [0.01, 0, 0]]])
    assert furthest_point_sample(xyz, 2).tolist() == [[0, 1]]  # 1 and 2 tie: lowest index
    pts = torch.tensor([[[2.0, 0, 0], [0.0, 0, 0], [1.9, 0.1, 0]]])
    assert furthest_point_sample(pts, 2).tolist() == [[0, 1]]
    assert furthest_point_sample(pts, 2, skip_near_origin=True).tolist() == [[0, 2]]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 50), m=st.integers(1, 10), k=st.integers(1, 3))
def test_knn_matches_brute_force(seed, n, m, k):
    ref, query = _clouds(seed, 2, n), _clouds(seed + 1, 2, m)
    idx = knn(query, ref, k)
    dist = torch.cdist(query.double(), ref.double())
    expected = dist.sort(dim=-1).values[..., :k]
    got = torch.gather(dist, 2, idx)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(knn(query, ref, k, chunk=2), idx)


def _assert_nearest(query, ref, idx, k):
    """``idx`` holds ``k`` distinct points whose distances are the ``k`` smallest, ascending."""
    dist = torch.cdist(query.double(), ref.double())
    torch.testing.assert_close(torch.gather(dist, 2, idx), dist.sort(dim=-1).values[..., :k])
    assert (idx.sort(-1).values.diff(dim=-1) > 0).all()  # no point twice


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(256, 900),
    m=st.integers(1, 40),
    k=st.integers(1, 40),
    layout=st.sampled_from(["gaussian", "sorted", "duplicates", "surface"]),
)
def test_knn_candidate_filter_is_exact(seed, n, m, k, layout):
    """Large N on CPU takes the candidate filter: still the exact k nearest, for clouds in any
    order, with exact ties (duplicated points) and on thin surfaces."""
    ref = _clouds(seed, 2, n)
    if layout == "sorted":  # spatially ordered input (as sampled meshes often are)
        ref = gather(ref, ref[..., 0].argsort(dim=1))
    elif layout == "duplicates":
        ref = ref[
            :, torch.randint(0, max(1, n // 8), (n,), generator=torch.Generator().manual_seed(seed))
        ]
    elif layout == "surface":
        ref = ref / ref.norm(dim=-1, keepdim=True)
    query = torch.cat([_clouds(seed + 1, 2, m), ref[:, :m]], dim=1)  # off and on the cloud
    idx = knn(query, ref, k)
    assert idx.shape == (2, query.size(1), k)
    _assert_nearest(query, ref, idx, k)
    torch.testing.assert_close(knn(query, ref, k, chunk=7).shape, idx.shape)
    _assert_nearest(query, ref, knn(query, ref, k, chunk=7), k)


def test_knn_filter_falls_back_on_non_finite_distances():
    ref, query = _clouds(0, 1, 300), _clouds(1, 1, 4)
    query[0, 1] = float("inf")  # its row of distances has no finite bound
    idx = knn(query, ref, 8)
    finite = [0, 2, 3]
    _assert_nearest(query[:, finite], ref, idx[:, finite], 8)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 40),
    m=st.integers(1, 6),
    k=st.integers(1, 8),
    radius=st.floats(0.1, 2.0),
)
def test_ball_query_matches_the_cuda_semantics(seed, n, m, k, radius):
    xyz, centers = _clouds(seed, 1, n), _clouds(seed + 7, 1, m)
    out = ball_query(radius, k, xyz, centers)
    assert out.shape == (1, m, k)
    d2 = ((centers[0, :, None] - xyz[0, None]) ** 2).sum(-1)
    for j in range(m):
        hits = [i for i in range(n) if d2[j, i] < radius * radius]
        expected = hits[:k] + [hits[0] if hits else 0] * (k - len(hits[:k]))
        assert out[0, j].tolist() == expected


def test_gather_group_and_distances():
    xyz = _clouds(0, 2, 30)
    centers = gather(xyz, furthest_point_sample(xyz, 5))
    patches, idx = group(xyz, centers, 4)
    assert patches.shape == (2, 5, 4, 3)
    torch.testing.assert_close(patches[:, :, 0], torch.zeros(2, 5, 3))  # nearest = the centre
    torch.testing.assert_close(patches + centers[:, :, None], gather(xyz, idx))
    d = square_distance(xyz, xyz)
    assert (d >= 0).all() and torch.allclose(
        d.diagonal(dim1=1, dim2=2), torch.zeros(2, 30), atol=1e-5
    )


def test_bad_inputs_are_explained():
    with pytest.raises(ValueError, match=r"xyz: expected a \(B, N, 3\)"):
        furthest_point_sample(torch.zeros(4, 3), 2)
    with pytest.raises(ValueError, match="n: expected"):
        furthest_point_sample(torch.zeros(1, 4, 3), 5)
    with pytest.raises(ValueError, match="k: expected"):
        knn(torch.zeros(1, 2, 3), torch.zeros(1, 3, 3), 4)
