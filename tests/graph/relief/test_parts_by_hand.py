"""RELIEF's small parts by hand (issue 22, mutation survivors): the discount bounds, the
mean-pooled critic, size-bucketed batches, the row cache's counters and the lazy attributes."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("torch_geometric")

import modalprompt as mp  # noqa: E402
from modalprompt.core.config import ConfigError  # noqa: E402
from modalprompt.graph.relief.policy import PooledCritic  # noqa: E402
from modalprompt.graph.relief.row_cache import RowCachedLinears  # noqa: E402
from modalprompt.graph.relief.train import size_bucketed_batches  # noqa: E402


@pytest.mark.parametrize("field", ["gamma", "gae_lambda"])
def test_discounts_are_closed_zero_one(field):
    for ok in (0.0, 1.0):
        assert getattr(mp.get_config("relief", num_outputs=1, **{field: ok}), field) == ok
    for bad in (-0.1, 1.5):
        with pytest.raises(ConfigError, match=rf"^ReliefConfig\.{field}: got {bad}; expected a "):
            mp.get_config("relief", num_outputs=1, **{field: bad})


def test_mean_pooled_critic_is_the_net_on_the_masked_mean():
    torch.manual_seed(0)
    critic = PooledCritic(4, pooling="mean")
    h = torch.randn(2, 3, 4)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    mean = torch.stack([h[0, :2].mean(0), h[1, 0]])
    torch.testing.assert_close(critic(h, mask), critic.net(mean).squeeze(-1))
    both = PooledCritic(4)  # mean ‖ max
    maxed = torch.stack([h[0, :2].amax(0), h[1, 0]])
    expected = both.net(torch.cat([mean, maxed], -1)).squeeze(-1)
    torch.testing.assert_close(both(h, mask), expected)


def test_size_buckets_partition_every_window_into_sorted_batches():
    sizes = [5, 1, 9, 3, 7, 2, 8, 6, 4, 10, 11]
    batches = size_bucketed_batches(sizes, 2, torch.Generator().manual_seed(0), window=2)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(sizes)))  # every graph once, none lost
    assert all(1 <= len(b) <= 2 for b in batches) and len(batches) == 6
    assert all(sizes[b[0]] <= sizes[b[-1]] for b in batches)


def test_row_cache_reset_forgets_rows_and_counts():
    mlp = torch.nn.Sequential(torch.nn.Linear(3, 2)).eval()
    cache = RowCachedLinears(mlp)
    x = torch.randn(4, 3)
    with torch.no_grad(), cache.active():
        mlp(x)
    assert cache.rows_computed == cache.rows_seen == 4
    cache.reset()
    assert cache.rows_computed == cache.rows_seen == 0
    with torch.no_grad(), cache.active():
        mlp(x)  # nothing cached any more: every row again
    assert cache.rows_computed == 4


def test_an_unknown_attribute_of_the_package_is_named():
    import modalprompt.graph.relief as relief

    with pytest.raises(
        AttributeError, match=r"^module 'modalprompt.graph.relief' has no attribute 'nope'$"
    ):
        relief.nope  # noqa: B018


def _linears(module):
    return [m for m in module.net if isinstance(m, torch.nn.Linear)]


def test_actors_are_tanh_mlps_written_out():
    """Official actors: Linear-Tanh-Linear-Tanh-Linear, orthogonal init (gain sqrt 2, last 0.01);
    the prompt actor squashes to ``max_z * tanh``."""
    from modalprompt.graph.relief.policy import ContinuousActor, DiscreteActor

    torch.manual_seed(0)
    h = torch.randn(2, 3, 8)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    node_actor = DiscreteActor(8)
    (w1, b1), (w2, b2), (w3, b3) = ((m.weight, m.bias) for m in _linears(node_actor))
    assert [tuple(w.shape) for w in (w1, w2, w3)] == [(4, 8), (2, 4), (1, 2)]
    logits = (torch.tanh(torch.tanh(h @ w1.T + b1) @ w2.T + b2) @ w3.T + b3).squeeze(-1)
    expected = logits.masked_fill(~mask, float("-inf"))
    torch.testing.assert_close(node_actor(h, mask), expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(w1 @ w1.T, 2.0 * torch.eye(4), atol=1e-5, rtol=0)  # gain sqrt 2
    torch.testing.assert_close(w3 @ w3.T, 1e-4 * torch.eye(1), atol=1e-8, rtol=0)  # gain 0.01

    prompt_actor = ContinuousActor(8, prompt_dim=5, max_z=0.3)
    (w1, b1), (w2, b2), (w3, b3) = ((m.weight, m.bias) for m in _linears(prompt_actor))
    assert [tuple(w.shape) for w in (w1, w2, w3)] == [(4, 8), (4, 4), (5, 4)]
    with torch.no_grad():
        w3.mul_(300.0)  # out of tanh's linear range, so the squashing shows
    node = torch.tensor([1, 2])
    rows = h[torch.arange(2), node]
    mu = 0.3 * torch.tanh(torch.tanh(torch.tanh(rows @ w1.T + b1) @ w2.T + b2) @ w3.T + b3)
    assert mu.abs().max() > 0.1
    torch.testing.assert_close(prompt_actor(h, node), mu, atol=1e-6, rtol=1e-5)


def test_prompt_statistics_in_double_precision_equal_single():
    from modalprompt.graph.relief.rollout import prompt_statistics

    prompt = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]])
    batch = torch.tensor([0, 0, 1, 1, 1])
    single = prompt_statistics(prompt, batch, 2)
    assert single == pytest.approx({"pcr": (1 / 2 + 1 / 3) / 2, "apm": 3.0})
    assert prompt_statistics(prompt.double(), batch, 2) == pytest.approx(single)
