"""`check_prompt_model` demands a gradient and a step for EVERY trainable parameter.

The contract used to accept a method as soon as *some* trainable parameter got a gradient, so a
method whose prompt never receives one (detached, built under ``no_grad``, overwritten) passed on
its head alone. These tests plant exactly that in a tiny method and check that the contract names
the parameter, lists the method's declared exemptions, and passes once the exemption is declared.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import modalprompt as mp
from modalprompt.core import registry
from modalprompt.core.baselines.model import LinearProbeModel

from ._tiny import make_backbone


class _PromptedProbe(LinearProbeModel):
    """A linear probe with a feature prompt added to the backbone's features.

    ``detach_prompt`` plants the bug the contract must catch: the prompt is used, but no gradient
    reaches it, so only the head trains.
    """

    detach_prompt = False

    def __init__(self, backbone: nn.Module, config) -> None:
        super().__init__(backbone, config)
        self.prompt = nn.Parameter(torch.full((8,), 0.1))

    def features(self, *args, **kwargs):
        prompt = self.prompt.detach() if self.detach_prompt else self.prompt
        return super().features(*args, **kwargs) + prompt


class _DetachedPrompt(_PromptedProbe):
    detach_prompt = True


class _DetachedButDeclared(_DetachedPrompt):
    gradient_exemptions = {"prompt": "test: this prompt is frozen on purpose"}


def _batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(8, 4, generator=g), torch.randint(0, 3, (8,), generator=g)


def _model(cls, monkeypatch):
    """``cls`` built and reloadable as the ``linear_probe`` method (registry patched)."""
    spec = registry.get_method_spec("linear_probe")
    target = f"{__name__}:{cls.__name__}"
    monkeypatch.setitem(registry._REGISTRY, "linear_probe", dataclasses.replace(spec, model=target))
    return cls(make_backbone(), mp.get_config("linear_probe", num_classes=3))


def test_a_prompt_that_gets_its_gradient_passes(monkeypatch):
    """The honest version of the method passes the whole contract (save/load included)."""
    mp.check_prompt_model(_model(_PromptedProbe, monkeypatch), _batch())


def test_a_prompt_without_gradient_fails_even_though_the_head_trains(monkeypatch):
    """Guards against the weak contract: 'some parameter got a gradient' (the head's) passed."""
    with pytest.raises(AssertionError, match=r"no \(or an all-zero\) gradient: \['prompt'\]") as e:
        mp.check_prompt_model(_model(_DetachedPrompt, monkeypatch), _batch())
    assert "declared exemptions: none" in str(e.value)


def test_a_declared_exemption_is_honoured_and_listed(monkeypatch):
    """An exemption with its reason lets the parameter pass; failures list every exemption."""
    mp.check_prompt_model(_model(_DetachedButDeclared, monkeypatch), _batch())

    class AlsoDetachedHead(_DetachedButDeclared):
        def forward(self, *args, **kwargs):
            return super().forward(*args, **kwargs).detach() * 0 + self.head[1].bias.sum() * 0

    with pytest.raises(AssertionError) as e:
        mp.check_prompt_model(_model(AlsoDetachedHead, monkeypatch), _batch())
    message = str(e.value)
    assert "['head.1.weight', 'head.1.bias']" in message
    assert "'prompt': test: this prompt is frozen on purpose" in message


def test_a_parameter_the_step_leaves_untouched_fails(monkeypatch):
    """Guards the second half: a parameter with a gradient that the optimizer step does not
    change (here an SGD that skips it, as an optimizer built from the wrong list would)."""
    original = torch.optim.SGD

    class SkipsThePrompt(original):
        def __init__(self, params, **kwargs):
            params = list(params)
            super().__init__([p for p in params if p.shape != (8,)], **kwargs)

    monkeypatch.setattr(torch.optim, "SGD", SkipsThePrompt)
    with pytest.raises(AssertionError, match=r"not changed by the optimizer step: \['prompt'\]"):
        mp.check_prompt_model(_model(_PromptedProbe, monkeypatch), _batch())


def test_an_exemption_needs_a_reason(monkeypatch):
    """A bare pattern (empty reason) is refused: every exemption says why."""

    class NoReason(_DetachedPrompt):
        gradient_exemptions = {"prompt": " "}

    with pytest.raises(TypeError, match="non-empty reason"):
        mp.check_prompt_model(_model(NoReason, monkeypatch), _batch())


# ------------------------------------------------------- the contract's other checks, each planted
_UNSEEDED = torch.Generator().manual_seed(0)  # advances with every build


class _GlobalRngPrompt(_PromptedProbe):
    """Draws its prompt from a generator config.seed does not reach."""

    def __init__(self, backbone: nn.Module, config) -> None:
        super().__init__(backbone, config)
        with torch.no_grad():
            self.prompt.copy_(torch.randn(8, generator=_UNSEEDED))


class _NonFiniteLoss(_PromptedProbe):
    def training_step(self, batch):
        out = super().training_step(batch)
        return {**out, "loss": out["loss"] * float("inf")}


class _VectorLoss(_PromptedProbe):
    def training_step(self, batch):
        out = super().training_step(batch)
        return {**out, "loss": out["loss"].repeat(2)}


class _LeakyBackbone(_PromptedProbe):
    """Puts the backbone back in train mode on ``train()`` (BatchNorm statistics would move)."""

    def train(self, mode: bool = True):
        super().train(mode)
        for module in self.backbone.modules():
            module.training = mode
        return self


class _GradientsOnBackbone(_PromptedProbe):
    def __init__(self, backbone: nn.Module, config) -> None:
        super().__init__(backbone, config)
        self.backbone.linear.weight.requires_grad_(True)


class _UnfreezesInTheStep(_PromptedProbe):
    """Frozen when checked, but the training step turns a backbone weight back on (as a method
    that calls ``requires_grad_(True)`` on what it should not): its gradient leaks."""

    def training_step(self, batch):
        self.backbone.linear.weight.requires_grad_(True)
        return super().training_step(batch)

    def features(self, *args, **kwargs):  # not under LinearProbeModel's no_grad
        return self.backbone(*args, **kwargs) + self.prompt


class _NothingTrainable(_PromptedProbe):
    def named_trainable_parameters(self):
        return iter(())


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (_GlobalRngPrompt, r"config.seed does not decide the new parameters \['prompt'\]"),
        (_NonFiniteLoss, r"loss must be a finite scalar, got inf"),
        (_VectorLoss, r"loss must be a finite scalar"),
        (_LeakyBackbone, r"backbone modules in train mode after model.train\(\): \[''"),
        (_GradientsOnBackbone, r"backbone parameters require grad: \['linear.weight'\]"),
        (_NothingTrainable, r"the model has no trainable parameters"),
        (_UnfreezesInTheStep, r"gradients reached frozen backbone parameters: \['linear.weight'\]"),
    ],
)
def test_each_breach_of_the_contract_is_caught_and_named(monkeypatch, cls, message):
    with pytest.raises(AssertionError, match=message):
        mp.check_prompt_model(_model(cls, monkeypatch), _batch())


