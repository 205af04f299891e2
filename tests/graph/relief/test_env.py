import numpy as np
import pytest
import torch

pytest.importorskip("torch_geometric")
gym = pytest.importorskip("gymnasium")
from gymnasium.utils.env_checker import check_env  # noqa: E402

import modalprompt.graph.relief  # noqa: E402,F401  (registers the env id)
from modalprompt.graph.readout import ProjectionHead  # noqa: E402
from modalprompt.graph.relief.env import ENV_ID, FeaturePromptEnv, FlatPromptActionWrapper  # noqa: E402
from modalprompt.graph.synthetic import procedural_graphs, tiny_gnn  # noqa: E402


def _env(**kw):
    torch.manual_seed(0)
    return FeaturePromptEnv(procedural_graphs(6), tiny_gnn(), ProjectionHead(16, 1, 1), **kw)


@pytest.mark.filterwarnings("ignore:.*Box observation space m:UserWarning")
def test_registered_id_builds_and_passes_gymnasiums_checker():
    env = gym.make(ENV_ID)
    check_env(env.unwrapped, skip_render_check=True)
    check_env(_env(step_budget=3), skip_render_check=True)


def test_spaces_episode_length_and_transition():
    env = _env(max_nodes=14, max_z=0.3)
    assert env.action_space[0].n == 14 and env.action_space[1].shape == (8,)
    assert env.observation_space["nodes"].shape == (14, 16)
    obs, info = env.reset(seed=3, options={"graph_index": 2})
    n = info["num_nodes"]
    assert obs["mask"].sum() == n and not obs["mask"][n:].any() and not obs["nodes"][n:].any()
    z = np.full(8, 0.2, dtype=np.float32)
    rewards = []
    for t in range(n):
        obs, reward, terminated, truncated, info = env.step((1, z))
        rewards.append(reward)
        assert terminated == (t == n - 1) and not truncated
    np.testing.assert_allclose(env.prompt[1], z * n, rtol=1e-6)
    assert info["pcr"] == pytest.approx(1 / n)
    with pytest.raises(RuntimeError, match="ended"):
        env.step((0, z))


def test_padded_node_is_a_no_op_and_the_head_can_be_swapped():
    env = _env()
    obs, info = env.reset(seed=0, options={"graph_index": 0})
    n = info["num_nodes"]
    obs2, reward, *_, info2 = env.step((n, np.full(8, 0.5, np.float32)))
    assert info2["invalid_node"] and reward == 0.0 and not env.prompt.any()
    np.testing.assert_array_equal(obs["nodes"], obs2["nodes"])
    torch.manual_seed(5)
    env.set_head(ProjectionHead(16, 1, 1))
    _, reward_a, *_ = env.step((0, np.full(8, 0.5, np.float32)))
    env2 = _env()
    env2.reset(seed=0, options={"graph_index": 0})
    env2.step((n, np.zeros(8, np.float32)))
    _, reward_b, *_ = env2.step((0, np.full(8, 0.5, np.float32)))
    assert reward_a != pytest.approx(reward_b)  # the reward follows the swapped-in head


def test_bad_arguments_are_explained():
    graphs = procedural_graphs(3, min_nodes=6, max_nodes=8)
    with pytest.raises(ValueError, match="max_nodes"):
        FeaturePromptEnv(graphs, tiny_gnn(), ProjectionHead(16, 1, 1), max_nodes=5)
    with pytest.raises(ValueError, match="together"):
        FeaturePromptEnv(graphs)
    env = _env()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action\[1\]"):
        env.step((0, np.zeros(3, np.float32)))


def test_flat_wrapper_passes_sb3_checker_and_sb3_ppo_trains():
    pytest.importorskip("stable_baselines3")
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = FlatPromptActionWrapper(_env())
    with pytest.warns(UserWarning):  # SB3 notes the 2-D node observation; it still trains
        sb3_check_env(env)
    env.reset(seed=0, options={"graph_index": 1})
    n = env.unwrapped._num_nodes
    action = -np.ones(env.action_space.shape, np.float32)
    action[n + 2] = 1.0  # the best score sits on a padded row: must be ignored
    action[1] = 0.5
    node, z = env.action(action)
    assert node == 1 and z.shape == (8,) and z[0] == pytest.approx(-env.unwrapped.max_z)
    PPO("MultiInputPolicy", env, n_steps=32, batch_size=16, n_epochs=1, verbose=0, seed=0).learn(64)


