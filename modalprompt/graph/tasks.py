"""Graph tasks for run files: procedural graphs, MoleculeNet, TU, Planetoid nodes, text graphs.

Graph-level tasks (``synthetic``, ``moleculenet``, ``tu``, ``planetoid_nodes``, whose nodes become
their k-hop subgraphs) build a GNN with input-space prompts for GPF, GPF-plus and RELIEF; the
text-attributed tasks (``tag``, ``synthetic_tag``) build a GraphCLIP encoder and set the class
texts on the model. ``checkpoint`` loads pre-trained GNN weights (safetensors, or a
``torch.save`` state dict read with ``weights_only=True``); without one the GNN is random, which
a warning says. PyG writes ``processed/`` beside ``raw/``, so TU and Planetoid raw files are
copied to a temporary folder first (the shared data stay untouched).
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from modalprompt.core.fewshot import per_class_split
from modalprompt.core.tasks import Task, progress, register_task, shared_data_dir

__all__ = ["GRAPH_PROMPT_METHODS", "load_gnn_state"]

#: Methods whose model takes a GNN with ``embed_inputs`` / ``encode`` (input-space prompts).
GRAPH_PROMPT_METHODS = ("gpf", "gpf_plus", "relief")
_MOLECULENET = ("bbbp", "bace", "clintox", "tox21", "hiv", "muv")


def _collate(items: list) -> Any:
    from torch_geometric.data import Batch

    return Batch.from_data_list(items)


def load_gnn_state(model: nn.Module, checkpoint: str | None) -> nn.Module:
    """Load ``checkpoint`` into ``model`` (all tensors must fit); warn when there is none."""
    if checkpoint is None:
        warnings.warn(
            f"task_args.checkpoint: none given, so the {type(model).__name__} is randomly "
            "initialised (pre-train one with modalprompt.graph.pretrain and pass its file)",
            stacklevel=2,
        )
        return model.eval()
    path = Path(checkpoint)
    if path.suffix == ".safetensors":
        from modalprompt.core.io import load_tensors

        state = load_tensors(path)
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    wrong = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or wrong:
        raise ValueError(
            f"task_args.checkpoint: {path} does not fit the {type(model).__name__}: missing "
            f"{missing[:8]}, shape mismatches {wrong[:5]}"
        )
    model.load_state_dict({k: state[k] for k in own})
    return model.eval()


def _check_file(checkpoint: str | None) -> None:
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise FileNotFoundError(f"task_args.checkpoint: no file at {checkpoint}")


def _check_positive(**values: int | None) -> None:
    for name, value in values.items():
        if value is not None and value < 1:
            raise ValueError(f"task_args.{name}: expected an integer >= 1, got {value}")


def _overrides(method: str | None, outputs: int, task_type: str, graphs: list) -> dict:
    """The config values a graph task fixes: outputs and task type (+ RELIEF's node budget)."""
    fixed: dict[str, Any] = {"num_outputs": outputs, "task_type": task_type}
    if method == "relief":
        fixed["max_nodes"] = max(int(g.num_nodes) for g in graphs)
    return fixed


def _graph_task(backbone, train, val, test, method, outputs: int, task_type: str) -> Task:
    return Task(
        backbone=backbone,
        train_data=train,
        eval_data=val,
        test_data=test,
        collate_fn=_collate,
        config_overrides=_overrides(method, outputs, task_type, [*train, *val, *test]),
        metric="roc_auc" if task_type == "multilabel" else "accuracy",
    )


def _gin(in_dim: int, hidden: int, num_layers: int, checkpoint: str | None) -> nn.Module:
    """A PyG GIN with BatchNorm, wrapped for input-space prompts."""
    from torch_geometric.nn import GIN

    from modalprompt.graph.promptable import InputSpaceGNN

    torch.manual_seed(0)  # a random backbone is the same in `train` and `eval`
    gnn = InputSpaceGNN(
        GIN(in_dim, hidden, num_layers=num_layers, norm="batch_norm"), in_dim, hidden
    )
    return load_gnn_state(gnn, checkpoint)


def _class_shots(labels: torch.Tensor, shots: int, num_val: int, seed: int):
    """``shots`` per class for training, then ``num_val`` per class for validation, rest test."""
    (train_idx, val_idx), test_idx = per_class_split(
        labels,
        [shots, num_val],
        seed,
        min_per_class=shots + 1,
        arg="task_args.shots",
        unit="graphs (shots + a test graph needed)",
    )
    return train_idx.tolist(), val_idx.tolist(), test_idx.tolist()


def _load_from_copy(loader: Any, root: Path, name: str) -> Any:
    """``loader(copy, name)`` on ``root/<name>/raw`` copied to a temporary folder (PyG writes
    ``processed/`` beside ``raw/``); the folder is removed once the data are in memory."""
    raw = root / name / "raw"
    if not raw.is_dir():
        raise FileNotFoundError(f"task_args.root: no {name}/raw folder in {root}")
    with tempfile.TemporaryDirectory(prefix="modalprompt-graph-") as copy:
        shutil.copytree(raw, Path(copy) / name / "raw")
        dataset = loader(copy, name)
        return dataset, [dataset[i] for i in range(len(dataset))]


@register_task(
    "graph/synthetic",
    description="procedural graphs (class-shifted features) on a small GIN; no files needed",
    methods=GRAPH_PROMPT_METHODS,
)
def synthetic(
    num_train: int = 16,
    num_val: int = 16,
    num_test: int = 32,
    feature_dim: int = 8,
    hidden: int = 16,
    task_type: str = "multiclass",
    seed: int = 0,
    checkpoint: str | None = None,
    method: str | None = None,
) -> Task:
    """:func:`~modalprompt.graph.synthetic.procedural_graphs` on a GIN (BatchNorm warmed up)."""
    from modalprompt.graph.synthetic import procedural_graphs, tiny_gnn

    _check_positive(num_train=num_train, num_val=num_val, num_test=num_test)
    _check_positive(feature_dim=feature_dim, hidden=hidden)
    if task_type not in ("multiclass", "multilabel"):
        raise ValueError(
            f"task_args.task_type: expected 'multiclass' or 'multilabel', got {task_type!r}"
        )
    _check_file(checkpoint)
    outputs = 2
    graphs = procedural_graphs(
        num_train + num_val + num_test, feature_dim, num_tasks=outputs, seed=seed,
        task_type=task_type,
    )  # fmt: skip
    backbone = tiny_gnn(feature_dim, hidden, seed=seed)
    if checkpoint is not None:
        load_gnn_state(backbone, checkpoint)
    train, val = graphs[:num_train], graphs[num_train : num_train + num_val]
    test = graphs[num_train + num_val :]
    return _graph_task(backbone, train, val, test, method, outputs, task_type)


@register_task(
    "graph/moleculenet",
    description="MoleculeNet CSVs (scaffold split, few-shot) on Hu et al.'s molecule GIN",
    methods=GRAPH_PROMPT_METHODS,
)
def moleculenet(
    name: str = "bbbp",
    root: str | None = None,
    shots: int | None = 50,
    split_seed: int = 0,
    limit: int | None = None,
    num_layer: int = 5,
    emb_dim: int = 300,
    checkpoint: str | None = None,
    method: str | None = None,
) -> Task:
    """:func:`~modalprompt.graph.datasets.molecules.load_moleculenet_csv` + scaffold split;
    ``shots`` training molecules after a seeded shuffle (RELIEF's 50-shot protocol)."""
    if name not in _MOLECULENET:
        raise ValueError(f"task_args.name: expected one of {list(_MOLECULENET)}, got {name!r}")
    _check_positive(shots=shots, limit=limit, emb_dim=emb_dim)
    if num_layer < 2:
        raise ValueError(f"task_args.num_layer: expected an integer >= 2, got {num_layer}")
    folder = Path(root) if root else shared_data_dir() / "graph" / "moleculenet"
    files = [folder / f"{name}{ext}" for ext in (".csv", ".csv.gz")]
    if not any(f.is_file() for f in files):
        raise FileNotFoundError(f"task_args.root: no {name}.csv or {name}.csv.gz in {folder}")
    _check_file(checkpoint)
    from modalprompt.graph.backbones import MoleculeGIN, load_pretrain_gnns_checkpoint
    from modalprompt.graph.datasets.molecules import load_moleculenet_csv, scaffold_split

    torch.manual_seed(0)  # a random backbone is the same in `train` and `eval`
    gin = MoleculeGIN(num_layer=num_layer, emb_dim=emb_dim)
    if checkpoint is None:
        load_gnn_state(gin, None)
    else:
        load_pretrain_gnns_checkpoint(gin, checkpoint)
    progress(f"parsing {name} molecules (RDKit)")
    data = load_moleculenet_csv(next(f for f in files if f.is_file()), limit=limit)
    train_idx, val_idx, test_idx = scaffold_split(data.smiles)
    order = torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(split_seed))
    chosen = [train_idx[i] for i in order.tolist()[: shots or len(train_idx)]]
    train, val, test = data.subset(chosen), data.subset(val_idx), data.subset(test_idx)
    return _graph_task(gin.eval(), train, val, test, method, len(data.tasks), "multilabel")


