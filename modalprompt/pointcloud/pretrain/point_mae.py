"""Point-MAE pre-training (Pang et al., ECCV 2022): mask 60% of the patches at random, encode the
visible ones, reconstruct the masked patches' points with a light decoder, Chamfer-L2 loss.

The encoder is a :class:`~modalprompt.pointcloud.backbones.PointTransformer` (its blocks and
norm; no cls token during pre-training, as in the official ``MaskTransformer``); after training,
:func:`pretrain_point_mae` writes the encoder as safetensors with the fine-tuning names, which
:func:`~modalprompt.pointcloud.backbones.load_official_checkpoint` reads like an official file.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from modalprompt.core.callbacks import Callback
from modalprompt.core.io import atomic_save_tensors, atomic_write_json
from modalprompt.core.trainer import Trainer
from modalprompt.core.training_args import TrainingArguments
from modalprompt.pointcloud.backbones.point_transformer import Block, PointTransformer
from modalprompt.pointcloud.pretrain.chamfer import chamfer_distance

__all__ = ["PointMAE", "pretrain_point_mae"]


class PointMAE(nn.Module):
    """Encoder + Point-MAE decoder (``decoder_depth`` blocks, 6 heads) + point predictor.

    Shapes:
        points ``(B, N, 3)`` → scalar Chamfer-L2 loss over the masked patches.
    """

    def __init__(
        self,
        encoder: PointTransformer,
        mask_ratio: float = 0.6,
        decoder_depth: int = 4,
        decoder_heads: int = 6,
    ) -> None:
        super().__init__()
        if not 0 < mask_ratio < 1:
            raise ValueError(f"mask_ratio: expected a number in (0, 1), got {mask_ratio}")
        dim = encoder.config.trans_dim
        if dim % decoder_heads:
            decoder_heads = encoder.config.num_heads
        self.encoder, self.mask_ratio = encoder, mask_ratio
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        self.decoder_pos_embed = nn.Sequential(nn.Linear(3, 128), nn.GELU(), nn.Linear(128, dim))
        rates = torch.linspace(0, 0.1, decoder_depth).tolist()
        self.decoder = nn.ModuleList(Block(dim, decoder_heads, 4.0, r) for r in rates)
        self.decoder_norm = nn.LayerNorm(dim)
        self.increase_dim = nn.Conv1d(dim, 3 * encoder.config.group_size, 1)

    def random_mask(self, batch: int, groups: int, device: torch.device) -> Tensor:
        """``(B, G)`` bool, exactly ``int(ratio * G)`` True per row (the official 'rand' mask)."""
        count = int(self.mask_ratio * groups)
        order = torch.rand(batch, groups, device=device).argsort(dim=1)
        return order < count

    def forward(self, points: Tensor) -> Tensor:
        enc = self.encoder
        neighborhood, centers = enc.group(points)
        b, g, m, _ = neighborhood.shape
        mask = self.random_mask(b, g, points.device)
        tokens, pos = enc.patch_tokens(neighborhood), enc.pos_embed(centers)
        visible = enc.norm(
            enc.blocks(
                tokens[~mask].view(b, -1, tokens.size(-1)), pos[~mask].view(b, -1, pos.size(-1))
            )
        )
        masked_count = int(mask[0].sum())
        dec_pos = torch.cat(
            [
                self.decoder_pos_embed(centers[~mask].view(b, -1, 3)),
                self.decoder_pos_embed(centers[mask].view(b, -1, 3)),
            ],
            dim=1,
        )
        x = torch.cat([visible, self.mask_token.expand(b, masked_count, -1)], dim=1)
        for block in self.decoder:
            x = block(x + dec_pos)
        x = self.decoder_norm(x[:, -masked_count:])  # (B, masked, D)
        predicted = self.increase_dim(x.transpose(1, 2)).transpose(1, 2).reshape(-1, m, 3)
        target = neighborhood[mask].reshape(-1, m, 3)
        return chamfer_distance(predicted, target)


@dataclasses.dataclass
class PretrainResult:
    """Mean loss of every epoch, and where the encoder was written (or None)."""

    losses: list[float]
    checkpoint: Path | None


class _EpochLosses(Callback):
    """Mean training loss of each epoch, from the trainer's per-step logs."""

    def __init__(self) -> None:
        self.sums: dict[int, list[float]] = {}

    def _on_step_end(self, trainer: Any, logs: dict[str, Any]) -> None:
        if "loss" in logs:
            self.sums.setdefault(int(logs["epoch"]), []).append(float(logs["loss"]))

    def means(self) -> list[float]:
        return [sum(v) / len(v) for _, v in sorted(self.sums.items())]


