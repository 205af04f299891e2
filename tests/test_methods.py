"""The shared contract, run on every registered method (parametrised from the registry).

A method whose optional dependencies are missing is skipped with the reason; any other failure
fails. Method-specific behaviour is tested in tests/<domain>/<method>/.
"""

import pytest

import modalprompt as mp
from modalprompt.core.testing import check_prompt_model, tiny_case


def _case_or_skip(name):
    spec = mp.get_method_spec(name)
    try:
        return spec, tiny_case(spec)
    except ImportError as err:  # only a missing third-party package (an extra) may skip
        if getattr(err, "name", None) and not err.name.startswith("modalprompt"):
            pytest.skip(f"{name} needs the '{spec.extra}' extra: {err}")
        raise


@pytest.mark.parametrize("name", mp.list_methods(), ids=str)
def test_method_contract(name):
    spec, case = _case_or_skip(name)
    model = mp.get_prompt_model(case.backbone, case.config)
    check_prompt_model(model, case.batch)


@pytest.mark.parametrize("name", mp.list_methods(), ids=str)
def test_method_is_documented(name):
    spec = mp.get_method_spec(name)
    assert spec.description and len(spec.description) < 100
    assert spec.config_cls.__doc__, f"{spec.config_cls.__name__} needs a docstring"
    default = spec.config_cls()
    assert default.method == name
