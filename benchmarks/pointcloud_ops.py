"""Point-cloud ops: ours (pure PyTorch, batched) against compiled CPU peers, in one run.

* FPS: ``modalprompt.pointcloud.ops.furthest_point_sample`` vs ``fpsample.fps_sampling`` (C++,
  one cloud per call, the same greedy algorithm started at index 0; the chosen indices are
  compared too);
* kNN patch grouping: ``knn`` vs ``scipy.spatial.cKDTree.query`` (C++ k-d tree, per cloud).

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


if __name__ == "__main__":
    main()
