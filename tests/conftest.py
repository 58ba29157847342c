import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("gradlab", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("gradlab")


@pytest.fixture(scope="session")
def smoke_measurement():
    """Every report section's DataFrames, measured once per session in smoke mode (the slow part of
    the report's tests, several seconds): every test that writes a report writes it from this."""
    from gradlab.report import Config, assemble

    return assemble.measure(Config.make("smoke", progress=False))
