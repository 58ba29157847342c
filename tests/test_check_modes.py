"""Fast directional checks, kinks, the Taylor remainder and the exact references."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradlab
from gradlab.backends import StepTooSmallError
from gradlab.check import taylor_test
from gradlab.check.directional import PROJECTION_EVALUATIONS
from gradlab.check.probe import FAST_PROBE_EVALUATIONS
from tests.netdata import make_data


def _case(sizes=(4, 7, 5, 3), act="tanh", seed=1, m=12):
    net = gradlab.MLP(list(sizes), activation=act, output="softmax", loss="cross_entropy", l2=0.01)
    X, Y = make_data(net, m, seed=seed)
    theta = net.init(seed=seed) + 0.05 * np.random.default_rng(seed + 1).normal(size=net.n_params)
    return net, net.objective(X, Y), theta


def _broken(net, obj, block, factor=1.001):
    def grad(th):
        g = gradlab.gradient(obj, th, backend="backprop")
        net.params(g)[block][...] *= factor
        return g

    return grad


# -- fast mode ------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [3, 30, 120])
def test_fast_check_costs_the_same_whatever_n(width):
    net, obj, theta = _case(sizes=(4, width, width, 3))
    r = gradlab.gradcheck(obj, theta, fast=True, directions=2)
    assert r.passed and r.mode == "fast" and r.numeric is None
    # f at x, a real central difference along one direction, its complex step: 4, whatever n
    # (a block whose share of the projection is too small for its resolution gets its own direction)
    assert r.evaluations == FAST_PROBE_EVALUATIONS + PROJECTION_EVALUATIONS * len(r.directions)
    assert list(r.table["block"]) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert r.directions["block"].iloc[0] == "all" and not r.directions[["failed", "coarse"]].to_numpy().any()


def test_fast_check_directional_values_are_right():
    f = lambda x: float(np.sum(x**3))  # noqa: E731
    x = np.array([0.5, -1.0, 2.0])
    r = gradlab.gradcheck(f, x, grad=lambda x: 3 * x**2, fast=True, directions=3)
    d = r.directions
    np.testing.assert_allclose(d["numeric"], d["analytic"], rtol=1e-9)


@pytest.mark.parametrize("block", ["W1", "b2", "W3"])
def test_fast_check_failure_falls_back_and_names_the_block(block):
    net, obj, theta = _case()
    r = gradlab.gradcheck(obj, theta, grad=_broken(net, obj, block), fast=True)
    assert not r.passed and r.mode == "fast, then full"
    assert list(r.table.loc[~r.table["passed"], "block"]) == [block]
    assert r.numeric is not None
    assert "fast check: the projection disagrees" in r.message()
    assert f"worst entry {block}[" in r.message()


# -- kinks ----------------------------------------------------------------------------------


def _relu_case(seed, act="relu"):
    net = gradlab.MLP([3, 8, 8, 2], activation=act, output="softmax", l2=0.0)
    X, Y = make_data(net, 16, seed=seed)
    theta = net.init(seed=seed)
    return net, net.objective(X, Y), theta


def test_a_step_across_a_relu_kink_is_measured_again_not_excused():
    # A bias that puts one pre-activation 1e-7 above the kink: its central step (6e-6) crosses it.
    net = gradlab.MLP([1, 1, 1], activation="relu", output="identity", loss="mse")
    obj = net.objective([[1.0]], [[0.5]])
    theta = np.array([1.0, -1.0 + 1e-7, 1.0, 0.0])  # z1 = w x + b = 1e-7
    plain = gradlab.gradcheck(obj, theta)
    assert plain.passed and plain.n_unverified == 0
    # the crossing entries were measured with the complex step, which takes the branch at x
    assert plain.evaluations > 2 * net.n_params
    # and a bug on that very bias is caught, not excused
    wrong = lambda th: obj.gradient(th) * np.array([1, 1.5, 1, 1])  # noqa: E731
    bad = gradlab.gradcheck(obj, theta, grad=wrong)
    assert bad.status == "failed" and list(bad.table.loc[bad.table["n_failed"] > 0, "block"]) == ["b1"]


@given(st.integers(0, 2**31), st.sampled_from(["relu", "leaky_relu", "hard_sigmoid", "hard_tanh"]))
def test_no_false_failures_on_kinked_networks_at_default_settings(seed, act):
    net, obj, theta = _relu_case(seed, act)
    r = gradlab.gradcheck(obj, theta)
    assert r.passed, r.message()


@pytest.mark.parametrize("act", ["relu", "leaky_relu", "hard_tanh"])
def test_a_real_bug_in_a_kinked_network_is_still_caught(act):
    net, obj, theta = _relu_case(3, act)
    r = gradlab.gradcheck(obj, theta, grad=_broken(net, obj, "W2"))
    assert not r.passed and list(r.table.loc[~r.table["passed"], "block"]) == ["W2"]


# -- Taylor remainder -----------------------------------------------------------------------


def test_taylor_rate_is_two_for_a_correct_gradient_and_one_for_a_wrong_one():
    net, obj, theta = _case()
    g = gradlab.gradient(obj, theta, backend="backprop")
    good = taylor_test(obj, theta, g)
    assert good.rate == pytest.approx(2, abs=0.15) and "correct" in good.verdict
    bad = taylor_test(obj, theta, g * 1.01)
    assert bad.rate == pytest.approx(1, abs=0.15) and "wrong" in bad.verdict
    assert good.evaluations == 16 and list(good.table.columns) == ["t", "residual"]


def test_taylor_test_is_reported_in_the_gradcheck_message():
    net, obj, theta = _case()
    r = gradlab.gradcheck(obj, theta, grad=_broken(net, obj, "W2", 1.05))
    assert r.taylor.rate < 1.3
    assert "Taylor remainder" in r.message() and "the gradient is wrong along d" in r.message()


def test_taylor_test_on_a_linear_function_is_inconclusive():
    r = taylor_test(lambda x: float(np.sum(2 * x)), np.ones(3), np.full(3, 2.0))
    assert np.isnan(r.rate) and "inconclusive" in r.verdict


# -- exact references -----------------------------------------------------------------------


@pytest.mark.parametrize("reference", ["complex_step", "richardson"])
def test_tighter_references_pass_correct_gradients_and_catch_tiny_bugs(reference):
    net, obj, theta = _case()
    r = gradlab.gradcheck(obj, theta, reference=reference)
    assert r.passed, r.message()
    assert r.max_rel_error < 1e-8
    # a bug of one part in 10^8 is below central differences' resolution, not the complex step's
    tiny = _broken(net, obj, "W2", 1 + 1e-8)
    assert gradlab.gradcheck(obj, theta, grad=tiny, reference="central").status != "failed"
    if reference == "complex_step":
        assert gradlab.gradcheck(obj, theta, grad=tiny, reference=reference).status == "failed"


def test_directions_must_be_a_positive_integer():
    net, obj, theta = _case()
    with pytest.raises(ValueError, match="`directions` must be a positive integer; got 0"):
        gradlab.gradcheck(obj, theta, fast=True, directions=0)
    with pytest.raises(TypeError, match="`directions` must be a positive integer; got 1.5"):
        gradlab.gradcheck(obj, theta, fast=True, directions=1.5)


def test_fast_check_works_in_float32_and_honours_h():
    net = gradlab.MLP([3, 6, 2], output="softmax", dtype="float32")
    X, Y = net.random_batch(16)
    obj, theta = net.objective(X, Y), net.init(seed=0)
    r = gradlab.gradcheck(obj, theta, fast=True)
    assert r.passed and r.mode == "fast" and r.dtype == "float32"
    with pytest.raises(StepTooSmallError, match="below the floating-point spacing of x"):
        gradlab.gradcheck(obj, theta, fast=True, h=1e-12)  # the user's h is used, and refused clearly
