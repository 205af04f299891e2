"""`check_prompt_model`: the contract every method satisfies, as a checker anyone can run.

Like stable-baselines3's ``check_env``: ``tests/test_methods.py`` runs it on every registered
method, and a user can run it on a method of their own::

    from modalprompt.core.testing import check_prompt_model
    check_prompt_model(model, batch)

It checks, in order:

1. the config survives ``to_dict``/``from_dict`` and a JSON file unchanged;
2. ``model.train()`` leaves a frozen backbone in eval mode with no parameter requiring grad;
3. a training step gives a finite scalar loss, gradients never reach the frozen backbone,
   EVERY trainable parameter receives a non-zero gradient and is changed by one optimizer step
   (unless that step is below its float precision); a method exempts parameters that by design
   get no gradient in one step with a class attribute ``gradient_exemptions = {"fnmatch
   pattern": "reason"}``, and the failure message lists the offenders and the exemptions;
4. after the step every backbone tensor (parameters and buffers, BatchNorm statistics
   included) is bitwise unchanged;
5. ``save_pretrained`` → ``from_pretrained`` on the same backbone gives identical outputs in
   eval mode, and the saved file holds the full trainable state;
6. ``config.seed`` alone decides the new parameters: two builds with one config (as
   ``get_prompt_model`` builds) under different global RNG states are identical.
"""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
import importlib
import importlib.util
import inspect
import tempfile
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from modalprompt.core.checkpoint import WEIGHTS_NAME
from modalprompt.core.config import PromptConfig
from modalprompt.core.device import to_device
from modalprompt.core.io import load_tensors
from modalprompt.core.model import PromptModel
from modalprompt.core.registry import MethodSpec

__all__ = [
    "check_prompt_model",
    "gradient_exemptions",
    "assert_outputs_equal",
    "TinyCase",
    "TinyFeatureBackbone",
    "tiny_case",
]


