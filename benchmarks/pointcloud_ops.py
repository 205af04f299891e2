"""Point-cloud ops: ours (pure PyTorch, batched) against compiled CPU peers, in one run.

* FPS: ``modalprompt.pointcloud.ops.furthest_point_sample`` vs ``fpsample.fps_sampling`` (C++,
  one cloud per call, the same greedy algorithm started at index 0; the chosen indices are
  compared too);
* kNN patch grouping: ``knn`` (on CPU an exact candidate filter before ``topk``) vs
  ``scipy.spatial.cKDTree.query`` (C++ k-d tree, per cloud);
* both against torch-cluster's compiled CPU kernels (``torch_cluster.fps`` / ``knn``, batched)
  when torch-cluster is installed (it has no wheels for every torch release; build it from its
  sdist with ``pip install --no-build-isolation torch-cluster``). Ratio = peer time / ours, so
  ``>= 1/1.5`` meets the "at most 1.5x slower than torch-cluster" target.

The workload is the Point-MAE tokenizer's: ScanObjectNN-size clouds (2,048 points), 128 centres,
32 neighbours, a batch of 32. Prints milliseconds per batch (median of repeats) and ratios.

usage: python benchmarks/pointcloud_ops.py [--quick]     (or: modalprompt bench pointcloud_ops)
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from modalprompt.pointcloud.ops import furthest_point_sample, gather, knn


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    batch, points, centres, k = (8, 2048, 128, 32) if args.quick else (32, 2048, 128, 32)
    repeats = 3 if args.quick else 7
    xyz = torch.from_numpy(
        np.random.default_rng(0).normal(size=(batch, points, 3)).astype(np.float32)
    )
    clouds = xyz.numpy()
    print(
        f"batch {batch} x {points} points, {centres} centres, k={k}, "
        f"torch threads {torch.get_num_threads()}, median of {repeats}"
    )
    print(f"{'op':<28}{'ms / batch':>12}{'ratio (peer / ours)':>22}")

    ours_ms, idx = timed(lambda: furthest_point_sample(xyz, centres), repeats)
    try:
        import fpsample

        peer_ms, peer_idx = timed(
            lambda: [fpsample.fps_sampling(c, centres, start_idx=0) for c in clouds], repeats
        )
        same = all(np.array_equal(np.asarray(p), i) for p, i in zip(peer_idx, idx.numpy()))
        print(f"{'FPS  fpsample (C++)':<28}{peer_ms:>12.2f}{1.0:>22.2f}")
        print(
            f"{'FPS  modalprompt (torch)':<28}{ours_ms:>12.2f}{peer_ms / ours_ms:>22.2f}"
            f"   same indices: {same}"
        )
    except ImportError:
        print(
            f"{'FPS  modalprompt (torch)':<28}{ours_ms:>12.2f}   (pip install fpsample to compare)"
        )

    centers = gather(xyz, idx)
    ours_ms, nn_idx = timed(lambda: knn(centers, xyz, k), repeats)
    from scipy.spatial import cKDTree

    def scipy_knn():
        return [cKDTree(c).query(q, k=k)[1] for c, q in zip(clouds, centers.numpy())]

    peer_ms, peer_nn = timed(scipy_knn, repeats)
    agree = np.mean(
        [np.array_equal(np.sort(a, 1), np.sort(b, 1)) for a, b in zip(peer_nn, nn_idx.numpy())]
    )
    print(f"{'kNN  scipy cKDTree (C++)':<28}{peer_ms:>12.2f}{1.0:>22.2f}")
    print(
        f"{'kNN  modalprompt (torch)':<28}{ours_ms:>12.2f}{peer_ms / ours_ms:>22.2f}"
        f"   same neighbour sets: {agree:.0%} of clouds"
    )
    torch_cluster_rows(xyz, centres, k, repeats)


def torch_cluster_rows(xyz: torch.Tensor, centres: int, k: int, repeats: int) -> None:
    """FPS and kNN against torch-cluster's batched CPU kernels, same workload."""
    try:
        import torch_cluster
    except ImportError:
        print("(torch-cluster is not installed: no comparison with its kernels)")
        return
    b, n, _ = xyz.shape
    flat = xyz.reshape(-1, 3)
    batch = torch.arange(b).repeat_interleave(n)
    ratio = centres / n
    peer_ms, peer = timed(
        lambda: torch_cluster.fps(flat, batch, ratio=ratio, random_start=False), repeats
    )
    ours_ms, idx = timed(lambda: furthest_point_sample(xyz, centres), repeats)
    same = torch.equal(peer.view(b, -1) - (torch.arange(b) * n).view(-1, 1), idx)
    print(f"{'FPS  torch-cluster (C++)':<28}{peer_ms:>12.2f}{1.0:>22.2f}")
    print(
        f"{'FPS  modalprompt (torch)':<28}{ours_ms:>12.2f}{peer_ms / ours_ms:>22.2f}"
        f"   same indices: {same}"
    )
    centers = gather(xyz, idx)
    flat_c = centers.reshape(-1, 3)
    batch_c = torch.arange(b).repeat_interleave(centres)
    peer_ms, pairs = timed(lambda: torch_cluster.knn(flat, flat_c, k, batch, batch_c), repeats)
    ours_ms, nn_idx = timed(lambda: knn(centers, xyz, k), repeats)
    # pairs: (centre row, point row) over the flattened batch, grouped by centre
    order = pairs[0].argsort(stable=True)
    peer_sets = (pairs[1][order] % n).view(b, centres, k).sort(-1).values
    agree = (peer_sets == nn_idx.sort(-1).values).all(-1).float().mean()
    print(f"{'kNN  torch-cluster (C++)':<28}{peer_ms:>12.2f}{1.0:>22.2f}")
    print(
        f"{'kNN  modalprompt (torch)':<28}{ours_ms:>12.2f}{peer_ms / ours_ms:>22.2f}"
        f"   same neighbour sets: {agree:.1%} of centres"
    )


if __name__ == "__main__":
    main()
