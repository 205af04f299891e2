"""The RELIEF MDP, vectorised: many graphs step at once on torch tensors.

State ``s_t = GNN(X + P_t)`` (node embeddings of the prompted graph, padded to ``N_max`` with a
validity mask); action ``(v_t, z_t)``; transition ``P[v_t] += z_t``; reward
``L(P_t) - L(P_{t+1})`` per graph, from the projection head held fixed during the episode;
horizon = the graph's node count, or ``step_budget``.

One frozen-GNN forward per step serves both the next observation and the reward (the official
code runs two), and everything stays float32 (the official code sets float64 globally). Within
an episode the GNN's linear layers recompute only the rows whose input changed since the last
step (:class:`~modalprompt.graph.relief.row_cache.RowCachedLinears`; ``incremental=False``
turns it off).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from modalprompt.graph.promptable import check_promptable
from modalprompt.graph.readout import graph_losses
from modalprompt.graph.relief.row_cache import RowCachedLinears

__all__ = ["PromptRollout", "prompt_statistics"]


def prompt_statistics(prompt: Tensor, batch: Tensor, num_graphs: int) -> dict[str, float]:
    """Prompt Coverage Ratio and Average Prompt Magnitude of a prompt matrix.

    PCR: share of a graph's nodes whose prompt row is non-zero, averaged over graphs.
    APM: mean L2 norm of the non-zero prompt rows (0 when no node is prompted).

    Shapes:
        prompt: ``(N, d_x)``; batch: ``(N,)`` graph index of each node.
    """
    norms = prompt.norm(dim=-1)
    prompted = (norms > 0).to(prompt.dtype)
    counts = torch.bincount(batch, minlength=num_graphs).clamp(min=1).to(prompt.dtype)
    per_graph = torch.zeros(num_graphs, dtype=prompt.dtype, device=prompt.device)
    per_graph.index_add_(0, batch, prompted)
    pcr = float((per_graph / counts).mean())
    apm = float(norms[norms > 0].mean()) if bool((norms > 0).any()) else 0.0
    return {"pcr": pcr, "apm": apm}


class PromptRollout:
    """Steps a batch of graphs through the prompt MDP together.

    Args:
        gnn: The frozen backbone, with ``embed_inputs(data) -> (N, d_x)`` and
            ``encode(x, data) -> (N, d_h)`` (see :mod:`~modalprompt.graph.promptable`).
        readout: ``(node embeddings (N, d_h), batch (N,), num_graphs) -> logits (B, T)``: the
            pooling + projection head whose loss defines the reward.
        task_type: ``"multilabel"`` or ``"multiclass"``.
        max_nodes: ``N_max`` of the padded observations.
        step_budget: Steps per graph (None: its node count).
        pad_to_max_nodes: Pad observations to ``max_nodes``; otherwise to the largest graph of
            the batch (``n_pad``), which is cheaper and gives the policy the same result.
        incremental: Recompute the frozen GNN's linear layers only on changed rows (equal to a
            full forward up to float summation order); needs a GNN in eval mode.

    Shapes:
        observation: ``(B, n_pad, d_h)``; mask: ``(B, n_pad)`` bool; node: ``(B,)`` long;
        z: ``(B, d_x)``; reward / done / active: ``(B,)``.
    """

    def __init__(
        self,
        gnn: nn.Module,
        readout: Callable[[Tensor, Tensor, int], Tensor],
        task_type: str,
        max_nodes: int,
        step_budget: int | None = None,
        pad_to_max_nodes: bool = False,
        incremental: bool = True,
    ) -> None:
        check_promptable(gnn)
        self.row_cache = RowCachedLinears(gnn) if incremental else None
        self.pad_to_max_nodes = pad_to_max_nodes
        self.gnn, self.readout = gnn, readout
        self.task_type, self.max_nodes, self.step_budget = task_type, max_nodes, step_budget
        self.data: Any = None

    # ------------------------------------------------------------------------------ episode
    @torch.no_grad()
    def reset(self, data: Any) -> tuple[Tensor, Tensor]:
        """Start episodes on the graphs of ``data`` (a PyG ``Batch``); returns (obs, mask)."""
        self.data = data
        self.num_graphs = int(data.num_graphs)
        self.node_graph = data.batch
        self.num_nodes = torch.bincount(self.node_graph, minlength=self.num_graphs)
        if bool((self.num_nodes == 0).any()):
            empty = torch.nonzero(self.num_nodes == 0).flatten().tolist()
            raise ValueError(
                f"data: graph(s) {empty[:10]} have zero nodes; RELIEF cannot prompt them"
            )
        too_big = int(self.num_nodes.max())
        if too_big > self.max_nodes:
            raise ValueError(
                f"max_nodes: a graph has {too_big} nodes but max_nodes (N_max) is "
                f"{self.max_nodes}; "
                "raise max_nodes to the largest graph of train/val/test"
            )
        self.offsets = torch.cumsum(self.num_nodes, 0) - self.num_nodes  # (B,)
        # Pad observations to N_max only when asked (fixed-size spaces of the gym env); inside
        # the batched rollout the largest graph of the batch suffices, so the per-node actors
        # and the stored states cost what the real nodes cost, not N_max.
        self.pad_to = self.max_nodes if self.pad_to_max_nodes else too_big
        self.horizon = self.num_nodes.clone()
        if self.step_budget is not None:
            self.horizon = self.horizon.clamp(max=self.step_budget)
        self.x0 = self.gnn.embed_inputs(data)  # (N, d_x)
        if self.row_cache is not None:
            self.row_cache.reset()
        self.prompt = torch.zeros_like(self.x0)
        self.t = 0
        obs, mask, self.loss = self._observe()
        return obs, mask

    @property
    def max_steps(self) -> int:
        return int(self.horizon.max())

    def active(self) -> Tensor:
        """``(B,)`` graphs whose episode has not ended."""
        return self.t < self.horizon

    @torch.no_grad()
    def step(self, node: Tensor, z: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Apply ``P[node] += z`` to the active graphs; returns (obs, mask, reward, done, active)
        where ``active`` says which graphs this step applied to (rewards elsewhere are 0)."""
        active = self.active()
        node = node.to(self.offsets.device).long()
        if bool(((node < 0) | (node >= self.num_nodes))[active].any()):
            raise ValueError("node: an active graph was given a node index outside its nodes")
        rows = (self.offsets + node)[active]
        self.prompt.index_add_(0, rows, z[active].to(self.prompt.dtype))
        obs, mask, loss = self._observe()
        reward = torch.where(active, self.loss - loss, torch.zeros_like(loss))
        self.loss = loss
        self.t += 1
        done = active & (self.t >= self.horizon)
        return obs, mask, reward, done, active

    def _observe(self) -> tuple[Tensor, Tensor, Tensor]:
        from torch_geometric.utils import to_dense_batch

        if self.row_cache is not None and not self.gnn.training:
            with self.row_cache.active():
                h = self.gnn.encode(self.x0 + self.prompt, self.data)  # (N, d_h)
        else:
            h = self.gnn.encode(self.x0 + self.prompt, self.data)
        logits = self.readout(h, self.node_graph, self.num_graphs)
        loss = graph_losses(logits, self.data.y, self.task_type)
        obs, mask = to_dense_batch(
            h, self.node_graph, max_num_nodes=self.pad_to, batch_size=self.num_graphs
        )
        return obs, mask, loss

    def statistics(self) -> dict[str, float]:
        """PCR and APM of the current prompts."""
        return prompt_statistics(self.prompt, self.node_graph, self.num_graphs)