@register_task(
    "graph/tu",
    description="TU graph classification (MUTAG, ENZYMES, AIDS, ...) on a GIN",
    methods=GRAPH_PROMPT_METHODS,
)
def tu(
    name: str = "MUTAG",
    root: str | None = None,
    shots: int = 10,
    val_shots: int = 5,
    split_seed: int = 0,
    hidden: int = 64,
    num_layers: int = 3,
    checkpoint: str | None = None,
    method: str | None = None,
) -> Task:
    """:func:`~modalprompt.graph.datasets.local.load_tu_dataset`; ``shots`` graphs per class,
    ``val_shots`` per class for validation, the rest for test."""
    from modalprompt.graph.datasets.local import load_tu_dataset

    _check_positive(shots=shots, val_shots=val_shots, hidden=hidden, num_layers=num_layers)
    folder = Path(root) if root else shared_data_dir() / "graph" / "tu"
    _check_file(checkpoint)
    dataset, graphs = _load_from_copy(load_tu_dataset, folder, name)
    labels = torch.cat([g.y.view(-1) for g in graphs])
    train_idx, val_idx, test_idx = _class_shots(labels, shots, val_shots, split_seed)
    in_dim = int(dataset.num_features)
    backbone = _gin(in_dim, hidden, num_layers, checkpoint)
    pick = lambda ids: [graphs[i] for i in ids]  # noqa: E731
    outputs = int(labels.max()) + 1
    return _graph_task(
        backbone, pick(train_idx), pick(val_idx), pick(test_idx), method, outputs, "multiclass"
    )


