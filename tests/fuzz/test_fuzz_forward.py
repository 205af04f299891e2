"""Fuzz ``get_prompt_model`` + training/evaluation steps of every domain on the contract tests'
tiny backbones with generated shapes, dtypes, ranges, NaN/inf and empty inputs.

Each case ends in a clear error of ours (a ValueError/TypeError raised by the library, naming
an argument) or a correct result: a finite loss (NaN only from NaN inputs where NaN passes
through by design, the core heads on a user's backbone) and ``(B, C)`` logits.
"""

from __future__ import annotations

import copy
import functools

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import modalprompt as mp
from modalprompt.core.testing import tiny_case

from ._ours import outcome

FLOATS = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
LABEL_DTYPES = [torch.long, torch.int32, torch.float32, torch.bool]


@functools.cache
def _model(name: str, **overrides):
    spec = mp.get_method_spec(name)
    case = tiny_case(spec)
    config = case.config.replace(**overrides) if overrides else case.config
    return mp.get_prompt_model(case.backbone, config), case.batch


def _labels(draw, count: int, num_classes: int) -> torch.Tensor:
    values = draw(st.lists(st.integers(-2, num_classes + 1), min_size=count, max_size=count))
    return torch.tensor(values).to(draw(st.sampled_from(LABEL_DTYPES)))


