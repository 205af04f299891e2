"""The small Point-MAE checkpoint that ships with the library for ``modalprompt demo``.

The point-cloud demo must not pre-train at demo time, so a 4 x 64 :class:`PointTransformer`
(16 patches of 16 points, 256-point clouds) pre-trained with our own
:func:`~modalprompt.pointcloud.pretrain.point_mae.pretrain_point_mae` on clean procedural
``SyntheticShapes`` lives in ``modalprompt/pointcloud/checkpoints/point_mae_demo/``:
``model.safetensors`` (the encoder's state dict in float16, about 1.1 MB; loaded as float32),
``config.json`` (the backbone config, the pre-training settings and per-epoch losses) and
``manifest.json`` (size and SHA-256 of both, verified on every load).

Reproduce it (the same settings, seeded; bitwise equal with the same torch build and 1 thread)::

    OMP_NUM_THREADS=1 python -m modalprompt.pointcloud.demo_checkpoint

The shipped file was written by that command with :data:`SETTINGS` (1,024 shapes, 30 epochs,
batch 32, AdamW lr 1e-3, cosine) in 411 s on one CPU thread of a machine shared with another
job; the Chamfer loss went from 0.104 (first epoch) to 0.023 (last).
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import time
from pathlib import Path

import torch

from modalprompt.core.io import (
    CorruptFileError,
    atomic_save_tensors,
    atomic_write_json,
    load_tensors,
    make_staging_dir,
    read_json,
    replace_dir_atomically,
    verify_manifest,
    write_manifest,
)
from modalprompt.pointcloud.backbones.point_transformer import (
    PointTransformer,
    PointTransformerConfig,
)

__all__ = ["CHECKPOINT_DIR", "SETTINGS", "BACKBONE_NAME", "make_checkpoint", "load_demo_backbone"]

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints" / "point_mae_demo"
WEIGHTS_NAME, CONFIG_NAME = "model.safetensors", "config.json"
BACKBONE_NAME = "Point-MAE 4x64 (shipped demo checkpoint)"

SETTINGS = {
    "backbone": {
        "trans_dim": 64,
        "depth": 4,
        "num_heads": 4,
        "encoder_dims": 64,
        "num_group": 16,
        "group_size": 16,
    },
    "corpus": {"size": 1024, "num_points": 256, "seed": 100},  # SyntheticShapes defaults else
    "pretrain": {"epochs": 30, "batch_size": 32, "lr": 1e-3, "seed": 0},
}


def make_checkpoint(out_dir: str | Path = CHECKPOINT_DIR, epochs: int | None = None) -> Path:
    """Pre-train the demo backbone with :data:`SETTINGS` and write it to ``out_dir`` atomically.

    ``epochs`` overrides the setting (for a quick check of the script; the shipped file uses
    the default).
    """
    from modalprompt.pointcloud.datasets import SyntheticShapes
    from modalprompt.pointcloud.pretrain.point_mae import pretrain_point_mae

    settings = {k: dict(v) for k, v in SETTINGS.items()}
    if epochs is not None:
        settings["pretrain"]["epochs"] = epochs
    torch.manual_seed(settings["pretrain"]["seed"])
    encoder = PointTransformer(PointTransformerConfig(**settings["backbone"]))
    corpus = SyntheticShapes(**settings["corpus"])
    start = time.perf_counter()
    result = pretrain_point_mae(encoder, corpus, device="cpu", **settings["pretrain"])
    seconds = time.perf_counter() - start
    target = Path(out_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = make_staging_dir(target)
    try:
        state = {k: v.to(torch.float16) if v.is_floating_point() else v for k, v in
                 encoder.state_dict().items()}  # fmt: skip
        atomic_save_tensors(
            staging / WEIGHTS_NAME, state, metadata={"format": "modalprompt-point-mae"}
        )
        atomic_write_json(
            staging / CONFIG_NAME,
            {
                "backbone": dataclasses.asdict(encoder.config),
                "corpus": settings["corpus"],
                "pretrain": settings["pretrain"],
                "losses": [round(x, 6) for x in result.losses],
                "torch": torch.__version__,
                "seconds": round(seconds, 1),
                "threads": torch.get_num_threads(),
                "dtype": "float16",
            },
        )
        write_manifest(staging)
        replace_dir_atomically(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def load_demo_backbone(directory: str | Path = CHECKPOINT_DIR) -> PointTransformer:
    """The shipped (or a re-made) demo backbone, float32, in eval mode; files verified first.

    Raises:
        FileNotFoundError: no checkpoint in ``directory``.
        CorruptFileError: a file differs from its manifest, or the weights do not fit the config.
    """
    directory = Path(directory)
    if not (directory / WEIGHTS_NAME).is_file():
        raise FileNotFoundError(
            f"{directory}: no {WEIGHTS_NAME}; make it with "
            "`python -m modalprompt.pointcloud.demo_checkpoint`"
        )
    verify_manifest(directory, required=(WEIGHTS_NAME, CONFIG_NAME))
    config = PointTransformerConfig(**read_json(directory / CONFIG_NAME)["backbone"])
    backbone = PointTransformer(config)
    state = load_tensors(directory / WEIGHTS_NAME)
    try:
        backbone.load_state_dict({k: v.to(torch.float32) for k, v in state.items()})
    except RuntimeError as err:
        raise CorruptFileError(f"{directory / WEIGHTS_NAME}: does not fit {config}: {err}") from err
    return backbone.eval()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(CHECKPOINT_DIR), help="folder to write")
    parser.add_argument("--epochs", type=int, default=None, help="override (checks only)")
    args = parser.parse_args(argv)
    path = make_checkpoint(args.out, args.epochs)
    info = read_json(path / CONFIG_NAME)
    print(
        f"wrote {path} ({(path / WEIGHTS_NAME).stat().st_size / 1e6:.2f} MB) in "
        f"{info['seconds']} s; loss {info['losses'][0]:.4f} -> {info['losses'][-1]:.4f}"
    )


if __name__ == "__main__":
    main()