@register_task(
    "graph/planetoid_nodes",
    description="Planetoid node classification as k-hop subgraphs (RELIEF's node protocol)",
    methods=GRAPH_PROMPT_METHODS,
)
def planetoid_nodes(
    name: str = "Cora",
    root: str | None = None,
    shots: int = 10,
    num_val: int = 500,
    num_test: int = 500,
    split_seed: int = 0,
    svd_dim: int = 100,
    hidden: int = 128,
    num_layers: int = 2,
    checkpoint: str | None = None,
    method: str | None = None,
) -> Task:
    """:func:`~modalprompt.graph.datasets.node_tasks.node_fewshot_task` on a Planetoid graph, a
    GIN :class:`~modalprompt.graph.backbones.node_encoders.NodeEncoder` (or RELIEF's official
    ``GPPT_<Dataset>.pth`` / ``Gprompt_<Dataset>.pth`` given as checkpoint)."""
    from modalprompt.graph.datasets.local import load_planetoid
    from modalprompt.graph.datasets.node_tasks import HOP_LIMITS, node_fewshot_task

    if name.lower() not in HOP_LIMITS:
        raise ValueError(f"task_args.name: expected Cora, CiteSeer or PubMed, got {name!r}")
    _check_positive(shots=shots, num_val=num_val, num_test=num_test, svd_dim=svd_dim)
    _check_positive(hidden=hidden, num_layers=num_layers)
    folder = Path(root) if root else shared_data_dir() / "graph" / "planetoid"
    _check_file(checkpoint)
    data = _load_from_copy(load_planetoid, folder, name)[1][0]
    hops, low, high = HOP_LIMITS[name.lower()]
    progress(f"extracting {name} {hops}-hop subgraphs")
    task = node_fewshot_task(
        data, num_hops=hops, min_nodes=low, max_nodes=high, shots=shots, num_val=num_val,
        num_test=num_test, svd_dim=svd_dim, seed=split_seed,
    )  # fmt: skip
    if checkpoint is not None and Path(checkpoint).suffix == ".pth":
        from modalprompt.graph.backbones.relief_checkpoints import load_relief_node_checkpoint

        backbone = load_relief_node_checkpoint(checkpoint).eval()
    else:
        from modalprompt.graph.backbones.node_encoders import NodeEncoder

        torch.manual_seed(0)
        backbone = load_gnn_state(NodeEncoder(task.feature_dim, hidden, num_layers), checkpoint)
    return _graph_task(
        backbone, task.train, task.val, task.test, method, task.num_classes, "multiclass"
    )


# ------------------------------------------------------------------------------- GraphCLIP
def _tag_task(tag, embed, encoder: nn.Module, shots, num_val, num_test, max_nodes, seed, template):
    """Labelled RWR subgraphs of ``tag`` split by class, and the class texts set by ``prepare``."""
    from modalprompt.graph.graphclip.data import subgraph_pairs
    from modalprompt.graph.graphclip.zeroshot import class_embeddings

    train_idx, val_idx, test_idx = _class_shots(tag.labels, shots, num_val, seed)
    test_idx = test_idx[:num_test]
    progress("embedding the node texts of the train, validation and test subgraphs")
    split = {}
    for key, ids in (("train", train_idx), ("val", val_idx), ("test", test_idx)):
        split[key], _ = subgraph_pairs(
            tag, embed, torch.tensor(ids), summariser=None, max_nodes=max_nodes, seed=seed
        )
    classes = class_embeddings(tag, embed, template)

    def prepare(model: nn.Module) -> None:
        model.set_class_embeddings(classes)

    return Task(
        backbone=encoder,
        train_data=split["train"],
        eval_data=split["val"],
        test_data=split["test"],
        collate_fn=_collate,
        config_overrides={"num_classes": int(classes.size(0))},
        prepare=prepare,
    )


