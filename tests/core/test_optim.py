"""The optimizer and schedule builders by hand (issue 22): which learning rate and weight decay
each group gets, which optimizer class with which hyper-parameters, what is dropped or refused,
and the warmup / decay factors at their boundaries."""

import math

import pytest
import torch

from modalprompt.core.optim import build_optimizer, build_scheduler, schedule_factor
from modalprompt.core.training_args import TrainingArguments


def _p(*shape, trainable=True):
    return torch.nn.Parameter(torch.zeros(*shape), requires_grad=trainable)


def test_group_lr_weight_decay_and_lr_scale():
    a, b, c = _p(2), _p(3), _p(4)
    groups = [
        {"params": [a], "name": "prompt"},
        {"params": [b], "lr": 0.5, "weight_decay": 0.3},
        {"params": [c], "lr_scale": 0.1, "name": "low_rank"},
    ]
    opt = build_optimizer(groups, TrainingArguments(lr=2.0, weight_decay=0.01))
    got = [(g["name"], g["lr"], g["weight_decay"]) for g in opt.param_groups]
    assert got == [
        ("prompt", 2.0, 0.01),
        ("group1", 0.5, 0.3),  # its own lr and weight decay win; unnamed groups get a name
        ("low_rank", pytest.approx(0.2), 0.01),  # lr_scale multiplies the (default) lr
    ]
    scaled_own = build_optimizer(
        [{"params": [a], "lr": 0.5, "lr_scale": 4.0}], TrainingArguments(lr=2.0)
    )
    assert scaled_own.param_groups[0]["lr"] == pytest.approx(2.0)  # own lr times its scale


def test_optimizer_kinds_and_their_hyper_parameters():
    params = [{"params": [_p(2)]}]
    adamw = build_optimizer(params, TrainingArguments(lr=0.1, betas=(0.8, 0.95)))
    assert type(adamw) is torch.optim.AdamW and adamw.param_groups[0]["betas"] == (0.8, 0.95)
    adam = build_optimizer(params, TrainingArguments(optimizer="adam", weight_decay=0.2))
    assert type(adam) is torch.optim.Adam and adam.param_groups[0]["weight_decay"] == 0.2
    sgd = build_optimizer(
        params, TrainingArguments(optimizer="sgd", momentum=0.7, lr=0.3, weight_decay=0.05)
    )
    assert type(sgd) is torch.optim.SGD
    assert sgd.param_groups[0]["momentum"] == 0.7 and sgd.param_groups[0]["lr"] == 0.3
    assert sgd.param_groups[0]["weight_decay"] == 0.05


def test_frozen_parameters_and_empty_groups_are_dropped():
    live, frozen = _p(2), _p(2, trainable=False)
    opt = build_optimizer(
        [{"params": [frozen], "name": "backbone"}, {"params": [live, frozen], "name": "head"}],
        TrainingArguments(),
    )
    assert [g["name"] for g in opt.param_groups] == ["head"]
    assert opt.param_groups[0]["params"] == [live]


def test_refusals_name_the_problem():
    with pytest.raises(ValueError, match=r"param_groups\[1\]: needs a 'params' entry"):
        build_optimizer([{"params": [_p(1)]}, {"lr": 1.0}], TrainingArguments())
    with pytest.raises(
        ValueError, match=r"^the model has no trainable parameters \(nothing requires grad\)$"
    ):
        build_optimizer([{"params": [_p(1, trainable=False)]}], TrainingArguments())
    shared = _p(1)
    with pytest.raises(ValueError, match="'b' repeats a parameter of another group"):
        build_optimizer(
            [{"params": [shared], "name": "a"}, {"params": [shared], "name": "b"}],
            TrainingArguments(),
        )


def test_schedule_factors_at_the_boundaries():
    # warmup: (step + 1) / (warmup + 1) for the first `warmup` steps, then the decay starts at 1
    assert [schedule_factor(s, 10, 3, "constant") for s in range(5)] == [0.25, 0.5, 0.75, 1, 1]
    assert schedule_factor(3, 10, 3, "linear") == 1.0
    assert schedule_factor(10, 10, 3, "linear") == 0.0
    assert schedule_factor(12, 10, 3, "linear") == 0.0  # past the end: clamped, never negative
    assert schedule_factor(0, 10, 0, "cosine") == 1.0
    assert schedule_factor(10, 10, 0, "cosine") == pytest.approx(0.0)
    assert schedule_factor(7, 10, 0, "cosine") == pytest.approx(0.5 * (1 + math.cos(0.7 * math.pi)))
    assert schedule_factor(0, 0, 0, "linear") == 1.0  # no steps: no division by zero
    assert schedule_factor(4, 4, 3, "linear") == 0.0  # one step after warm-up: the end
    with pytest.raises(ValueError, match="scheduler: expected 'constant', 'linear' or 'cosine'"):
        schedule_factor(5, 10, 0, "step")


def test_warmup_steps_win_over_the_ratio_and_the_ratio_rounds_down():
    def lrs(args, total=10, steps=4):
        opt = build_optimizer([{"params": [_p(1)]}], args)
        sched = build_scheduler(opt, args, total)
        out = []
        for _ in range(steps):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return out

    assert lrs(
        TrainingArguments(lr=1.0, warmup_steps=1, warmup_ratio=0.5, scheduler="linear")
    ) == pytest.approx([0.5, 1.0, 8 / 9, 7 / 9])
    # ratio 0.25 of 10 steps -> int(2.5) = 2 warmup steps
    assert lrs(TrainingArguments(lr=1.0, warmup_ratio=0.25, scheduler="constant")) == (
        pytest.approx([1 / 3, 2 / 3, 1.0, 1.0])
    )
