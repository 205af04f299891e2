"""Run under ``torch.distributed.run --nproc_per_node=2``: graph pre-training (attr_masking,
context_pred, edge_pred with edge chunks) and GraphCLIP's contrastive pre-training with
gradients averaged over the ranks; each rank saves its final weights for the test to compare."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from modalprompt.core.io import atomic_save_tensors
from modalprompt.graph.backbones import MoleculeGIN
from modalprompt.graph.backbones.node_encoders import NodeEncoder
from modalprompt.graph.datasets.molecules import smiles_to_graph
from modalprompt.graph.graphclip.encoder import GraphClipEncoder
from modalprompt.graph.graphclip.pretrain import pretrain_graphclip
from modalprompt.graph.pretrain import pretrain
from modalprompt.graph.synthetic import procedural_graphs
from tests.graph.graphclip.test_graphclip import _setup
from tests.graph.molecules.test_pretrain import SMILES

out = Path(sys.argv[1])
rank = int(os.environ["RANK"])
torch.set_num_threads(1)

molecules = [smiles_to_graph(s) for s in SMILES]
runs = {
    "attr_masking": lambda: (MoleculeGIN(num_layer=2, emb_dim=16), molecules, {}),
    "context_pred": lambda: (MoleculeGIN(num_layer=2, emb_dim=16), molecules, {}),
    # graphs of 4-12 nodes: the ranks' batches hold different numbers of edge chunks
    "edge_pred": lambda: (
        NodeEncoder(8, hidden=16),
        procedural_graphs(10, min_nodes=4, max_nodes=12, seed=3),
        {"edges_per_step": 5},
    ),
}
for strategy, build in runs.items():
    torch.manual_seed(0)
    gnn, graphs, options = build()
    atomic_save_tensors(out / f"{strategy}.init{rank}.safetensors", gnn.state_dict())
    result = pretrain(
        gnn,
        strategy,
        graphs,
        epochs=2,
        batch_size=3,
        lr=3e-3,
        device="cpu",
        run_dir=out / strategy,
        log_every=1,
        **options,
    )
    atomic_save_tensors(out / f"{strategy}.rank{rank}.safetensors", gnn.state_dict())
    print(f"rank {rank} {strategy} losses {result.losses}", flush=True)

_, sources, _, _ = _setup()
torch.manual_seed(0)
encoder = GraphClipEncoder(32, hidden=16, out_dim=32, num_layers=1, heads=2)
atomic_save_tensors(out / f"graphclip.init{rank}.safetensors", encoder.state_dict())
result = pretrain_graphclip(
    encoder, sources, epochs=2, batch_size=16, run_dir=out / "graphclip", log_every=1
)
atomic_save_tensors(out / f"graphclip.rank{rank}.safetensors", encoder.state_dict())
print(f"rank {rank} graphclip losses {result.losses}", flush=True)