def _poison(draw, x: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """Maybe put a NaN or inf into a floating ``x``; returns it and whether it is non-finite."""
    if x.is_floating_point() and x.numel() and draw(st.booleans()):
        x = x.clone()
        x.view(-1)[draw(st.integers(0, x.numel() - 1))] = draw(
            st.sampled_from([float("nan"), float("inf"), -float("inf")])
        )
    return x, x.is_floating_point() and not bool(torch.isfinite(x).all())


def _check_step(model, batch, names, nonfinite_ok: bool = False):
    """Run a training step and an evaluation step; each gives ours or a correct result."""
    model.train()
    out, error = outcome(lambda: model.training_step(batch), names)
    if error is None:
        loss = out["loss"]
        assert loss.dim() == 0, f"loss of shape {tuple(loss.shape)}"
        assert nonfinite_ok or bool(torch.isfinite(loss)), f"silent non-finite loss {loss}"
    model.eval()
    out, error = outcome(lambda: model.validation_step(batch), names)
    if error is None and "logits" in out:
        logits, labels = out["logits"], out["labels"]
        assert logits.shape[0] == labels.shape[0] > 0
        assert nonfinite_ok or bool(torch.isfinite(logits).all()), "silent non-finite logits"


# ------------------------------------------------------------------------------ core ("any")
@pytest.mark.parametrize("name", ["linear_probe", "full_finetune"])
@given(data=st.data())
def test_core_heads(name, data):
    model, (x, y) = _model(name)
    if name == "full_finetune":  # a NaN batch in train mode leaves NaN BatchNorm statistics
        model = copy.deepcopy(model)  # in the trained backbone: start each example afresh
    draw = data.draw
    batch = draw(st.sampled_from([0, 1, 2, 5]), label="B")
    inputs = torch.randn(batch, 6).to(draw(st.sampled_from(FLOATS), label="dtype"))
    inputs, nonfinite = _poison(draw, inputs)
    count = max(0, batch + draw(st.integers(-1, 1), label="label count delta"))
    labels = _labels(draw, count, 3)
    _check_step(model, (inputs, labels), ["labels", "inputs", "forward", "batch"], nonfinite)


def test_full_finetune_one_example_batch():
    """Found by this suite: full_finetune trains the user's backbone in train mode, where a
    BatchNorm failed inside torch on a one-example batch; it is now named."""
    model, (x, y) = _model("full_finetune")
    model = copy.deepcopy(model).train()
    with pytest.raises(ValueError, match=r"batch: 1 example.*BatchNorm 'norm'.*drop_last=True"):
        model.training_step((x[:1], y[:1]))
    model.eval()
    assert model.validation_step((x[:1], y[:1]))["logits"].shape == (1, 3)


# ------------------------------------------------------------------------------- point clouds
@pytest.mark.parametrize("name", ["idpt", "point_peft"])
@given(data=st.data())
def test_point_cloud_methods(name, data):
    model, _ = _model(name)
    draw = data.draw
    shape = (
        draw(st.integers(0, 3), label="B"),
        draw(st.sampled_from([0, 5, 8, 64, 65]), label="N"),
        draw(st.sampled_from([1, 2, 3, 4, 6]), label="C"),
    )
    dtype = draw(st.sampled_from([*FLOATS, torch.long, torch.int32, torch.bool]), label="dtype")
    points = (torch.randn(shape) * 3).to(dtype)
    points, _ = _poison(draw, points)
    labels = _labels(draw, shape[0], 3)
    _check_step(model, (points, labels), ["points", "labels"])


# ---------------------------------------------------------------------------------- graphs
def _graph_batch(draw, molecule: bool, task_type: str, num_outputs: int):
    from torch_geometric.data import Batch, Data

    graphs = []
    widths = [2, 2, 3, 1] if molecule else [8, 8, 7, 9]
    width = draw(st.sampled_from(widths), label="width")  # one per batch: PyG stacks them
    for g in range(draw(st.integers(1, 3), label="graphs")):
        n = draw(st.integers(0, 6), label=f"nodes[{g}]")
        if molecule:
            x = torch.randint(0, draw(st.sampled_from([3, 119, 125])), (n, width))
            x = x.to(draw(st.sampled_from([torch.long, torch.long, torch.float32])))
        else:
            x = torch.randn(n, width).to(draw(st.sampled_from([*FLOATS, torch.long])))
            x, _ = _poison(draw, x)
        e = draw(st.integers(0, 8), label=f"edges[{g}]")
        high = draw(st.sampled_from([n, n, n + 2]))
        edge_index = torch.randint(-1 if draw(st.booleans()) else 0, max(high, 1), (2, e))
        edge_index = edge_index.to(draw(st.sampled_from([torch.long, torch.long, torch.float32])))
        if task_type == "multilabel":
            values = st.sampled_from([0.0, 1.0, 0.0, 1.0, float("nan"), 2.0, -1.0, 0.5])
            y = torch.tensor([draw(st.lists(values, min_size=num_outputs, max_size=num_outputs))])
        else:
            y = torch.tensor([draw(st.integers(-1, num_outputs))])
        data = Data(x=x, edge_index=edge_index, y=y, num_nodes=n)
        if molecule:
            data.edge_attr = torch.randint(0, draw(st.sampled_from([3, 7])), (e, 2))
        graphs.append(data)
    return Batch.from_data_list(graphs)


GRAPH_NAMES = ["data", "data.x", "data.edge_index", "data.edge_attr", "y"]


@functools.cache
def _graph_model(name: str, backbone: str, task_type: str):
    from modalprompt.graph.backbones.molecule_gin import MoleculeGIN
    from modalprompt.graph.synthetic import tiny_gnn

    gnn = MoleculeGIN(2, 16) if backbone == "molecule_gin" else tiny_gnn()
    config = mp.get_config(name, num_outputs=2, task_type=task_type)
    return mp.get_prompt_model(gnn, config)


@pytest.mark.parametrize(
    "name,backbone,task_type",
    [
        ("gpf", "molecule_gin", "multilabel"),
        ("gpf_plus", "input_space", "multiclass"),
        ("relief", "input_space", "multilabel"),
    ],
)
@given(data=st.data())
def test_graph_methods(name, backbone, task_type, data):
    model = _graph_model(name, backbone, task_type)
    batch = _graph_batch(data.draw, backbone == "molecule_gin", task_type, 2)
    _check_step(model, batch, GRAPH_NAMES)


# ------------------------------------------------------------------------------------ text
TEXT_NAMES = ["input_ids", "labels", "attention_mask", "instruction_mask", "mask_positions"]


@pytest.mark.parametrize("name", ["prompt_tuning", "ept", "iapt", "prompt_finetune"])
@given(data=st.data())
def test_text_methods(name, data):
    model, reference = _model(name)
    draw = data.draw
    vocab = model.backbone.get_input_embeddings().num_embeddings
    length = reference["input_ids"].shape[1]
    batch = draw(st.integers(0, 3), label="B")
    length = draw(st.sampled_from([length, length, 0, 1, length + 2]), label="L")
    low, high = draw(st.sampled_from([(5, vocab), (5, vocab), (-2, vocab), (5, vocab + 3)]))
    ids = torch.randint(low, high, (batch, length))
    ids = ids.to(draw(st.sampled_from([torch.long, torch.long, torch.int32, torch.float32])))
    mask = torch.ones(batch, length, dtype=torch.long)
    if draw(st.booleans(), label="random mask") and length:
        mask = torch.randint(0, 2, (batch, length))
        mask[:, 0] = draw(st.sampled_from([1, 1, 0]), label="first column")  # 0: maybe empty rows
    inputs = {"input_ids": ids, "attention_mask": mask}
    if "mask_positions" in reference:  # masked-LM methods: the answer slot and soft tokens
        ids[:, -1:] = model.template.tokenizer.mask_token_id if length else ids[:, -1:]
        slot = draw(st.sampled_from([length - 1, length - 1, -2, length, 0]), label="slot")
        inputs["mask_positions"] = torch.full((batch,), max(slot, -2), dtype=torch.long)
        inputs["soft_ids"] = torch.full((batch, length), -1, dtype=torch.long)
    num_classes = 2 if "mask_positions" in reference else 3
    count = max(0, batch + draw(st.integers(-1, 1), label="label count delta"))
    inputs["labels"] = _labels(draw, count, num_classes)
    _check_step(model, inputs, TEXT_NAMES)


@functools.cache
def _lm_model(name: str):
    from modalprompt.nlp.tiny_models import tiny_causal_lm

    spec = mp.get_method_spec(name)
    overrides = {"task": "lm", **({"max_length": 8} if name == "ept" else {})}
    return mp.get_prompt_model(tiny_causal_lm(), mp.get_config(name, **{**spec.tiny, **overrides}))


@pytest.mark.parametrize("name", ["prompt_tuning", "ept", "iapt"])
@given(data=st.data())
def test_text_generation(name, data):
    """``generate`` with generated lengths (up to past the 64 positions of the tiny GPT-2)."""
    model = _lm_model(name).eval()
    draw = data.draw
    batch = draw(st.integers(1, 2), label="B")
    length = draw(st.sampled_from([8, 8, 0, 1, 30, 70]), label="L")
    ids = torch.randint(5, 50, (batch, length))
    ids = ids.to(draw(st.sampled_from([torch.long, torch.long, torch.float32])))
    budget = draw(
        st.one_of(
            st.fixed_dictionaries({"max_new_tokens": st.integers(1, 70)}),
            st.fixed_dictionaries({"max_length": st.integers(1, 90)}),
            st.just({}),  # the backbone's generation_config decides
        ),
        label="budget",
    )
    out, error = outcome(
        lambda: model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **budget),
        ["input_ids", "max_new_tokens", "max_length", "num_virtual_tokens"],
    )
    if error is None:
        assert out.shape[0] == batch and out.shape[1] >= length
        assert torch.equal(out[:, :length], ids)
        if "max_new_tokens" in budget:
            assert out.shape[1] - length <= budget["max_new_tokens"]
