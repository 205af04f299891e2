"""`FeaturePromptEnv`: the RELIEF prompt MDP as a gymnasium environment (one graph per episode).

Registered as ``modalprompt/FeaturePrompt-v0``::

    import gymnasium as gym
    import modalprompt.graph.relief  # registers the id
    env = gym.make("modalprompt/FeaturePrompt-v0", graphs=graphs, gnn=gnn, head=head, max_nodes=132)

Observation: ``{"nodes": (N_max, d_h) float32, "mask": (N_max,) MultiBinary}``, the frozen GNN's
node embeddings of the prompted graph and which rows are real nodes. Action:
``Tuple(Discrete(N_max), Box(-max_z, max_z, (d_x,)))``: node and prompt vector, applied as
``P[v] += z``. Reward: decrease of the current head's loss. An episode lasts as many steps as
the graph has nodes (or ``step_budget``). A node index on a padded row is a no-op (reward 0,
``info["invalid_node"] = True``); RELIEF's own policy never picks one (its choice is masked).

:class:`FlatPromptActionWrapper` presents the hybrid action as one ``Box`` so stable-baselines3
algorithms can train on it; for many graphs at once use
:class:`~modalprompt.graph.relief.rollout.PromptRollout` (the vectorised form, on torch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from modalprompt.graph.relief.rollout import PromptRollout

__all__ = ["FeaturePromptEnv", "FlatPromptActionWrapper", "ENV_ID"]

ENV_ID = "modalprompt/FeaturePrompt-v0"


def _default_setup(seed: int = 0) -> tuple[list[Any], nn.Module, nn.Module]:
    """Procedural graphs, a small random GIN and head: what ``gym.make(ENV_ID)`` runs on."""
    from modalprompt.graph.readout import ProjectionHead
    from modalprompt.graph.synthetic import procedural_graphs, tiny_gnn

    torch.manual_seed(seed)
    return procedural_graphs(16, seed=seed), tiny_gnn(seed=seed), ProjectionHead(16, 1, 1)


class FeaturePromptEnv(gym.Env):
    """RELIEF's MDP on one graph at a time.

    Args:
        graphs: PyG ``Data`` graphs to draw episodes from (each with ``y``).
        gnn: Frozen GNN with ``embed_inputs``/``encode`` (kept in eval mode, no gradients).
        head: Readout ``(h (N, d_h), batch (N,), num_graphs) -> logits (B, T)`` whose loss is the
            reward signal; swap in a retrained one with :meth:`set_head`.
        task_type: ``"multilabel"`` or ``"multiclass"``.
        max_nodes: ``N_max`` (default: the largest graph in ``graphs``).
        max_z: Bound of the prompt vectors.
        step_budget: Steps per episode (default: the graph's node count).

    With no arguments it runs on a small procedural task (for ``gym.make(ENV_ID)``).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        graphs: Sequence[Any] | None = None,
        gnn: nn.Module | None = None,
        head: nn.Module | None = None,
        *,
        task_type: str = "multilabel",
        max_nodes: int | None = None,
        max_z: float = 0.5,
        step_budget: int | None = None,
    ) -> None:
        super().__init__()
        if graphs is None and gnn is None and head is None:
            graphs, gnn, head = _default_setup()
        if graphs is None or gnn is None or head is None:
            raise ValueError("graphs, gnn and head must be given together (or none of them)")
        if len(graphs) == 0:
            raise ValueError("graphs: expected at least one graph")
        sizes = [int(g.num_nodes) for g in graphs]
        if min(sizes) == 0:
            raise ValueError(f"graphs: graph {sizes.index(0)} has zero nodes")
        self.max_nodes = max_nodes if max_nodes is not None else max(sizes)
        if max(sizes) > self.max_nodes:
            raise ValueError(
                f"max_nodes: {self.max_nodes} is below the largest graph ({max(sizes)} nodes)"
            )
        if task_type not in ("multilabel", "multiclass"):
            raise ValueError(f"task_type: expected 'multilabel' or 'multiclass', got {task_type!r}")
        self.graphs, self.gnn, self.head = list(graphs), gnn.eval().requires_grad_(False), head
        self.task_type, self.max_z, self.step_budget = task_type, float(max_z), step_budget
        self.device = next(iter(gnn.parameters())).device
        d_h, d_x = int(gnn.out_dim), int(gnn.prompt_dim)
        self.observation_space = spaces.Dict(
            {
                "nodes": spaces.Box(-np.inf, np.inf, (self.max_nodes, d_h), np.float32),
                "mask": spaces.MultiBinary(self.max_nodes),
            }
        )
        self.action_space = spaces.Tuple(
            (
                spaces.Discrete(self.max_nodes),
                spaces.Box(-self.max_z, self.max_z, (d_x,), np.float32),
            )
        )
        self._rollout: PromptRollout | None = None

    def set_head(self, head: nn.Module) -> None:
        """Use ``head`` for rewards from the next step on (RELIEF retrains it between phases)."""
        self.head = head
        if self._rollout is not None:
            self._rollout.readout = head

    def _observation(self, obs: torch.Tensor, mask: torch.Tensor) -> dict[str, np.ndarray]:
        return {
            "nodes": obs[0].detach().cpu().numpy().astype(np.float32),
            "mask": mask[0].cpu().numpy().astype(np.int8),
        }

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        from torch_geometric.data import Batch

        index = (options or {}).get("graph_index")
        if index is None:
            index = int(self.np_random.integers(len(self.graphs)))
        if not 0 <= index < len(self.graphs):
            raise ValueError(
                f"options['graph_index']: expected 0..{len(self.graphs) - 1}, got {index}"
            )
        self._index = index
        batch = Batch.from_data_list([self.graphs[index]]).to(self.device)
        self._rollout = PromptRollout(
            self.gnn,
            self.head,
            self.task_type,
            self.max_nodes,
            self.step_budget,
            pad_to_max_nodes=True,
        )
        obs, mask = self._rollout.reset(batch)
        self._num_nodes = int(self._rollout.num_nodes[0])
        self._last = (obs, mask)
        return self._observation(obs, mask), {
            "graph_index": index,
            "num_nodes": self._num_nodes,
            "loss": float(self._rollout.loss[0]),
        }

    def step(self, action):
        if self._rollout is None:
            raise RuntimeError("call reset() before step()")
        if not bool(self._rollout.active()[0]):
            raise RuntimeError("the episode has ended; call reset()")
        node, z = int(action[0]), np.asarray(action[1], dtype=np.float32)
        if z.shape != (self._rollout.x0.size(1),):
            raise ValueError(
                f"action[1]: expected shape ({self._rollout.x0.size(1)},), got {z.shape}"
            )
        invalid = not 0 <= node < self._num_nodes
        z_t = torch.as_tensor(np.clip(z, -self.max_z, self.max_z), device=self.device)[None]
        if invalid:
            node, z_t = 0, torch.zeros_like(z_t)
        obs, mask, reward, done, _ = self._rollout.step(
            torch.tensor([node], device=self.device), z_t
        )
        stats = self._rollout.statistics()
        info = {"invalid_node": invalid, "loss": float(self._rollout.loss[0]), **stats}
        return self._observation(obs, mask), float(reward[0]), bool(done[0]), False, info

    @property
    def prompt(self) -> np.ndarray:
        """The current prompt matrix ``(n, d_x)`` of the episode's graph."""
        if self._rollout is None:
            raise RuntimeError("call reset() first")
        return self._rollout.prompt.cpu().numpy()


class FlatPromptActionWrapper(gym.ActionWrapper):
    """One ``Box(-1, 1, (N_max + d_x,))`` action: the first ``N_max`` entries are node scores
    (the highest-scoring *valid* node is chosen), the rest are ``z / max_z``.

    This lets stable-baselines3's PPO train on the environment; it is not RELIEF's algorithm
    (the node choice has no categorical log-probability), which is why RELIEF itself uses
    :class:`~modalprompt.graph.relief.ppo.HybridPPO`.
    """

    def __init__(self, env: FeaturePromptEnv) -> None:
        super().__init__(env)
        base = env.unwrapped
        self._n, self._d = base.max_nodes, base.action_space[1].shape[0]
        self._max_z = base.max_z
        self.action_space = spaces.Box(-1.0, 1.0, (self._n + self._d,), np.float32)

    def action(self, action: np.ndarray):
        action = np.asarray(action, dtype=np.float32)
        scores = action[: self._n].copy()
        valid = self.env.unwrapped._num_nodes
        scores[valid:] = -np.inf
        node = int(np.argmax(scores))
        z = np.clip(action[self._n :], -1.0, 1.0) * self._max_z
        return node, z.astype(np.float32)
