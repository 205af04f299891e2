"""Hypothesis profiles of the fuzz suite.

``ci`` (the default): 25 derandomised examples per test, no deadline; the whole suite stays
under a minute on a loaded 2-core machine. ``deep``: many random examples, for a local hunt::

    MODALPROMPT_FUZZ=deep pytest tests/fuzz
"""

import os

from hypothesis import HealthCheck, settings

_COMMON = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile("ci", max_examples=25, derandomize=True, database=None, **_COMMON)
settings.register_profile("deep", max_examples=300, **_COMMON)
settings.load_profile(os.environ.get("MODALPROMPT_FUZZ", "ci"))
