"""Point-cloud backbones: the Point-MAE / Point-BERT point transformer and its checkpoints."""

from modalprompt.pointcloud.backbones.checkpoint import load_official_checkpoint, map_official_keys
from modalprompt.pointcloud.backbones.point_transformer import (
    PointTransformer,
    PointTransformerConfig,
)

__all__ = [
    "PointTransformer",
    "PointTransformerConfig",
    "load_official_checkpoint",
    "map_official_keys",
]
