"""IAPT's configuration (registered as ``iapt``)."""

from __future__ import annotations

from dataclasses import dataclass

from modalprompt.core.config import (
    ConfigError,
    PromptConfig,
    check_bool,
    check_choice,
    check_int,
)
from modalprompt.core.registry import register_method

__all__ = ["IaptConfig"]

TASKS = ("lm", "classification")
ACTIVATIONS = ("gelu", "relu", "tanh", "identity")
INSERTIONS = ("auto", "replace", "add")


@register_method(
    "iapt",
    domain="nlp",
    description="IAPT: per-layer generators turn the instruction into 4 soft tokens per layer",
    model="modalprompt.nlp.iapt.model:IaptModel",
    tiny_case="modalprompt.nlp.prompt_tuning.testing:tiny_case",
    extra="nlp",
    tiny={"bottleneck": 4, "task": "classification"},
)
@dataclass(kw_only=True)
class IaptConfig(PromptConfig):
    """IAPT (Zhu et al., ACL 2024) on a frozen encoder-only or decoder-only Hugging Face model.

    The paper fixes four soft tokens; it publishes no code, so the other defaults are ours.

    Args:
        num_tokens: ``l_sp``, soft tokens generated per layer (paper: 4).
        bottleneck: ``m``, width of each generator's down-projection (ours: 16).
        rational_degrees: ``(p, q)`` of the learned rational activation (PAU's 5, 4).
        activation_init: The activation each rational starts from (``"gelu"``, ``"relu"``,
            ``"tanh"`` or ``"identity"``).
        share_projections: One down- and one up-projection shared by all layers (the paper's
            cross-layer sharing); pooling, normalisation and rational stay per layer.
        insertion: How a layer's generated tokens enter its input at the soft-token slots:
            ``"replace"`` (the paper: they replace the previous layer's soft tokens), ``"add"``
            (added to the slots' propagated hidden states, a residual form of the same
            per-layer prompt) or ``"auto"``: replace on encoders, add on decoders. Departure:
            on a pre-norm decoder with RMSNorm, replacing by the near-zero tokens of a fresh
            generator turns the four slots into zero-key, zero-value attention sinks in every
            layer; on SmolLM2-135M-Instruct that took SST-2 test accuracy at step 0 from 71.9
            (zero-shot) to 53.1, while the additive form starts at 76.0 (96 sentences).
        task: ``"lm"`` (the backbone's own head and loss) or ``"classification"`` (a
            ``...ForSequenceClassification`` backbone whose head is copied and trained).
        train_head: For ``"classification"``: train the head copy.
    """

    num_tokens: int = 4
    bottleneck: int = 16
    rational_degrees: tuple[int, int] = (5, 4)
    activation_init: str = "gelu"
    share_projections: bool = False
    insertion: str = "auto"
    task: str = "lm"
    train_head: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self, "num_tokens", minimum=1)
        check_int(self, "bottleneck", minimum=1)
        degrees = self.rational_degrees
        if (
            not isinstance(degrees, list | tuple)
            or len(degrees) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in degrees)
            or degrees[0] < 1
            or degrees[1] < 1
        ):
            raise ConfigError(
                f"IaptConfig.rational_degrees: got {degrees!r}; expected two integers (p, q) >= 1"
            )
        object.__setattr__(self, "rational_degrees", tuple(degrees))
        check_choice(self, "activation_init", ACTIVATIONS)
        check_bool(self, "share_projections")
        check_choice(self, "insertion", INSERTIONS)
        check_choice(self, "task", TASKS)
        check_bool(self, "train_head")
