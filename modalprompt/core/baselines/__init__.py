"""Baselines every domain shares: a linear probe on frozen features, and full fine-tuning.

Both work on any backbone whose ``forward`` returns one feature vector per example
``(B, D)``; each domain provides such feature backbones (pooled graph or point-cloud encoders,
[CLS] of a text encoder).
"""

from modalprompt.core.baselines.config import FullFinetuneConfig, LinearProbeConfig
from modalprompt.core.baselines.model import FullFinetuneModel, LinearProbeModel

__all__ = ["LinearProbeConfig", "LinearProbeModel", "FullFinetuneConfig", "FullFinetuneModel"]