@register_task(
    "graph/synthetic_tag",
    description="procedural text-attributed graph, hashing text encoder; GraphCLIP prompts",
    methods=("graphclip",),
)
def synthetic_tag(
    num_classes: int = 4,
    nodes_per_class: int = 30,
    shots: int = 5,
    num_val: int = 5,
    num_test: int = 60,
    text_dim: int = 32,
    hidden: int = 32,
    num_layers: int = 1,
    heads: int = 2,
    max_nodes: int = 12,
    seed: int = 0,
    checkpoint: str | None = None,
) -> Task:
    """:func:`~modalprompt.graph.tag.procedural_tag`, GraphCLIP encoder of ``text_dim``."""
    from modalprompt.graph.graphclip.encoder import GraphClipEncoder
    from modalprompt.graph.graphclip.text import CachedTextEmbedder, HashingTextEncoder
    from modalprompt.graph.tag.synthetic import procedural_tag

    _check_positive(num_classes=num_classes, nodes_per_class=nodes_per_class, shots=shots)
    _check_positive(num_val=num_val, num_test=num_test, text_dim=text_dim, hidden=hidden)
    _check_positive(num_layers=num_layers, heads=heads, max_nodes=max_nodes)
    _check_file(checkpoint)
    tag = procedural_tag(num_classes, nodes_per_class, seed=seed)
    embed = CachedTextEmbedder(HashingTextEncoder(dim=text_dim))
    torch.manual_seed(seed)
    encoder = GraphClipEncoder(
        text_dim, hidden=hidden, out_dim=text_dim, num_layers=num_layers, heads=heads
    )
    encoder = load_gnn_state(encoder, checkpoint)
    return _tag_task(
        tag, embed, encoder, shots, num_val, num_test, max_nodes, seed, "this node is about {}"
    )


@register_task(
    "graph/tag",
    description="Cora with its paper texts (text-attributed graph), MiniLM texts; GraphCLIP",
    methods=("graphclip",),
)
def tag(
    root: str | None = None,
    text_encoder: str | None = None,
    shots: int = 5,
    num_val: int = 5,
    num_test: int = 500,
    split_seed: int = 0,
    max_chars: int = 600,
    max_nodes: int = 32,
    hidden: int = 128,
    num_layers: int = 2,
    heads: int = 4,
    template: str = "this paper has a topic on {}",
    text_cache: str | None = None,
    checkpoint: str | None = None,
) -> Task:
    """:func:`~modalprompt.graph.tag.loaders.load_tag_cora`, node texts embedded by a
    sentence-transformers folder (default the installed all-MiniLM-L6-v2), encoder 384 wide;
    ``text_cache`` (a safetensors file) keeps the text embeddings for the next run (``eval``)."""
    from modalprompt.graph.graphclip.encoder import GraphClipEncoder
    from modalprompt.graph.graphclip.text import CachedTextEmbedder, SentenceTransformerEncoder
    from modalprompt.graph.tag.loaders import load_tag_cora

    _check_positive(shots=shots, num_val=num_val, num_test=num_test, max_nodes=max_nodes)
    _check_positive(hidden=hidden, num_layers=num_layers, heads=heads, max_chars=max_chars)
    if "{}" not in template:
        raise ValueError(f"task_args.template: must contain {{}}, got {template!r}")
    folder = Path(root) if root else shared_data_dir() / "graph" / "tag" / "cora"
    if not folder.is_dir():
        raise FileNotFoundError(f"task_args.root: {folder} is not a folder")
    if text_encoder is not None and not Path(text_encoder).is_dir():
        raise FileNotFoundError(f"task_args.text_encoder: {text_encoder} is not a folder")
    _check_file(checkpoint)
    cora = load_tag_cora(folder, max_chars=max_chars)
    embed = CachedTextEmbedder(SentenceTransformerEncoder(text_encoder), cache_file=text_cache)
    dim = embed.dim
    torch.manual_seed(split_seed)
    encoder = GraphClipEncoder(dim, hidden=hidden, out_dim=dim, num_layers=num_layers, heads=heads)
    encoder = load_gnn_state(encoder, checkpoint)
    return _tag_task(
        cora, embed, encoder, shots, num_val, num_test, max_nodes, split_seed, template
    )