def test_the_default_comparison_is_validation_step(monkeypatch):
    """After save -> load, ``validation_step`` outputs are compared by default (a custom eval_fn
    replaces them): here only the original instance reports an extra output, so the default
    comparison must fail on it."""
    model = _model(_PromptedProbe, monkeypatch)
    plain = model.validation_step
    model.validation_step = lambda batch: {**plain(batch), "extra": torch.ones(1)}
    with pytest.raises(
        AssertionError, match=r"keys \['extra', 'labels', 'logits'\] vs \['labels', 'logits'\]"
    ):
        mp.check_prompt_model(model, _batch())
    with pytest.raises(AssertionError, match="differs after save/load"):
        mp.check_prompt_model(
            _model(_PromptedProbe, monkeypatch),
            _batch(),
            eval_fn=lambda m, b: {"id": torch.tensor(id(m), dtype=torch.float64)},
        )


def test_more_than_ten_missing_parameters_are_cut_with_an_ellipsis():
    from modalprompt.core.testing import _missing_message

    ten = _missing_message("got nothing", [f"p{i}" for i in range(10)], {})
    eleven = _missing_message("got nothing", [f"p{i}" for i in range(11)], {"x*": "why"})
    assert ten.startswith("10 got nothing: ['p0',") and "p9'] " not in ten and " ..." not in ten
    assert "'p9']" in ten
    assert eleven.startswith("11 got nothing: ['p0',") and "'p9'] ..." in eleven
    assert "'p10'" not in eleven and "'x*': why" in eleven
