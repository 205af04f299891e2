"""GraphCLIP few-shot prompt configuration (registered as ``graphclip``)."""

from __future__ import annotations

from dataclasses import dataclass

from modalprompt.core.config import PromptConfig, check_float, check_int
from modalprompt.core.registry import register_method

__all__ = ["GraphClipConfig"]


@register_method(
    "graphclip",
    domain="graph",
    description="Feature prompt on a graph encoder aligned with a frozen text encoder (GraphCLIP)",
    model="modalprompt.graph.graphclip.model:GraphClipModel",
    tiny_case="modalprompt.graph.graphclip.testing:tiny_case",
    extra="graph",
    tiny={"num_classes": 3},
)
@dataclass(kw_only=True)
class GraphClipConfig(PromptConfig):
    """Few-shot GraphCLIP prompt tuning.

    Args:
        num_classes: Classes of the target task (rows of the class-text embeddings).
        temperature: Temperature of the cosine logits (zero-shot uses 1/100, as officially).
    """

    num_classes: int = 2
    temperature: float = 0.01

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self, "num_classes", minimum=1)
        check_float(self, "temperature", minimum=1e-4, maximum=10.0)
