"""A verdict you can trust: no silent pass, no false alarm, and "inconclusive" when it cannot tell.

An adversarial zoo of conditions (input and weight scales, precisions, large batches, kinked
activations, a user step far too large) on correct gradients and planted bugs, and the traps
that used to give silent wrong numbers.
"""

import warnings

import numpy as np
import pytest

import gradlab
from gradlab.check.directional import PROJECTION_EVALUATIONS
from gradlab.check.gradcheck import CostWarning
from gradlab.check.probe import FAST_PROBE_EVALUATIONS
from gradlab.experiments.bugzoo import BUGS
from gradlab.experiments.trustzoo import EXTRA_BUGS, Condition, _problem

CONDITIONS = [
    Condition("tanh", 1.0, 1.0, "float64", 16, None),
    Condition("tanh", 1e3, 1.0, "float64", 16, None),  # unnormalised inputs: truncation is large
    Condition("tanh", 1e-3, 10.0, "float64", 16, None),  # large weights
    Condition("relu", 1.0, 1.0, "float32", 1000, None),  # float32, a batch of a thousand, kinks everywhere
    Condition("hard_tanh", 1.0, 1.0, "float64", 64, None),
    Condition("leaky_relu", 1e3, 10.0, "float64", 16, 0.3),  # a user step far too large
    Condition("tanh", 1.0, 1.0, "float64", 16, 0.3),
]
BUG_NAMES = ["bp2_missing_fprime", "last_layer_0.1pct", "W1 off by 10%", "relu_prime_one"]


def _bug(name):
    return EXTRA_BUGS.get(name) or BUGS[name]


@pytest.mark.parametrize("fast", [False, True], ids=["full", "fast"])
@pytest.mark.parametrize("c", CONDITIONS, ids=lambda c: c.label)
def test_correct_gradients_never_fail(c, fast):
    obj, theta = _problem(c, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CostWarning)
        r = gradlab.gradcheck(obj, theta, h=c.h, fast=fast)
    assert r.status in ("passed", "inconclusive"), r.message()
    if c.h is None and c.dtype == "float64" and not fast:
        assert r.status == "passed", r.message()  # at default settings in float64: a pass, not a shrug


@pytest.mark.parametrize("fast", [False, True], ids=["full", "fast"])
@pytest.mark.parametrize("bug", BUG_NAMES)
@pytest.mark.parametrize("c", CONDITIONS, ids=lambda c: c.label)
def test_bugs_never_pass(c, bug, fast):
    obj, theta = _problem(c, 0)
    if bug == "relu_prime_one" and c.activation != "relu":
        pytest.skip("a ReLU bug")
    planted = _bug(bug)
    wrong = lambda th: planted.gradient(obj, th)  # noqa: E731
    effect = np.abs(wrong(theta).astype(float) - obj.gradient(theta)).max() / np.abs(obj.gradient(theta)).max()
    if effect < 1e-6:
        pytest.skip("the bug changes nothing measurable at this point")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CostWarning)
        r = gradlab.gradcheck(obj, theta, grad=wrong, h=c.h, fast=fast)
    assert r.status != "passed", r.message()
    if c.h is None and c.dtype == "float64" and not fast:
        assert r.status == "failed"


def test_a_bug_on_a_bias_next_to_a_kink_is_caught_not_excused():
    net = gradlab.MLP([1, 1, 1], activation="relu", output="identity", loss="mse")
    obj = net.objective([[1.0]], [[0.5]])
    theta = np.array([1.0, -1.0 + 1e-7, 1.0, 0.0])  # z1 = 1e-7: every step of central differences crosses 0
    for reference in ("auto", "central", "forward"):
        ok = gradlab.gradcheck(obj, theta, reference=reference)
        assert ok.status == "passed", ok.message()
        bad = gradlab.gradcheck(obj, theta, grad=lambda t: obj.gradient(t) * [1, 1.5, 1, 1], reference=reference)
        assert bad.status == "failed" and "b1" in bad.message()


# -- knowing the function ----------------------------------------------------------------------


def test_a_random_f_is_reported_as_such():
    rng = np.random.default_rng(0)
    f = lambda x: float(np.sum(x**2) + 1e-6 * rng.standard_normal())  # noqa: E731
    r = gradlab.gradcheck(f, np.ones(3), grad=lambda x: 2 * x)
    assert r.status == "inconclusive" and "f is random" in r.message()
    accepted = gradlab.gradcheck(f, np.ones(3), grad=lambda x: 2 * x, noise=1e-5)
    assert accepted.status in ("passed", "inconclusive") and accepted.status != "failed"


def test_an_f_that_ignores_its_argument_is_named():
    W = np.ones(3)
    r = gradlab.gradcheck(lambda w: float(np.sum(W**2)), W, grad=lambda w: 2 * w)
    assert r.status == "inconclusive" and "f does not depend on x" in r.message()


def test_float32_arithmetic_inside_f_is_judged_at_float32():
    x = np.linspace(0.1, 1, 5)
    f = lambda x: float(np.sum(np.sin(x.astype(np.float32)) ** 2))  # noqa: E731
    g = lambda x: 2 * np.sin(x) * np.cos(x)  # noqa: E731
    r = gradlab.gradcheck(f, x, grad=g)
    assert r.status != "failed" and "f computes in float32" in r.message()
    assert gradlab.gradcheck(f, x, grad=lambda x: 1.1 * g(x)).status == "failed"


def test_exact_zeros_at_the_point_draw_a_warning():
    net = gradlab.MLP([2, 3, 2], output="softmax")
    X, Y = net.random_batch(4)
    r = gradlab.gradcheck(net.objective(X, Y), net.init(seed=0))  # biases start at 0
    assert "exact zeros in b1 (3), b2 (2)" in r.message()


