"""The benchmark suite's switches and summaries.

- ``--bench-size quick|default|full`` (or ``GRADLAB_BENCH_SIZE``): the ladder size, see
  :mod:`benchmarks.sizes`.
- Benchmarks run under ``--benchmark-only`` (timed), ``--benchmark-disable`` (each once,
  untimed: the CI pass) or ``--benchmark-enable``; a plain ``pytest`` skips them.
- One BLAS thread: two-thread BLAS on this 2-core machine is noisier and collapses under
  contention (see shared/notes/benchmarking.md).
- After pytest-benchmark's tables: what the timings hide (accuracy against h, checker rates, the
  function-set table) and a one-line warning per group whose timings are too spread to trust.
"""

import os

import pytest
from threadpoolctl import threadpool_limits

from benchmarks import sizes


def pytest_configure(config):
    chosen = config.getoption("bench_size", None)
    if chosen is not None:  # before the benchmark modules are imported: they read it at import
        os.environ[sizes.ENV] = chosen
    try:
        sizes.size()
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_collection_modifyitems(config, items):
    """Benchmarks run only when asked for: timed (``--benchmark-only``, ``--benchmark-enable``) or once
    (``--benchmark-disable``).  Not ``--benchmark-skip`` in the ini: it would skip the CI pass too."""
    if any(config.getoption(o, False) for o in ("benchmark_only", "benchmark_disable", "benchmark_enable")):
        return
    skip = pytest.mark.skip(
        reason="a benchmark: `pytest --benchmark-only` times it, `--benchmark-disable` runs it once"
    )
    for item in items:
        if "benchmark" in getattr(item, "fixturenames", ()):
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def one_blas_thread():
    with threadpool_limits(limits=1):
        yield


@pytest.hookimpl(trylast=True)  # after pytest-benchmark's own tables
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """What the benchmarks measured, read from extra_info: accuracy against h, checker rates,
    the function-set table (when those benchmarks ran), then the groups too noisy to trust."""
    from benchmarks.functions_summary import report
    from benchmarks.summary import write_spread_warnings, write_summary

    write_summary(terminalreporter, config)
    report(terminalreporter)
    write_spread_warnings(terminalreporter, config)
