"""RELIEF's configuration (registered as ``relief``); defaults from the official main.py/run.sh."""

from __future__ import annotations

from dataclasses import dataclass

from modalprompt.core.config import (
    ConfigError,
    PromptConfig,
    check_bool,
    check_choice,
    check_float,
    check_int,
)
from modalprompt.core.registry import register_method


@register_method(
    "relief",
    domain="graph",
    description="RL agent picks which nodes get feature prompts and what vectors (RELIEF)",
    model="modalprompt.graph.relief.model:ReliefModel",
    extra="graph",
    tiny={"num_outputs": 2, "ensemble_size": 2, "max_nodes": 12, "minibatch_size": 8},
)
@dataclass(kw_only=True)
class ReliefConfig(PromptConfig):
    """RELIEF: Reinforcement Learning Empowered Graph Feature Prompt Tuning (Zhu et al., KDD'25,
    arXiv:2408.03195).

    Args:
        task_type: ``"multilabel"`` (molecules: BCE averaged over the tasks a graph has labels
            for; ROC-AUC) or ``"multiclass"`` (nodes via their k-hop subgraphs: cross-entropy;
            accuracy and macro-F1).
        num_outputs: Number of tasks (multilabel) or classes (multiclass).
        max_nodes: ``N_max``, the padded node count of observations (largest graph allowed).
        max_z: Bound of the prompt vectors: ``z = max_z * tanh(.)``.
        step_budget: Prompt steps per graph; None = as many as it has nodes (the paper).
        ensemble_size: ``K`` policy members (LEEP-style ensemble).
        ensemble_overlap: Share of each other member's split a member also trains on.
        alpha_discrete: Weight of ``KL(pi_ens || pi_i)`` on node choices.
        alpha_continuous: Weight of ``KL(N_i || N_ens)`` on prompt vectors.
        head_layers: Layers of the projection head (``head_layers - 1`` hidden Linear+ReLU).
        head_standardize: Standardise the pooled graph embedding per feature with statistics
            of the unprompted training graphs before the head (fitted once when training
            starts; see :class:`~modalprompt.graph.readout.ProjectionHead`). Not in the
            official code (whose head phase runs the GNN in train mode, so BatchNorm normalises
            each batch); False gives its plain head. It helps on the official ContextPred GCN
            and hurts on the supervised one (``ProjectionHead`` has the numbers).
        actor_lr: Learning rate of the actors. critic_lr: of the shared critic.
        head_lr: Learning rate of the projection head (the "tasknet").
        head_weight_decay: Adam weight decay of the head (official: 5e-4 at node level, 0 at
            graph level).
        head_epochs: Head passes over the training graphs per RELIEF epoch.
        head_warmup_epochs: Head passes over the unprompted training graphs before the first
            RELIEF epoch (the official node-level ``warmup_epochs``, 50-100 for Photo; 0 = off).
            The first policy phase then rewards prompts against a head that already fits the
            frozen embeddings, not against a random one.
        head_encoder_dropout: Whether the head phase (and the warm-up) runs the frozen GNN with its
            own dropout active, as the official code does (``tasknet_train_mode=1`` calls
            ``gnn.train()``; at node level with ``dropout_ratio`` 0.5). Here only dropout is
            switched on: BatchNorm layers stay in eval, so their statistics cannot drift, and
            rollouts, rewards and evaluation always see the deterministic GNN. The rate is the
            backbone's own (``NodeEncoder(dropout=...)``, ``MoleculeGIN(drop_ratio=...)``).
        total_epochs: RELIEF epochs (policy phase + head phase each).
        skip_epochs: Epochs before model selection starts (the paper reports the best validation
            epoch at or after this one).
        graphs_per_rollout: Graphs rolled out together in the policy phase (``batch_size``).
        minibatch_size: Transitions per PPO minibatch.
        update_epochs: PPO passes over a rollout (``policy_update_nums``).
        clip_discrete / clip_continuous: PPO ratio clipping.
        target_kl_discrete / target_kl_continuous: early-stop thresholds of the k3 KL estimate.
        entropy_coef: Node-choice entropy bonus at epoch 0, decayed linearly to 0.
        critic_coef: Weight of the value loss.
        max_grad_norm: Gradient clipping of the PPO update.
        gamma / gae_lambda: Discount and GAE parameter.
        init_log_std / final_log_std: The prompt Gaussian's log-std, scheduled linearly over
            epochs (not learned).
        critic_pooling: ``"meanmax"`` pools node embeddings (mean ‖ max) for the critic; the
            official code flattens ``N_max x d`` inputs instead (see the docstring of
            :class:`~modalprompt.graph.relief.policy.PooledCritic`).
        eval_mode: ``"sample"`` (the paper: node sampled from the joint policy, seeded) or
            ``"deterministic"`` (argmax node among those not prompted yet in the episode, mean
            vector; see :meth:`~modalprompt.graph.relief.model.ReliefModel.rollout`).
        normalize_rewards: Divide rewards by a running std (the official ``Normalization``).
    """

    task_type: str = "multilabel"
    num_outputs: int = 1
    max_nodes: int = 132
    max_z: float = 0.5
    step_budget: int | None = None
    ensemble_size: int = 3
    ensemble_overlap: float = 0.2
    alpha_discrete: float = 1e5
    alpha_continuous: float = 0.1
    head_layers: int = 1
    head_standardize: bool = True
    actor_lr: float = 5e-4
    critic_lr: float = 5e-4
    head_lr: float = 1e-3
    head_weight_decay: float = 0.0
    head_epochs: int = 1
    head_warmup_epochs: int = 0
    head_encoder_dropout: bool = False
    total_epochs: int = 50
    skip_epochs: int = 20
    graphs_per_rollout: int = 8
    minibatch_size: int = 128
    update_epochs: int = 10
    clip_discrete: float = 0.2
    clip_continuous: float = 0.2
    target_kl_discrete: float = 0.001
    target_kl_continuous: float = 0.1
    entropy_coef: float = 0.01
    critic_coef: float = 0.5
    max_grad_norm: float = 0.5
    gamma: float = 0.99
    gae_lambda: float = 0.95
    init_log_std: float = 0.0
    final_log_std: float = -5.0
    critic_pooling: str = "meanmax"
    eval_mode: str = "sample"
    normalize_rewards: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice(self, "task_type", ("multilabel", "multiclass"))
        check_int(self, "num_outputs", minimum=1)
        if self.task_type == "multiclass" and self.num_outputs < 2:
            raise ConfigError(
                f"ReliefConfig.num_outputs: got {self.num_outputs}; multiclass needs >= 2 classes"
            )
        check_int(self, "max_nodes", minimum=1)
        check_float(self, "max_z", minimum=0.0, inclusive=False)
        check_int(self, "step_budget", minimum=1, optional=True)
        check_int(self, "ensemble_size", minimum=1)
        check_float(self, "ensemble_overlap", minimum=0.0, maximum=1.0)
        for name in ("alpha_discrete", "alpha_continuous", "entropy_coef", "critic_coef"):
            check_float(self, name, minimum=0.0)
        check_int(self, "head_layers", minimum=1)
        check_bool(self, "head_standardize")
        for name in (
            "actor_lr",
            "critic_lr",
            "head_lr",
            "max_grad_norm",
            "clip_discrete",
            "clip_continuous",
            "target_kl_discrete",
            "target_kl_continuous",
        ):
            check_float(self, name, minimum=0.0, inclusive=False)
        for name in (
            "head_epochs",
            "total_epochs",
            "graphs_per_rollout",
            "minibatch_size",
            "update_epochs",
        ):
            check_int(self, name, minimum=1)
        check_int(self, "skip_epochs", minimum=0)
        check_int(self, "head_warmup_epochs", minimum=0)
        check_float(self, "head_weight_decay", minimum=0.0)
        check_float(self, "gamma", minimum=0.0, maximum=1.0)
        check_float(self, "gae_lambda", minimum=0.0, maximum=1.0)
        check_float(self, "init_log_std")
        check_float(self, "final_log_std")
        check_choice(self, "critic_pooling", ("meanmax", "mean"))
        check_choice(self, "eval_mode", ("sample", "deterministic"))
        check_bool(self, "normalize_rewards")
        check_bool(self, "head_encoder_dropout")
