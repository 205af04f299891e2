"""H-PPO (hybrid-action PPO) for RELIEF, with the ensemble's KL regularisers.

Per member ``i`` and minibatch (official ``agent.py``)::

    rho_d = exp(log pi_d - log pi_d_old)     rho_c = exp(log pi_c - log pi_c_old)
    L_d = -min(rho_d A, clip(rho_d, 1 +- eps_d) A) - c_ent H(pi_d) + alpha_d KL(pi_ens || pi_d,i)
    L_c = -min(rho_c A, clip(rho_c, 1 +- eps_c) A)                 + alpha_c KL(N_i || N_ens)
    L_V = c_V * MSE(V(s), A + V_old(s))

Adam (eps 1e-5), gradient clipping, up to ``update_epochs`` passes over shuffled minibatches,
early stop when the k3 estimate of KL exceeds ``target_kl_discrete`` or
``target_kl_continuous``. Advantages: GAE per graph, normalised over the collected batch.
Rewards are normalised by a running mean/std (stable-baselines3's ``RunningMeanStd``).

Differs from the official code: rollouts are float32 and batched, one GNN forward per step; the
critic pools over nodes (:class:`~modalprompt.graph.relief.policy.PooledCritic`); the sampled
prompt vector is clamped to ``[-max_z, max_z]`` before it is applied (its log-probability is that
of the unclamped sample), so every applied action lies in the environment's action space.
SB3's ``RolloutBuffer`` assumes a fixed number of environments stepping in lockstep; RELIEF's
episodes end at each graph's own node count, so transitions are stored per step with an
``active`` mask instead.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.running_mean_std import RunningMeanStd
from torch import Tensor

from modalprompt.graph.relief.config import ReliefConfig
from modalprompt.graph.relief.policy import PolicyEnsemble, PooledCritic
from modalprompt.graph.relief.rollout import PromptRollout

__all__ = ["Transitions", "HybridPPO", "gae"]


@dataclasses.dataclass
class Transitions:
    """The active transitions of one batched rollout, flattened to ``M`` rows."""

    obs: Tensor  # (M, N_max, d_h)
    mask: Tensor  # (M, N_max)
    node: Tensor  # (M,)
    z: Tensor  # (M, d_x)
    logp_node: Tensor  # (M,)
    logp_prompt: Tensor  # (M,)
    values: Tensor  # (M,)
    advantages: Tensor  # (M,)
    returns: Tensor  # (M,)
    raw_return: float  # mean undiscounted, unnormalised return per graph (= loss decrease)


def gae(
    rewards: Tensor, values: Tensor, dones: Tensor, active: Tensor, gamma: float, lam: float
) -> tuple[Tensor, Tensor]:
    """Generalised advantage estimation over time for ``B`` parallel episodes.

    Shapes:
        rewards, values, dones, active: ``(T, B)`` → advantages, returns ``(T, B)``.
    An episode's last step (``done``) does not bootstrap; inactive steps get 0.
    """
    steps = rewards.size(0)
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(steps)):
        next_value = values[t + 1] if t + 1 < steps else torch.zeros_like(values[t])
        not_done = (~dones[t]).to(rewards.dtype)
        delta = rewards[t] + gamma * next_value * not_done - values[t]
        running = delta + gamma * lam * not_done * running
        running = running * active[t].to(rewards.dtype)
        advantages[t] = running
    return advantages, advantages + values


class HybridPPO:
    """Collects rollouts with one ensemble member and updates it (and the shared critic).

    Args:
        ensemble: The K members. critic: The shared critic. config: RELIEF's hyper-parameters.
    """

    def __init__(
        self, ensemble: PolicyEnsemble, critic: PooledCritic, config: ReliefConfig
    ) -> None:
        self.ensemble, self.critic, self.config = ensemble, critic, config
        self.actor_optimizers = [
            torch.optim.Adam(
                [*ensemble.discrete[i].parameters(), *ensemble.continuous[i].parameters()],
                lr=config.actor_lr,
                eps=1e-5,
            )
            for i in range(len(ensemble))
        ]
        self.critic_optimizer = torch.optim.Adam(critic.parameters(), lr=config.critic_lr, eps=1e-5)
        self.reward_stats = RunningMeanStd(shape=())
        self.entropy_coef = config.entropy_coef

    def state_dict(self) -> dict[str, Any]:
        """Optimizers, reward statistics and entropy coefficient (the networks' weights are the
        model's), for checkpoints."""
        stats = self.reward_stats
        return {
            "actor_optimizers": [opt.state_dict() for opt in self.actor_optimizers],
            "critic_optimizer": self.critic_optimizer.state_dict(),
            "reward_stats": {"mean": stats.mean, "var": stats.var, "count": float(stats.count)},
            "entropy_coef": self.entropy_coef,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state_dict`."""
        if len(state["actor_optimizers"]) != len(self.actor_optimizers):
            raise ValueError(
                f"actor_optimizers: {len(state['actor_optimizers'])} saved, "
                f"{len(self.actor_optimizers)} ensemble members now"
            )
        for opt, saved in zip(self.actor_optimizers, state["actor_optimizers"]):
            opt.load_state_dict(saved)
        self.critic_optimizer.load_state_dict(state["critic_optimizer"])
        stats = state["reward_stats"]
        self.reward_stats.mean = np.asarray(stats["mean"], dtype=np.float64)
        self.reward_stats.var = np.asarray(stats["var"], dtype=np.float64)
        self.reward_stats.count = float(stats["count"])
        self.entropy_coef = float(state["entropy_coef"])

    def set_progress(self, fraction: float) -> None:
        """Entropy coefficient decays linearly to 0 and the prompt log-std moves from its initial
        to its final value as training goes from ``fraction`` 0 to 1."""
        fraction = min(max(fraction, 0.0), 1.0)
        self.entropy_coef = self.config.entropy_coef * (1.0 - fraction)
        c = self.config
        self.ensemble.set_log_std(c.init_log_std + (c.final_log_std - c.init_log_std) * fraction)

    # --------------------------------------------------------------------------- collection
    @torch.no_grad()
    def collect(
        self, env: PromptRollout, data: Any, member: int, generator: torch.Generator
    ) -> Transitions:
        """Roll member ``member`` out on the graphs of ``data`` (a PyG ``Batch``)."""
        ens, max_z = self.ensemble, self.config.max_z
        obs, mask = env.reset(data)
        steps: dict[str, list[Tensor]] = {
            k: [] for k in ("obs", "mask", "node", "z", "lpn", "lpz", "v", "r", "d", "a")
        }
        for _ in range(env.max_steps):
            node_dist = ens.member(member, obs, mask)
            probs = node_dist.probs
            node = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
            prompt_dist = ens.prompt_distribution(member, obs, node)
            noise = torch.randn(prompt_dist.mean.shape, generator=generator, device=obs.device)
            z = prompt_dist.mean + prompt_dist.stddev * noise
            value = self.critic(obs, mask)
            next_obs, next_mask, reward, done, active = env.step(node, z.clamp(-max_z, max_z))
            for key, val in zip(
                steps,
                (
                    obs,
                    mask,
                    node,
                    z,
                    node_dist.log_prob(node),
                    prompt_dist.log_prob(z).sum(-1),
                    value,
                    reward,
                    done,
                    active,
                ),
            ):
                steps[key].append(val)
            obs, mask = next_obs, next_mask
        stacked = {k: torch.stack(v) for k, v in steps.items()}  # (T, B, ...)
        active = stacked["a"]
        raw = stacked["r"]
        raw_return = float(raw.sum(0).mean())
        rewards = raw
        if self.config.normalize_rewards:
            self.reward_stats.update(raw[active].double().cpu().numpy())
            std = float(self.reward_stats.var) ** 0.5
            rewards = (raw - float(self.reward_stats.mean)) / (std + 1e-8) * active.to(raw.dtype)
        advantages, returns = gae(
            rewards, stacked["v"], stacked["d"], active, self.config.gamma, self.config.gae_lambda
        )
        pick = lambda key: stacked[key][active]  # noqa: E731  (T, B, ...) -> (M, ...)
        adv = advantages[active]
        adv = (adv - adv.mean()) / (adv.std(unbiased=False) + 1e-8) if adv.numel() > 1 else adv
        return Transitions(
            obs=pick("obs"),
            mask=pick("mask"),
            node=pick("node"),
            z=pick("z"),
            logp_node=pick("lpn"),
            logp_prompt=pick("lpz"),
            values=pick("v"),
            advantages=adv,
            returns=returns[active],
            raw_return=raw_return,
        )

    # ------------------------------------------------------------------------------ update
    def update(
        self, member: int, batch: Transitions, generator: torch.Generator
    ) -> dict[str, float]:
        """PPO passes over ``batch`` for member ``member``; returns loss statistics."""
        c, ens = self.config, self.ensemble
        rows = batch.node.numel()
        stats = {
            "transitions": float(rows),
            "updates": 0.0,
            "approx_kl_node": 0.0,
            "approx_kl_prompt": 0.0,
            "value_loss": 0.0,
            "entropy": 0.0,
        }
        if rows <= c.minibatch_size:  # as the official code: too few transitions, no update
            return stats
        actor_params = [*ens.discrete[member].parameters(), *ens.continuous[member].parameters()]
        # Only this member trains during its update, so the other members' node probabilities
        # are computed once here; each minibatch then forms the ensemble target from them and
        # the member's own (current) probabilities: the same values as recomputing all K
        # members in every minibatch, for one actor forward instead of 2K + 1.
        others = self._other_members_max(member, batch) if len(ens) > 1 else None
        for _ in range(c.update_epochs):
            order = torch.randperm(rows, generator=generator).to(batch.node.device)
            stop = False
            for start in range(0, rows, c.minibatch_size):
                idx = order[start : start + c.minibatch_size]
                h, mask, node, adv = (
                    batch.obs[idx],
                    batch.mask[idx],
                    batch.node[idx],
                    batch.advantages[idx],
                )
                node_dist = ens.member(member, h, mask)
                log_ratio_d = node_dist.log_prob(node) - batch.logp_node[idx]
                prompt_dist = ens.prompt_distribution(member, h, node)
                log_ratio_c = prompt_dist.log_prob(batch.z[idx]).sum(-1) - batch.logp_prompt[idx]
                ratio_d, ratio_c = log_ratio_d.exp(), log_ratio_c.exp()
                entropy = node_dist.entropy().mean()
                loss_d = -torch.min(
                    ratio_d * adv, ratio_d.clamp(1 - c.clip_discrete, 1 + c.clip_discrete) * adv
                ).mean()
                loss_d = loss_d - self.entropy_coef * entropy
                loss_c = -torch.min(
                    ratio_c * adv, ratio_c.clamp(1 - c.clip_continuous, 1 + c.clip_continuous) * adv
                ).mean()
                if others is not None:
                    with torch.no_grad():
                        target = torch.maximum(others[idx], node_dist.probs)
                        target = target / target.sum(-1, keepdim=True)
                    loss_d = loss_d + c.alpha_discrete * self._node_kl(target, mask, node_dist)
                    loss_c = loss_c + c.alpha_continuous * self._prompt_kl(member, h, target)
                value_loss = ((self.critic(h, mask) - batch.returns[idx]) ** 2).mean()
                loss = loss_d + loss_c + c.critic_coef * value_loss
                self.actor_optimizers[member].zero_grad(set_to_none=True)
                self.critic_optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(actor_params, c.max_grad_norm)
                torch.nn.utils.clip_grad_norm_(self.critic.parameters(), c.max_grad_norm)
                self.actor_optimizers[member].step()
                self.critic_optimizer.step()
                with torch.no_grad():
                    kl_d = float(((ratio_d - 1) - log_ratio_d).mean())
                    kl_c = float(((ratio_c - 1) - log_ratio_c).mean())
                stats.update(
                    updates=stats["updates"] + 1,
                    approx_kl_node=kl_d,
                    approx_kl_prompt=kl_c,
                    value_loss=value_loss.item(),
                    entropy=entropy.item(),
                )
                if kl_d > c.target_kl_discrete or kl_c > c.target_kl_continuous:
                    stop = True
                    break
            if stop:
                break
        return stats

    @torch.no_grad()
    def _other_members_max(self, member: int, batch: Transitions) -> Tensor:
        """``(rows, N_max)`` element-wise max of the node probabilities of every member but
        ``member`` (unnormalised), in chunks of ``minibatch_size`` rows."""
        ens, step = self.ensemble, self.config.minibatch_size
        chunks = []
        for start in range(0, batch.node.numel(), step):
            h, mask = batch.obs[start : start + step], batch.mask[start : start + step]
            probs = [ens.member(i, h, mask).probs for i in range(len(ens)) if i != member]
            chunks.append(torch.stack(probs).amax(0))
        return torch.cat(chunks)

    def _node_kl(self, target: Tensor, mask: Tensor, node_dist) -> Tensor:
        """``KL(pi_ens || pi_i)`` over valid nodes, the ensemble's ``target`` held fixed."""
        log_p = torch.log_softmax(node_dist.logits, -1)
        log_t = torch.log(target.clamp(min=1e-12))
        terms = torch.where(mask, target * (log_t - log_p), torch.zeros_like(target))
        return terms.sum(-1).mean()

    def _prompt_kl(self, member: int, h: Tensor, target_probs: Tensor) -> Tensor:
        """``KL(N_i || N_ens)`` at the ensemble's most likely node (shared scheduled std)."""
        with torch.no_grad():
            node = target_probs.argmax(-1)
            mu_ens = self.ensemble.ensemble_prompt_mean(h, node)
        own = self.ensemble.prompt_distribution(member, h, node)
        target = torch.distributions.Normal(mu_ens, own.stddev.detach())
        return torch.distributions.kl_divergence(own, target).sum(-1).mean()
