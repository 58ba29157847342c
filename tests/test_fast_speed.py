"""The fast check at torch's price: no table built until it is read, no evaluation beyond the
projection's; and what a projection cannot see of small entries, said or measured (issue 18, item 5)."""

import pickle
from unittest import mock

import numpy as np
import pandas as pd
import pytest

import gradlab
from gradlab.check import directional, judge
from gradlab.check.directional import PROJECTION_EVALUATIONS, SEPARATE_ENTRIES
from gradlab.check.probe import FAST_PROBE_EVALUATIONS
from gradlab.check.result import TABLE_COLUMNS, GradcheckResult, replaced
from gradlab.experiments.trustzoo import UNJUDGED
from gradlab.objective import as_objective


def _mlp(width=6):
    # the benchmark's network (tanh, softmax + cross-entropy), small
    net = gradlab.MLP([width, width, width, 10], activation="tanh", output="softmax", loss="cross_entropy")
    X, Y = net.random_batch(16, seed=0)
    return net, net.objective(X, Y), net.init(seed=0) + 0.01


def _deferred(r, name="table"):
    return not getattr(GradcheckResult, name).built(r)


def test_a_passing_fast_check_builds_no_frame_and_costs_the_projection_only():
    net, obj, theta = _mlp()
    # no DataFrame is built during the check (the deferred ones are built from the real class later)
    with mock.patch.object(pd, "DataFrame", side_effect=AssertionError("a DataFrame built in the hot path")):
        r = gradlab.gradcheck(obj, theta, fast=True)
    assert r.status == "passed" and r.mode == "fast"
    # f at x, then one projection: a central pair and its complex step (the MLP evaluates in complex)
    assert r.evaluations == FAST_PROBE_EVALUATIONS + PROJECTION_EVALUATIONS
    assert _deferred(r) and _deferred(r, "directions") and r.hints == ()
    # read: the same table as built at once from the same directions, in the columns of every mode
    table = r.table
    assert not _deferred(r) and r.table is table  # built once, kept
    assert list(table.columns) == list(TABLE_COLUMNS)
    assert list(table["block"]) == [b.name for b in net.blocks] and table["passed"].all()
    rows = r.directions.to_dict("records")
    pd.testing.assert_frame_equal(table, judge.direction_table(rows, net.blocks))
    # the one projection speaks for every block: its values in each row
    assert (table["analytic"] == rows[0]["analytic"]).all() and (table["n_failed"] == 0).all()


def test_a_deferred_table_survives_copying_pickling_and_the_message():
    _, obj, theta = _mlp()
    r = gradlab.gradcheck(obj, theta, fast=True)
    copy = replaced(r, notes=("a note",))
    assert _deferred(copy) and copy.notes == ("a note",) and copy.status == r.status
    back = pickle.loads(pickle.dumps(r))
    assert _deferred(back)
    pd.testing.assert_frame_equal(back.table, r.table)
    assert "W1" in copy.message() and not _deferred(copy)  # the message reads the table


def test_a_vjp_check_keeps_its_table_deferred_through_the_restatement():
    g = np.random.default_rng(1)
    x, w = g.normal(size=(4, 5)), g.normal(size=(5, 3))
    r = gradlab.gradcheck(lambda x, w: np.tanh(x @ w), (x, w), vjp=_tanh_vjp, fast=True)
    assert r.status == "passed" and _deferred(r)
    assert list(r.table["block"]) == ["x", "w"] and r.table["passed"].all()


def _tanh_vjp(x, w, u):
    d = u * (1 - np.tanh(x @ w) ** 2)
    return d @ w.T, x.T @ d


def test_a_failing_fast_check_still_tables_and_hints():
    net, obj, theta = _mlp()
    r = gradlab.gradcheck(obj, theta, grad=lambda t: 2 * obj.gradient(t), fast=True)
    assert r.status == "failed" and any("factor 2" in h for h in r.hints)
    assert int(r.table["n_failed"].sum()) > 0


# -- small entries in fast mode -------------------------------------------------------------------

SCALE_X = np.array([0.4, -1.1, 0.9, 0.6])


def _small_entry(size, bug=1.0):
    scale = np.array([1.0, 0.8, 1.3, size])

    def grad(v):
        g = scale * np.cos(v)
        g[3] *= bug
        return g

    return (lambda v: np.sum(scale * np.sin(v))), grad


def test_a_small_entry_the_projection_cannot_see_is_measured_on_its_own():
    # at 1e-4 of max|g| the entry's share of <a, v> is below the projection's tolerance: a 1% bug
    # there passed silently; measured along its own coordinate, it fails
    f, wrong = _small_entry(1e-4, bug=1.01)
    assert gradlab.gradcheck(f, SCALE_X, grad=wrong, fast=True).status == "failed"
    f, grad = _small_entry(1e-4)
    r = gradlab.gradcheck(f, SCALE_X, grad=grad, fast=True)
    assert r.status == "passed" and r.mode == "fast"
    assert list(r.directions["block"]) == ["all", "x[3]"]
    # f at x, a central pair along the projection, one along x[3] (a plain f: no complex step)
    assert r.evaluations == FAST_PROBE_EVALUATIONS + 2 + 2
    assert any("measured on their own" in n and "x[3]" in n for n in r.notes)


