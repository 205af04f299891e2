"""Chamfer distance in pure PyTorch (Point-MAE's ``ChamferDistanceL2`` without the CUDA build)."""

from __future__ import annotations

from torch import Tensor

from modalprompt.pointcloud.ops import square_distance

__all__ = ["chamfer_distance"]


def chamfer_distance(a: Tensor, b: Tensor, reduction: str = "mean") -> Tensor:
    """``mean_i min_j |a_i - b_j|^2 + mean_j min_i |a_i - b_j|^2`` per pair of clouds.

    Args:
        a: ``(B, N, 3)``; b: ``(B, M, 3)``.
        reduction: ``"mean"`` over the batch (Point-MAE's L2 variant) or ``"none"`` → ``(B,)``.
    """
    if a.dim() != 3 or b.dim() != 3 or a.size(0) != b.size(0):
        raise ValueError(
            f"a (B, N, 3) and b (B, M, 3) expected, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    dist = square_distance(a, b)  # (B, N, M)
    per_cloud = dist.min(dim=2).values.mean(1) + dist.min(dim=1).values.mean(1)
    if reduction == "none":
        return per_cloud
    if reduction != "mean":
        raise ValueError(f"reduction: expected 'mean' or 'none', got {reduction!r}")
    return per_cloud.mean()
