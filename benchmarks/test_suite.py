"""The suite's own machinery, tested in a plain ``pytest``: the size switch, the spread warning,
the N-ordered names, and benchmarks that run only when asked for."""

from types import SimpleNamespace

import pytest

from benchmarks import sizes
from benchmarks.summary import SPREAD_LIMIT, spread_lines


def bench(group, name, lo, mid, rounds=10):
    return SimpleNamespace(group=group, name=name, stats=SimpleNamespace(min=lo, median=mid, rounds=rounds))


def test_the_size_comes_from_the_environment_and_a_bad_one_is_refused(monkeypatch):
    monkeypatch.delenv(sizes.ENV, raising=False)
    assert sizes.size() == "default" and sizes.pick(quick=1, default=2, full=3) == 2
    monkeypatch.setenv(sizes.ENV, "quick")
    assert sizes.pick(quick=1, default=2, full=3) == 1
    monkeypatch.setenv(sizes.ENV, "huge")
    with pytest.raises(ValueError, match=r"`GRADLAB_BENCH_SIZE` must be one of quick, default, full; got 'huge'"):
        sizes.size()


def test_names_sort_in_n_order():
    ns = [90, 714, 1_450, 8_970, 134_154, 988_410]
    assert sorted(sizes.n_id(n) for n in reversed(ns)) == [sizes.n_id(n) for n in ns]
    assert sizes.n_id(960) == "N0000960"


def test_a_group_spread_past_the_limit_warns_once_naming_its_worst_benchmark():
    quiet = [bench("quiet", f"q{k}", 1.0, 1.2) for k in range(5)]
    busy = [bench("busy", "b0", 1.0, 1.1), bench("busy", "b1", 1.0, 3.0), bench("busy", "b2", 1.0, 9.0)]
    one_round = [bench("once", "o", 1.0, 50.0, rounds=1)]  # a single round says nothing about spread
    lines = spread_lines(quiet + busy + one_round)
    assert len(lines) == 1 and "'busy'" in lines[0] and "3.0x" in lines[0] and "9.0x, b2" in lines[0]
    assert spread_lines([bench("edge", "e", 1.0, SPREAD_LIMIT)]) == []  # at the limit: no warning


@pytest.mark.parametrize(
    "given, skipped",
    [((), True), (("benchmark_only",), False), (("benchmark_disable",), False), (("benchmark_enable",), False)],
)
def test_benchmarks_run_only_when_asked_for(given, skipped):
    from benchmarks.conftest import pytest_collection_modifyitems

    config = SimpleNamespace(getoption=lambda name, default=None: name in given)
    marks = {"bench": [], "plain": []}
    items = [
        SimpleNamespace(fixturenames=("benchmark",), add_marker=marks["bench"].append),
        SimpleNamespace(fixturenames=("tmp_path",), add_marker=marks["plain"].append),
    ]
    pytest_collection_modifyitems(config, items)
    assert marks["plain"] == []  # a plain test is never touched
    assert [m.name for m in marks["bench"]] == (["skip"] if skipped else [])
