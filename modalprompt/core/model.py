"""`PromptModel`: a frozen pre-trained backbone plus the trainable parts of one method.

The backbone is frozen the way a user expects and the official RELIEF/GPF code does not
guarantee: ``requires_grad_(False)`` and ``eval()`` — and it *stays* in eval mode when the
wrapper is put in ``.train()``, so dropout is off and BatchNorm running statistics never drift.

A method subclasses :class:`PromptModel`, adds its trainable modules in ``__init__`` and
implements ``forward``. Training code (the :class:`~modalprompt.core.trainer.Trainer`) talks to a
model through two methods with defaults that fit plain classification:

* ``training_step(batch) -> {"loss": Tensor, ...}``
* ``validation_step(batch) -> {"logits": Tensor, "labels": Tensor, ...}``, whose outputs are
  concatenated over the evaluation set and scored by ``compute_metrics(outputs)``.

Batches for the defaults are ``(inputs, labels)`` pairs or mappings with a ``"labels"`` key
(everything else is passed to ``forward`` as keyword arguments).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from modalprompt.core.config import PromptConfig

__all__ = ["PromptModel", "freeze", "unfreeze", "is_frozen", "dropout_active"]


class _StaysInEval:
    """Replaces a frozen module's ``train``: whatever mode is asked for, it stays in eval.

    A plain class (not a bound function), so a frozen model still pickles with ``torch.save``
    and deep-copies.
    """

    def __init__(self, module: nn.Module) -> None:
        self.module = module

    def __call__(self, mode: bool = True) -> nn.Module:
        return nn.Module.train(self.module, False)


def freeze(module: nn.Module) -> nn.Module:
    """Freeze ``module`` for good: no gradients, eval mode, and ``.train()`` keeps it in eval.

    ``train`` is replaced on every submodule, so neither ``wrapper.train()`` nor a direct
    ``module.train()`` can switch dropout on or let BatchNorm statistics drift.
    """
    for sub in module.modules():
        sub.train = _StaysInEval(sub)
    module.eval()
    module.requires_grad_(False)
    return module


def unfreeze(module: nn.Module) -> nn.Module:
    """Undo :func:`freeze`: gradients on, ``.train()`` behaves normally again."""
    for sub in module.modules():
        sub.__dict__.pop("train", None)
    module.requires_grad_(True)
    return module


def is_frozen(module: nn.Module) -> bool:
    """True when ``module`` was frozen with :func:`freeze` and is still fully frozen."""
    return all(
        isinstance(sub.__dict__.get("train"), _StaysInEval) and not sub.training
        for sub in module.modules()
    ) and not any(p.requires_grad for p in module.parameters())


@contextmanager
def dropout_active(module: nn.Module) -> Iterator[None]:
    """Inside, ``module`` and its submodules run with ``training=True`` except normalisation
    layers (BatchNorm, InstanceNorm), which stay as they were: dropout is on, running statistics
    are neither used in batch mode nor updated. The previous flags are restored on exit, so a
    frozen module (see :func:`~modalprompt.core.model.freeze`) is frozen again afterwards."""
    saved = [(sub, sub.training) for sub in module.modules()]
    try:
        for sub, _ in saved:
            if not isinstance(sub, nn.modules.batchnorm._NormBase):
                sub.training = True
        yield
    finally:
        for sub, flag in saved:
            sub.training = flag


class PromptModel(nn.Module):
    """Base class of every method: a frozen ``backbone`` and trainable prompt parts.

    Args:
        backbone: The pre-trained model. Frozen unless ``train_backbone`` is True for this class.
        config: The method's configuration.

    Class attributes:
        train_backbone: False for every prompt method; True only for full fine-tuning baselines.

    Attributes:
        backbone: The backbone module (registered under the ``backbone.`` prefix).
        config: The configuration the model was built with.
    """

    train_backbone: ClassVar[bool] = False

    def __init__(self, backbone: nn.Module, config: PromptConfig) -> None:
        super().__init__()
        if not isinstance(backbone, nn.Module):
            raise TypeError(f"backbone: expected a torch.nn.Module, got {type(backbone).__name__}")
        if not isinstance(config, PromptConfig):
            raise TypeError(f"config: expected a PromptConfig, got {type(config).__name__}")
        from modalprompt.core.registry import config_class_for_model

        # the registration (register_method(model=...)) says which config a model expects
        expected = config_class_for_model(type(self))
        if expected is not None and not isinstance(config, expected):
            raise TypeError(
                f"config: {type(self).__name__} expects a {expected.__name__}, "
                f"got a {type(config).__name__}"
            )
        self.config = config
        self.backbone = backbone
        if self.train_backbone:
            unfreeze(backbone)
        else:
            freeze(backbone)

    @classmethod
    def build(cls, backbone: nn.Module, config: PromptConfig, **kwargs: Any) -> PromptModel:
        """Construct ``cls(backbone, config, **kwargs)`` with the global generators seeded from
        ``config.seed`` and restored afterwards, so the new parameters depend on the config
        alone (how :func:`~modalprompt.get_prompt_model` and ``from_pretrained`` build)."""
        from modalprompt.core.seeding import seeded

        with seeded(config.seed):
            return cls(backbone, config, **kwargs)

    # ------------------------------------------------------------------------ frozen backbone
    def train(self, mode: bool = True) -> PromptModel:
        """Set train/eval mode on the trainable parts; a frozen backbone always stays in eval."""
        return super().train(mode)

    @property
    def device(self) -> torch.device:
        """Device of the model (of its first parameter or buffer; CPU for an empty model)."""
        for tensor in self.parameters():
            return tensor.device
        for tensor in self.buffers():
            return tensor.device
        return torch.device("cpu")

    # ---------------------------------------------------------------------------- parameters
    def named_trainable_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        """``(name, parameter)`` for every parameter that requires a gradient."""
        return ((n, p) for n, p in self.named_parameters() if p.requires_grad)

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Every parameter that requires a gradient (what the optimizer updates)."""
        return [p for _, p in self.named_trainable_parameters()]

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of scalar parameters (each shared tensor counted once)."""
        params = self.trainable_parameters() if trainable_only else list(self.parameters())
        return sum(p.numel() for p in {id(p): p for p in params}.values())

    def print_trainable_parameters(self) -> None:
        """Print the count in PEFT's exact format."""
        trainable = self.num_parameters(trainable_only=True)
        total = self.num_parameters()
        percent = 100 * trainable / total if total else 0.0
        print(
            f"trainable params: {trainable:,d} || all params: {total:,d} "
            f"|| trainable%: {percent:.4f}"
        )

    def param_groups(self) -> list[dict[str, Any]]:
        """Optimizer parameter groups; override to give parts their own learning rate.

        Each group is ``{"params": [...], "name": str}`` plus optional ``"lr"`` /
        ``"weight_decay"`` keys that override the trainer's defaults (EPT, GraphCLIP and others
        need two learning rates).
        """
        return [{"params": self.trainable_parameters(), "name": "default"}]

    # ------------------------------------------------------------------------------- state
    def prompt_state_dict(self) -> dict[str, torch.Tensor]:
        """The FULL state of everything the method adds: every parameter and buffer outside the
        frozen backbone (generators, encoders, heads, memory banks), plus the backbone itself when
        it is trained. This is what ``save_pretrained`` writes and what resuming needs.
        """
        state = self.state_dict()
        if self.train_backbone:
            return dict(state)
        return {k: v for k, v in state.items() if not k.startswith("backbone.")}

    def load_prompt_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        """Load a :meth:`prompt_state_dict`; a missing, unexpected or mis-shaped key raises."""
        expected = self.prompt_state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        mismatched = [
            f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
            for k in sorted(set(expected) & set(state))
            if tuple(state[k].shape) != tuple(expected[k].shape)
        ]
        if missing or unexpected or mismatched:
            parts = []
            if missing:
                parts.append(f"missing keys {missing[:10]}{' ...' if len(missing) > 10 else ''}")
            if unexpected:
                parts.append(
                    f"unexpected keys {unexpected[:10]}{' ...' if len(unexpected) > 10 else ''}"
                )
            if mismatched:
                parts.append(f"shape mismatches {mismatched[:10]}")
            raise ValueError(
                f"prompt state does not fit this {type(self).__name__}: " + "; ".join(parts)
            )
        self.load_state_dict(dict(state), strict=False)

    def save_pretrained(self, save_directory: str | Path) -> Path:
        """Write ``config.json``, ``prompt.safetensors`` and ``backbone_fingerprint.json``."""
        from modalprompt.core.checkpoint import save_prompt_model

        return save_prompt_model(self, save_directory)

    @classmethod
    def from_pretrained(
        cls,
        backbone: nn.Module,
        directory: str | Path,
        *,
        check_weights: bool = True,
        **kwargs: Any,
    ) -> PromptModel:
        """Rebuild a saved model around ``backbone`` (checked against the saved fingerprint).

        ``kwargs`` go to the method's constructor, as for :func:`get_prompt_model`.
        """
        from modalprompt.core.checkpoint import load_prompt_model

        model = load_prompt_model(backbone, directory, check_weights=check_weights, **kwargs)
        if not isinstance(model, cls):
            raise TypeError(
                f"{directory} holds a {type(model).__name__}, not a {cls.__name__}; "
                "use modalprompt.PromptModel.from_pretrained to load any method"
            )
        return model

    # --------------------------------------------------------------- training-loop interface
    def fit_phases(self, trainer: Any, resume_from: str | Path | None) -> Any:
        """Train with the method's own plan of phases when it has several (RELIEF):
        :meth:`Trainer.fit <modalprompt.core.trainer.Trainer.fit>` hands itself over (its data,
        collate function and arguments) and returns what this returns, the trainer's state.
        ``None`` here: a one-phase method, trained by the Trainer's own loop."""
        return None

    def prepare_fit(self, train_batches: Iterable[Any]) -> None:
        """Data-dependent initialisation before the first optimiser step of a new run (the graph
        heads' standardisation). :class:`~modalprompt.core.trainer.Trainer` calls it once with
        every training batch (collated, on the training device, in dataset order, the same on
        every process), and not when it resumes: the checkpoint holds the result. The default
        does nothing and reads no batch."""
        return None

    def training_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """Loss of one batch; the default is cross-entropy of ``forward`` against the labels."""
        inputs, labels = split_batch(batch)
        logits = self._classify(inputs, labels)
        return {"loss": F.cross_entropy(logits, self._labels(logits, labels))}

    @torch.no_grad()
    def validation_step(self, batch: Any) -> dict[str, torch.Tensor]:
        """Per-example outputs of one evaluation batch (concatenated by the trainer)."""
        inputs, labels = split_batch(batch)
        logits = self._classify(inputs, labels)
        return {"logits": logits, "labels": self._labels(logits, labels)}

    def _classify(self, inputs: Any, labels: Any) -> torch.Tensor:
        """``forward`` on ``inputs``, an empty batch refused first (its loss would be NaN)."""
        from modalprompt.core.validation import check_batch_size

        if isinstance(labels, torch.Tensor):
            check_batch_size(labels.numel(), "labels")
        return call_forward(self, inputs)

    @staticmethod
    def _labels(logits: torch.Tensor, labels: Any) -> torch.Tensor:
        """``labels`` checked against ``(B, C)`` logits (one index in ``[0, C)`` per example)."""
        from modalprompt.core.validation import check_class_labels

        if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
            shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits)
            raise ValueError(f"forward: expected (B, num_classes) logits, got {shape}")
        return check_class_labels(labels, logits.size(1), batch_size=logits.size(0))

    def compute_metrics(self, outputs: Mapping[str, torch.Tensor]) -> dict[str, float]:
        """Metrics of the whole evaluation set from the concatenated ``validation_step`` outputs."""
        from modalprompt.core.metrics import classification_metrics

        return classification_metrics(outputs["logits"], outputs["labels"])


def split_batch(batch: Any) -> tuple[Any, torch.Tensor]:
    """``(inputs, labels)`` from a pair/tuple or from a mapping with a ``labels`` key."""
    if isinstance(batch, Mapping):
        if "labels" not in batch:
            raise KeyError(f"batch: a mapping batch needs a 'labels' key, got keys {list(batch)}")
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        return inputs, batch["labels"]
    if isinstance(batch, list | tuple) and len(batch) == 2:
        return batch[0], batch[1]
    labels = getattr(batch, "y", None)  # a PyG Batch carries its labels in .y
    if isinstance(labels, torch.Tensor):
        return batch, labels
    raise TypeError(
        "batch: expected (inputs, labels), a mapping with 'labels', or an object with .y; "
        f"got {type(batch).__name__}"
    )


def call_forward(model: nn.Module, inputs: Any) -> torch.Tensor:
    """Call ``model`` with a mapping as keyword arguments, anything else positionally."""
    if isinstance(inputs, Mapping):
        return model(**inputs)
    return model(inputs)
