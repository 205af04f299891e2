import numpy as np
import pytest
import torch

pytest.importorskip("torch_geometric")
pytest.importorskip("stable_baselines3")
from torch_geometric.data import Batch  # noqa: E402

import modalprompt as mp  # noqa: E402
from modalprompt.graph.relief.ppo import HybridPPO  # noqa: E402
from modalprompt.graph.relief.train import fit_relief  # noqa: E402
from modalprompt.graph.synthetic import procedural_graphs, tiny_gnn  # noqa: E402


def _model(**overrides):
    torch.manual_seed(0)
    base = dict(
        num_outputs=1,
        max_nodes=12,
        ensemble_size=2,
        minibatch_size=16,
        total_epochs=6,
        skip_epochs=2,
        alpha_discrete=1.0,
        head_lr=0.02,
        head_epochs=2,
    )
    return mp.get_prompt_model(tiny_gnn(), mp.get_config("relief", **{**base, **overrides}))


def test_ppo_update_trains_only_the_chosen_member_and_the_critic():
    model = _model()
    ppo = HybridPPO(model.policy, model.critic, model.config)
    g = torch.Generator().manual_seed(0)
    batch = Batch.from_data_list(procedural_graphs(6))
    transitions = ppo.collect(model.make_rollout(), batch, member=1, generator=g)
    assert transitions.node.numel() == batch.num_nodes  # horizon = node count
    before = {k: v.clone() for k, v in model.state_dict().items()}
    stats = ppo.update(1, transitions, g)
    assert stats["updates"] >= 1
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert any(k.startswith("policy.discrete.1.") for k in changed)
    assert any(k.startswith("policy.continuous.1.") for k in changed)
    assert any(k.startswith("critic.") for k in changed)
    assert not any(
        k.startswith(("policy.discrete.0.", "policy.continuous.0.", "backbone.", "head."))
        for k in changed
    )


def test_cached_ensemble_target_equals_recomputing_every_member():
    model = _model(ensemble_size=3)
    ppo = HybridPPO(model.policy, model.critic, model.config)
    g = torch.Generator().manual_seed(0)
    batch = Batch.from_data_list(procedural_graphs(6))
    transitions = ppo.collect(model.make_rollout(), batch, member=1, generator=g)
    for member in range(3):
        with torch.no_grad():  # perturb so that the members differ
            for p in model.policy.discrete[member].parameters():
                p.add_(0.3 * torch.randn(p.shape, generator=g))
    others = ppo._other_members_max(1, transitions)
    own = model.policy.member(1, transitions.obs, transitions.mask).probs
    cached = torch.maximum(others, own)
    cached = cached / cached.sum(-1, keepdim=True)
    full = model.policy.ensemble_node_probs(transitions.obs, transitions.mask)
    torch.testing.assert_close(cached, full, rtol=0, atol=1e-7)


def test_ppo_learns_to_decrease_a_fixed_heads_loss():
    model = _model(ensemble_size=1, minibatch_size=32, init_log_std=-1.0, final_log_std=-1.0)
    batch = Batch.from_data_list(procedural_graphs(16))
    ppo = HybridPPO(model.policy, model.critic, model.config)
    g = torch.Generator().manual_seed(0)

    def deterministic_loss_decrease():
        start = model.make_rollout()
        start.reset(batch)
        return float((start.loss - model.rollout(batch, deterministic=True).loss).mean())

    before = deterministic_loss_decrease()
    for _ in range(15):
        ppo.update(0, ppo.collect(model.make_rollout(), batch, 0, g), g)
    after = deterministic_loss_decrease()
    assert abs(before) < 0.005 and after > 0.015  # an untrained policy does ~nothing


def test_kl_early_stop_and_too_small_batches():
    model = _model(target_kl_discrete=1e-12, target_kl_continuous=1e-12, update_epochs=10)
    ppo = HybridPPO(model.policy, model.critic, model.config)
    g = torch.Generator().manual_seed(0)
    transitions = ppo.collect(
        model.make_rollout(), Batch.from_data_list(procedural_graphs(6)), 0, g
    )
    # the first minibatch sees ratio 1 (KL 0); the second sees the moved policy and stops it
    assert ppo.update(0, transitions, g)["updates"] == 2
    big = _model(minibatch_size=10_000)
    ppo = HybridPPO(big.policy, big.critic, big.config)
    transitions = ppo.collect(big.make_rollout(), Batch.from_data_list(procedural_graphs(6)), 0, g)
    assert ppo.update(0, transitions, g)["updates"] == 0


