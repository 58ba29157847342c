"""The plain run's own settings: which files start first (the root conftest.py)."""

from pathlib import Path
from types import SimpleNamespace

import conftest

ROOT = Path(__file__).resolve().parents[1]


def test_every_file_listed_longest_first_exists_once():
    names = conftest.LONGEST_FIRST
    assert len(set(names)) == len(names)
    missing = [n for n in names if not (ROOT / n).is_file()]
    assert not missing, f"LONGEST_FIRST names files that are gone: {missing}"


def test_the_listed_files_come_first_in_their_order_and_each_file_keeps_its_own():
    first, second = conftest.LONGEST_FIRST[:2]
    files = ["tests/test_a.py", second, "tests/test_a.py", first, second, "/elsewhere/test_x.py", "gradlab/cli.py"]
    items = [SimpleNamespace(path=ROOT / f if not f.startswith("/") else Path(f), n=i) for i, f in enumerate(files)]
    conftest.pytest_collection_modifyitems(None, SimpleNamespace(rootpath=ROOT), items)
    assert [it.n for it in items] == [3, 1, 4, 0, 2, 5, 6]


def test_xdist_hands_out_files_in_collection_order():
    text = (ROOT / "pyproject.toml").read_text()
    assert '"--dist", "loadfile", "--no-loadscope-reorder"' in text


def _config(options=(), named=False):
    import pytest

    source = pytest.Config.ArgsSource.ARGS if named else pytest.Config.ArgsSource.TESTPATHS
    return SimpleNamespace(rootpath=ROOT, args_source=source, getoption=lambda name, default=None: name in options)


def test_a_plain_run_does_not_collect_the_benchmark_modules():
    bench, suite, test = (
        ROOT / "benchmarks" / "test_bench_cost.py",
        ROOT / "benchmarks" / "test_suite.py",
        ROOT / "tests" / "test_cli.py",
    )
    plain = _config()
    assert conftest.pytest_ignore_collect(bench, plain) is True
    assert conftest.pytest_ignore_collect(suite, plain) is None  # the suite's own tests always run
    assert conftest.pytest_ignore_collect(test, plain) is None
    for option in conftest.BENCHMARK_OPTIONS:  # timed, or each once (CI's pass)
        assert conftest.pytest_ignore_collect(bench, _config([option])) is None
    assert conftest.pytest_ignore_collect(bench, _config(named=True)) is None  # `pytest benchmarks/...`
    assert "not collected" in conftest.pytest_report_header(plain)
    assert conftest.pytest_report_header(_config(["benchmark_only"])) is None
