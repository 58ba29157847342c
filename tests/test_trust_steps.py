"""A verdict that holds under every option (issue 18): the user's step, every reference,
accept_unverified, small entries, the report's inconclusive counts.

Each repro of the issue is a test here; each failed on the checker before its fix.
"""

import numpy as np
import pytest

import gradlab

STEPS = [1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 0.1, 0.3, 1.0]
DIFFERENCE_REFERENCES = ["auto", "central", "forward", "richardson"]


def _half_square(x):
    return 0.5 * np.sum(x**2)


X3 = np.array([1.0, 2.0, -3.0])


# -- item 1: a chosen step neither hides a bug nor stalls a correct gradient --------------------------


@pytest.mark.parametrize("reference", DIFFERENCE_REFERENCES)
@pytest.mark.parametrize("h", STEPS)
def test_a_users_step_never_hides_a_bug(h, reference):
    # the repro: grad = 2x is twice the gradient of 0.5 |x|^2; so is a 1% error
    for wrong in (lambda x: 2 * x, lambda x: 1.01 * x):
        r = gradlab.gradcheck(_half_square, X3, grad=wrong, h=h, reference=reference)
        assert r.status == "failed", r.message()
        # the escape hatch passes entries nothing could measure, never one measured wrong
        r = gradlab.gradcheck(_half_square, X3, grad=wrong, h=h, reference=reference, accept_unverified=True)
        assert r.status == "failed", r.message()


@pytest.mark.parametrize("reference", DIFFERENCE_REFERENCES)
@pytest.mark.parametrize("h", STEPS)
def test_a_users_step_passes_a_correct_gradient(h, reference):
    r = gradlab.gradcheck(_half_square, X3, grad=lambda x: x, h=h, reference=reference)
    assert r.status == "passed", r.message()


def _cli_network():
    net = gradlab.MLP([4, 16, 3], activation="tanh", output="sigmoid", loss="cross_entropy")
    X, Y = net.random_batch(32, seed=0)
    return net.objective(X, Y), net.init(seed=0)


@pytest.mark.parametrize("h", [1e-8, 1e-4, 1e-3, 1e-2])
def test_the_default_network_passes_at_a_users_step(h):
    # `gradlab check --h 1e-3` was inconclusive on correct backprop, blaming "float32 arithmetic"
    obj, theta = _cli_network()
    r = gradlab.gradcheck(obj, theta, h=h)
    assert r.status == "passed", r.message()
    bad = gradlab.gradcheck(obj, theta, h=h, grad=lambda t: obj.gradient(t) * 1.001)
    assert bad.status == "failed", bad.message()


def test_float64_rounding_noise_is_not_blamed_on_float32():
    obj, theta = _cli_network()
    r = gradlab.gradcheck(obj, theta, reference="forward")
    assert r.status != "failed"
    assert "float32" not in r.message(), r.message()


# -- item 6: exact gradients at awkward points are not false alarms ------------------------------------

AWKWARD = {
    # cancellation inside the exact formula: x cos x - sin x loses eight digits at 1e-4
    "sin(x)/x at 1e-4": (lambda x: np.sum(np.sin(x) / x), lambda x: (x * np.cos(x) - np.sin(x)) / x**2, 1e-4),
    # the default step (6e-6, absolute) reaches across the pole at 0
    "1/x at 1e-150": (lambda x: np.sum(1 / x), lambda x: -1 / x**2, 1e-150),
    "log(x^2) at 1e-100": (lambda x: np.sum(np.log(x * x)), lambda x: 2 / x, 1e-100),
}


@pytest.mark.parametrize("reference", ["auto", "central", "complex_step"])
@pytest.mark.parametrize("name", list(AWKWARD))
def test_exact_gradients_at_awkward_points_pass_and_bugs_there_fail(name, reference):
    f, g, x0 = AWKWARD[name]
    x = np.array([x0])
    with np.errstate(all="ignore"):
        r = gradlab.gradcheck(f, x, grad=g, reference=reference)
        assert r.status == "passed", r.message()
        bad = gradlab.gradcheck(f, x, grad=lambda x: 1.01 * g(x), reference=reference)
    assert bad.status == "failed", bad.message()


@pytest.mark.parametrize("reference", ["central", "complex_step"])
def test_a_product_that_underflows_is_not_a_false_alarm(reference):
    # x*x at 1e-200 is 0 in float64 and so is its complex step's imaginary part at the default
    # step: the reference measured nothing, and says so instead of failing an exact gradient
    x = np.array([1e-200])
    r = gradlab.gradcheck(lambda x: np.sum(x * x), x, grad=lambda x: 2 * x, reference=reference)
    assert r.status == "inconclusive", r.message()
    bad = gradlab.gradcheck(lambda x: np.sum(x * x), x, grad=lambda x: 3 * x, reference=reference)
    assert bad.status != "passed"
