"""RELIEF rollout speed: ours against the official algorithm's cost model, timed in one run.

The official loop (JasonZhujp/RELIEF, ``base.py``/``agent.py``) is re-implemented here only as a
cost model, faithfully in what it computes per step: float64 everywhere, batches of 8 graphs,
two frozen-GNN forwards per step (one for the state, one for the reward), and a critic on the
flattened ``N_max x d_h`` state (hidden 5% and 2.5% of its input). Ours: float32, one GNN forward
per step serving both, whose linear layers recompute only the rows a prompt reached since the
last step (``RowCachedLinears``), a pooled critic, observations padded to the batch's largest
graph, and batches of 32 graphs of similar size (``size_bucketed_batches``).

Both roll out the same graphs with the same 5-layer, 300-wide GIN and report environment
steps per second (one step = one node prompted in one graph). ``N_max`` is BBBP's 132, as in the
official main.py, which sizes the official critic (39,600 → 1,980 → 990 → 1).

A second table rolls RELIEF out on real molecules through the official pretrain-gnns GCN
(``gcn_contextpred``, BACE's scaffold validation split: what every validation epoch costs) with
the frozen layers' own forward against the layer plans that reuse each layer's adjacency and
bond terms across the steps (:mod:`modalprompt.graph.backbones.layer_plans`), interleaved, with
the metrics of both (they must agree). Skipped with a reason when ``../shared`` is absent.
Measured 2026-12-04, one thread, the other core busy: 151 molecules 20.26 s -> 7.89 s per
rollout (2.57x, metrics identical); ``--quick`` (64 molecules) 5.20 s -> 3.27 s (1.59x). The
first table (``--quick``): official cost model 37.1 env steps/s, ours 777.5 (20.96x).

usage: python benchmarks/relief_speed.py [--quick] [--molecules-only]
       (or: modalprompt bench relief_speed)
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from torch import nn
from torch_geometric.data import Batch
from torch_geometric.nn import GIN
from torch_geometric.utils import to_dense_batch

import modalprompt as mp
from modalprompt.graph.promptable import InputSpaceGNN
from modalprompt.graph.readout import ProjectionHead
from modalprompt.graph.relief.activations import FastTanh
from modalprompt.graph.relief.policy import ContinuousActor, DiscreteActor
from modalprompt.graph.relief.ppo import HybridPPO
from modalprompt.graph.relief.train import size_bucketed_batches
from modalprompt.graph.synthetic import procedural_graphs

WIDTH = 300


def with_torch_tanh(actor: nn.Module) -> nn.Module:
    """The official actors use ``nn.Tanh``; modalprompt's ``FastTanh`` is our speed-up."""
    for index, layer in enumerate(actor.net):
        if isinstance(layer, FastTanh):
            actor.net[index] = nn.Tanh()
    return actor