def test_the_taylor_test_stays_where_f_is_defined():
    x = np.array([1e-3, 2.0])
    f = lambda x: float(np.sum(np.log(x)))  # noqa: E731
    r = gradlab.gradcheck(f, x, grad=lambda x: 2 / x)  # wrong: the Taylor test runs, and must not crash
    assert r.status == "failed" and r.taylor is not None


def test_hints_are_per_block():
    net = gradlab.MLP([3, 4, 2], output="softmax")
    X, Y = net.random_batch(8)
    obj, theta = net.objective(X, Y), net.init(seed=0) + 0.1

    def only_b2_flipped(th):
        g = obj.gradient(th)
        net.params(g)["b2"][...] *= -1
        return g

    r = gradlab.gradcheck(obj, theta, grad=only_b2_flipped)
    assert "hint: in b2 only, analytic/numeric = -1 for every entry: a flipped sign" in r.message()
    # the worst entry's own errors, not the block's largest
    worst = r.table.loc[r.table["n_failed"] > 0].iloc[0]
    assert abs(worst["analytic"] - worst["numeric"]) == pytest.approx(worst["max_abs_error"])


def test_the_caller_x_is_bitwise_unchanged_even_when_f_writes_into_it():
    x = np.linspace(-1, 1, 4)
    before = x.tobytes()

    def vandal(v):
        v[0] = 5.0
        return float(np.sum(v**2))

    with pytest.raises(ValueError, match="`f` writes into its argument"):
        gradlab.gradcheck(vandal, x, grad=lambda v: 2 * v)
    assert x.tobytes() == before


def test_the_cost_guard_warns_and_refuses():
    x = np.zeros(2000)
    slow = lambda v: (sum(range(20000)), float(v @ v))[1]  # noqa: E731  (a few ms per evaluation)
    with pytest.raises(ValueError, match="`max_evaluations` = 100 is below what this check needs"):
        gradlab.gradcheck(slow, x, grad=lambda v: 2 * v, max_evaluations=100)


def test_fast_mode_costs_a_few_evaluations_and_its_fallback_is_bounded():
    net = gradlab.MLP([40, 40, 40, 3], output="softmax")  # n = 3,403: above the full fallback
    X, Y = net.random_batch(16)
    obj, theta = net.objective(X, Y), net.init(seed=0) + 0.1
    ok = gradlab.gradcheck(obj, theta, fast=True)
    assert ok.status == "passed" and ok.evaluations <= FAST_PROBE_EVALUATIONS + PROJECTION_EVALUATIONS * 7
    bad = gradlab.gradcheck(obj, theta, fast=True, grad=lambda t: obj.gradient(t) * 1.01)
    assert bad.status == "failed" and bad.evaluations <= 2 * 32 * 6 + 30  # sampled entries, never 2 x 3,403
    assert "sampled" in bad.message()


# -- the traps: no silent wrong number from a step backend ---------------------------------------


def test_no_silent_wrong_number_from_the_complex_step():
    g = gradlab.gradient(lambda x: np.exp(x[0] - 700), np.array([0.0]), backend="complex_step")
    assert g[0] == pytest.approx(np.exp(-700), rel=1e-13)  # h f' would underflow at h = 1e-20
    with pytest.raises(ValueError, match="subnormal"):
        gradlab.gradient(lambda x: np.sum(x**2), np.ones(2), backend="complex_step", h=1e-320)
    for f in (lambda x: np.vdot(x, x), lambda x: np.sum(np.sin(x)) + np.linalg.norm(x) ** 2):
        with pytest.raises(ValueError, match="drops or conjugates an imaginary part"):
            gradlab.gradient(f, np.array([0.3, -1.2, 2.0]), backend="complex_step")


def test_the_check_falls_back_from_a_complex_step_it_cannot_trust():
    x = np.array([0.3, -1.2, 2.0])
    f = lambda x: np.sum(np.sin(x)) + np.linalg.norm(x) ** 2  # noqa: E731  drops an imaginary part
    right = lambda x: np.cos(x) + 2 * x  # noqa: E731
    r = gradlab.gradcheck(f, x, grad=right, reference="complex_step")
    assert r.passed and r.reference == "central" and "cannot be trusted" in r.message()
    assert gradlab.gradcheck(f, x, grad=np.cos, reference="complex_step").status == "failed"  # L2 term missing


def test_no_silent_zero_or_nan_from_differences():
    with pytest.raises(gradlab.StepTooSmallError, match="too small for f to resolve at index 0"):
        gradlab.gradient(lambda x: np.exp(x[0]), np.array([0.0]), backend="central", h=1e-300)
    with pytest.raises(ValueError, match="must return a finite scalar"):
        with np.errstate(over="ignore"):
            gradlab.gradient(lambda x: np.exp(x[0]), np.array([0.0]), backend="central", h=1e308)


@pytest.mark.parametrize("shift", [0.0, 1000.0])
def test_a_summed_loss_of_size_3e5_and_a_constant_added_do_not_raise_false_alarms(shift):
    rng = np.random.default_rng(0)
    A, y, w = rng.normal(size=(200, 30)), rng.normal(size=200), rng.normal(size=30)
    f = lambda w: float(np.sum((A @ w - y) ** 2)) * 50 + shift  # noqa: E731  |f| ~ 3e5: rounding ~ eps |f| / h
    g = lambda w: 100 * A.T @ (A @ w - y)  # noqa: E731
    assert gradlab.gradcheck(f, w, grad=g).passed
    assert gradlab.gradcheck(f, w, grad=lambda w: 1.001 * g(w)).status == "failed"
