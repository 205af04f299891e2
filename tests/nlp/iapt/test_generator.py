import math

import pytest
import torch

from modalprompt.nlp.iapt.generator import IaptPromptGenerator
from modalprompt.nlp.iapt.rational import RationalActivation


@pytest.mark.parametrize("init, tolerance", [("gelu", 0.02), ("tanh", 0.02), ("relu", 0.1)])
def test_rational_starts_close_to_its_reference_activation(init, tolerance):
    act = RationalActivation(init=init)
    x = torch.linspace(-3, 3, 601)
    reference = {"gelu": torch.nn.functional.gelu, "tanh": torch.tanh, "relu": torch.relu}[init]
    assert (act(x) - reference(x)).abs().max() < tolerance


def test_rational_has_no_poles_and_learns():
    act = RationalActivation()
    x = torch.linspace(-50, 50, 1001)
    assert torch.isfinite(act(x)).all()
    opt = torch.optim.Adam(act.parameters(), lr=1e-2)
    target = torch.sin(x[450:551] / 5)  # a shape GELU is not
    before = ((act(x[450:551]) - target) ** 2).mean().item()
    for _ in range(200):
        loss = ((act(x[450:551]) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < before / 5


def test_generator_shapes_and_padding_is_ignored():
    torch.manual_seed(0)
    gen = IaptPromptGenerator(hidden_size=16, bottleneck=4, num_tokens=4)
    hidden = torch.randn(2, 6, 16)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1]])
    out = gen(hidden, mask)
    assert out.shape == (2, 4, 16)
    changed = hidden.clone()
    changed[0, 3:] = 100.0  # padding of sample 0
    torch.testing.assert_close(gen(changed, mask), out)
    alone = gen(hidden[:1, :3], mask[:1, :3])  # the same instruction without padding
    torch.testing.assert_close(alone, out[:1])


def test_generator_shares_projections_across_layers_and_rejects_empty_instructions():
    down, up = torch.nn.Linear(16, 4), torch.nn.Linear(4, 16)
    layers = [IaptPromptGenerator(16, 4, down=down, up=up) for _ in range(3)]
    assert all(g.down is down and g.up is up for g in layers)
    shared = sum(p.numel() for p in torch.nn.ModuleList(layers).parameters())
    own = sum(p.numel() for p in IaptPromptGenerator(16, 4).parameters())
    assert shared < 3 * own
    with pytest.raises(ValueError, match="at least one instruction token"):
        layers[0](torch.randn(1, 3, 16), torch.zeros(1, 3))
    assert math.isfinite(float(layers[0](torch.randn(1, 3, 16), torch.ones(1, 3)).sum().detach()))
