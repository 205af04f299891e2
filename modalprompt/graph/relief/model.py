"""`ReliefModel`: frozen GNN + RELIEF's policy ensemble, shared critic and projection head."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch import Tensor, nn

from modalprompt.core.model import PromptModel, dropout_active
from modalprompt.graph.promptable import check_promptable
from modalprompt.graph.readout import (
    ProjectionHead,
    graph_labels,
    graph_losses,
    task_loss,
    task_metrics,
)
from modalprompt.graph.relief.config import ReliefConfig
from modalprompt.graph.relief.policy import PolicyEnsemble, PooledCritic
from modalprompt.graph.relief.rollout import PromptRollout

__all__ = ["ReliefModel"]


class ReliefModel(PromptModel):
    """RELIEF (Zhu et al., KDD'25): an RL policy decides which nodes get a feature prompt and
    which vector, to maximise the decrease of the projection head's loss.

    ``forward(data)`` rolls the joint policy out on the graphs (``P_0 = 0``, one step per node or
    ``step_budget``), then classifies the prompted graphs. Training alternates a policy phase
    (:class:`~modalprompt.graph.relief.ppo.HybridPPO`, head frozen) and a head phase (policy
    frozen); :func:`~modalprompt.graph.relief.train.fit_relief` runs it.

    Args:
        backbone: A frozen GNN with ``embed_inputs``/``encode`` (see
            :mod:`~modalprompt.graph.promptable`).
        config: :class:`ReliefConfig`.

    Shapes:
        data: a PyG ``Batch`` of ``B`` graphs (``x``/atom features, ``edge_index``, ``batch``,
        ``y``: ``(B, T)``/``(B*T,)`` with NaN for missing labels, or ``(B,)`` classes).
        output: logits ``(B, num_outputs)``.
    """

    gradient_exemptions = {  # see core.testing.check_prompt_model
        "policy.*": "trained by H-PPO (HybridPPO.update) in the policy phase; training_step is "
        "the head phase, which samples from the policy without gradients",
        "critic.*": "trained by H-PPO's value loss, not by training_step (the head phase)",
    }

    def __init__(self, backbone: nn.Module, config: ReliefConfig) -> None:
        check_promptable(backbone)
        super().__init__(backbone, config)
        hidden, prompt_dim = int(backbone.out_dim), int(backbone.prompt_dim)
        self.head = ProjectionHead(
            hidden, config.num_outputs, config.head_layers, config.head_standardize
        )
        self.policy = PolicyEnsemble(hidden, prompt_dim, config.max_z, config.ensemble_size)
        self.critic = PooledCritic(hidden, config.critic_pooling)
        self.policy.set_log_std(config.init_log_std)
        self._prompting = True

    @contextmanager
    def prompts_disabled(self) -> Iterator[None]:
        """Inside, ``forward`` and ``validation_step`` see the unprompted graphs: the head
        warm-up, and its evaluation as the official ``evaluate_tasknet`` does (PCR and APM 0)."""
        previous, self._prompting = self._prompting, False
        try:
            yield
        finally:
            self._prompting = previous

    def prepare_fit(self, train_batches: Iterable[Any]) -> None:
        """Fit the head's standardisation (``head_standardize``) on the unprompted training
        graphs (``P_0 = 0``, where every episode starts); a fitted head keeps its own."""
        self.head.fit_from_batches(
            lambda data: self.backbone.encode(self.backbone.embed_inputs(data), data),
            train_batches,
        )

    def fit_phases(self, trainer: Any, resume_from: Any) -> Any:
        """``Trainer(model, args, train_data=graphs, eval_data=graphs).fit()`` runs RELIEF's plan
        (:func:`~modalprompt.graph.relief.train.fit_relief`; its config holds the schedule, of
        the trainer's arguments ``output_dir``, ``overwrite_output_dir``, ``device``,
        ``eval_batch_size`` and ``verbose`` are used), not the head alone."""
        from modalprompt.graph.relief.train import fit_relief

        args = trainer.args
        train = list(trainer.train_dataset)
        history = fit_relief(
            self,
            train,
            list(trainer.eval_dataset) if trainer.eval_dataset is not None else train,
            output_dir=args.output_dir,
            resume_from=resume_from,
            overwrite_output_dir=args.overwrite_output_dir,
            eval_batch_size=args.eval_batch_size,
            device=args.device,
            verbose=args.verbose,
        )
        trainer.state.best_metric = history.best_metric
        trainer.state.best_step = history.best_epoch
        trainer.state.finished = True
        return trainer.state

    def param_groups(self) -> list[dict[str, Any]]:
        """The head phase's group (policy and critic are trained by H-PPO, not by this)."""
        return [{"params": list(self.head.parameters()), "name": "head", "lr": self.config.head_lr}]

    def make_rollout(self) -> PromptRollout:
        c = self.config
        return PromptRollout(self.backbone, self.head, c.task_type, c.max_nodes, c.step_budget)

    @torch.no_grad()
    def rollout(
        self, data: Any, deterministic: bool | None = None, generator: torch.Generator | None = None
    ) -> PromptRollout:
        """Run the joint policy to the end of every episode; the returned rollout holds the final
        prompts (``.prompt``, ``(N, d_x)``) and their PCR/APM (``.statistics()``).

        Deterministic mode takes the argmax node among the nodes not prompted yet in this
        episode (all valid nodes again once every node has had its turn), with the ensemble's
        mean vector. A plain argmax over all nodes, as a literal reading of "argmax node" gives,
        keeps choosing the same one or two nodes: the policy's node distribution is broad and
        changes little from step to step, so the argmax sits still. On Cora (node level,
        10-shot) that covered 10.5% of the nodes where the paper's sampled mode covers 52.5%.
        Excluding chosen nodes makes deterministic mode visit the policy's preferred nodes in
        order: with ``step_budget`` at least the number of nodes every node is prompted (PCR 1)
        unless the policy gives it a zero vector.
        """
        if deterministic is None:
            deterministic = self.config.eval_mode == "deterministic"
        env = self.make_rollout()
        obs, mask = env.reset(data)
        chosen = torch.zeros_like(mask) if deterministic else None
        for _ in range(env.max_steps):
            available = mask
            if chosen is not None:
                fresh = mask & ~chosen
                available = torch.where(fresh.any(-1, keepdim=True), fresh, mask)
            node, z = self.policy.act_joint(obs, available, deterministic, generator)
            if chosen is not None:
                chosen[torch.arange(node.numel(), device=node.device), node] = True
            obs, mask, *_ = env.step(node, z)
        return env

    def _eval_generator(self, device: torch.device) -> torch.Generator:
        return torch.Generator(device=device).manual_seed(self.config.seed)

    def forward(self, data: Any) -> Tensor:
        """Logits ``(B, num_outputs)`` of the graphs after the joint policy prompted them.

        In training mode nodes are sampled from torch's global generator; in eval mode from a
        generator seeded with ``config.seed`` (``eval_mode="sample"``, reproducible) or by argmax.
        """
        if not self._prompting:
            x = self.backbone.embed_inputs(data)
        else:
            generator = None if self.training else self._eval_generator(data.batch.device)
            env = self.rollout(
                data, deterministic=None if not self.training else False, generator=generator
            )
            x = env.x0 + env.prompt
        # the official head phase's gnn.train(): dropout only (config.head_encoder_dropout)
        dropout = self.training and self.config.head_encoder_dropout
        with torch.no_grad(), dropout_active(self.backbone) if dropout else nullcontext():
            h = self.backbone.encode(x, data)
        return self.head(h, data.batch, int(data.num_graphs))

    def head_loss(self, logits: Tensor, y: Tensor) -> Tensor:
        """BCE over all present labels (multilabel) or cross-entropy (multiclass)."""
        return task_loss(logits, y, self.config.task_type)

    def training_step(self, batch: Any) -> dict[str, Tensor]:
        return {"loss": self.head_loss(self(batch), batch.y)}

    @torch.no_grad()
    def validation_step(self, batch: Any) -> dict[str, Tensor]:
        if self._prompting:
            env = self.rollout(batch, generator=self._eval_generator(batch.batch.device))
            h = self.backbone.encode(env.x0 + env.prompt, batch)
            norms = env.prompt.norm(dim=-1)
        else:
            h = self.backbone.encode(self.backbone.embed_inputs(batch), batch)
            norms = torch.zeros(h.shape[0], device=h.device)
        logits = self.head(h, batch.batch, int(batch.num_graphs))
        graphs = int(batch.num_graphs)
        per_graph = lambda v: torch.zeros(graphs, device=v.device).index_add_(0, batch.batch, v)  # noqa: E731
        labels = graph_labels(logits, batch.y, self.config.task_type)
        return {
            "logits": logits,
            "labels": labels,
            "prompted": per_graph((norms > 0).float()),
            "nodes": per_graph(torch.ones_like(norms)),
            "norm_sum": per_graph(norms),
        }

    def compute_metrics(self, outputs: Mapping[str, Tensor]) -> dict[str, float]:
        """ROC-AUC over tasks (multilabel) or accuracy + macro-F1 (multiclass), plus PCR and APM."""
        metrics = task_metrics(outputs["logits"], outputs["labels"], self.config.task_type)
        prompted = outputs["prompted"].sum()
        metrics["pcr"] = float((outputs["prompted"] / outputs["nodes"].clamp(min=1)).mean())
        metrics["apm"] = float(outputs["norm_sum"].sum() / prompted) if prompted > 0 else 0.0
        return metrics

    def graph_losses(self, logits: Tensor, y: Tensor) -> Tensor:
        return graph_losses(logits, y, self.config.task_type)