def test_schedules_follow_training_progress():
    model = _model(init_log_std=0.0, final_log_std=-5.0, entropy_coef=0.01)
    ppo = HybridPPO(model.policy, model.critic, model.config)
    ppo.set_progress(0.4)
    assert float(model.policy.log_std) == pytest.approx(-2.0) and ppo.entropy_coef == pytest.approx(
        0.006
    )


def test_fit_relief_learns_keeps_the_backbone_and_reloads(tmp_path):
    graphs = procedural_graphs(24, num_tasks=1, seed=3)
    model = _model()
    backbone_before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    history = fit_relief(model, graphs[:16], graphs[16:], output_dir=tmp_path)
    assert len(history.epochs) == 6 and history.best_epoch >= 2
    assert all(e["ppo_updates"] > 0 for e in history.epochs)
    assert history.best_metric > 0.9
    assert all(torch.equal(v, model.backbone.state_dict()[k]) for k, v in backbone_before.items())
    for key in ("val_roc_auc", "val_pcr", "val_apm"):
        assert key in history.epochs[-1]
    reloaded = mp.PromptModel.from_pretrained(model.backbone, tmp_path / "model")
    batch = Batch.from_data_list(graphs[16:])
    model.eval()
    assert torch.equal(model(batch), reloaded(batch))
    deterministic = reloaded.rollout(batch, deterministic=True)
    assert deterministic.statistics()["pcr"] > 0


def test_multiclass_node_level_style_task():
    graphs = procedural_graphs(12, seed=1, task_type="multiclass")
    model = _model(
        task_type="multiclass",
        num_outputs=2,
        total_epochs=3,
        skip_epochs=3,
        eval_mode="deterministic",
    )
    history = fit_relief(model, graphs[:8], graphs[8:])
    assert {"val_accuracy", "val_macro_f1"} <= set(history.epochs[-1])
    # validated at epoch 1 and from skip_epochs on, as the official loop; selected from the latter
    assert ["val_macro_f1" in e for e in history.epochs] == [True, False, True]
    assert history.best_epoch == 3


def _per_graph_prompted_nodes(env):
    prompted = env.prompt.norm(dim=-1) > 0
    return torch.zeros(env.num_graphs).index_add_(0, env.node_graph, prompted.float())


def test_deterministic_rollout_prompts_each_node_once_before_repeating():
    graphs = procedural_graphs(6, num_tasks=1, seed=5)
    batch = Batch.from_data_list(graphs)
    model = _model().eval()
    # A sharply peaked node policy: a plain argmax would prompt one node per graph.
    with torch.no_grad():
        for p in model.policy.parameters():
            p.mul_(50.0)
    full = model.rollout(batch, deterministic=True)
    assert full.statistics()["pcr"] == pytest.approx(1.0)
    assert torch.equal(full.prompt, model.rollout(batch, deterministic=True).prompt)

    budget = 3
    model.config.step_budget = budget
    short = model.rollout(batch, deterministic=True)
    assert torch.equal(_per_graph_prompted_nodes(short), torch.full((len(graphs),), 3.0))

    model.config.step_budget = 2 * int(full.num_nodes.max())  # more steps than nodes
    long = model.rollout(batch, deterministic=True)
    assert long.statistics()["pcr"] == pytest.approx(1.0)


def test_prompts_disabled_classifies_the_unprompted_graphs():
    batch = Batch.from_data_list(procedural_graphs(4, num_tasks=1, seed=2))
    model = _model().eval()
    with model.prompts_disabled(), torch.no_grad():
        plain = model(batch)
        h = model.backbone.encode(model.backbone.embed_inputs(batch), batch)
        torch.testing.assert_close(plain, model.head(h, batch.batch, 4))
        unprompted = model.validation_step(batch)
    torch.testing.assert_close(unprompted["logits"], plain)
    assert float(unprompted["norm_sum"].sum()) == 0.0
    assert float(model.validation_step(batch)["norm_sum"].sum()) > 0.0  # prompted again
    assert not torch.equal(model(batch), plain)  # prompting is back on outside


def test_head_warmup_fits_the_head_to_unprompted_graphs_before_epoch_one():
    graphs = procedural_graphs(16, num_tasks=1, seed=3)
    batch = Batch.from_data_list(graphs)

    def unprompted_train_loss(warmup):
        model = _model(total_epochs=1, skip_epochs=0, head_warmup_epochs=warmup, head_lr=0.01)
        fit_relief(model, graphs, graphs[:4])
        with model.prompts_disabled(), torch.no_grad():
            return float(model.head_loss(model(batch), batch.y))

    assert unprompted_train_loss(200) < 0.7 * unprompted_train_loss(0)
    with pytest.raises(mp.ConfigError, match="head_warmup_epochs"):
        mp.get_config("relief", head_warmup_epochs=-1)


