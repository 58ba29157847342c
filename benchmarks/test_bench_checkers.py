"""Checkers against the bug zoo: the time of one gradcheck per checker, with what that
checker is worth kept in ``extra_info`` (detection rate over the zoo's bugs, false-alarm
rate on correct gradients, evaluations).  One group: which checker, at what price."""

from functools import cache

import pytest

from gradlab.experiments.bugzoo import BUGS, BugZooParams, bug_zoo, checkers, run_checker, zoo_network

OBJ, THETA = zoo_network("tanh", 0)


@cache
def zoo():
    """The zoo's verdicts, computed once, on first use (not at collection)."""
    return bug_zoo(BugZooParams(seeds=(0, 1), clean_seeds=(100, 101, 102)))


@pytest.mark.parametrize("checker", list(checkers()))  # one per registered reference, and more
def test_checker(benchmark, checker):
    rows = zoo()[zoo()["checker"] == checker]
    real = rows[(rows["bug"] != "none") & ~rows["bug"].map(lambda b: BUGS.get(b) is not None and BUGS[b].probe)]
    clean = rows[rows["bug"] == "none"]
    r = run_checker(OBJ, THETA, None, checker)
    benchmark.group = "gradcheck: price and worth of each checker (bug zoo)"
    benchmark.extra_info.update(
        checker=checker,
        n_params=int(OBJ.n_params),
        evaluations=int(r.evaluations),
        passes_this_correct_gradient=bool(r.passed),
        detection_rate=float(real["detected"].mean()),
        false_alarm_rate=float(clean["detected"].mean()),
        bugs=int(real["bug"].nunique()),
    )
    benchmark(run_checker, OBJ, THETA, None, checker)