def assert_outputs_equal(a: Any, b: Any, path: str = "output") -> None:
    """Exact equality of nested outputs (tensors compared bitwise, NaNs equal)."""
    if isinstance(a, torch.Tensor):
        if (
            not isinstance(b, torch.Tensor)
            or a.shape != b.shape
            or not torch.equal(torch.nan_to_num(a), torch.nan_to_num(b))
        ):
            raise AssertionError(f"{path} differs after save/load")
    elif isinstance(a, Mapping):
        if set(a) != set(b):
            raise AssertionError(f"{path}: keys {sorted(a)} vs {sorted(b)}")
        for k in a:
            assert_outputs_equal(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, list | tuple):
        if len(a) != len(b):
            raise AssertionError(f"{path}: lengths {len(a)} vs {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            assert_outputs_equal(x, y, f"{path}[{i}]")
    elif hasattr(a, "to_tuple"):  # transformers ModelOutput
        assert_outputs_equal(a.to_tuple(), b.to_tuple(), path)
    elif a != b:
        raise AssertionError(f"{path}: {a!r} vs {b!r}")


def gradient_exemptions(model: PromptModel) -> dict[str, str]:
    """The method's declared ``{pattern: reason}`` for trainable parameters that by design get no
    gradient (or no change) in one training step; patterns are :mod:`fnmatch` globs on
    ``named_trainable_parameters`` names."""
    declared = getattr(type(model), "gradient_exemptions", None) or {}
    if not isinstance(declared, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in declared.items()
    ):
        raise TypeError(
            f"{type(model).__name__}.gradient_exemptions: expected a dict of "
            "{'fnmatch pattern': 'reason'} with a non-empty reason for each pattern"
        )
    return dict(declared)


def _exempt(name: str, exemptions: Mapping[str, str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in exemptions)


def _step_is_visible(before: torch.Tensor, grad: torch.Tensor, lr: float) -> bool:
    eps = torch.finfo(before.dtype).eps if before.is_floating_point() else 0.0
    return bool(((lr * grad).abs() > 4 * eps * before.abs()).any())


def _missing_message(what: str, names: list[str], exemptions: Mapping[str, str]) -> str:
    declared = "; ".join(f"{k!r}: {v}" for k, v in exemptions.items()) or "none"
    return (
        f"{len(names)} {what}: {names[:10]}{' ...' if len(names) > 10 else ''}. A parameter "
        "that by design gets no gradient in one step is declared in the model class's "
        f"gradient_exemptions ({{pattern: reason}}); declared exemptions: {declared}"
    )


def _check_seeded_init(model: PromptModel) -> None:
    """Contract 6: two builds with one config (as ``get_prompt_model`` builds, see
    :meth:`PromptModel.build`) under different global RNG states give bitwise identical new
    parameters: ``config.seed`` decides them. Skipped when the constructor needs more arguments
    than ``(backbone, config)``."""
    from modalprompt.core.seeding import seeded

    cls = type(model)
    try:
        inspect.signature(cls).bind(model.backbone, model.config)
    except TypeError:
        return
    states = []
    for global_seed in (1, 2):
        backbone = copy.deepcopy(model.backbone)
        with seeded(global_seed):  # what the global RNG holds differs between the builds
            states.append(cls.build(backbone, model.config).prompt_state_dict())
    differ = [k for k in states[0] if not torch.equal(states[0][k], states[1][k])]
    assert not differ, (
        f"config.seed does not decide the new parameters {differ[:5]}: two builds with one "
        "config differ (draw initial values in __init__ from torch's global RNG or from a "
        "generator seeded with config.seed)"
    )


def _backbone_snapshot(model: PromptModel) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.backbone.state_dict(keep_vars=False).items()}


def check_prompt_model(
    model: PromptModel,
    batch: Any,
    *,
    lr: float = 1e-2,
    eval_fn: Any = None,
) -> None:
    """Run the method contract on ``model`` with one ``batch``; raises AssertionError on a breach.

    Args:
        model: The prompt model to check (it is trained one step; pass a throwaway copy).
        batch: One training batch, as ``model.training_step`` takes it.
        lr: Learning rate of the single SGD step.
        eval_fn: ``(model, batch) -> outputs`` compared before/after save→load; default
            ``model.validation_step(batch)``.
    """
    if not isinstance(model, PromptModel):
        raise TypeError(f"model: expected a PromptModel, got {type(model).__name__}")
    batch = to_device(batch, model.device)
    eval_fn = eval_fn or (lambda m, b: m.validation_step(b))
    config = model.config
    _check_seeded_init(model)  # 6.

    # 1. config round trip
    again = type(config).from_dict(config.to_dict())
    assert again == config, f"config changed in a dict round trip: {config} vs {again}"
    with tempfile.TemporaryDirectory() as tmp:
        config.to_json(f"{tmp}/c.json")
        assert type(config).from_json(f"{tmp}/c.json") == config, (
            "config changed in a JSON round trip"
        )

    # 2. frozen backbone stays frozen in train mode
    model.train()
    frozen = not model.train_backbone
    if frozen:
        training = [n for n, m in model.backbone.named_modules() if m.training]
        assert not training, f"backbone modules in train mode after model.train(): {training[:5]}"
        grads_on = [n for n, p in model.backbone.named_parameters() if p.requires_grad]
        assert not grads_on, f"backbone parameters require grad: {grads_on[:5]}"
    trainable = dict(model.named_trainable_parameters())
    assert trainable, "the model has no trainable parameters"

    # 3. one training step
    before_backbone = _backbone_snapshot(model)
    before_trainable = {n: p.detach().clone() for n, p in trainable.items()}
    optimizer = torch.optim.SGD(list(trainable.values()), lr=lr)
    optimizer.zero_grad(set_to_none=True)
    loss = model.training_step(batch)["loss"]
    assert loss.ndim == 0 and torch.isfinite(loss), f"loss must be a finite scalar, got {loss}"
    loss.backward()
    if frozen:
        leaked = [n for n, p in model.backbone.named_parameters() if p.grad is not None]
        assert not leaked, f"gradients reached frozen backbone parameters: {leaked[:5]}"
    exemptions = gradient_exemptions(model)
    # a parameter with no elements (e.g. a template without soft tokens) has nothing to train
    checked = [n for n, p in trainable.items() if p.numel() and not _exempt(n, exemptions)]
    no_grad = [
        n for n in checked if trainable[n].grad is None or not bool(trainable[n].grad.ne(0).any())
    ]
    assert not no_grad, _missing_message(
        "trainable parameters received no (or an all-zero) gradient", no_grad, exemptions
    )
    optimizer.step()
    # must change: every checked parameter whose SGD step is visible in its precision (a step
    # below a few ulps of the value, from a legitimately tiny gradient, may round away)
    unchanged = [
        n
        for n in checked
        if _step_is_visible(before_trainable[n], trainable[n].grad, lr)
        and torch.equal(trainable[n].detach(), before_trainable[n])
    ]
    assert not unchanged, _missing_message(
        "trainable parameters were not changed by the optimizer step", unchanged, exemptions
    )

    # 4. backbone bitwise unchanged (parameters and buffers such as BatchNorm statistics)
    if frozen:
        after = _backbone_snapshot(model)
        drifted = [k for k in before_backbone if not torch.equal(before_backbone[k], after[k])]
        assert not drifted, f"frozen backbone tensors changed during training: {drifted[:5]}"

    # 5. save -> load gives identical outputs and the full trainable state
    model.eval()
    expected = eval_fn(model, batch)
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        saved = load_tensors(f"{tmp}/{WEIGHTS_NAME}")
        missing = [n for n in trainable if n not in saved]
        assert not missing, f"trainable parameters missing from {WEIGHTS_NAME}: {missing[:5]}"
        backbone = model.backbone if frozen else copy.deepcopy(model.backbone)
        reloaded = PromptModel.from_pretrained(backbone, tmp)
    reloaded.eval()
    assert type(reloaded) is type(model), f"reloaded a {type(reloaded).__name__}"
    assert_outputs_equal(expected, eval_fn(reloaded, batch))


# ------------------------------------------------------------------- tiny cases per method
@dataclasses.dataclass
class TinyCase:
    """A small backbone, a config and a batch on which a method's contract is checked.

    A method's registration names the function that builds it (``tiny_case=
    "package.module:function"``, ``function(spec, seed) -> TinyCase``); without one, its
    domain's ``modalprompt.<domain>.testing:tiny_case`` does; methods of domain ``"any"`` use
    :class:`TinyFeatureBackbone`.
    """

    backbone: nn.Module
    config: PromptConfig
    batch: Any


class TinyFeatureBackbone(nn.Module):
    """Linear → BatchNorm → ReLU → Dropout: ``(B, 6)`` inputs to ``(B, 16)`` features."""

    feature_dim = 16

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(6, 16)
        self.norm = nn.BatchNorm1d(16)
        self.dropout = nn.Dropout(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(torch.relu(self.norm(self.linear(x))))


def tiny_case(spec: MethodSpec, seed: int = 0) -> TinyCase:
    """The domain's tiny case for ``spec`` (its ``tiny`` overrides applied to the config)."""
    if spec.domain != "any":
        target = spec.tiny_case or f"modalprompt.{spec.domain}.testing:tiny_case"
        module_name, _, function = target.partition(":")
        if importlib.util.find_spec(module_name) is None:
            raise LookupError(
                f"no tiny case for method {spec.name!r}: {module_name} does not exist; name the "
                "case builder with register_method(tiny_case='package.module:function')"
            )
        return getattr(importlib.import_module(module_name), function)(spec, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    backbone = TinyFeatureBackbone()
    backbone.train()
    with torch.no_grad():  # non-trivial BatchNorm statistics, as a pre-trained model has
        backbone(torch.randn(32, 6, generator=generator) + 1)
    config = spec.config_cls.from_dict({**spec.tiny, "method": spec.name})
    num_classes = getattr(config, "num_classes", 3)
    batch = (
        torch.randn(8, 6, generator=generator),
        torch.randint(0, num_classes, (8,), generator=generator),
    )
    return TinyCase(backbone.eval(), config, batch)
