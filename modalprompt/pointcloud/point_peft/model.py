"""`PointPeftModel`: Point-prior prompts (P²-Bank) and Geometry-aware Adapters.

Per block ``l`` of the frozen transformer (position re-added at every block, as Point-MAE)::

    l < prompt_layers:  P = Dropout(prompt_l) + bank_adapter_l(bank prompt)      (B, P, D)
                        x = [cls, P, patches]
    x = x + attn(norm1(x)); h = mlp(norm2(x)); x = x + h + scale * adapter_l(h)   (frozen + serial)
    patches += GA-Adapter_l(patches)                      (neighbourhoods of token centres)
    x = adapter1_l(x); drop P

Bank prompt: the frozen encoder's max-pooled feature ``q`` of the instance retrieves its ``top_k``
most cosine-similar features ``F`` of the memory bank (built from the training set with
:meth:`PointPeftModel.build_memory_bank`), ``w = softmax(sim)``:
``[q, w F, F]`` (``top_k + 2`` tokens). GA-Adapter: tokens grouped by kNN around FPS sub-centres
of the token centres, a small self-attention shared by all blocks, max-pooling, plus
``center_coef`` × the sub-centre token, propagated back to every token with inverse squared
distance weights over all sub-centres, scaled by ``propagate_coef``. Trainable besides: the bias
terms of every frozen block (as deltas), the final norm, cls token/position, and the head.

Differs from the official code, which the method brief lists as buggy: neighbourhoods are indexed
per sample (the official first six blocks shift rows of sample ``b`` by ``10 b``, mixing samples);
token positions are the tokens' own centres (the official code propagates with FPS centres that
include learnable "prompt coordinates"); prompt tokens get a zero position; the memory bank is
built by this library (the official bank file and its builder are not released); the frozen
backbone runs in eval mode.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from modalprompt.core.model import PromptModel
from modalprompt.pointcloud.heads import (
    TrainableCls,
    check_point_backbone,
    classification_head,
    frozen_patches,
)
from modalprompt.pointcloud.ops import furthest_point_sample, gather, knn, square_distance
from modalprompt.pointcloud.point_peft.config import PointPeftConfig

__all__ = ["PointPeftModel", "Bottleneck"]


class Bottleneck(nn.Module):
    """``down → QuickGELU → up``; ``residual`` adds the input back."""

    def __init__(self, dim: int, hidden: int, residual: bool) -> None:
        super().__init__()
        self.down, self.up, self.residual = nn.Linear(dim, hidden), nn.Linear(hidden, dim), residual

    def forward(self, x: Tensor) -> Tensor:
        h = self.down(x)
        out = self.up(h * torch.sigmoid(1.702 * h))
        return x + out if self.residual else out


class LocalAttention(nn.Module):
    """The GA-Adapter's small self-attention (``qkv`` without bias, ``heads × head_dim`` wide)."""

    def __init__(self, dim: int, heads: int, head_dim: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.qkv = nn.Linear(dim, 3 * heads * head_dim, bias=False)
        self.proj = nn.Linear(heads * head_dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        n, length, _ = x.shape
        qkv = self.qkv(x).view(n, length, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        out = nn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(out.transpose(1, 2).reshape(n, length, -1))


class BlockDeltas(nn.Module):
    """Trainable bias offsets of one frozen block (BitFit on ``norm1``, ``proj``, ``fc1``,
    ``fc2``, ``norm2``), all starting at zero."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        for name, width in (
            ("norm1", dim),
            ("proj", dim),
            ("fc1", hidden),
            ("fc2", dim),
            ("norm2", dim),
        ):
            setattr(self, name, nn.Parameter(torch.zeros(width)))


class PointPeftModel(PromptModel):
    """Point-PEFT on a frozen :class:`~modalprompt.pointcloud.backbones.PointTransformer`.

    Trainable at 12 × 384 with 15 classes: 710,719 parameters (3.2%; the README's "0.7M"). The
    official trainable set counts 773,017 because every one of its 12 blocks creates a
    cp_adapter and prompt embeddings that only blocks 0-5 use (62,256 parameters that never
    reach the logits); the last 42 of the difference we have not itemised.

    Shapes:
        points: ``(B, N, 3)`` → logits ``(B, num_classes)``.
    """

    def __init__(self, backbone: nn.Module, config: PointPeftConfig) -> None:
        check_point_backbone(backbone)
        c, bb = config, backbone.config
        if c.prompt_layers > bb.depth:
            raise ValueError(
                f"prompt_layers: {c.prompt_layers} exceeds the backbone's depth {bb.depth}"
            )
        if c.ga_groups > bb.num_group or c.ga_group_size > bb.num_group:
            raise ValueError(
                f"ga_groups ({c.ga_groups}) and ga_group_size ({c.ga_group_size}) must not "
                f"exceed the backbone's num_group ({bb.num_group})"
            )
        super().__init__(backbone, config)
        dim, hidden = bb.trans_dim, int(bb.trans_dim * bb.mlp_ratio)
        self.cls = TrainableCls(backbone)
        self.prompts = nn.Parameter(torch.zeros(c.prompt_layers, c.num_prompts, dim))
        nn.init.trunc_normal_(self.prompts, std=0.02)
        self.prompt_dropout = nn.Dropout(c.prompt_dropout)
        self.bank_adapters = nn.ModuleList(
            Bottleneck(dim, c.bank_adapter_dim, True) for _ in range(c.prompt_layers)
        )
        self.serial_adapters = nn.ModuleList(
            Bottleneck(dim, c.adapter_dim, False) for _ in range(bb.depth)
        )
        self.token_adapters = nn.ModuleList(
            Bottleneck(dim, c.adapter_dim, True) for _ in range(bb.depth)
        )
        self.ga_norm = nn.LayerNorm(dim)  # shared by all blocks (official norm3)
        self.ga_attention = LocalAttention(
            dim, c.ga_heads, c.ga_head_dim
        )  # shared (official attn1)
        self.ga_pool_norms = nn.ModuleList(nn.BatchNorm1d(dim) for _ in range(bb.depth))
        self.deltas = nn.ModuleList(BlockDeltas(dim, hidden) for _ in range(bb.depth))
        self.final_norm = nn.LayerNorm(dim)
        self.final_norm.load_state_dict(backbone.norm.state_dict())
        self.head = classification_head(2 * dim, c.num_classes, c.head_dropout)
        self.register_buffer("memory_bank", torch.zeros(0, dim))

    # ------------------------------------------------------------------------- memory bank
    @torch.no_grad()
    def query_features(self, points: Tensor) -> Tensor:
        """The frozen encoder's max-pooled patch feature ``(B, D)`` (the bank's key space)."""
        return self.backbone.forward_features(points)[:, 1:].max(dim=1).values

    @torch.no_grad()
    def build_memory_bank(self, data: Any, batch_size: int = 32) -> Tensor:
        """Fill the P²-Bank with L2-normalised features of ``data`` (items ``points`` or
        ``(points, label)``), typically the training set; returns it ``(M, D)``."""
        rows = []
        for start in range(0, len(data), batch_size):
            items = [data[i] for i in range(start, min(start + batch_size, len(data)))]
            points = torch.stack([i[0] if isinstance(i, tuple | list) else i for i in items])
            rows.append(
                nn.functional.normalize(self.query_features(points.to(self.device)), dim=-1)
            )
        self.memory_bank = torch.cat(rows)
        return self.memory_bank

    def bank_prompt(self, points: Tensor) -> Tensor:
        """``[q, w F, F]`` ``(B, top_k + 2, D)``; without a bank, ``q`` repeated."""
        q = self.query_features(points)
        k = self.config.top_k
        if self.memory_bank.size(0) < k:
            return q.unsqueeze(1).expand(-1, k + 2, -1)
        sims = nn.functional.normalize(q, dim=-1) @ self.memory_bank.T  # (B, M)
        top, idx = sims.topk(k, dim=-1)
        feats = self.memory_bank[idx]  # (B, k, D)
        mixed = torch.softmax(top, dim=-1).unsqueeze(1) @ feats  # (B, 1, D)
        return torch.cat([q.unsqueeze(1), mixed, feats], dim=1)

    def load_prompt_state_dict(self, state) -> None:
        if "memory_bank" in state:  # the bank's size depends on the data it was built from
            self.memory_bank = torch.zeros_like(
                state["memory_bank"], device=self.memory_bank.device
            )
        super().load_prompt_state_dict(state)

    # ------------------------------------------------------------------------------ forward
    def _block(self, i: int, x: Tensor) -> Tensor:
        """Frozen block ``i`` with its bias deltas and serial adapter."""
        block, d = self.backbone.blocks.blocks[i], self.deltas[i]
        attn = block.attn
        h = block.norm1(x) + d.norm1
        b, n, c = h.shape
        qkv = (
            attn.qkv(h).reshape(b, n, 3, attn.num_heads, c // attn.num_heads).permute(2, 0, 3, 1, 4)
        )
        out = nn.functional.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        x = x + attn.proj(out.transpose(1, 2).reshape(b, n, c)) + d.proj
        mlp = block.mlp
        h = mlp.fc2(mlp.act(mlp.fc1(block.norm2(x) + d.norm2) + d.fc1)) + d.fc2
        return x + h + self.config.adapter_scale * self.serial_adapters[i](h)

    def _geometry(self, centers: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Sub-centre indices ``(B, S)``, their token neighbourhoods ``(B, S, K)`` and the
        propagation weights ``(B, G, S)`` (inverse squared distance, normalised)."""
        sub = furthest_point_sample(centers, self.config.ga_groups)
        sub_centers = gather(centers, sub)
        neighbours = knn(sub_centers, centers, self.config.ga_group_size)
        weights = 1.0 / (square_distance(centers, sub_centers) + 1e-8)
        return sub, neighbours, weights / weights.sum(-1, keepdim=True)

    def _ga_adapter(
        self, i: int, tokens: Tensor, geometry: tuple[Tensor, Tensor, Tensor]
    ) -> Tensor:
        sub, neighbours, weights = geometry
        b, s, k = neighbours.shape
        groups = gather(tokens, neighbours).reshape(b * s, k, -1)  # per-sample indexing
        groups = groups + self.ga_attention(self.ga_norm(groups))
        pooled = groups.max(dim=1).values  # (B*S, D)
        local = nn.functional.gelu(self.ga_pool_norms[i](pooled)).view(b, s, -1)
        local = local + self.config.center_coef * gather(tokens, sub)
        return tokens + self.config.propagate_coef * (weights @ local)

    def forward(self, points: Tensor) -> Tensor:
        c, bb = self.config, self.backbone
        tokens, pos, centers = frozen_patches(bb, points)
        geometry = self._geometry(centers)
        bank = self.bank_prompt(points) if c.prompt_layers else None
        x, pos = self.cls.prepend(tokens, pos)
        g = tokens.size(1)
        for i in range(bb.config.depth):
            with_prompts = i < c.prompt_layers
            if with_prompts:
                prompt = self.prompt_dropout(self.prompts[i]).unsqueeze(0) + self.bank_adapters[i](
                    bank
                )
                x = torch.cat([x[:, :1], prompt, x[:, 1:]], dim=1)
                pos_i = torch.cat([pos[:, :1], torch.zeros_like(prompt), pos[:, 1:]], dim=1)
            else:
                pos_i = pos
            x = self._block(i, x + pos_i)
            patches = self._ga_adapter(i, x[:, -g:], geometry)
            x = self.token_adapters[i](torch.cat([x[:, :-g], patches], dim=1))
            if with_prompts:
                x = torch.cat([x[:, :1], x[:, -g:]], dim=1)
        x = self.final_norm(x)
        return self.head(torch.cat([x[:, 0], x[:, 1:].max(dim=1).values], dim=-1))
