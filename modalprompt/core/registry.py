"""The method registry: every method registers itself from its own folder.

A method folder ``modalprompt/<domain>/<method>/config.py`` registers its config class::

    @register_method("gpf", domain="graph", description="Graph prompt feature (GPF)",
                     model="modalprompt.graph.gpf.model:GpfModel", extra="graph")
    @dataclass(kw_only=True)
    class GpfConfig(PromptConfig): ...

Discovery imports every ``config.py`` of every method folder (configs import nothing heavy), so
``list_methods()`` sees all methods without importing torch_geometric or transformers; the model
class is imported on first use. Nothing central is edited when a method is added.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modalprompt.core.config import PromptConfig

if TYPE_CHECKING:
    from torch import nn

    from modalprompt.core.model import PromptModel

__all__ = [
    "MethodSpec",
    "register_method",
    "list_methods",
    "get_method_spec",
    "get_config",
    "get_prompt_model",
    "DOMAINS",
    "MODALITIES",
]

#: The modality subpackages (``modalprompt.<name>``): the one list of them; methods, tasks and
#: the command line's ``--domain`` are derived from it.
MODALITIES = ("graph", "pointcloud", "nlp")
DOMAINS = ("any", *MODALITIES)
_DISCOVERY_PACKAGES = ("modalprompt.core", *(f"modalprompt.{name}" for name in MODALITIES))


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    """What the registry knows about one method.

    Args:
        name: Registry name (lower_snake, equal to the method folder's name).
        domain: One of ``"any"``, ``"graph"``, ``"pointcloud"``, ``"nlp"``.
        config_cls: The method's :class:`PromptConfig` subclass.
        description: One line for ``modalprompt list``.
        model: ``"package.module:ClassName"`` of the :class:`PromptModel` subclass, imported lazily.
        extra: The pip extra the method needs (``pip install modalprompt[<extra>]``), if any.
        tiny: Config overrides that make the method small enough for the contract tests.
        tiny_case: ``"package.module:function"`` building the method's contract-test case
            (``function(spec, seed) -> TinyCase``; several methods may share one); None: its
            domain's ``modalprompt.<domain>.testing:tiny_case``.
    """

    name: str
    domain: str
    config_cls: type[PromptConfig]
    description: str
    model: str
    extra: str | None = None
    tiny: dict[str, Any] = dataclasses.field(default_factory=dict)
    tiny_case: str | None = None

    def model_class(self) -> type[PromptModel]:
        module_name, _, class_name = self.model.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as err:
            hint = (
                f" (install it with: pip install 'modalprompt[{self.extra}]')" if self.extra else ""
            )
            raise ImportError(
                f"method {self.name!r} needs a package that is missing: {err}{hint}"
            ) from err
        return getattr(module, class_name)


_REGISTRY: dict[str, MethodSpec] = {}
_DISCOVERED = False


def register_method(
    name: str,
    config_cls: type[PromptConfig] | None = None,
    *,
    domain: str,
    description: str,
    model: str,
    extra: str | None = None,
    tiny: dict[str, Any] | None = None,
    tiny_case: str | None = None,
) -> Callable[[type[PromptConfig]], type[PromptConfig]] | type[PromptConfig]:
    """Register a method; use as a decorator on the config class or call with ``config_cls``.

    Raises:
        ValueError: on a malformed name, an unknown domain, or a name registered twice with a
            different config class.
    """
    if not name or not name.replace("_", "").isalnum() or name.lower() != name:
        raise ValueError(f"register_method: name must be lower_snake_case, got {name!r}")
    if domain not in DOMAINS:
        raise ValueError(
            f"register_method({name!r}): domain must be one of {DOMAINS}, got {domain!r}"
        )
    if ":" not in model:
        raise ValueError(
            f"register_method({name!r}): model must be 'package.module:ClassName', got {model!r}"
        )
    if tiny_case is not None and ":" not in tiny_case:
        raise ValueError(
            f"register_method({name!r}): tiny_case must be 'package.module:function', "
            f"got {tiny_case!r}"
        )

    def decorate(cls: type[PromptConfig]) -> type[PromptConfig]:
        if not (isinstance(cls, type) and issubclass(cls, PromptConfig)):
            raise TypeError(f"register_method({name!r}): {cls!r} is not a PromptConfig subclass")
        previous = _REGISTRY.get(name)
        if previous is not None and previous.config_cls.__qualname__ != cls.__qualname__:
            raise ValueError(
                f"method {name!r} is already registered by {previous.config_cls.__qualname__}"
            )
        cls._registered_name = name  # type: ignore[attr-defined]
        _REGISTRY[name] = MethodSpec(
            name, domain, cls, description, model, extra, dict(tiny or {}), tiny_case
        )
        return cls

    return decorate(config_cls) if config_cls is not None else decorate


def _discover() -> None:
    """Import every method folder's ``config.py`` once (cheap: configs import nothing heavy)."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    for package_name in _DISCOVERY_PACKAGES:
        try:
            package = importlib.import_module(package_name)
        except ImportError:
            continue
        for info in pkgutil.iter_modules(package.__path__):
            # Look for the file instead of asking importlib, which would import the (possibly
            # heavy) subpackage's __init__ just to answer.
            folder = Path(getattr(info.module_finder, "path", "")) / info.name
            if info.ispkg and (folder / "config.py").is_file():
                importlib.import_module(f"{package_name}.{info.name}.config")


def config_class_for_model(model_cls: type) -> type[PromptConfig] | None:
    """The config class registered for ``model_cls``: the first class in its MRO that a
    registration names as ``model`` (so a user's subclass of a method's model expects that
    method's config); None when no registration names any of them (a user's own model).

    ``register_method(model=...)`` is the one place a method ties its model to its config.
    """
    _discover()
    by_model = {spec.model: spec.config_cls for spec in _REGISTRY.values()}
    for klass in model_cls.__mro__:
        found = by_model.get(f"{klass.__module__}:{klass.__qualname__}")
        if found is not None:
            return found
    return None


def list_methods(domain: str | None = None) -> list[str]:
    """Names of the registered methods, sorted; ``domain`` filters (``"any"`` ones always show)."""
    _discover()
    if domain is not None and domain not in DOMAINS:
        raise ValueError(f"list_methods: domain must be one of {DOMAINS} or None, got {domain!r}")
    return sorted(
        name for name, spec in _REGISTRY.items() if domain is None or spec.domain in (domain, "any")
    )


def get_method_spec(name: str) -> MethodSpec:
    """The :class:`MethodSpec` of ``name``; an unknown name lists the known ones."""
    _discover()
    if name not in _REGISTRY:
        raise KeyError(f"unknown method {name!r}; known methods: {sorted(_REGISTRY)}")
    return _REGISTRY[name]


def get_config(name: str, **overrides: Any) -> PromptConfig:
    """The default config of method ``name`` with ``overrides`` applied (and validated)."""
    spec = get_method_spec(name)
    return spec.config_cls.from_dict({**overrides, "method": name})


def get_prompt_model(backbone: nn.Module, config: PromptConfig | str, **kwargs: Any) -> PromptModel:
    """Wrap a frozen ``backbone`` with the method that ``config`` names.

    Args:
        backbone: The pre-trained model; it is frozen (eval mode, no gradients) unless the method
            trains it (``full_finetune``).
        config: A method config, or a registry name for its default config.
        **kwargs: Passed to the method's model class (e.g. data-dependent sizes).

    The method's new parameters are initialised from ``config.seed`` (two calls with one config
    give identical models whatever the global RNG holds), and the caller's random generators are
    left as they were.
    """
    if isinstance(config, str):
        config = get_config(config)
    if not isinstance(config, PromptConfig):
        raise TypeError(
            f"get_prompt_model: config must be a PromptConfig or a name, got {config!r}"
        )
    spec = get_method_spec(config.method)
    if not isinstance(config, spec.config_cls):
        raise TypeError(
            f"get_prompt_model: config is a {type(config).__name__}, but method {spec.name!r} "
            f"expects a {spec.config_cls.__name__}"
        )
    from modalprompt.core.device import module_device

    # new parameters depend on config.seed, not on the global RNG
    model = spec.model_class().build(backbone, config, **kwargs)
    return model.to(module_device(backbone))
