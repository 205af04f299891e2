"""IDPT: instance-aware dynamic prompt tuning (Zha et al., ICCV 2023, arXiv:2304.07221).

A small DGCNN (three EdgeConv layers over the patch tokens, in feature space) turns the frozen
encoder's tokens before the last block into one prompt token per instance; it is inserted after
the cls token for the remaining block(s); the head reads cls, prompt and max-pooled patches.
"""

from modalprompt.pointcloud.idpt.config import IdptConfig

__all__ = ["IdptConfig"]
