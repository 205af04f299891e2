"""`IdptModel` and its DGCNN prompt generator."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from modalprompt.core.model import PromptModel
from modalprompt.pointcloud.heads import (
    TrainableCls,
    check_point_backbone,
    classification_head,
    frozen_patches,
)
from modalprompt.pointcloud.idpt.config import IdptConfig
from modalprompt.pointcloud.ops import knn

__all__ = ["IdptModel", "DgcnnPromptGenerator"]


def _edge_features(x: Tensor, k: int) -> Tensor:
    """``[x_j - x_i ‖ x_i]`` over each token's ``k`` nearest tokens in feature space (self
    included, as the official ``knn``): ``(B, G, C)`` → ``(B, 2C, G, k)``. The official
    ``get_graph_feature`` hard-codes a CUDA index base; here everything follows ``x.device``."""
    idx = knn(x, x, min(k, x.size(1)))  # (B, G, k)
    b = torch.arange(x.size(0), device=x.device).view(-1, 1, 1)
    neighbours = x[b, idx]  # (B, G, k, C)
    centre = x.unsqueeze(2).expand_as(neighbours)
    return torch.cat([neighbours - centre, centre], dim=-1).permute(0, 3, 1, 2)


class DgcnnPromptGenerator(nn.Module):
    """The official ``DGCNNView``: EdgeConv × ``layers`` (dynamic graph), Conv1d over their
    concatenation, max over tokens → one prompt token.

    Shapes:
        tokens: ``(B, G, C)`` → prompt ``(B, 1, C)``.
    """

    def __init__(self, dim: int, k: int = 20, layers: int = 3) -> None:
        super().__init__()
        self.k = k
        self.edge_convs = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(2 * dim, dim, 1, bias=False), nn.BatchNorm2d(dim), nn.LeakyReLU(0.2)
            )
            for _ in range(layers)
        )
        self.fuse = nn.Sequential(
            nn.Conv1d(layers * dim, dim, 1, bias=False), nn.BatchNorm1d(dim), nn.LeakyReLU(0.2)
        )

    def forward(self, tokens: Tensor) -> Tensor:
        outputs, x = [], tokens
        for conv in self.edge_convs:
            x = conv(_edge_features(x, self.k)).max(dim=-1).values.transpose(1, 2)  # (B, G, C)
            outputs.append(x)
        fused = self.fuse(torch.cat(outputs, dim=-1).transpose(1, 2))  # (B, C, G)
        return fused.max(dim=-1).values.unsqueeze(1)


class IdptModel(PromptModel):
    """IDPT on a frozen :class:`~modalprompt.pointcloud.backbones.PointTransformer`.

    Trainable: the prompt generator, the head, and copies of ``cls_token``/``cls_pos`` (the
    official optimiser's "only_new" set); at 12 × 384 with 15 classes that is 1,696,783
    parameters (7.7%), as the paper reports.

    Differs from the official code: the frozen backbone runs in eval mode (the official model
    trains in ``train()`` mode, so the tokenizer's BatchNorm statistics drift and drop-path stays
    on in frozen blocks), and frozen parameters get no gradients (the official code computes them
    and includes them in the gradient-clipping norm).

    Shapes:
        points: ``(B, N, 3)`` → logits ``(B, num_classes)``.
    """

    def __init__(self, backbone: nn.Module, config: IdptConfig) -> None:
        check_point_backbone(backbone)
        if config.prompt_layer >= backbone.config.depth:
            raise ValueError(
                f"prompt_layer: {config.prompt_layer} is not below the backbone's depth "
                f"{backbone.config.depth}"
            )
        super().__init__(backbone, config)
        dim = backbone.config.trans_dim
        self.cls = TrainableCls(backbone)
        self.prompt_generator = DgcnnPromptGenerator(dim, config.k, config.edge_convs)
        prompt_pos = torch.empty(1, 1, dim)
        nn.init.trunc_normal_(prompt_pos, std=0.02)
        if config.learn_prompt_pos:
            self.prompt_pos = nn.Parameter(prompt_pos)
        else:
            self.register_buffer("prompt_pos", prompt_pos)
        width = {"all": 3, "promptonly": 1, "promptcls": 2, "pointcls": 2}[config.cls_type]
        self.head = classification_head(width * dim, config.num_classes, config.head_dropout)

    def features(self, points: Tensor) -> Tensor:
        bb, layer = self.backbone, self.config.prompt_layer
        tokens, pos, _ = frozen_patches(bb, points)
        x, pos_no_prompt = self.cls.prepend(tokens, pos)
        x = bb.blocks(x, pos_no_prompt, 0, layer)
        prompt = self.prompt_generator(x[:, 1:])  # (B, 1, D)
        x = torch.cat([x[:, :1], prompt, x[:, 1:]], dim=1)
        b = x.size(0)
        pos_all = torch.cat(
            [pos_no_prompt[:, :1], self.prompt_pos.expand(b, -1, -1), pos_no_prompt[:, 1:]], 1
        )
        x = bb.norm(bb.blocks(x, pos_all, layer, None))
        cls, prompt_out, patches = x[:, 0], x[:, 1], x[:, 2:].max(dim=1).values
        return {
            "all": lambda: torch.cat([cls, prompt_out, patches], -1),
            "promptonly": lambda: prompt_out,
            "promptcls": lambda: torch.cat([cls, prompt_out], -1),
            "pointcls": lambda: torch.cat([cls, patches], -1),
        }[self.config.cls_type]()

    def forward(self, points: Tensor) -> Tensor:
        return self.head(self.features(points))
