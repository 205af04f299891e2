import math

import pytest
import torch

pytest.importorskip("torch_geometric")
from torch_geometric.data import Batch  # noqa: E402

from modalprompt.graph.readout import (
    ProjectionHead,  # noqa: E402
    graph_losses,
)
from modalprompt.graph.relief.ppo import gae  # noqa: E402
from modalprompt.graph.relief.rollout import PromptRollout, prompt_statistics  # noqa: E402
from modalprompt.graph.relief.train import ensemble_splits  # noqa: E402
from modalprompt.graph.synthetic import procedural_graphs, tiny_gnn  # noqa: E402


def _rollout(budget=None, max_nodes=12):
    torch.manual_seed(0)
    return PromptRollout(tiny_gnn(), ProjectionHead(16, 2, 2), "multilabel", max_nodes, budget)


def test_rewards_telescope_to_the_total_loss_decrease_and_prompts_accumulate():
    graphs = procedural_graphs(4, num_tasks=2)
    env = _rollout()
    batch = Batch.from_data_list(graphs)
    obs, mask = env.reset(batch)
    largest = max(g.num_nodes for g in graphs)  # padded to the batch's largest graph
    assert obs.shape == (4, largest, 16) and mask.sum(1).tolist() == [g.num_nodes for g in graphs]
    initial = env.loss.clone()
    g = torch.Generator().manual_seed(1)
    expected = torch.zeros_like(env.prompt)
    total, steps = torch.zeros(4), 0
    while bool(env.active().any()):
        node = torch.randint(0, 4, (4,), generator=g)  # every graph has >= 4 nodes
        z = torch.randn(4, 8, generator=g) * 0.1
        active = env.active()
        for b in range(4):
            if active[b]:
                expected[env.offsets[b] + node[b]] += z[b]
        *_, reward, done, act = env.step(node, z)
        assert torch.equal(act, active) and bool((reward[~active] == 0).all())
        total += reward
        steps += 1
    assert steps == max(g.num_nodes for g in graphs)
    torch.testing.assert_close(env.prompt, expected)
    torch.testing.assert_close(total, initial - env.loss, atol=1e-5, rtol=0)


def test_episode_length_is_node_count_or_budget():
    graphs = procedural_graphs(3, min_nodes=5, max_nodes=9, num_tasks=2)
    env = _rollout(budget=6)
    env.reset(Batch.from_data_list(graphs))
    assert env.horizon.tolist() == [min(6, g.num_nodes) for g in graphs]
    dones = []
    for _ in range(env.max_steps):
        *_, done, _ = env.step(torch.zeros(3, dtype=torch.long), torch.zeros(3, 8))
        dones.append(done)
    assert torch.stack(dones).sum(0).tolist() == [1, 1, 1]


def test_bad_graphs_are_explained():
    env = _rollout(max_nodes=5)
    with pytest.raises(ValueError, match="max_nodes: a graph has"):
        env.reset(Batch.from_data_list(procedural_graphs(2, min_nodes=6, max_nodes=8, num_tasks=2)))
    env = _rollout()
    with pytest.raises(ValueError, match="check num_outputs"):
        env.reset(Batch.from_data_list(procedural_graphs(2, num_tasks=1)))
    env.reset(Batch.from_data_list(procedural_graphs(2, num_tasks=2)))
    with pytest.raises(ValueError, match="outside its nodes"):
        env.step(torch.tensor([0, 40]), torch.zeros(2, 8))


def test_graph_losses_mask_missing_labels():
    logits = torch.tensor([[0.0, 2.0], [1.0, -1.0]])
    y = torch.tensor([[1.0, float("nan")], [0.0, 1.0]])
    losses = graph_losses(logits, y, "multilabel")
    assert losses[0] == pytest.approx(math.log(2))
    assert losses[1] == pytest.approx((math.log1p(math.e) + math.log1p(math.e)) / 2, rel=1e-6)
    all_missing = graph_losses(logits[:1], torch.full((1, 2), float("nan")), "multilabel")
    assert all_missing.item() == 0.0
    ce = graph_losses(logits, torch.tensor([1, 0]), "multiclass")
    assert ce[0] == pytest.approx(math.log1p(math.exp(-2.0)))


def test_prompt_statistics():
    prompt = torch.tensor([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0], [0.0, 0.0]])
    stats = prompt_statistics(prompt, torch.tensor([0, 0, 1, 1]), 2)
    assert stats["pcr"] == pytest.approx(0.5) and stats["apm"] == pytest.approx(3.0)


def test_gae_matches_a_hand_computation():
    # one graph, 3 steps, then done; gamma 0.5, lambda 1 -> plain discounted returns
    rewards = torch.tensor([[1.0], [2.0], [4.0]])
    values = torch.zeros(3, 1)
    dones = torch.tensor([[False], [False], [True]])
    active = torch.ones(3, 1, dtype=torch.bool)
    adv, ret = gae(rewards, values, dones, active, gamma=0.5, lam=1.0)
    assert adv.flatten().tolist() == [1 + 0.5 * 2 + 0.25 * 4, 2 + 0.5 * 4, 4.0]
    # with values and lambda 0: one-step TD errors
    values = torch.tensor([[1.0], [1.0], [1.0]])
    adv, ret = gae(rewards, values, dones, active, gamma=0.5, lam=0.0)
    assert adv.flatten().tolist() == [1 + 0.5 - 1, 2 + 0.5 - 1, 4 - 1]
    torch.testing.assert_close(ret, adv + values)


def test_ensemble_splits_cover_every_graph_with_overlap():
    splits = ensemble_splits(30, 3, 0.2, seed=0)
    own = [set(s[:10]) for s in splits]
    assert set().union(*own) == set(range(30)) and all(len(s) == 10 + 2 + 2 for s in splits)
    assert splits == ensemble_splits(30, 3, 0.2, seed=0)
