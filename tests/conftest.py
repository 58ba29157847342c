import os

import pytest
from hypothesis import HealthCheck, settings

# a helper module (test_frameworks.py imports it when its torch tests run), not a test file: were it
# collected (for its doctests: --doctest-modules), every worker would import torch to find none
collect_ignore = ["torch_rules.py"]

# Hypothesis profiles: "dev" for the plain `pytest` (the quick loop; the README's command) and "ci",
# twice the examples, for CI's slow step (.ci/run: `GRADLAB_HYPOTHESIS_PROFILE=ci pytest -m "slow or
# hypothesis"`), where every property test runs again at the larger size.  No deadline: these machines'
# speed flips 2x even when idle (shared/notes/benchmarking.md), which would make deadlines flaky.
_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=20, **_COMMON)
settings.register_profile("ci", max_examples=40, **_COMMON)
settings.load_profile(os.environ.get("GRADLAB_HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(scope="session")
def smoke_measurement():
    """Every report section's DataFrames, measured once per session in smoke mode (the slow part of
    the report's tests, several seconds): every test that writes a report writes it from this."""
    from gradlab.report import Config, assemble

    return assemble.measure(Config.make("smoke", progress=False))