def test_an_entry_below_the_analytic_sides_rounding_is_listed_not_passed_silently():
    # the options zoo's 96 silent passes: a 1% bug on an entry at 1e-17 of max|g| in fast mode
    f, wrong = _small_entry(1e-17, bug=1.01)
    for grad in (wrong, _small_entry(1e-17)[1]):
        r = gradlab.gradcheck(f, SCALE_X, grad=grad, fast=True)
        assert r.status == "passed"
        (note,) = [n for n in r.notes if UNJUDGED in n]
        assert note.startswith("1 entries lie below") and "x[3] the first" in note
        assert not any("measured on their own" in n for n in r.notes)  # no difference can measure it


@pytest.mark.parametrize("size", [1e-8, 1e-12])
def test_an_entry_between_rounding_and_the_floor_is_as_conclusive_as_in_the_full_check(size):
    f, wrong = _small_entry(size, bug=1.01)
    for grad in (wrong, _small_entry(size)[1]):
        fast = gradlab.gradcheck(f, SCALE_X, grad=grad, fast=True)
        full = gradlab.gradcheck(f, SCALE_X, grad=grad)
        assert fast.status == full.status != "passed", (fast.message(), full.message())


def test_many_coarse_entries_are_stated_with_the_least_visible_not_measured():
    # a network's gradient has hundreds of entries below the projection's per-entry tolerance
    net, obj, theta = _mlp(10)
    # a plain callable: central differences only (the MLP's own complex step resolves far finer)
    f = lambda t: obj(t)  # noqa: E731
    r = gradlab.gradcheck(f, theta, grad=obj.gradient, fast=True)
    assert r.status == "passed" and r.evaluations == FAST_PROBE_EVALUATIONS + 2
    (note,) = [n for n in r.notes if n.startswith("entry by entry")]
    k = int(note.split(": ")[1].split(" entries")[0])
    assert k > SEPARATE_ENTRIES and "is verified only to a relative error of" in note
    # the number follows from the direction: an error r on entry i alone moves <a, v> by r a_i v_i
    blocks = as_objective(f).blocks(theta)  # one block, x
    v = directional.block_direction(theta, blocks, np.random.default_rng(0))
    row = r.directions.iloc[0]
    allowed = row["resolution"] * max(abs(row["analytic"]), abs(row["numeric"]))
    a = obj.gradient(theta)
    judged = np.abs(a) >= 64 * np.finfo(float).eps * np.abs(a).max()  # not below the analytic side's rounding
    with np.errstate(divide="ignore"):
        expected = np.where(judged, allowed / np.abs(a * v), 0.0)
    assert k == int((expected > 1e-4).sum())


def test_the_options_zoo_in_fast_mode_has_no_silent_pass_on_small_entries():
    from gradlab.experiments.trustzoo import OptionsZoo, check_grid

    checks = check_grid(steps=(None, 1e-3), references=("auto",), modes=(True,), accept=(False,))
    problems = ("an entry at 1e-17 of max|g|", "a block at 1e-8 of max|g|")
    zoo = OptionsZoo(checks=checks, problems=problems).run()
    bugs, clean = zoo[zoo["bug"] != "none"], zoo[zoo["bug"] == "none"]
    assert not ((bugs["status"] == "passed") & ~bugs["listed"]).any(), bugs
    assert (clean["status"] != "failed").all(), clean
    # correct code keeps its verdict (the small block's own direction is as inconclusive as ever at 1e-8)
    assert (clean[clean["problem"] == problems[0]]["status"] == "passed").all(), clean


def test_directions_matter_to_a_fast_check_only_where_it_localises_by_itself():
    # why the bug zoo runs "fast, 1/2/4 directions" once on its small networks (bugzoo._same_fast_check)
    from gradlab.check.directional import FULL_FALLBACK_MAX
    from gradlab.experiments.bugzoo import BUGS, BugZooParams, _bound, _same_fast_check

    obj, theta = BugZooParams().network("tanh", 0)
    assert obj.n_params <= FULL_FALLBACK_MAX
    grad = _bound(obj, BUGS["missing_batch_mean"])
    one, four = (gradlab.gradcheck(obj, theta, grad=grad, fast=True, directions=k) for k in (1, 4))
    assert one.status == four.status == "failed" and one.evaluations == four.evaluations
    pd.testing.assert_frame_equal(one.table, four.table)
    key = _same_fast_check({"fast": True, "directions": 4}, obj.n_params)
    assert key == _same_fast_check({"fast": True, "directions": 1}, obj.n_params)
    assert _same_fast_check({"fast": True, "directions": 4}, FULL_FALLBACK_MAX + 1) is None
    assert _same_fast_check({"h": 1e-3}, obj.n_params) is None