def test_dropout_active_switches_dropout_on_but_keeps_batchnorm_frozen():
    from modalprompt.core.model import dropout_active, freeze, is_frozen

    gnn = freeze(tiny_gnn())
    gnn.gnn.dropout.p = 0.5  # PyG GIN's nn.Dropout between layers
    batch = Batch.from_data_list(procedural_graphs(4, seed=5))
    x = gnn.embed_inputs(batch)
    stats = {k: v.clone() for k, v in gnn.state_dict().items() if "running" in k}
    assert stats  # the tiny GNN has BatchNorm
    with torch.no_grad():
        plain = gnn.encode(x, batch)
        with dropout_active(gnn):
            a, b = gnn.encode(x, batch), gnn.encode(x, batch)
            norms = [m for m in gnn.modules() if isinstance(m, torch.nn.BatchNorm1d)]
            assert norms and not any(m.training for m in norms)
    assert not torch.allclose(a, b) and not torch.allclose(a, plain)
    for key, value in stats.items():
        torch.testing.assert_close(gnn.state_dict()[key], value)
    assert is_frozen(gnn)
    torch.testing.assert_close(gnn.encode(x, batch), plain)


@pytest.mark.parametrize("enabled", [True, False])
def test_head_encoder_dropout_acts_only_while_the_head_trains(enabled):
    batch = Batch.from_data_list(procedural_graphs(4, num_tasks=1, seed=2))
    model = _model(head_encoder_dropout=enabled)
    model.backbone.gnn.dropout.p = 0.5
    with model.prompts_disabled(), torch.no_grad():
        model.train()
        first, second = model(batch), model(batch)
        model.eval()
        torch.testing.assert_close(model(batch), model(batch))
    assert torch.allclose(first, second) != enabled
    assert not model.backbone.training


def test_head_weight_decay_reaches_the_head_optimizer():
    graphs = procedural_graphs(8, num_tasks=1, seed=4)

    def head_norm(decay):
        model = _model(total_epochs=1, skip_epochs=0, head_epochs=20, head_weight_decay=decay)
        fit_relief(model, graphs, graphs[:2])
        return float(torch.cat([p.flatten() for p in model.head.parameters()]).norm())

    assert head_norm(5.0) < 0.5 * head_norm(0.0)
    with pytest.raises(mp.ConfigError, match="head_weight_decay"):
        mp.get_config("relief", head_weight_decay=-1.0)


def test_core_trainer_fit_runs_relief_plan_not_the_head_alone():
    """Trainer(relief_model).fit() used to train only the head, silently."""
    graphs = procedural_graphs(12, num_tasks=1, seed=3)
    model = _model(total_epochs=2, skip_epochs=1)
    policy_before = {k: v.detach().clone() for k, v in model.policy.named_parameters()}
    args = mp.TrainingArguments(verbose=False, tensorboard=False, device="cpu")
    state = mp.Trainer(model, args, train_data=graphs[:8], eval_data=graphs[8:]).fit()
    assert state.finished and state.best_step in (1, 2)
    changed = [
        k for k, v in model.policy.named_parameters() if not torch.equal(v, policy_before[k])
    ]
    assert changed, "the policy must be trained by PPO"


