"""Point-MAE's Chamfer-L2 loss against a brute-force double loop (issue 22).

The hand test in test_backbone.py has one pair of clouds; here batches of clouds of different
sizes, both reductions and the gradient are checked against loops written independently.
"""

from __future__ import annotations

import pytest
import torch

from modalprompt.pointcloud.pretrain.chamfer import chamfer_distance


def _brute_force(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per cloud: mean over a of the squared distance to the nearest b, plus the same b -> a."""
    out = []
    for x, y in zip(a, b):
        forward = [min(float(((p - q) ** 2).sum()) for q in y) for p in x]
        backward = [min(float(((p - q) ** 2).sum()) for p in x) for q in y]
        out.append(sum(forward) / len(forward) + sum(backward) / len(backward))
    return torch.tensor(out, dtype=a.dtype)


def test_chamfer_matches_brute_force_per_cloud_and_on_average():
    """Guards the two directions (min over the other cloud, mean over one's own points) when
    N != M, squared not plain distances, and reductions that mix clouds of a batch."""
    g = torch.Generator().manual_seed(0)
    a = torch.randn(3, 5, 3, generator=g, dtype=torch.float64)
    b = torch.randn(3, 7, 3, generator=g, dtype=torch.float64) * 1.5 + 0.3
    want = _brute_force(a, b)
    torch.testing.assert_close(chamfer_distance(a, b, reduction="none"), want)
    torch.testing.assert_close(chamfer_distance(a, b), want.mean())
    torch.testing.assert_close(chamfer_distance(b, a, reduction="none"), want)  # symmetric


def test_chamfer_gradient_moves_each_point_towards_its_nearest_neighbour():
    """Guards the gradient: for the one-directional term, d/da_i = 2 (a_i - b_nn(i)) / N."""
    a = torch.tensor([[[0.0, 0, 0], [2.0, 0, 0]]], requires_grad=True)
    b = torch.tensor([[[0.5, 0, 0], [2.0, 1.0, 0]]])
    # a0 -> b0 (0.25), a1 -> b1 (1.0); b0 -> a0 (0.25), b1 -> a1 (1.0): both directions pair
    # the same points, so the gradient is twice the one-directional one
    chamfer_distance(a, b).backward()
    want = 2 * 2 * (a.detach() - b) / 2
    torch.testing.assert_close(a.grad, want)


def test_bad_shapes_and_reduction_are_named():
    a = torch.zeros(2, 4, 3)
    with pytest.raises(ValueError, match="reduction"):
        chamfer_distance(a, a, reduction="sum")
    with pytest.raises(ValueError, match=r"\(B, N, 3\)"):
        chamfer_distance(a, torch.zeros(3, 4, 3))
