"""Point-cloud datasets: the procedural default and readers of standard formats."""

from modalprompt.pointcloud.datasets.readers import Shrec11, read_modelnet_txt
from modalprompt.pointcloud.datasets.synthetic import SHAPE_CLASSES, SyntheticShapes

__all__ = ["SyntheticShapes", "SHAPE_CLASSES", "Shrec11", "read_modelnet_txt"]
