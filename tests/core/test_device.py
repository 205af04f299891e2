"""Device helpers (issue 22): ``to_device`` is checked on PyTorch's ``meta`` device, so every
tensor it moves is seen moving without a GPU; containers keep their types and non-tensors are
left alone. ``resolve_device`` / ``module_device`` / ``autocast`` on this machine's CPU."""

import dataclasses
from collections import UserDict, namedtuple

import pytest
import torch
from torch import nn

from modalprompt.core.device import autocast, module_device, resolve_device, to_device

META = torch.device("meta")
Pair = namedtuple("Pair", ["left", "right"])


@dataclasses.dataclass
class Batch:
    ids: torch.Tensor
    names: list
    cached: torch.Tensor = dataclasses.field(init=False, default=None)


class Movable:
    def __init__(self) -> None:
        self.moved_to = None

    def to(self, device):
        self.moved_to = torch.device(device)
        return self


def test_every_tensor_of_a_nested_batch_moves_and_containers_keep_their_types():
    batch = {
        "ids": torch.ones(2, 3),
        "pair": Pair(torch.zeros(1), [torch.zeros(2), "text", 3]),
        "tuple": (torch.zeros(1), None),
        "user": UserDict({"x": torch.zeros(1)}),
        "dc": Batch(torch.zeros(2), ["a"]),
        "other": Movable(),
    }
    moved = to_device(batch, "meta")
    assert type(moved) is dict and moved["ids"].device == META
    assert isinstance(moved["pair"], Pair) and moved["pair"].left.device == META
    assert moved["pair"].right[0].device == META and moved["pair"].right[1:] == ["text", 3]
    assert type(moved["tuple"]) is tuple and moved["tuple"][0].device == META
    assert moved["tuple"][1] is None
    assert isinstance(moved["user"], UserDict) and moved["user"]["x"].device == META
    assert isinstance(moved["dc"], Batch) and moved["dc"].ids.device == META
    assert moved["dc"].names == ["a"] and moved["dc"].cached is None  # init=False kept out
    assert moved["other"].moved_to == META
    assert batch["ids"].device.type == "cpu"  # the input is not changed in place


def test_pyg_data_and_a_mapping_that_cannot_be_rebuilt():
    geometric = pytest.importorskip("torch_geometric.data")
    data = geometric.Data(x=torch.zeros(3, 2), edge_index=torch.zeros(2, 1, dtype=torch.long))
    moved = to_device(data, "meta")
    assert isinstance(moved, geometric.Data) and moved.x.device == META
    assert moved.edge_index.device == META

    class Strict(dict):
        def __init__(self, *, required):  # cannot be rebuilt from a plain mapping
            super().__init__(value=required)

    moved = to_device(Strict(required=torch.zeros(1)), "meta")
    assert type(moved) is dict and moved["value"].device == META


def test_resolve_device():
    here = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device() == here and resolve_device(None) == here
    assert resolve_device("auto") == here
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"device: 'cuda:0' was requested but CUDA"):
            resolve_device("cuda:0")


def test_module_device_reads_parameters_then_buffers_then_defaults_to_cpu():
    assert module_device(nn.Linear(2, 2, device="meta")) == META
    buffers_only = nn.Module()
    buffers_only.register_buffer("stat", torch.zeros(1, device="meta"))
    assert module_device(buffers_only) == META
    assert module_device(nn.Module()) == torch.device("cpu")


def test_autocast_is_a_no_op_on_cpu_and_without_precision():
    a = torch.randn(4, 4)
    for precision in ("no", "fp16", "bf16"):
        with autocast(torch.device("cpu"), precision):
            assert (a @ a).dtype == torch.float32


class _MovesItself:
    """Has ``.to`` and ``.keys`` and is not a Mapping (as PyG's ``Data``/``Batch``): records how
    it was moved."""

    def __init__(self) -> None:
        self.calls: list = []

    def keys(self) -> list[str]:
        return ["x"]

    def to(self, device, **kwargs):
        self.calls.append((device, kwargs))
        return "moved"


class _MappingWithTo(UserDict):
    """A Mapping with a ``.to`` (as ``transformers.BatchEncoding``): moved item by item."""

    def to(self, device, **kwargs):  # pragma: no cover - must not be called
        raise AssertionError("a Mapping is moved item by item, not by its own .to")


def test_objects_that_move_themselves_get_the_device_and_non_blocking():
    graph = _MovesItself()
    assert to_device(graph, "cpu", non_blocking=True) == "moved"
    assert graph.calls == [("cpu", {"non_blocking": True})]
    inner = _MovesItself()
    assert to_device({"graph": inner}, "cpu", non_blocking=True) == {"graph": "moved"}
    assert inner.calls == [("cpu", {"non_blocking": True})]  # the flag travels down


def test_a_mapping_with_its_own_to_is_moved_item_by_item():
    inner = _MovesItself()
    moved = to_device(_MappingWithTo(a=torch.ones(2), g=inner), "cpu")
    assert isinstance(moved, _MappingWithTo) and moved["g"] == "moved"
    assert torch.equal(moved["a"], torch.ones(2))
