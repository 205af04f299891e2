"""Point-cloud datasets: the procedural default, readers of standard formats, and transforms."""

from modalprompt.pointcloud.datasets.readers import (
    H5PointClouds,
    PointFolder,
    Shrec11,
    read_modelnet_txt,
)
from modalprompt.pointcloud.datasets.synthetic import SHAPE_CLASSES, SyntheticShapes

__all__ = [
    "SyntheticShapes",
    "SHAPE_CLASSES",
    "Shrec11",
    "H5PointClouds",
    "PointFolder",
    "read_modelnet_txt",
]
