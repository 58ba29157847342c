"""How many pytest-xdist workers ``-n auto`` (pyproject's addopts) starts.

At the repository's root so that every run loads it, whichever folder it names.  A plain
``pytest`` spreads the suite over the free cores, one file per worker at a time
(``--dist loadfile``: a module's or the session's fixtures are built once, on its worker).
Serial instead, where workers cost more than they save or change what is measured:

- a benchmark run (``--benchmark-only``, ``--benchmark-enable``, ``--benchmark-disable``):
  timings need one process, and pytest-benchmark turns itself off under xdist; the
  summaries after its tables (benchmarks/conftest.py) read results in this process;
- a run that names its tests (``pytest tests/test_cli.py``): starting and collecting in each
  worker costs about two seconds of CPU, more than most single files take;
- one core (or ``PYTEST_XDIST_AUTO_NUM_WORKERS=0``).

``-n 0`` runs serially whatever this says; ``-n 2`` asks for two workers outright.

Which file starts first matters as much as how many workers there are: a run ends when its
last worker does, and a worker that picks up the report's tests (the longest file) near the end
keeps the others idle for its whole length.  :data:`LONGEST_FIRST` lists the files that take
longest, and they are collected first; pyproject passes ``--no-loadscope-reorder`` so that
pytest-xdist hands out files in that order (its default orders them by the number of tests,
which says little about their time), and the short files fill in around them.

A plain run does not collect the benchmark modules (``benchmarks/test_bench_*.py``): it would
skip every benchmark in them anyway, and each worker would pay their imports (torch and dask's
``distributed`` among them: about two seconds) before its first test.  A benchmark option or a
command line that names them collects them; ``benchmarks/test_suite.py`` (the suite's own tests)
is always collected.
"""

import os
import warnings

import pytest

from benchmarks import sizes

#: more workers than this only repeat the start-up and the collection (the suite is ~35 files)
MAX_WORKERS = 4
BENCHMARK_OPTIONS = ("benchmark_only", "benchmark_enable", "benchmark_disable")
#: the files of a plain run that take a second of CPU or more, longest first (measured with
#: ``pytest -n 0 --durations=0``, setup included, summed per file); the rest keep their order
LONGEST_FIRST = (
    "tests/test_report.py",
    "tests/test_second_order.py",
    "tests/test_bugs.py",
    "tests/test_experiments.py",
    "tests/test_trust.py",
    "tests/test_array_api.py",
    "tests/test_parallel.py",
    "tests/test_trust_steps.py",
    "tests/test_second_experiments.py",
    "tests/test_memory.py",
    "tests/test_third_party_backend.py",
    "tests/test_layerzoo.py",
    "tests/test_publish.py",
    "tests/test_imports.py",
    "tests/test_trust_kinks.py",
    "tests/test_layer_report.py",
    "tests/test_nn_layers.py",
)


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist's: unknown to pytest without it
def pytest_xdist_auto_num_workers(config):
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    if any(config.getoption(o, False) for o in BENCHMARK_OPTIONS):
        return 0
    if config.args_source == pytest.Config.ArgsSource.ARGS:
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(cores, MAX_WORKERS) if cores > 1 else 0


def benchmarks_wanted(config) -> bool:
    """Whether this run times or runs benchmarks, or names what it collects itself."""
    if any(config.getoption(o, False) for o in BENCHMARK_OPTIONS):
        return True
    return config.args_source == pytest.Config.ArgsSource.ARGS


def pytest_ignore_collect(collection_path, config):
    if collection_path.name.startswith("test_bench_") and collection_path.parent.name == "benchmarks":
        if collection_path.parent.parent == config.rootpath and not benchmarks_wanted(config):
            return True
    return None


def pytest_report_header(config):
    if not benchmarks_wanted(config):
        return "benchmarks: not collected (`pytest --benchmark-only` times them, `--benchmark-disable` runs each once)"
    return None


def pytest_collection_modifyitems(session, config, items):
    """Collect the longest files first (a stable sort: tests within a file keep their order)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    root = config.rootpath

    def key(item) -> int:
        try:
            return rank.get(item.path.relative_to(root).as_posix(), len(rank))
        except ValueError:  # a file outside the repository (pytester's own runs)
            return len(rank)

    items.sort(key=key)


def pytest_configure(config):
    if not any(config.getoption(o, False) for o in BENCHMARK_OPTIONS):
        # pytest-benchmark warns that xdist turned it off; without these options benchmarks are
        # skipped anyway (benchmarks/conftest.py), so the warning would only mislead
        warnings.filterwarnings("ignore", message="Benchmarks are automatically disabled because xdist")


# here, not in benchmarks/conftest.py: an option of a conftest below the root exists only when that
# folder is named on the command line, and `pytest --benchmark-only --bench-size full` names none
def pytest_addoption(parser):
    parser.getgroup("benchmark").addoption(
        "--bench-size",
        choices=sizes.SIZES,
        default=None,
        help=f"ladder size of gradlab's benchmarks: quick (every benchmark on a reduced ladder), default (what "
        f"`pytest --benchmark-only` runs: minutes), full (the whole ladder). Default: ${sizes.ENV}, else default",
    )