def test_fit_relief_refuses_to_run_under_torchrun(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(RuntimeError, match="runs in one process .* WORLD_SIZE=2"):
        fit_relief(None, [], [])


def test_core_trainer_forwards_data_and_arguments_to_fit_relief(monkeypatch, tmp_path):
    """What ``ReliefModel.fit_phases`` hands to ``fit_relief`` and what it reports back."""
    import types

    import modalprompt.graph.relief.train as relief_train

    calls = []

    def recording_fit_relief(model, train, evaluation, **kwargs):
        calls.append((model, train, evaluation, kwargs))
        return types.SimpleNamespace(best_metric=0.625, best_epoch=3)

    monkeypatch.setattr(relief_train, "fit_relief", recording_fit_relief)
    graphs = procedural_graphs(6, num_tasks=1, seed=3)
    model = _model()
    args = mp.TrainingArguments(
        verbose=False,
        tensorboard=False,
        device="cpu",
        output_dir=str(tmp_path / "run"),
        overwrite_output_dir=True,
        eval_batch_size=7,
    )
    state = mp.Trainer(model, args, train_data=graphs[:4], eval_data=graphs[4:]).fit()
    ((got_model, train, evaluation, kwargs),) = calls
    assert got_model is model
    assert train == graphs[:4] and evaluation == graphs[4:]
    assert kwargs == {
        "output_dir": str(tmp_path / "run"),
        "resume_from": None,
        "overwrite_output_dir": True,
        "eval_batch_size": 7,
        "device": "cpu",
        "verbose": False,
    }
    assert (state.best_metric, state.best_step, state.finished) == (0.625, 3, True)
    # without eval data RELIEF scores the training graphs; fit_relief's eval batch size applies
    calls.clear()
    args = mp.TrainingArguments(verbose=True, tensorboard=False, device="cpu")
    mp.Trainer(model, args, train_data=graphs[:4]).fit()
    ((_, train, evaluation, kwargs),) = calls
    assert evaluation == train == graphs[:4]
    assert kwargs["eval_batch_size"] is None and kwargs["verbose"] is True
    assert kwargs["output_dir"] is None and kwargs["overwrite_output_dir"] is False
    calls.clear()  # fit(resume_from=...) reaches fit_relief (mutmut: it was dropped unnoticed)
    mp.Trainer(model, args, train_data=graphs[:4]).fit(resume_from="latest")
    assert calls[0][3]["resume_from"] == "latest"


def test_relief_compute_metrics_pcr_and_apm_by_hand():
    """PCR = mean over graphs of prompted / nodes (a graph without nodes counts 0), APM = the
    prompted nodes' summed norms / their count (0 with none prompted)."""
    model = _model()
    outputs = {
        "logits": torch.tensor([[2.0], [-1.0], [0.5]]),
        "labels": torch.tensor([[1.0], [0.0], [0.0]]),
        "prompted": torch.tensor([1.0, 2.0, 0.0]),
        "nodes": torch.tensor([1.0, 4.0, 0.0]),  # one node, all of it prompted; an empty graph
        "norm_sum": torch.tensor([3.0, 6.0, 0.0]),
    }
    metrics = model.compute_metrics(outputs)
    assert metrics["pcr"] == pytest.approx((1.0 + 0.5 + 0.0) / 3)
    assert metrics["apm"] == pytest.approx(9.0 / 3)
    assert metrics["roc_auc"] == pytest.approx(1.0)
    none = model.compute_metrics({**outputs, "prompted": torch.zeros(3)})
    assert none["pcr"] == 0.0 and none["apm"] == 0.0
    one = model.compute_metrics({**outputs, "prompted": torch.tensor([1.0, 0.0, 0.0])})
    assert one["apm"] == pytest.approx(9.0)  # a single prompted node: its norm, not 0


def test_relief_optimizer_groups_train_the_head_at_head_lr():
    """What the core trainer builds from ``param_groups``: the head alone, named, at
    ``head_lr`` (not the trainer's ``lr``); policy and critic belong to H-PPO."""
    from modalprompt.core.optim import build_optimizer

    model = _model(head_lr=0.02)
    opt = build_optimizer(model.param_groups(), mp.TrainingArguments(lr=0.5, device="cpu"))
    (group,) = opt.param_groups
    assert group["name"] == "head" and group["lr"] == pytest.approx(0.02)
    assert [id(p) for p in group["params"]] == [id(p) for p in model.head.parameters()]


def test_relief_model_graph_losses_follow_its_task_type():
    """Per-graph losses by hand: cross-entropy (multiclass), BCE over present tasks (multilabel)."""
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.3, -0.2]])
    multiclass = _model(num_outputs=3, task_type="multiclass")
    labels = torch.tensor([0, 2])
    log_softmax = logits.log_softmax(-1)
    expected = -torch.stack([log_softmax[0, 0], log_softmax[1, 2]])
    assert torch.allclose(multiclass.graph_losses(logits, labels), expected)
    multilabel = _model(num_outputs=3, task_type="multilabel")
    targets = torch.tensor([[1.0, 0.0, float("nan")], [0.0, 1.0, 0.0]])
    p = torch.sigmoid(logits)
    bce = -(targets * p.log() + (1 - targets) * (1 - p).log())
    expected = torch.stack([bce[0, :2].mean(), bce[1].mean()])
    assert torch.allclose(multilabel.graph_losses(logits, targets), expected, atol=1e-6)


