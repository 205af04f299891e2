import pytest
import torch

from modalprompt.nlp.ept.prompt import EptPrompt, dept_sizes_for_budget


def test_untrained_ept_is_exactly_dept_at_its_start():
    torch.manual_seed(0)
    ept = EptPrompt(hidden_size=32, num_tokens=5, max_length=12, rank=3)
    prompt, offset = ept()
    torch.testing.assert_close(prompt, ept.prompt.detach())
    assert torch.equal(offset, torch.zeros(12, 32))
    assert ept.scaling == pytest.approx(8 / 3**0.5)


def test_every_part_trains():
    torch.manual_seed(0)
    ept = EptPrompt(hidden_size=32, num_tokens=5, max_length=12, rank=3)
    opt = torch.optim.SGD(ept.parameters(), lr=0.1)
    target = torch.randn(5, 32)
    for _ in range(3):
        prompt, offset = ept()
        loss = ((prompt - target) ** 2).mean() + ((offset - 1) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    prompt, offset = ept()
    loss = ((prompt - target) ** 2).mean() + ((offset - 1) ** 2).mean()
    loss.backward()
    for name, p in ept.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_fixed_length_check_and_budget_helper():
    ept = EptPrompt(hidden_size=8, num_tokens=2, max_length=10, rank=2)
    ept.check_length(10)
    with pytest.raises(ValueError, match="padded .* to exactly max_length"):
        ept.check_length(9)
    assert dept_sizes_for_budget(768, 256, 100, 60) == 30  # DePT's 76,800-parameter example
    assert dept_sizes_for_budget(768, 256, 100, 40) == 45
    with pytest.raises(ValueError, match="num_tokens"):
        dept_sizes_for_budget(768, 256, 10, 10)
