"""RELIEF: Reinforcement Learning Empowered Graph Feature Prompt Tuning.

Zhu, Ding, Yu, Tan, Li, Qian, KDD 2025 (arXiv:2408.03195); official code JasonZhujp/RELIEF.

An RL agent with a hybrid action (which node: discrete; which prompt vector: continuous) adds
feature prompts to *some* nodes of each graph, rewarded by the decrease of the projection
head's loss; the head is retrained between policy phases. Here: the gymnasium environment
(``modalprompt/FeaturePrompt-v0``), its vectorised torch form, H-PPO with the K-member ensemble,
and the alternating training.

Differs from the official code (each also noted where it is implemented):
* the frozen GNN stays in eval mode throughout (the official head phase calls ``gnn.train()``,
  so dropout is on and BatchNorm statistics drift); ``head_encoder_dropout=True`` switches on
  only the GNN's dropout while the head trains, which is the official node-level behaviour
  (no BatchNorm there) without the drift at graph level;
* float32 and batched rollouts with one GNN forward per step (official: float64, two);
* the critic pools node embeddings instead of flattening ``N_max x d`` inputs;
* a deterministic evaluation mode (argmax node, mean vector) beside the paper's sampled one,
  and the sampled one is seeded, so evaluation is reproducible.
* evaluation rolls out size-sorted batches of 32 graphs (``evaluate_relief``, ``fit_relief``'s
  validation): the same argmax scores as one batch at a ninth of the GNN work on HIV; sampled
  scores differ from a one-batch evaluation only by which draws each graph gets.
"""

from modalprompt.graph.relief.config import ReliefConfig

__all__ = [
    "ReliefConfig",
    "ReliefModel",
    "FeaturePromptEnv",
    "FlatPromptActionWrapper",
    "HybridPPO",
    "PromptRollout",
    "fit_relief",
    "evaluate_relief",
    "ENV_ID",
]

_LAZY = {
    "ReliefModel": "modalprompt.graph.relief.model",
    "FeaturePromptEnv": "modalprompt.graph.relief.env",
    "FlatPromptActionWrapper": "modalprompt.graph.relief.env",
    "ENV_ID": "modalprompt.graph.relief.env",
    "HybridPPO": "modalprompt.graph.relief.ppo",
    "PromptRollout": "modalprompt.graph.relief.rollout",
    "fit_relief": "modalprompt.graph.relief.train",
    "evaluate_relief": "modalprompt.graph.relief.train",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'modalprompt.graph.relief' has no attribute {name!r}")


def _register_env() -> None:
    try:
        import gymnasium
    except ImportError:  # the 'rl' extra is not installed
        return
    if "modalprompt/FeaturePrompt-v0" not in gymnasium.registry:
        gymnasium.register(
            id="modalprompt/FeaturePrompt-v0",
            entry_point="modalprompt.graph.relief.env:FeaturePromptEnv",
        )


_register_env()
