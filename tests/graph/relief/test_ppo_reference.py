"""RELIEF's H-PPO numerics against hand computations (issue 22).

"PPO learns" passes whether the clipped surrogate takes ``min`` or ``max`` and whether GAE gets
``(gamma, lambda)`` or ``(lambda, gamma)``; these tests pin the numbers instead. The update is
run on stand-in actors and a stand-in critic whose outputs are free parameters per transition
(row ``m`` of the batch carries its index in ``obs[m, :, 0]``), so each loss term's gradient
on its own table row is a closed-form expression of the fixed ratios, advantages and returns.
The optimizers are replaced by recorders that sum the gradients of every minibatch without
stepping, so one pass over the batch gives the full-batch gradient.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.distributions import Categorical, Normal

pytest.importorskip("torch_geometric")
pytest.importorskip("stable_baselines3")

import modalprompt as mp  # noqa: E402
from modalprompt.graph.relief.policy import PolicyEnsemble  # noqa: E402
from modalprompt.graph.relief.ppo import HybridPPO, Transitions  # noqa: E402

ROWS, NODES, MINIBATCH = 8, 3, 4


class _Table(nn.Module):
    def __init__(self, values: torch.Tensor) -> None:
        super().__init__()
        self.table = nn.Parameter(values.clone())


def _rows(h: torch.Tensor) -> torch.Tensor:
    return h[:, 0, 0].long()


class _TableEnsemble(nn.Module):
    """K members: node logits ``(ROWS, NODES)`` and prompt means ``(ROWS, NODES, 1)`` tables."""

    def __init__(self, logits: torch.Tensor, means: torch.Tensor, log_std: float) -> None:
        super().__init__()
        self.discrete = nn.ModuleList(_Table(x) for x in logits)
        self.continuous = nn.ModuleList(_Table(x) for x in means)
        self.log_std = torch.tensor(log_std)

    def __len__(self) -> int:
        return len(self.discrete)

    def set_log_std(self, value: float) -> None:
        self.log_std = torch.tensor(value)

    def member(self, i, h, mask):
        logits = self.discrete[i].table[_rows(h)]
        return Categorical(logits=logits.masked_fill(~mask, float("-inf")))

    def _mean(self, i, h, node):
        return self.continuous[i].table[_rows(h), node]

    def prompt_distribution(self, i, h, node):
        mu = self._mean(i, h, node)
        return Normal(mu, self.log_std.exp().expand_as(mu))

    def ensemble_prompt_mean(self, h, node):
        return torch.stack([self._mean(i, h, node) for i in range(len(self))]).mean(0)


class _TableCritic(nn.Module):
    def __init__(self, values: torch.Tensor) -> None:
        super().__init__()
        self.table = nn.Parameter(values.clone())

    def forward(self, h, mask):
        return self.table[_rows(h)]


class _Recorder:
    """Stands in for an optimizer: sums the gradients it is asked to step on, moves nothing."""

    def __init__(self, params) -> None:
        self.params = list(params)
        self.total = [torch.zeros_like(p) for p in self.params]
        self.steps = 0

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        self.steps += 1
        for total, p in zip(self.total, self.params):
            if p.grad is not None:
                total += p.grad


def _config(**overrides):
    base = dict(
        num_outputs=1,
        ensemble_size=1,
        minibatch_size=MINIBATCH,
        update_epochs=1,
        entropy_coef=0.0,
        critic_coef=0.5,
        clip_discrete=0.2,
        clip_continuous=0.3,
        alpha_discrete=0.0,
        alpha_continuous=0.0,
        max_grad_norm=1e9,  # no clipping: the raw gradients are compared
        target_kl_discrete=1e9,
        target_kl_continuous=1e9,
    )
    return mp.get_config("relief", **{**base, **overrides})


def _setup(config, *, ratio_d, ratio_c, advantages, returns, mask=None, log_std=0.0, seed=0):
    """A PPO over table actors/critic, and Transitions whose stored log-probabilities give the
    requested ratios ``pi_new / pi_old`` at the current tables."""
    g = torch.Generator().manual_seed(seed)
    k = config.ensemble_size
    ens = _TableEnsemble(
        torch.randn(k, ROWS, NODES, generator=g),
        0.3 * torch.randn(k, ROWS, NODES, 1, generator=g),
        log_std,
    )
    critic = _TableCritic(torch.randn(ROWS, generator=g))
    ppo = HybridPPO(ens, critic, config)
    ppo.actor_optimizers = [_Recorder(list(d.parameters()) + list(c.parameters()))
                            for d, c in zip(ens.discrete, ens.continuous)]  # fmt: skip
    ppo.critic_optimizer = _Recorder(critic.parameters())
    obs = torch.arange(ROWS, dtype=torch.float32).view(-1, 1, 1).expand(ROWS, NODES, 1)
    mask = torch.ones(ROWS, NODES, dtype=torch.bool) if mask is None else mask
    node = torch.tensor([0, 1, 0, 0, 1, 2, 0, 1])  # valid even where even rows pad node 2
    z = ens._mean(0, obs, node).detach() + torch.linspace(-1, 1, ROWS).view(-1, 1)
    with torch.no_grad():
        logp_d = ens.member(0, obs, mask).log_prob(node)
        logp_c = ens.prompt_distribution(0, obs, node).log_prob(z).sum(-1)
    batch = Transitions(
        obs=obs.clone(),
        mask=mask,
        node=node,
        z=z,
        logp_node=logp_d - torch.tensor(ratio_d).log(),
        logp_prompt=logp_c - torch.tensor(ratio_c).log(),
        values=torch.zeros(ROWS),
        advantages=torch.tensor(advantages),
        returns=torch.tensor(returns),
        raw_return=0.0,
    )
    return ppo, ens, critic, batch


def _update(ppo, batch, member=0):
    ppo.update(member, batch, torch.Generator().manual_seed(0))
    actor = ppo.actor_optimizers[member]
    assert actor.steps == ROWS // MINIBATCH  # every row seen once, no early stop
    return actor.total[0], actor.total[1], ppo.critic_optimizer.total[0]


# Fixed ratios and advantages. With eps_d = 0.2 the surrogate min(r A, clip(r) A) is clipped
# (zero gradient) where r > 1.2 and A > 0, or r < 0.8 and A < 0; with eps_c = 0.3 where
# r > 1.3 and A > 0, or r < 0.7 and A < 0. Written out by hand per row:
ADVANTAGES = [2.0, 1.0, 0.5, 3.0, -2.0, -1.0, -0.5, -3.0]
RATIO_D = [0.5, 0.9, 1.1, 1.5, 0.5, 0.9, 1.1, 1.5]
UNCLIPPED_D = [1, 1, 1, 0, 0, 1, 1, 1]
RATIO_C = [0.6, 1.25, 1.4, 0.8, 0.6, 1.25, 1.4, 0.8]
UNCLIPPED_C = [1, 1, 0, 1, 0, 1, 1, 1]  # 1.25 is inside 1 +- 0.3 but outside 1 +- 0.2


def test_clipped_surrogates_and_value_loss_match_a_hand_computation():
    """Guards ``min`` -> ``max`` in either surrogate, swapped clip ranges, a wrong sign or
    normalisation of the value loss, and ``critic_coef`` not applied."""
    config = _config()
    returns = [0.5, -1.0, 2.0, 0.0, 1.0, -0.5, 0.25, 3.0]
    ppo, ens, critic, batch = _setup(
        config, ratio_d=RATIO_D, ratio_c=RATIO_C, advantages=ADVANTAGES, returns=returns
    )
    probs = torch.softmax(ens.discrete[0].table.detach(), -1)
    mu = ens.continuous[0].table.detach()
    values = critic.table.detach().clone()
    grad_logits, grad_means, grad_values = _update(ppo, batch)

    want_logits = torch.zeros(ROWS, NODES)
    want_means = torch.zeros(ROWS, NODES, 1)
    for m in range(ROWS):
        a, n = ADVANTAGES[m], int(batch.node[m])
        # d/d logits of -(1/b) r A = -(1/b) A r (onehot(node) - p)
        if UNCLIPPED_D[m]:
            onehot = torch.nn.functional.one_hot(torch.tensor(n), NODES).float()
            want_logits[m] = -a * RATIO_D[m] * (onehot - probs[m]) / MINIBATCH
        # d log N(z; mu, 1) / d mu = z - mu
        if UNCLIPPED_C[m]:
            want_means[m, n] = -a * RATIO_C[m] * (batch.z[m] - mu[m, n]) / MINIBATCH
    # c_V * mean (V - R)^2 over a minibatch -> c_V * 2 (V - R) / b
    want_values = 0.5 * 2 * (values - torch.tensor(returns)) / MINIBATCH
    torch.testing.assert_close(grad_logits, want_logits, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(grad_means, want_means, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(grad_values, want_values, rtol=1e-5, atol=1e-7)


def test_entropy_bonus_follows_the_linear_schedule():
    """Guards the entropy term's sign and the schedule ``c_ent * (1 - progress)``, clamped to
    [0, 1] progress; with zero advantages the bonus is the only actor gradient."""
    config = _config(entropy_coef=0.1, init_log_std=0.0, final_log_std=-4.0)
    ppo, ens, _, batch = _setup(
        config,
        ratio_d=[1.0] * ROWS,
        ratio_c=[1.0] * ROWS,
        advantages=[0.0] * ROWS,
        returns=[0.0] * 8,
    )
    for progress, coef, log_std in ((-1.0, 0.1, 0.0), (0.25, 0.075, -1.0), (3.0, 0.0, -4.0)):
        ppo.set_progress(progress)
        assert ppo.entropy_coef == pytest.approx(coef)
        assert float(ens.log_std) == pytest.approx(log_std)
    ppo.set_progress(0.25)
    logp = torch.log_softmax(ens.discrete[0].table.detach(), -1)
    p = logp.exp()
    entropy = -(p * logp).sum(-1, keepdim=True)
    grad_logits, _, _ = _update(ppo, batch)
    # loss = -c H, dH/dz_j = -p_j (log p_j + H)  ->  d loss/dz_j = c p_j (log p_j + H) / b
    torch.testing.assert_close(grad_logits, 0.075 * p * (logp + entropy) / MINIBATCH)


def test_ensemble_kl_regularisers_match_a_hand_computation():
    """Guards ``KL(pi_ens || pi_i)`` (its direction, the masked nodes, the element-wise max
    target) and ``KL(N_i || N_ens)`` at the ensemble's most likely node, each with its own
    alpha; advantages and value errors are zero, so only the regularisers give gradients."""
    config = _config(ensemble_size=2, alpha_discrete=2.0, alpha_continuous=0.5)
    mask = torch.ones(ROWS, NODES, dtype=torch.bool)
    mask[::2, 2] = False  # padded node in every other row
    ppo, ens, critic, batch = _setup(
        config,
        ratio_d=[1.0] * ROWS,
        ratio_c=[1.0] * ROWS,
        advantages=[0.0] * ROWS,
        returns=[0.0] * ROWS,
        mask=mask,
        log_std=math.log(0.5),
    )
    with torch.no_grad():
        batch.returns.copy_(critic.table)
    tables = [d.table.detach().masked_fill(~mask, float("-inf")) for d in ens.discrete]
    own, other = (torch.softmax(t, -1) for t in tables)
    target = torch.maximum(own, other)
    target = target / target.sum(-1, keepdim=True)
    star = target.argmax(-1)
    mu_own, mu_other = (c.table.detach()[torch.arange(ROWS), star] for c in ens.continuous)
    grad_logits, grad_means, _ = _update(ppo, batch, member=0)

    # d/dz KL(t || softmax(z)) = softmax(z) - t (zero at padded nodes, where both are 0)
    torch.testing.assert_close(grad_logits, 2.0 * (own - target) / MINIBATCH)
    # KL(N(mu, s) || N(mu_ens, s)) = (mu - mu_ens)^2 / (2 s^2), mu_ens = (mu + mu_other) / 2 fixed
    want = torch.zeros(ROWS, NODES, 1)
    want[torch.arange(ROWS), star] = 0.5 * (mu_own - (mu_own + mu_other) / 2) / 0.25 / MINIBATCH
    torch.testing.assert_close(grad_means, want)
    assert not any(p.grad is not None and p.grad.any() for p in ens.discrete[1].parameters())


# ------------------------------------------------------------------------- GAE via collect
class _ScriptedEnv:
    """Two graphs, episodes of 3 and 2 steps, fixed rewards; the observation carries the state
    value that :class:`_ValueCritic` reads, so the collected values are known too."""

    rewards = [[1.0, -0.5], [2.0, 0.25], [-1.0, 0.0]]  # (T, B); graph 1 ends after step 2
    values = [[0.5, 1.0], [0.25, -0.75], [1.5, 0.8]]  # graph 1: 0.8 after its end, unused
    horizon = torch.tensor([3, 2])
    max_steps = 3

    def _obs(self):
        v = torch.tensor(self.values[min(self.t, 2)]).view(2, 1, 1).expand(2, 4, 1)
        return v.clone(), torch.ones(2, 4, dtype=torch.bool)

    def reset(self, data):
        self.t = 0
        return self._obs()

    def step(self, node, z):
        active = self.t < self.horizon
        reward = torch.where(active, torch.tensor(self.rewards[self.t]), torch.zeros(2))
        self.t += 1
        done = active & (self.t >= self.horizon)
        return (*self._obs(), reward, done, active)


class _ValueCritic(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))  # HybridPPO builds an Adam over the critic

    def forward(self, h, mask):
        return h[:, 0, 0]


def _reference_gae(rewards, values, gamma, lam):
    """One episode, by the definition: A_t = sum_l (gamma lam)^l delta_{t+l},
    delta_t = r_t + gamma V_{t+1} - V_t with V = 0 after the last step."""
    steps = len(rewards)
    deltas = [
        rewards[t] + gamma * (values[t + 1] if t + 1 < steps else 0.0) - values[t]
        for t in range(steps)
    ]
    return [
        sum((gamma * lam) ** (l - t) * deltas[l] for l in range(t, steps)) for t in range(steps)
    ]


def test_gae_with_distinct_gamma_and_lambda_through_collect():
    """Guards swapping ``gamma`` and ``gae_lambda`` in ``collect``'s GAE call (the existing GAE
    test uses lambda in {0, 1} only), bootstrapping past an episode's end, the returns
    ``A + V`` and the advantage normalisation, through the real rollout collection."""
    config = mp.get_config(
        "relief", num_outputs=1, ensemble_size=1, gamma=0.9, gae_lambda=0.5, normalize_rewards=False
    )
    torch.manual_seed(0)
    ppo = HybridPPO(PolicyEnsemble(1, 2, 0.5, 1), _ValueCritic(), config)
    out = ppo.collect(_ScriptedEnv(), None, 0, torch.Generator().manual_seed(0))

    # a hand check of the reference on graph 1: delta = (-0.5 + 0.9 * -0.75 - 1.0, 0.25 + 0.75)
    d0, d1 = -0.5 - 0.675 - 1.0, 1.0
    assert _reference_gae([-0.5, 0.25], [1.0, -0.75], 0.9, 0.5) == pytest.approx(
        [d0 + 0.45 * d1, d1]
    )

    env = _ScriptedEnv
    episodes = [(b, int(env.horizon[b])) for b in range(2)]
    adv = {}
    for b, length in episodes:
        r = [env.rewards[t][b] for t in range(length)]
        v = [env.values[t][b] for t in range(length)]
        for t, a in enumerate(_reference_gae(r, v, 0.9, 0.5)):
            adv[(t, b)] = (a, a + v[t])
    order = [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0)]  # active (t, b) rows, time-major
    want_adv = torch.tensor([adv[k][0] for k in order])
    want_ret = torch.tensor([adv[k][1] for k in order])
    torch.testing.assert_close(out.returns, want_ret)
    torch.testing.assert_close(out.values, torch.tensor([env.values[t][b] for t, b in order]))
    normalised = (want_adv - want_adv.mean()) / want_adv.std(unbiased=False)
    torch.testing.assert_close(out.advantages, normalised, rtol=1e-5, atol=1e-6)
    assert out.raw_return == pytest.approx((1.0 + 2.0 - 1.0 + -0.5 + 0.25) / 2)


def test_gae_and_reward_normalisation_through_a_real_prompt_rollout():
    """The same definition through the real environment (GNN, head, graphs of different sizes,
    so episodes end at different steps) with running reward normalisation on: the recorded
    per-step rewards, normalised by the running statistics, give the collected returns."""
    from torch_geometric.data import Batch

    from modalprompt.graph.synthetic import procedural_graphs, tiny_gnn

    torch.manual_seed(0)
    config = mp.get_config(
        "relief", num_outputs=1, max_nodes=12, ensemble_size=1, gamma=0.8, gae_lambda=0.6
    )
    model = mp.get_prompt_model(tiny_gnn(), config)
    ppo = HybridPPO(model.policy, model.critic, config)
    env = model.make_rollout()
    recorded = []
    step = env.step

    def recording_step(node, z):
        out = step(node, z)
        recorded.append((out[2].clone(), out[4].clone()))  # reward, active
        return out

    env.step = recording_step
    batch = Batch.from_data_list(procedural_graphs(5))
    out = ppo.collect(env, batch, 0, torch.Generator().manual_seed(0))

    rewards = torch.stack([r for r, _ in recorded])  # (T, B)
    active = torch.stack([a for _, a in recorded])
    sizes = torch.bincount(batch.batch).tolist()
    assert active.sum(0).tolist() == sizes  # one step per node, from t = 0
    raw = rewards[active]
    n = raw.numel()
    assert float(ppo.reward_stats.mean) == pytest.approx(float(raw.mean()) * n / (n + 1e-4))
    scale = float(ppo.reward_stats.var) ** 0.5 + 1e-8
    normalised = (rewards - float(ppo.reward_stats.mean)) / scale

    values = torch.zeros_like(rewards)
    values[active] = out.values
    want = torch.zeros_like(rewards)
    for b, length in enumerate(sizes):
        r, v = normalised[:length, b].tolist(), values[:length, b].tolist()
        adv = _reference_gae(r, v, 0.8, 0.6)
        want[:length, b] = torch.tensor([a + x for a, x in zip(adv, v)])
    torch.testing.assert_close(out.returns, want[active], rtol=1e-4, atol=1e-5)
