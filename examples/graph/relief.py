"""RELIEF end to end: a frozen GNN, the RL prompt policy and its head, trained alternately.

Uses procedural graphs so it runs anywhere; swap in MoleculeNet graphs and a pre-trained GIN for the
paper's setting. Measured 2026-12-04 on 2 CPU cores (``OMP_NUM_THREADS=2``, nothing else running):
11 s wall, a line per epoch.

    python examples/graph/relief.py
"""

import torch
from torch_geometric.data import Batch

import modalprompt as mp
from modalprompt.graph.relief import evaluate_relief, fit_relief
from modalprompt.graph.synthetic import procedural_graphs, tiny_gnn

graphs = procedural_graphs(48, num_tasks=2, seed=0)
train, val, test = graphs[:24], graphs[24:36], graphs[36:]
config = mp.get_config(
    "relief",
    num_outputs=2,
    max_nodes=12,
    total_epochs=10,
    skip_epochs=3,
    ensemble_size=2,
    minibatch_size=32,
    head_lr=0.01,
    head_epochs=2,
    head_warmup_epochs=5,  # fit the head on the unprompted graphs first (official node level)
)
model = mp.get_prompt_model(tiny_gnn(), config)
model.print_trainable_parameters()
history = fit_relief(  # rerunnable: a new run replaces the last one's checkpoints
    model, train, val, output_dir="runs/relief_example", overwrite_output_dir=True, verbose=True
)
print(f"selected epoch {history.best_epoch} (validation ROC-AUC {history.best_metric:.3f})")
print("test (sampled nodes, the paper):", evaluate_relief(model, test))
# argmax among the nodes not prompted yet, the ensemble's mean vector
print("test (argmax):", evaluate_relief(model, test, eval_mode="deterministic"))
again = mp.PromptModel.from_pretrained(model.backbone, "runs/relief_example/model")
assert torch.equal(again(Batch.from_data_list(test)), model(Batch.from_data_list(test)))
