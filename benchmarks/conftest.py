"""Benchmarks run with one BLAS thread: two-thread BLAS on this 2-core machine is noisier
and collapses under contention (see shared/notes/benchmarking.md)."""

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(scope="session", autouse=True)
def one_blas_thread():
    with threadpool_limits(limits=1):
        yield


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """What the benchmarks measured, read from extra_info: accuracy against h, checker rates,
    and the function-set table (when those benchmarks ran)."""
    from benchmarks.functions_summary import report
    from benchmarks.summary import write_summary

    write_summary(terminalreporter, config)
    report(terminalreporter)
