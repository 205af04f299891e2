"""Point-PEFT (Tang et al., AAAI 2024, arXiv:2310.03059): Point-prior prompts enhanced from a
memory bank of domain features by parameter-free attention, and Geometry-aware Adapters that
aggregate tokens over spatial neighbourhoods, on a frozen point transformer."""

from modalprompt.pointcloud.point_peft.config import PointPeftConfig

__all__ = ["PointPeftConfig"]
