"""GPF / GPF-plus configurations (registered as ``gpf`` and ``gpf_plus``)."""

from __future__ import annotations

from dataclasses import dataclass

from modalprompt.core.config import (
    ConfigError,
    PromptConfig,
    check_bool,
    check_choice,
    check_float,
    check_int,
)
from modalprompt.core.registry import register_method
from modalprompt.graph.readout import TASK_TYPES

_MODEL = "modalprompt.graph.gpf.model"


@dataclass(kw_only=True)
class _FeaturePromptConfig(PromptConfig):
    """Shared fields.

    Args:
        task_type: ``"multilabel"`` (molecules) or ``"multiclass"``.
        num_outputs: Tasks (multilabel) or classes (multiclass).
        head_layers: Layers of the graph head (official ``--num_layers`` 1–3).
        head_dropout: Dropout before each head layer (official: 0.5 for chem).
        head_standardize: Standardise the pooled graph embedding per feature with statistics
            of the training graphs before the head (:class:`~modalprompt.graph.readout.
            ProjectionHead`; fitted by ``prepare_fit``, which the Trainer calls). Not in the
            official code, whose "frozen" GNN runs in train mode, so its BatchNorm layers
            normalise every batch; here the GNN stays in eval mode and its pooled embeddings
            can be far from unit scale (salts in molecule sets). At 50 shots on six MoleculeNet
            sets it lifts a head on the official ContextPred GCN from 50.5 to 57.7 ROC-AUC and
            lowers one on the supervised+ContextPred GCN from 59.0 to 56.2 (see
            ``ProjectionHead``): False gives the official plain head; try both on a backbone
            whose pre-training ended with a supervised head.
    """

    task_type: str = "multilabel"
    num_outputs: int = 1
    head_layers: int = 1
    head_dropout: float = 0.5
    head_standardize: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self, "task_type", TASK_TYPES)
        check_int(self, "num_outputs", minimum=1)
        if self.task_type == "multiclass" and self.num_outputs < 2:
            raise ConfigError(
                f"{type(self).__name__}.num_outputs: got {self.num_outputs}; "
                "multiclass needs >= 2 classes"
            )
        check_int(self, "head_layers", minimum=1)
        check_float(self, "head_dropout", minimum=0.0, maximum=0.99)
        check_bool(self, "head_standardize")


@register_method(
    "gpf",
    domain="graph",
    description="One learnable vector added to every node (GPF)",
    model=f"{_MODEL}:GpfModel",
    extra="graph",
    tiny={"num_outputs": 2},
)
@dataclass(kw_only=True)
class GpfConfig(_FeaturePromptConfig):
    """GPF: ``x_i' = x_i + p`` (``p`` Glorot-initialised)."""


@register_method(
    "gpf_plus",
    domain="graph",
    description="Per-node attention over learnable prompt vectors (GPF-plus)",
    model=f"{_MODEL}:GpfPlusModel",
    extra="graph",
    tiny={"num_outputs": 2, "num_basis": 3},
)
@dataclass(kw_only=True)
class GpfPlusConfig(_FeaturePromptConfig):
    """GPF-plus: ``x_i' = x_i + sum_k softmax(a(x_i))_k p_k``.

    Args:
        num_basis: Prompt vectors ``p_k`` (official ``pnum`` in {5, 10, 20}).
    """

    num_basis: int = 10

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self, "num_basis", minimum=1)