def test_every_argument_mistake_and_the_info_keys_are_named():
    graphs = procedural_graphs(3, min_nodes=6, max_nodes=8)
    gnn, head = tiny_gnn(), ProjectionHead(16, 1, 1)
    for partial in ((graphs, gnn, None), (graphs, None, head), (None, gnn, head)):
        with pytest.raises(ValueError, match=r"^graphs, gnn and head must be given together"):
            FeaturePromptEnv(*partial)
    with pytest.raises(ValueError, match="^graphs: expected at least one graph$"):
        FeaturePromptEnv([], gnn, head)
    empty = graphs[1].clone()
    empty.x, empty.edge_index, empty.num_nodes = empty.x[:0], empty.edge_index[:, :0], 0
    with pytest.raises(ValueError, match="^graphs: graph 1 has zero nodes$"):
        FeaturePromptEnv([graphs[0], empty, graphs[2]], gnn, head)
    with pytest.raises(ValueError, match="task_type: expected 'multilabel' or 'multiclass'"):
        FeaturePromptEnv(graphs, gnn, head, task_type="binary")
    env = FeaturePromptEnv(graphs, gnn, head, task_type="multiclass")  # allowed
    assert not any(p.requires_grad for p in env.gnn.parameters())  # the GNN stays frozen
    default = FeaturePromptEnv(graphs, gnn, head)
    assert default.max_z == 0.5 and default.action_space[1].high.max() == pytest.approx(0.5)
    assert default.action_space[1].low.min() == pytest.approx(-0.5)
    assert default.action_space[1].dtype == np.float32
    assert default.observation_space["nodes"].dtype == np.float32
    with pytest.raises(RuntimeError, match=r"^call reset\(\) before step\(\)$"):
        default.step((0, np.zeros(8, np.float32)))
    for bad in (-1, 3):
        with pytest.raises(
            ValueError, match=rf"options\['graph_index'\]: expected 0..2, got {bad}"
        ):
            default.reset(seed=0, options={"graph_index": bad})
    _, info = default.reset(seed=0, options={"graph_index": 2})
    assert info["graph_index"] == 2 and info["num_nodes"] == graphs[2].num_nodes
    assert isinstance(info["loss"], float) and info["loss"] > 0
    _, _, _, _, info = default.step((0, np.zeros(8, np.float32)))  # node 0 is a valid node
    assert info["invalid_node"] is False and isinstance(info["loss"], float)
    _, _, _, _, info = default.step((-1, np.zeros(8, np.float32)))
    assert info["invalid_node"] is True
    with pytest.raises(ValueError, match=r"action\[1\]: expected shape \(8,\), got \(3,\)"):
        default.step((0, np.zeros(3, np.float32)))


def test_the_registered_id_and_its_default_task():
    assert ENV_ID == "modalprompt/FeaturePrompt-v0" and ENV_ID in gym.registry
    assert gym.registry[ENV_ID].entry_point == "modalprompt.graph.relief.env:FeaturePromptEnv"
    env = gym.make(ENV_ID).unwrapped
    assert len(env.graphs) == 16  # the built-in procedural task: 16 graphs, one output
    assert env.head(torch.zeros(3, 16), torch.tensor([0, 0, 1]), 2).shape == (2, 1)
    _, info = env.reset(seed=0, options={"graph_index": 15})
    assert info["graph_index"] == 15


def test_prompt_vectors_are_clipped_to_max_z_on_both_sides():
    env = _env(max_z=0.3)
    env.reset(seed=0, options={"graph_index": 0})
    z = np.array([5.0, -5.0, 0.1, -0.1, 0.3, -0.3, 0.0, 2.0], dtype=np.float32)
    env.step((0, z))
    np.testing.assert_allclose(env.prompt[0], np.clip(z, -0.3, 0.3), rtol=1e-6)
    flat = FlatPromptActionWrapper(_env(max_z=0.3))
    flat.reset(seed=0, options={"graph_index": 0})
    action = np.zeros(flat.action_space.shape, np.float32)
    action[flat.unwrapped.max_nodes :] = [3.0, -3.0, 0.5, -0.5, 1.0, -1.0, 0.0, 1.5]
    node, z = flat.action(action)
    np.testing.assert_allclose(z, [0.3, -0.3, 0.15, -0.15, 0.3, -0.3, 0.0, 0.3], rtol=1e-6)
    assert z.dtype == np.float32 and node == 0


def test_flat_actions_span_minus_one_to_one():
    """SB3 scales its Gaussian actions to the box: a box that is not [-1, 1] would shift every
    node score and prompt value the wrapper decodes."""
    flat = FlatPromptActionWrapper(_env())
    n, d = flat.unwrapped.max_nodes, 8
    assert flat.action_space.shape == (n + d,) and flat.action_space.dtype == np.float32
    np.testing.assert_array_equal(flat.action_space.low, -np.ones(n + d, np.float32))
    np.testing.assert_array_equal(flat.action_space.high, np.ones(n + d, np.float32))


def test_registering_again_keeps_the_one_registration_without_a_warning():
    import warnings

    from modalprompt.graph.relief import _register_env

    spec = gym.registry[ENV_ID]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # gymnasium warns when an id is overridden
        _register_env()
    assert gym.registry[ENV_ID] is spec
