"""The finite-difference and backprop backends on functions with known gradients."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import gradlab
from gradlab.backends import StepTooSmallError

FD = ["forward", "central"]


def quadratic(A, b):
    """f(x) = 1/2 x^T A x + b^T x, gradient (A + A^T)/2 x + b."""
    return (lambda x: 0.5 * x @ A @ x + b @ x), (lambda x: 0.5 * (A + A.T) @ x + b)


def test_registry_has_the_three_backends():
    assert gradlab.backends()[:3] == ["forward", "central", "backprop"]


@pytest.mark.parametrize("n", [1, 2, 7, 50])
def test_evaluation_counts_are_exact(n):
    calls = []

    def f(x):
        calls.append(1)
        return float(np.sum(np.sin(x)))

    x = np.linspace(-1, 1, n)
    fwd = gradlab.differentiate(f, x, backend="forward")
    assert fwd.evaluations == n + 1 == len(calls)
    calls.clear()
    cen = gradlab.differentiate(f, x, backend="central")
    assert cen.evaluations == 2 * n == len(calls)
    assert fwd.backward_passes == cen.backward_passes == 0


def test_backprop_costs_one_forward_and_one_backward_pass_whatever_n():
    for sizes in ([2, 3, 1], [10, 50, 50, 4]):
        net = gradlab.MLP(sizes)
        X = np.ones((3, sizes[0]))
        r = gradlab.differentiate(net.objective(X, np.zeros((3, sizes[-1]))), net.init(), backend="backprop")
        assert (r.evaluations, r.backward_passes) == (1, 1)
        assert r.h is None and r.backend == "backprop"


@given(st.integers(1, 8), st.integers(0, 2**32 - 1))
def test_central_is_exact_on_quadratics_up_to_rounding(n, seed):
    rng = np.random.default_rng(seed)
    A, b, x = rng.normal(size=(n, n)), rng.normal(size=n), rng.normal(size=n)
    f, g = quadratic(A, b)
    # Third derivatives vanish: the only error is rounding, about eps |f| / h per entry.
    scale = 1 + abs(f(x)) + np.abs(A).sum() * (1 + np.abs(x).max()) ** 2
    for h in (1e-2, 1e-3, 1e-4):
        est = gradlab.gradient(f, x, backend="central", h=h)
        np.testing.assert_allclose(est, g(x), rtol=0, atol=20 * np.finfo(float).eps * scale / h)


def test_forward_error_on_a_quadratic_is_the_half_second_derivative_times_h():
    # f = x^2: (f(x+h) - f(x))/h = 2x + h exactly (up to rounding).
    x = np.array([0.75])
    for h in (2.0**-10, 2.0**-14):
        assert gradlab.gradient(lambda v: float(v[0] ** 2), x, backend="forward", h=h)[0] == 1.5 + h


@pytest.mark.parametrize("backend", FD)
def test_smooth_function_to_the_expected_accuracy(backend):
    x = np.array([0.3, -1.2, 2.5, 3.0, -0.01])
    f = lambda v: float(np.sum(np.exp(np.sin(v))))  # noqa: E731
    exact = np.cos(x) * np.exp(np.sin(x))
    est = gradlab.gradient(f, x, backend=backend)
    tol = {"forward": 1e-6, "central": 1e-9}[backend]
    np.testing.assert_allclose(est, exact, rtol=tol, atol=tol)


@pytest.mark.parametrize("backend", FD)
def test_quotient_uses_the_step_actually_represented(backend):
    # x + 0.1 is not exact: dividing by the nominal 0.1 would be off by ~1e-16/0.1 relative;
    # for the linear f(x) = 4x (a power of two: no rounding in f) the represented step
    # gives 4 to the last bit.
    for x0 in (1.0 / 3.0, 12345.678, -0.7):
        g = gradlab.gradient(lambda v: float(4 * v[0]), np.array([x0]), backend=backend, h=0.1)
        assert g[0] == 4.0


@pytest.mark.parametrize("backend", FD)
def test_gradient_has_the_shape_and_precision_of_x(backend):
    x = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
    g = gradlab.gradient(lambda v: float(np.sum(v.astype(np.float64) ** 2)), x, backend=backend)
    assert g.shape == (2, 3) and g.dtype == np.float32
    np.testing.assert_allclose(g, 2 * x, rtol=1e-2, atol=1e-3)


@pytest.mark.parametrize("backend", FD)
def test_integer_input_is_converted_not_differentiated_into_zeros(backend):
    g = gradlab.gradient(lambda v: float(np.sum(v**3)), [1, 2, 3], backend=backend)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, [3.0, 12.0, 27.0], rtol=1e-5)


@pytest.mark.parametrize("backend", FD)
def test_scalar_returns_of_every_kind_are_accepted(backend):
    x = np.array([1.0, 2.0])
    for wrap in (float, np.float64, np.float32, np.array, int):
        g = gradlab.gradient(lambda v, w=wrap: w(round(v.sum() * 4)), x, backend=backend, h=0.25)
        np.testing.assert_allclose(g, 4.0)


@pytest.mark.parametrize("backend", FD)
@given(x=arrays(np.float64, st.integers(1, 6), elements=st.floats(-5, 5)))
def test_never_mutates_x(backend, x):
    before = x.copy()
    gradlab.gradient(lambda v: float(np.sum(np.tanh(v))), x, backend=backend)
    assert np.array_equal(x, before) and x.tobytes() == before.tobytes()


@pytest.mark.parametrize("backend", FD)
def test_never_mutates_x_when_f_raises_midway(backend):
    x = np.linspace(0.0, 1.0, 10)
    before = x.copy()
    seen = []

    class Boom(Exception):
        pass

    def f(v):
        seen.append(v.copy())
        if len(seen) == 7:
            raise Boom("half-way")
        return float(v.sum())

    with pytest.raises(Boom, match="half-way"):
        gradlab.gradient(f, x, backend=backend)
    assert x.tobytes() == before.tobytes()
    # every evaluation saw the point with at most one entry changed
    assert all(np.count_nonzero(s != before) <= 1 for s in seen)


def test_f_that_mutates_its_argument_cannot_reach_the_caller():
    x = np.ones(3)

    def vandal(v):
        v[...] = 99.0
        return 0.0

    for backend in ("forward", "central", "richardson"):
        with pytest.raises(ValueError, match=r"`f` writes into its argument x .*copy x inside f"):
            gradlab.gradient(vandal, x, backend=backend)
        assert np.all(x == 1.0)


@pytest.mark.parametrize("backend", FD)
def test_step_below_the_spacing_of_x_is_refused(backend):
    with pytest.raises(StepTooSmallError, match=r"below the floating-point spacing of x at index 1"):
        gradlab.gradient(lambda v: float(v.sum()), np.array([1e-3, 1e8]), backend=backend, h=1e-12)


@pytest.mark.parametrize("backend", FD)
def test_float32_step_that_vanishes_is_refused(backend):
    with pytest.raises(StepTooSmallError, match="float32"):
        gradlab.gradient(lambda v: float(v.sum()), np.ones(2, np.float32), backend=backend, h=1e-8)
