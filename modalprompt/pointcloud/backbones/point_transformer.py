"""The Point-MAE / Point-BERT "standard point transformer", with the official state-dict names.

Patches: FPS centres + kNN neighbourhoods (relative to their centre), embedded by a mini-PointNet
(``encoder``); positions by an MLP on the centres (``pos_embed``); a cls token and its position;
``depth`` pre-norm transformer blocks with the position added at *every* block input (as the
official code does); a final LayerNorm. Parameter names match Pang-Yatian/Point-MAE's
``PointTransformer`` (``encoder.first_conv.0.weight``, ``blocks.blocks.0.attn.qkv.weight``, ...)
so official checkpoints load through
:func:`~modalprompt.pointcloud.backbones.checkpoint.load_official_checkpoint`.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from modalprompt.pointcloud.ops import furthest_point_sample, gather, group

__all__ = ["PointTransformerConfig", "PointTransformer", "MiniPointNet", "Block"]


@dataclasses.dataclass
class PointTransformerConfig:
    """Sizes of the backbone (defaults: the papers' 12 x 384, 6 heads, 64 patches of 32 points).

    ``encoder_dims`` != ``trans_dim`` adds Point-BERT's ``reduce_dim`` Linear (256 → 384 there).
    """

    trans_dim: int = 384
    depth: int = 12
    num_heads: int = 6
    encoder_dims: int = 384
    num_group: int = 64
    group_size: int = 32
    mlp_ratio: float = 4.0
    drop_path_rate: float = 0.1

    def __post_init__(self) -> None:
        for name in ("trans_dim", "depth", "num_heads", "encoder_dims", "num_group", "group_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"PointTransformerConfig.{name}: expected an integer >= 1, got {value!r}"
                )
        if self.trans_dim % self.num_heads:
            raise ValueError(
                f"trans_dim ({self.trans_dim}) must be divisible by num_heads ({self.num_heads})"
            )


class MiniPointNet(nn.Module):
    """Per-patch PointNet: ``(B, G, M, 3)`` → ``(B, G, C)`` (official name: ``Encoder``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.first_conv = nn.Sequential(
            nn.Conv1d(3, 128, 1), nn.BatchNorm1d(128), nn.ReLU(inplace=True), nn.Conv1d(128, 256, 1)
        )
        self.second_conv = nn.Sequential(
            nn.Conv1d(512, 512, 1),
            nn.BatchNorm1d(512),
            nn.ReLU(inplace=True),
            nn.Conv1d(512, channels, 1),
        )

    def forward(self, patches: Tensor) -> Tensor:
        b, g, m, _ = patches.shape
        feature = self.first_conv(patches.reshape(b * g, m, 3).transpose(2, 1))  # (BG, 256, M)
        global_feature = feature.max(dim=2, keepdim=True).values
        feature = torch.cat([global_feature.expand(-1, -1, m), feature], dim=1)  # (BG, 512, M)
        feature = self.second_conv(feature).max(dim=2).values  # (BG, C)
        return feature.reshape(b, g, self.channels)


class DropPath(nn.Module):
    """Stochastic depth per sample (identity in eval)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = x.new_empty(x.size(0), *([1] * (x.dim() - 1))).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        b, n, c = x.shape
        qkv = (
            self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        )
        out = nn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block (timm style, ``qkv_bias=False``)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, drop_path: float) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = Attention(dim, num_heads)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class TransformerEncoder(nn.Module):
    """``blocks`` (the official container name); :meth:`forward` adds ``pos`` before every block."""

    def __init__(self, config: PointTransformerConfig) -> None:
        super().__init__()
        rates = torch.linspace(0, config.drop_path_rate, config.depth).tolist()
        self.blocks = nn.ModuleList(
            Block(config.trans_dim, config.num_heads, config.mlp_ratio, rate) for rate in rates
        )

    def forward(self, x: Tensor, pos: Tensor, start: int = 0, end: int | None = None) -> Tensor:
        for block in self.blocks[start:end]:
            x = block(x + pos)
        return x


class PointTransformer(nn.Module):
    """Point-MAE / Point-BERT encoder; ``forward(points)`` gives ``[cls ‖ max over patches]``.

    Args:
        config: :class:`PointTransformerConfig`.

    Shapes:
        points: ``(B, N, 3)`` → ``forward``: ``(B, 2 * trans_dim)`` (the input of the official
        classification head); ``embed``: tokens and positions ``(B, 1 + G, trans_dim)``.
    """

    def __init__(self, config: PointTransformerConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or PointTransformerConfig()
        self.encoder = MiniPointNet(config.encoder_dims)
        if config.encoder_dims != config.trans_dim:
            self.reduce_dim = nn.Linear(config.encoder_dims, config.trans_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.trans_dim))
        self.cls_pos = nn.Parameter(torch.randn(1, 1, config.trans_dim))
        self.pos_embed = nn.Sequential(
            nn.Linear(3, 128), nn.GELU(), nn.Linear(128, config.trans_dim)
        )
        self.blocks = TransformerEncoder(config)
        self.norm = nn.LayerNorm(config.trans_dim)
        self.apply(self._init_weights)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        nn.init.trunc_normal_(self.cls_pos, std=0.02)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    @property
    def feature_dim(self) -> int:
        return 2 * self.config.trans_dim

    @property
    def embed_dim(self) -> int:
        return self.config.trans_dim

    def group(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """Patches ``(B, G, M, 3)`` relative to their centres, and the centres ``(B, G, 3)``.

        Coordinates of another dtype (float64 from numpy, integers) are cast to the backbone's
        dtype; a batch of zero clouds, a non-tensor, bool/complex or non-finite coordinates are
        refused by name.
        """
        if not isinstance(points, Tensor) or points.dtype == torch.bool or points.is_complex():
            found = (
                f"{points.dtype} tensor" if isinstance(points, Tensor) else type(points).__name__
            )
            raise TypeError(f"points: expected a real (B, N, 3) tensor of coordinates, got {found}")
        if points.dim() != 3 or points.size(-1) < 3:
            raise ValueError(
                f"points: expected (B, N, 3) or (B, N, 3+C), got {tuple(points.shape)}"
            )
        if points.size(0) == 0:
            raise ValueError("points: empty batch (0 clouds); a batch needs at least one cloud")
        # extra per-point features are not used by the tokenizer
        points = points[..., :3].to(self.cls_token.dtype)
        needed = max(self.config.group_size, self.config.num_group)
        if points.size(1) < needed:
            raise ValueError(
                f"points: {points.size(1)} points per cloud, fewer than num_group "
                f"({self.config.num_group}) / group_size ({self.config.group_size})"
            )
        finite = torch.isfinite(points).all(dim=(1, 2))
        if not bool(finite.all()):
            bad = torch.nonzero(~finite).flatten().tolist()
            raise ValueError(f"points: NaN or inf coordinates in cloud(s) {bad[:10]} of the batch")
        centers = gather(points, furthest_point_sample(points, self.config.num_group))
        neighborhood, _ = group(points, centers, self.config.group_size)
        return neighborhood, centers

    def patch_tokens(self, neighborhood: Tensor) -> Tensor:
        tokens = self.encoder(neighborhood)  # (B, G, C)
        return self.reduce_dim(tokens) if hasattr(self, "reduce_dim") else tokens

    def embed(self, points: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Tokens ``(B, 1+G, D)`` (cls first), positions (same shape), centres ``(B, G, 3)``."""
        neighborhood, centers = self.group(points)
        tokens = self.patch_tokens(neighborhood)
        b = tokens.size(0)
        x = torch.cat([self.cls_token.expand(b, -1, -1), tokens], dim=1)
        pos = torch.cat([self.cls_pos.expand(b, -1, -1), self.pos_embed(centers)], dim=1)
        return x, pos, centers

    def forward_features(self, points: Tensor) -> Tensor:
        """Normalised tokens after all blocks ``(B, 1+G, D)``."""
        x, pos, _ = self.embed(points)
        return self.norm(self.blocks(x, pos))

    def forward(self, points: Tensor) -> Tensor:
        x = self.forward_features(points)
        return torch.cat([x[:, 0], x[:, 1:].max(dim=1).values], dim=-1)