def test_ppo_state_round_trips_reward_statistics_and_entropy_coefficient():
    model = _model()
    ppo = HybridPPO(model.policy, model.critic, model.config)
    ppo.reward_stats.mean = np.array(0.25)
    ppo.reward_stats.var = np.array(2.5)
    ppo.reward_stats.count = 17.0
    ppo.entropy_coef = 0.0125
    state = ppo.state_dict()
    fresh = HybridPPO(model.policy, model.critic, model.config)
    fresh.load_state_dict(state)
    assert fresh.reward_stats.mean == 0.25 and fresh.reward_stats.mean.dtype == np.float64
    assert fresh.reward_stats.var == 2.5 and fresh.reward_stats.var.dtype == np.float64
    assert fresh.reward_stats.count == 17.0 and fresh.entropy_coef == 0.0125
    fewer = HybridPPO(model.policy, model.critic, model.config)
    state["actor_optimizers"] = state["actor_optimizers"][:1]
    with pytest.raises(ValueError, match=r"actor_optimizers: 1 saved, 2 ensemble members now"):
        fewer.load_state_dict(state)


def test_prompt_coverage_and_magnitude_by_hand():
    from modalprompt.graph.relief.rollout import prompt_statistics

    # graph 0: nodes 0-2 (node 1 prompted, norm 5); graph 1: nodes 3-4 (both, norms 1 and 2);
    # graph 2: one node (prompted, norm 1); graph 3 has no node at all (coverage 0, never a
    # division by zero)
    prompt = torch.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0], [0.0, 1.0], [2.0, 0.0], [1.0, 0.0]])
    batch = torch.tensor([0, 0, 0, 1, 1, 2])
    stats = prompt_statistics(prompt, batch, num_graphs=4)
    assert stats["pcr"] == pytest.approx((1 / 3 + 1.0 + 1.0 + 0.0) / 4)
    assert stats["apm"] == pytest.approx((5.0 + 1.0 + 2.0 + 1.0) / 4)
    nothing = prompt_statistics(torch.zeros(6, 2), batch, num_graphs=3)
    assert nothing == {"pcr": 0.0, "apm": 0.0}


def _logits_with_prompt(model, batch, prompt):
    with torch.no_grad():
        h = model.backbone.encode(model.backbone.embed_inputs(batch) + prompt, batch)
        return model.head(h, batch.batch, int(batch.num_graphs))


def test_forward_samples_in_training_and_follows_eval_mode_in_eval():
    """Training samples from torch's global generator whatever ``eval_mode`` says; eval mode
    samples from a generator seeded with ``config.seed`` (the same logits every call, global
    RNG untouched) or takes the argmax rollout with ``eval_mode="deterministic"``."""
    batch = Batch.from_data_list(procedural_graphs(6, num_tasks=1, seed=3))
    model = _model(eval_mode="deterministic", head_encoder_dropout=False)
    with torch.no_grad():  # a policy whose samples differ visibly from its argmax
        for p in model.policy.parameters():
            p.add_(0.5 * torch.randn_like(p))
    model.eval()
    argmax = _logits_with_prompt(model, batch, model.rollout(batch, deterministic=True).prompt)
    assert torch.allclose(model(batch), argmax)
    model.train()
    torch.manual_seed(1)
    first = model(batch)
    torch.manual_seed(2)
    second = model(batch)
    assert not torch.allclose(first, second)  # sampled, not the argmax rollout
    sampling = _model(eval_mode="sample", head_encoder_dropout=False)
    sampling.load_state_dict(model.state_dict())
    sampling.eval()
    torch.manual_seed(5)
    state = torch.get_rng_state()
    a, b = sampling(batch), sampling(batch)
    assert torch.equal(a, b) and torch.equal(torch.get_rng_state(), state)
    seeded = torch.Generator().manual_seed(sampling.config.seed)
    expected = _logits_with_prompt(
        sampling, batch, sampling.rollout(batch, deterministic=False, generator=seeded).prompt
    )
    assert torch.allclose(a, expected)


def test_head_depth_and_critic_pooling_come_from_the_config():
    """Non-default values reach the modules (the defaults alone cannot show it)."""
    model = _model(head_layers=3, critic_pooling="mean")
    linears = [m for m in model.head.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 3
    assert model.critic.pooling == "mean"
    assert _model().critic.pooling == "meanmax"


def test_fit_relief_needs_the_output_dir_to_resume():
    graphs = procedural_graphs(4, num_tasks=1, seed=3)
    with pytest.raises(
        ValueError, match=r"^resume_from: resuming needs the output_dir the run was saved in$"
    ):
        fit_relief(_model(), graphs[:2], graphs[2:], resume_from="latest")