def _stack_points(items: list[Any]) -> Tensor:
    return torch.stack([i[0] if isinstance(i, tuple | list) else i for i in items])


def pretrain_point_mae(
    encoder: PointTransformer,
    data: Dataset,
    *,
    epochs: int = 10,
    batch_size: int = 32,
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    mask_ratio: float = 0.6,
    decoder_depth: int = 4,
    device: str | torch.device = "auto",
    output: str | Path | None = None,
    seed: int = 0,
    run_dir: str | Path | None = None,
    save_every: int | None = None,
    resume_from: str | Path | None = None,
    precision: str = "no",
    verbose: bool = False,
) -> PretrainResult:
    """Pre-train ``encoder`` in place on ``data`` (items ``points`` or ``(points, label)``).

    Runs on the core :class:`~modalprompt.core.trainer.Trainer`: AdamW with cosine decay (the
    official schedule, shortened to ``epochs``; no warmup, no clipping), the NaN/inf guard, AMP
    on CUDA. With ``run_dir`` the Trainer writes ``metrics.jsonl`` and checkpoints there (every
    ``save_every`` steps, else every epoch) and ``resume_from="latest"`` continues a killed
    pre-training exactly. When ``output`` is given, the encoder is written to ``output``
    (``.safetensors``) with ``<output>.json`` beside it holding the backbone config, both
    atomically. Returns the mean loss of every epoch (read back from ``run_dir`` after a
    resume). ``precision`` (``"no"``, ``"fp16"``, ``"bf16"``) is the Trainer's mixed precision on
    CUDA; ``verbose`` prints the Trainer's line per epoch.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = PointMAE(encoder, mask_ratio, decoder_depth)
    args = TrainingArguments(
        output_dir=str(run_dir) if run_dir is not None else None,
        max_epochs=epochs,
        batch_size=batch_size,
        drop_last=len(data) > batch_size,
        optimizer="adamw",
        lr=lr,
        weight_decay=weight_decay,
        scheduler="cosine",
        max_grad_norm=None,
        eval_strategy="no",
        restore_best=False,
        save_every=save_every,
        seed=seed,
        device=str(device),
        log_every=1,
        verbose=verbose,
        precision=precision,
        tensorboard=False,
    )
    recorder = _EpochLosses()
    trainer = Trainer(
        model,
        args,
        train_data=data,
        collate_fn=_stack_points,
        step_fn=lambda points: {"loss": model(points)},
        param_groups=[{"params": list(model.parameters())}],
        callbacks=[recorder],
    )
    trainer.fit(resume_from=resume_from)
    losses = recorder.means()
    if run_dir is not None and resume_from is not None:
        epochs_seen: dict[int, list[float]] = {}
        for line in (Path(run_dir) / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row.get("split") == "train" and "loss" in row:
                epochs_seen.setdefault(int(row["epoch"]), []).append(float(row["loss"]))
        losses = [sum(v) / len(v) for _, v in sorted(epochs_seen.items())]
    encoder.eval()
    path = None
    if output is not None:
        path = Path(output)
        atomic_save_tensors(
            path, encoder.state_dict(), metadata={"format": "modalprompt-point-mae"}
        )
        atomic_write_json(path.with_suffix(".json"), dataclasses.asdict(encoder.config))
    return PretrainResult(losses, path)
