"""Saving and loading prompt models: ``config.json`` + ``prompt.safetensors`` + a fingerprint.

A saved folder holds everything a method trained (generators, encoders, heads — not only a
rendered prompt, unlike PEFT) and a fingerprint of the backbone it was trained on: parameter and
buffer names, shapes and dtypes, and a checksum of the values. Loading onto a different backbone
fails with a message that says what differs, instead of silently producing garbage.

A ``manifest.json`` with the SHA-256 of each file is written last and verified on load, so a
corrupt or truncated file is an error naming it (:class:`~modalprompt.core.io.CorruptFileError`).
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from modalprompt.core.device import module_device
from modalprompt.core.io import (
    CorruptFileError,
    atomic_save_tensors,
    atomic_write_json,
    load_tensors,
    make_staging_dir,
    read_json,
    recoverable_dir,
    replace_dir_atomically,
    verify_manifest,
    write_manifest,
)

if TYPE_CHECKING:
    from modalprompt.core.model import PromptModel

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "prompt.safetensors"
FINGERPRINT_NAME = "backbone_fingerprint.json"

__all__ = ["backbone_fingerprint", "save_prompt_model", "load_prompt_model", "compare_fingerprints"]


def _checksum(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over a strided sample of every tensor (cheap even for large backbones)."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        flat = tensors[name].detach().reshape(-1)
        step = max(1, flat.numel() // 4096)
        sample = flat[::step].to("cpu", torch.float64).contiguous()
        digest.update(name.encode())
        digest.update(sample.numpy().tobytes())
    return digest.hexdigest()


def backbone_fingerprint(backbone: nn.Module) -> dict[str, Any]:
    """Names, shapes and dtypes of the backbone's state, and a checksum of its values.

    Adapters injected in place by PEFT (``...lora_A...`` tensors, the wrapped layer renamed
    ``base_layer``) are a method's trained parameters, saved with the prompt; the fingerprint
    is the pre-trained backbone's, under its own names, so a fresh backbone matches it.
    """
    state = {
        name.replace(".base_layer.", "."): t
        for name, t in backbone.state_dict().items()
        if ".lora_" not in name
    }
    return {
        "tensors": {
            name: {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}
            for name, t in state.items()
        },
        "checksum": _checksum(dict(state)),
    }


def compare_fingerprints(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Human-readable differences in structure (names, shapes, dtypes); empty when they agree."""
    old, new = saved["tensors"], current["tensors"]
    problems = []
    missing = sorted(set(old) - set(new))
    extra = sorted(set(new) - set(old))
    if missing:
        problems.append(f"backbone lacks {len(missing)} tensor(s) it was saved with: {missing[:5]}")
    if extra:
        problems.append(f"backbone has {len(extra)} tensor(s) it was not saved with: {extra[:5]}")
    for name in sorted(set(old) & set(new)):
        if old[name]["shape"] != new[name]["shape"]:
            problems.append(f"{name}: shape {old[name]['shape']} saved, {new[name]['shape']} now")
        elif old[name]["dtype"] != new[name]["dtype"]:
            problems.append(f"{name}: dtype {old[name]['dtype']} saved, {new[name]['dtype']} now")
    return problems


def save_prompt_model(model: PromptModel, save_directory: str | Path) -> Path:
    """Write a model's config, full trainable state and backbone fingerprint, atomically.

    The folder is assembled next to its destination and renamed into place, so an interrupted
    save never leaves a half-written checkpoint (an existing folder is replaced only when the new
    one is complete).
    """
    target = Path(save_directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = make_staging_dir(target)
    try:
        model.config.to_json(staging / CONFIG_NAME)
        atomic_save_tensors(
            staging / WEIGHTS_NAME,
            model.prompt_state_dict(),
            metadata={"method": model.config.method, "format": "modalprompt"},
        )
        atomic_write_json(staging / FINGERPRINT_NAME, backbone_fingerprint(model.backbone))
        write_manifest(staging)
        replace_dir_atomically(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def load_prompt_model(
    backbone: nn.Module, directory: str | Path, *, check_weights: bool = True, **kwargs: Any
) -> PromptModel:
    """Rebuild the method saved in ``directory`` around ``backbone``.

    Args:
        backbone: The pre-trained backbone the prompt was trained on.
        directory: A folder written by ``save_pretrained``.
        check_weights: Also require the backbone's values to match the saved checksum (a
            different checkpoint of the same architecture then fails). Ignored for methods that
            train the backbone, whose weights are in the checkpoint.
        **kwargs: Passed to the method's constructor.

    Returns:
        The model, in eval mode (call ``.train()`` to continue training).

    Raises:
        FileNotFoundError: a file of the checkpoint is missing.
        ValueError: the backbone or the saved state does not fit; the message says what differs.
    """
    from modalprompt.core.registry import get_method_spec

    directory = recoverable_dir(directory)
    for name in (CONFIG_NAME, WEIGHTS_NAME, FINGERPRINT_NAME):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory} is not a modalprompt checkpoint: no {name}")
    verify_manifest(directory, required=(CONFIG_NAME, WEIGHTS_NAME, FINGERPRINT_NAME))
    raw = read_json(directory / CONFIG_NAME)
    if not isinstance(raw, dict) or not isinstance(raw.get("method"), str) or not raw["method"]:
        raise CorruptFileError(
            f"{directory / CONFIG_NAME}: expected a JSON object with a 'method' name, got "
            f"{str(raw)[:80]}"
        )
    try:
        spec = get_method_spec(raw["method"])
        config = spec.config_cls.from_dict(raw)
    except (KeyError, ValueError, TypeError) as err:
        message = err.args[0] if err.args else err
        raise CorruptFileError(f"{directory / CONFIG_NAME}: {message}") from err
    model_cls = spec.model_class()

    saved = _read_fingerprint(directory / FINGERPRINT_NAME)
    current = backbone_fingerprint(backbone)
    problems = compare_fingerprints(saved, current)
    if problems:
        raise ValueError(
            f"the backbone does not match the one {directory} was trained on: "
            + "; ".join(problems)
        )
    if check_weights and not model_cls.train_backbone and saved["checksum"] != current["checksum"]:
        raise ValueError(
            f"the backbone has the same architecture as the one {directory} was trained on but "
            "different weights (checksum mismatch); load the right pre-trained checkpoint, or pass "
            "check_weights=False to load anyway"
        )
    model = model_cls.build(backbone, config, **kwargs)
    state = load_tensors(directory / WEIGHTS_NAME, device="cpu")
    try:
        model.load_prompt_state_dict(state)
    except ValueError as err:
        raise CorruptFileError(f"{directory / WEIGHTS_NAME}: {err}") from err
    return model.to(module_device(backbone)).eval()  # like transformers: loaded models are in eval


def _read_fingerprint(path: Path) -> dict[str, Any]:
    """A saved fingerprint, checked for the structure :func:`backbone_fingerprint` writes."""
    saved = read_json(path)
    tensors = saved.get("tensors") if isinstance(saved, dict) else None
    well_formed = (
        isinstance(tensors, dict)
        and isinstance(saved.get("checksum"), str)
        and all(
            isinstance(v, dict) and isinstance(v.get("shape"), list) and "dtype" in v
            for v in tensors.values()
        )
    )
    if not well_formed:
        raise CorruptFileError(
            f"{path}: expected an object with 'tensors' ({{name: {{'shape', 'dtype'}}}}) and "
            f"'checksum', got {str(saved)[:80]}"
        )
    return saved
