import torch

from modalprompt.graph.relief.activations import FastTanh, fast_tanh


def _inputs() -> torch.Tensor:
    specials = torch.tensor(
        [0.0, -0.0, 1e-30, -1e-30, 1e-4, 20.0, -20.0, float("inf"), -float("inf")]
    )
    return torch.cat([torch.linspace(-60, 60, 20001), torch.randn(20000) * 3, specials])


def test_fast_tanh_matches_tanh_in_value_and_range():
    x = _inputs()
    reference = torch.tanh(x.double()).float()
    y = fast_tanh(x)
    assert (y - reference).abs().max() < 2e-7
    assert y.abs().max() <= 1.0 and y[-2] == 1.0 and y[-1] == -1.0
    assert torch.isnan(fast_tanh(torch.tensor([float("nan")]))).all()
    torch.testing.assert_close(FastTanh()(x.view(2, -1)), y.view(2, -1))


def test_fast_tanh_gradient_and_input_untouched():
    x = (torch.randn(20000) * 3).requires_grad_(True)
    before = x.detach().clone()
    fast_tanh(x).sum().backward()
    reference = 1 - torch.tanh(before.double()) ** 2
    assert (x.grad.double() - reference).abs().max() < 1e-6  # torch.tanh's own: 7e-8
    with torch.no_grad():
        fast_tanh(x)
    assert torch.equal(x.detach(), before)