class OfficialCostModel:
    """What one official rollout step costs: 2 GNN forwards, float64, flattened critic."""

    def __init__(self, gnn: nn.Module, head: nn.Module, max_nodes: int, max_z: float) -> None:
        self.gnn = copy.deepcopy(gnn).double().eval()
        self.head = copy.deepcopy(head).double()
        self.actor_d = with_torch_tanh(DiscreteActor(WIDTH)).double()
        self.actor_c = with_torch_tanh(ContinuousActor(WIDTH, WIDTH, max_z)).double()
        flat = max_nodes * WIDTH
        self.critic = nn.Sequential(
            nn.Linear(flat, flat // 20),
            nn.ReLU(),
            nn.Linear(flat // 20, flat // 40),
            nn.ReLU(),
            nn.Linear(flat // 40, 1),
        ).double()
        self.max_nodes = max_nodes

    @torch.no_grad()
    def collect(self, batch: Batch) -> int:
        """One official batch: per step a state forward + per-node actors on the N_max-padded
        state + a per-graph prompt update loop + a reward forward; then the flattened critic on
        every stored state and next state, episode by episode."""
        x0 = batch.x.double()
        sizes = torch.bincount(batch.batch)
        prompts = [torch.zeros(int(n), WIDTH, dtype=torch.float64) for n in sizes]
        horizon = int(sizes.max())
        states = torch.zeros(len(sizes), horizon, self.max_nodes, WIDTH, dtype=torch.float64)
        for t in range(horizon):
            h = self.gnn.encode(x0 + torch.cat(prompts), batch)  # forward 1: the state
            dense, mask = to_dense_batch(h, batch.batch, max_num_nodes=self.max_nodes)
            states[:, t] = dense
            node = torch.distributions.Categorical(logits=self.actor_d(dense, mask)).sample()
            mu = self.actor_c(dense, node)
            z = torch.distributions.Normal(mu, torch.ones_like(mu)).sample()
            for i in range(len(prompts)):  # the official per-graph update
                if t < sizes[i]:
                    prompts[i][node[i]] += z[i]
            h_next = self.gnn.encode(x0 + torch.cat(prompts), batch)  # forward 2: the reward
            self.head(h_next, batch.batch, int(batch.num_graphs))
        for i, n in enumerate(sizes.tolist()):  # GAE's critic passes, per episode
            episode = states[i, :n].flatten(1)
            self.critic(episode)
            self.critic(torch.cat([episode[1:], episode[-1:]]))
        return int(sizes.sum())


def make_graphs(count: int, seed: int) -> list:
    graphs = procedural_graphs(count, feature_dim=WIDTH, min_nodes=15, max_nodes=35, seed=seed)
    return graphs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--molecules-only", action="store_true", help="only the official-GCN rollouts (layer plans)"
    )
    args = parser.parse_args()
    if args.molecules_only:
        molecule_rollouts(64 if args.quick else None, 2 if args.quick else 3)
        return
    num_graphs, repeats = (96, 2) if args.quick else (256, 3)
    graphs = make_graphs(num_graphs, seed=0)
    max_nodes = 132  # N_max of BBBP/Tox21 in the official main.py: it sizes the flattened critic
    torch.manual_seed(0)
    gnn = InputSpaceGNN(GIN(WIDTH, WIDTH, num_layers=5, norm="batch_norm"), WIDTH, WIDTH).eval()
    head = ProjectionHead(WIDTH, 1, 1)
    config = mp.get_config(
        "relief",
        max_nodes=max_nodes,
        ensemble_size=1,
        graphs_per_rollout=32,
        head_standardize=False,  # the same plain head as the official cost model
    )
    model = mp.get_prompt_model(gnn, config)
    model.head.load_state_dict(head.state_dict())
    ppo = HybridPPO(model.policy, model.critic, config)
    official = OfficialCostModel(gnn, head, max_nodes, config.max_z)
    g = torch.Generator().manual_seed(0)

    def run_ours() -> tuple[float, float]:
        steps, start = 0, time.perf_counter()
        sizes = [x.num_nodes for x in graphs]
        for positions in size_bucketed_batches(sizes, config.graphs_per_rollout, g):
            batch = Batch.from_data_list([graphs[i] for i in positions])
            steps += ppo.collect(model.make_rollout(), batch, 0, g).node.numel()
        seconds = time.perf_counter() - start
        return steps / seconds, seconds

    def run_official() -> tuple[float, float]:
        steps, start = 0, time.perf_counter()
        for i in range(0, num_graphs, 8):
            steps += official.collect(Batch.from_data_list(graphs[i : i + 8]))
        seconds = time.perf_counter() - start
        return steps / seconds, seconds

    ours, theirs = [], []
    for _ in range(repeats):  # interleaved, so both see the same machine load
        ours.append(run_ours())
        theirs.append(run_official())
    ours_m, theirs_m = (statistics.median(r[0] for r in runs) for runs in (ours, theirs))
    ours_s, theirs_s = (statistics.median(r[1] for r in runs) for runs in (ours, theirs))
    sizes = [x.num_nodes for x in graphs]
    print(
        f"{num_graphs} graphs of {min(sizes)}-{max(sizes)} nodes (N_max {max_nodes}), "
        f"5-layer GIN width {WIDTH}, CPU threads {torch.get_num_threads()}, median of {repeats}"
    )
    print("epoch = one rollout over every graph, with the critic passes GAE needs")
    print(f"{'rollout':<50}{'env steps/s':>12}{'s / epoch':>11}{'ratio':>8}")
    official_label = "official cost model (float64, 8 graphs, 2 fwd)"
    print(f"{official_label:<50}{theirs_m:>12.1f}{theirs_s:>11.2f}{1.0:>8.2f}")
    ours_label = "modalprompt (float32, 32 graphs by size, 1 fwd, rows)"
    print(f"{ours_label:<50}{ours_m:>12.1f}{ours_s:>11.2f}{ours_m / theirs_m:>8.2f}")
    molecule_rollouts(64 if args.quick else None, repeats)


def molecule_rollouts(limit: int | None, repeats: int) -> None:
    """RELIEF validation rollouts on BACE through the official GCN: layers vs layer plans."""
    from _molecules import DEFAULT_DATA, DEFAULT_MODELS, read_task

    from modalprompt.graph.backbones import from_pretrain_gnns
    from modalprompt.graph.backbones.molecule_gnns import MoleculeGCNConv
    from modalprompt.graph.datasets.molecules import scaffold_split

    checkpoint, data = DEFAULT_MODELS / "gcn_contextpred.pth", DEFAULT_DATA / "moleculenet"
    if not checkpoint.is_file() or not data.is_dir():
        print(f"\nmolecule rollouts skipped: {checkpoint} or {data} is absent (../shared)")
        return
    dataset = read_task(data, "bace")
    graphs = dataset.subset(scaffold_split(dataset.smiles)[1][:limit])
    config = mp.get_config("relief", num_outputs=1, max_nodes=dataset.max_nodes, head_layers=2)
    model = mp.get_prompt_model(from_pretrain_gnns(checkpoint), config).eval()
    batch = Batch.from_data_list(graphs)
    seconds: dict[bool, list[float]] = {False: [], True: []}
    metrics = {}
    try:
        for _ in range(repeats):  # interleaved, as above
            for planned in (False, True):
                MoleculeGCNConv.supports_plan = planned
                model.backbone._plans.clear()
                start = time.perf_counter()
                metrics[planned] = model.compute_metrics(model.validation_step(batch))
                seconds[planned].append(time.perf_counter() - start)
    finally:
        MoleculeGCNConv.supports_plan = True
    layers, plans = (statistics.median(seconds[k]) for k in (False, True))
    sizes = [g.num_nodes for g in graphs]
    print(
        f"\nRELIEF validation rollout, official GCN (gcn_contextpred), BACE scaffold validation: "
        f"{len(graphs)} molecules of {min(sizes)}-{max(sizes)} atoms, median of {repeats}"
    )
    print(f"{'encode':<50}{'s / rollout':>12}{'ratio':>8}")
    for label, value in (
        ("the layers' own forward at every step", layers),
        ("layer plans (adjacency and bond terms reused)", plans),
    ):
        print(f"{label:<50}{value:>12.2f}{layers / value:>8.2f}")
    same = all(abs(metrics[False][k] - metrics[True][k]) < 1e-6 for k in metrics[False])
    print(f"metrics {'identical' if same else 'DIFFER'}: {metrics[True]}")


if __name__ == "__main__":
    main()
