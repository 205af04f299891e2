"""IDPT's configuration (registered as ``idpt``); defaults from the official cfgs/*_idpt.yaml."""

from __future__ import annotations

from dataclasses import dataclass

from modalprompt.core.config import PromptConfig, check_bool, check_choice, check_float, check_int
from modalprompt.core.registry import register_method


@register_method(
    "idpt",
    domain="pointcloud",
    description="Instance-aware prompt from patch tokens by a DGCNN (IDPT)",
    model="modalprompt.pointcloud.idpt.model:IdptModel",
    extra="pointcloud",
    tiny={"num_classes": 3, "prompt_layer": 1, "k": 4},
)
@dataclass(kw_only=True)
class IdptConfig(PromptConfig):
    """IDPT (Zha et al., ICCV 2023).

    Args:
        num_classes: Classes of the head.
        prompt_layer: Index of the block before which the prompt is inserted (official: 11 = the
            last of 12; 6 for OBJ_ONLY). Must be below the backbone's depth.
        k: Neighbours of the feature-space kNN graph of the EdgeConv layers (official: 20).
        edge_convs: EdgeConv layers (3 = ``dgcnn``; 1 = ``dgcnn_light``).
        cls_type: Head input: ``"all"`` (cls ‖ prompt ‖ max patches), ``"promptonly"``,
            ``"promptcls"``, ``"pointcls"`` (cls ‖ max patches).
        head_dropout: Dropout in the head (official: 0.5).
        learn_prompt_pos: Train the prompt token's position; the official code leaves it at its
            random initialisation (its name lacks "cls", so its optimiser skips it).
    """

    num_classes: int = 40
    prompt_layer: int = 11
    k: int = 20
    edge_convs: int = 3
    cls_type: str = "all"
    head_dropout: float = 0.5
    learn_prompt_pos: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self, "num_classes", minimum=2)
        check_int(self, "prompt_layer", minimum=0)
        check_int(self, "k", minimum=1)
        check_int(self, "edge_convs", minimum=1)
        check_choice(self, "cls_type", ("all", "promptonly", "promptcls", "pointcls"))
        check_float(self, "head_dropout", minimum=0.0, maximum=0.99)
        check_bool(self, "learn_prompt_pos")
