import dataclasses

import pytest

import modalprompt as mp
from modalprompt.core import registry
from modalprompt.core.config import PromptConfig

from ._tiny import make_backbone


def test_list_methods_includes_shared_baselines_and_filters_by_domain():
    names = mp.list_methods()
    assert {"linear_probe", "full_finetune"} <= set(names)
    assert names == sorted(names)
    for domain in ("graph", "pointcloud", "nlp"):
        listed = mp.list_methods(domain)
        assert "linear_probe" in listed
        assert all(mp.get_method_spec(n).domain in (domain, "any") for n in listed)
    with pytest.raises(ValueError, match="domain"):
        mp.list_methods("images")


def test_unknown_method_lists_known_ones():
    with pytest.raises(KeyError) as info:
        mp.get_config("no_such_method")
    assert "linear_probe" in str(info.value)


def test_get_config_applies_and_validates_overrides():
    config = mp.get_config("linear_probe", num_classes=7)
    assert config.method == "linear_probe" and config.num_classes == 7
    with pytest.raises(ValueError, match="num_classes"):
        mp.get_config("linear_probe", num_classes=1)
    with pytest.raises(ValueError, match="unknown key"):
        mp.get_config("linear_probe", num_clases=3)


def test_get_prompt_model_checks_config_type_and_accepts_a_name():
    model = mp.get_prompt_model(make_backbone(), "linear_probe")
    assert type(model).__name__ == "LinearProbeModel"
    with pytest.raises(TypeError, match="PromptConfig"):
        mp.get_prompt_model(make_backbone(), 3)


def test_register_method_validates_and_rejects_conflicts(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @dataclasses.dataclass(kw_only=True)
    class ThingConfig(PromptConfig):
        size: int = 1

    registry.register_method("thing", ThingConfig, domain="graph", description="d", model="x.y:Z")
    assert ThingConfig().method == "thing"
    assert mp.get_method_spec("thing").config_cls is ThingConfig

    @dataclasses.dataclass(kw_only=True)
    class OtherConfig(PromptConfig):
        pass

    with pytest.raises(ValueError, match="already registered"):
        registry.register_method(
            "thing", OtherConfig, domain="graph", description="d", model="x.y:Z"
        )
    with pytest.raises(ValueError, match="domain"):
        registry.register_method(
            "thing2", OtherConfig, domain="images", description="d", model="x:Y"
        )
    with pytest.raises(ValueError, match="lower_snake"):
        registry.register_method("Thing", OtherConfig, domain="graph", description="d", model="x:Y")
    with pytest.raises(ImportError, match="thing"):
        mp.get_prompt_model(make_backbone(), ThingConfig())
    with pytest.raises(ValueError, match="registered as 'thing'"):
        ThingConfig(method="other")


def test_register_method_keeps_every_field_and_names_each_mistake(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @registry.register_method(
        "full_thing", domain="nlp", description="a thing", model="pkg.mod:Thing", extra="nlp",
        tiny={"size": 2}, tiny_case="pkg.testing:case",
    )  # fmt: skip
    @dataclasses.dataclass(kw_only=True)
    class FullConfig(PromptConfig):
        size: int = 1

    spec = mp.get_method_spec("full_thing")
    assert (spec.name, spec.domain, spec.config_cls, spec.description, spec.model) == (
        "full_thing", "nlp", FullConfig, "a thing", "pkg.mod:Thing",
    )  # fmt: skip
    assert (spec.extra, spec.tiny, spec.tiny_case) == ("nlp", {"size": 2}, "pkg.testing:case")
    assert "full_thing" in mp.list_methods("nlp") and "full_thing" not in mp.list_methods("graph")
    common = {"domain": "graph", "description": "d"}
    for bad in ("", "two-words", "Camel", "snake_Case"):
        with pytest.raises(ValueError, match=rf"name must be lower_snake_case, got {bad!r}"):
            registry.register_method(bad, FullConfig, model="x:Y", **common)
    with pytest.raises(ValueError, match=r"model must be 'package.module:ClassName', got 'x.Y'"):
        registry.register_method("ok_name", FullConfig, model="x.Y", **common)
    with pytest.raises(ValueError, match=r"tiny_case must be 'package.module:function', got 'f'"):
        registry.register_method("ok_name", FullConfig, model="x:Y", tiny_case="f", **common)
    with pytest.raises(TypeError, match=r"register_method\('ok_name'\): .* is not a PromptConfig"):
        registry.register_method("ok_name", dict, model="x:Y", **common)
    with pytest.raises(TypeError, match="is not a PromptConfig"):
        registry.register_method("ok_name", 3, model="x:Y", **common)
