"""Richardson extrapolation and the complex step: counts, accuracy, and their limits."""

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradlab
from gradlab.backends import StepTooSmallError, StepWarning
from gradlab.nn.activations import ACTIVATIONS
from tests.netdata import make_data

EPS = np.finfo(np.float64).eps


def expsin(x):
    return np.sum(np.exp(np.sin(x)))


def expsin_grad(x):
    return np.cos(x) * np.exp(np.sin(x))


@pytest.mark.parametrize("n", [1, 5, 40])
def test_evaluation_counts(n):
    x = np.linspace(0.1, 1.0, n)
    assert gradlab.differentiate(expsin, x, backend="richardson").evaluations == 4 * n
    assert gradlab.differentiate(expsin, x, backend="complex_step").evaluations == n + 4  # + the real cross-check


@pytest.mark.parametrize("h", [1e-8, 1e-12, 1e-20, 1e-100, 1e-300])
def test_complex_step_reaches_the_last_bits_for_any_tiny_step(h):
    x = np.linspace(-3, 3, 25)
    g = gradlab.gradient(expsin, x, backend="complex_step", h=h)
    np.testing.assert_allclose(g, expsin_grad(x), rtol=4 * EPS, atol=4 * EPS)


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize("output, loss", [("softmax", "cross_entropy"), ("sigmoid", "cross_entropy"), ("tanh", "mse")])
def test_complex_step_agrees_with_backprop_on_every_network(act, output, loss):
    net = gradlab.MLP([4, 6, 5, 3], activation=act, output=output, loss=loss, l2=0.1)
    X, Y = make_data(net, 9, seed=2)
    theta = net.init(seed=3) + 0.1 * np.random.default_rng(4).normal(size=net.n_params)
    obj = net.objective(X, Y)
    bp = gradlab.gradient(obj, theta, backend="backprop")
    cs = gradlab.gradient(obj, theta, backend="complex_step")
    # Both exact up to rounding: agreement to a few units of eps relative to the gradient's size.
    assert np.max(np.abs(cs - bp)) <= 64 * EPS * np.max(np.abs(bp))


@given(st.integers(0, 2**31), st.sampled_from(sorted(ACTIVATIONS)))
def test_complex_step_matches_backprop_on_random_networks(seed, act):
    rng = np.random.default_rng(seed)
    sizes = [int(k) for k in rng.integers(1, 6, size=rng.integers(2, 5))]
    net = gradlab.MLP(sizes, activation=act, output="sigmoid", loss="cross_entropy", l2=float(rng.uniform(0, 1)))
    X, Y = make_data(net, int(rng.integers(1, 8)), seed=seed)
    theta = net.init(seed=seed) + 0.3 * rng.normal(size=net.n_params)
    obj = net.objective(X, Y)
    bp = gradlab.gradient(obj, theta, backend="backprop")
    cs = gradlab.gradient(obj, theta, backend="complex_step")
    assert np.max(np.abs(cs - bp)) <= 64 * EPS * max(np.max(np.abs(bp)), 1e-300) + 1e-300


def test_complex_step_in_float32_uses_complex64():
    net = gradlab.MLP([3, 4, 2], output="softmax", dtype="float32")
    X, Y = make_data(net, 8)
    theta = net.init(seed=1)
    cs = gradlab.gradient(net.objective(X, Y), theta, backend="complex_step")
    bp = gradlab.gradient(net.objective(X, Y), theta, backend="backprop")
    assert cs.dtype == np.float32
    np.testing.assert_allclose(cs, bp, rtol=1e-5, atol=1e-6)


def test_richardson_is_fourth_order():
    # Error ratio when h halves: 2^4 = 16 on the truncation side.
    x = np.array([0.7])
    errors = [abs(gradlab.gradient(expsin, x, backend="richardson", h=h)[0] - expsin_grad(x)[0]) for h in (0.1, 0.05)]
    assert errors[0] / errors[1] == pytest.approx(16, rel=0.1)


def test_richardson_never_mutates_and_counts_twice_central():
    x = np.linspace(0, 1, 7)
    before = x.copy()
    r = gradlab.differentiate(expsin, x, backend="richardson")
    assert x.tobytes() == before.tobytes()
    assert r.evaluations == 2 * gradlab.differentiate(expsin, x, backend="central").evaluations


@pytest.mark.parametrize(
    "f, message",
    [
        (lambda x: float(np.sum(x**2)), "drops the imaginary part"),
        (lambda x: np.sum(np.abs(x)), "drops the imaginary part"),
        (lambda x: np.sum(x).real, "drops the imaginary part"),
        (lambda x: __import__("math").sin(complex(x[0])), "cannot take complex input"),
        (lambda x: x * 1j, r"must return a scalar; got array of shape \(2,\)"),
    ],
)
def test_complex_step_refuses_functions_that_are_not_analytic(f, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
        with pytest.raises(TypeError, match=message):
            gradlab.gradient(f, np.array([0.5, 1.0]), backend="complex_step")


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # the user's own exp
def test_complex_step_refuses_non_finite_values():
    with pytest.raises(ValueError, match="finite scalar; got .*at evaluation 1"):
        gradlab.gradient(lambda x: np.sum(np.exp(1000 * x)), np.array([1.0]), backend="complex_step")


@pytest.mark.filterwarnings("ignore::gradlab.backends.difference.StepWarning")
def test_richardson_refuses_a_step_that_cannot_be_halved():
    with pytest.raises(StepTooSmallError, match="h and h/2 round to the same step"):
        # at 1.5 in float32 (spacing 1.19e-7) both h and h/2 round to one spacing
        gradlab.gradient(expsin, np.array([1.5], np.float32), backend="richardson", h=1.3e-7)


def test_a_step_far_below_its_rounding_warns():
    # at x = 1 the spacing is 2.2e-16: h = 1.5e-16 rounds up to 2.2e-16, 48% larger.
    with pytest.warns(StepWarning, match=r"rounding changed it by \+48%") as record:
        gradlab.gradient(lambda v: float(v[0]), np.array([1.0]), backend="forward", h=1.5e-16)
    assert record[0].filename == __file__  # it points at the caller, not into gradlab
    with warnings.catch_warnings():
        warnings.simplefilter("error", StepWarning)  # a normal step draws no warning
        gradlab.gradient(lambda v: float(v[0]), np.array([1.0]), backend="forward", h=1e-8)
