"""Accurate differences: convergence orders, honest error estimates, domain edges, underflow,
exact evaluation counts -- for the adaptive backend and every difference scheme in the registry."""

import math

import numpy as np
import pytest

import gradlab
from gradlab.backends import Adaptive, DifferenceScheme, all_backends, get, references
from gradlab.backends.adaptive import SPAN
from gradlab.objective import FunctionWroteIntoItsArgument
from gradlab.stats import loglog_fit

CENTRAL4 = DifferenceScheme("central4", offsets=(-2, -1, 1, 2), weights=(1, -8, 8, -1), divisor=12, order=4)
SCHEMES = [b for b in all_backends() if isinstance(b, DifferenceScheme)] + [CENTRAL4]


def expsin(x):
    return np.sum(np.exp(np.sin(x)))


def expsin_grad(x):
    return np.cos(x) * np.exp(np.sin(x))


class Calls:
    """An independent counter: f wrapped, every call counted and every point kept."""

    def __init__(self, f):
        self.f, self.points = f, []

    def __call__(self, x):
        self.points.append(np.array(x, dtype=np.complex128 if np.iscomplexobj(x) else np.float64))
        return self.f(x)


# -- convergence order of every difference scheme ----------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.name)
def test_log_log_slope_of_error_against_h_is_the_declared_order(scheme):
    # On the truncation side (h well above the best step) the error is C h^p: slope p.
    x = np.array([0.7])
    p = scheme.order
    hs = np.geomspace(0.2, 0.2 * 10 ** (-4 / p), 6)  # the error falls by about 1e4 over the range
    errors = [abs(gradlab.gradient(expsin, x, backend=scheme, h=h)[0] - expsin_grad(x)[0]) for h in hs]
    assert loglog_fit(hs, errors).exponent == pytest.approx(p, abs=0.15)


def test_richardson_error_field_is_the_difference_of_its_levels_and_bounds_the_error():
    x = np.linspace(-1, 1, 9)
    for h in (0.2, 0.05, 1e-2):
        r = gradlab.differentiate(expsin, x, backend="richardson", h=h)
        true = np.abs(r.gradient - expsin_grad(x))
        assert r.error.shape == x.shape and np.all(r.error >= true)
        # the two levels: central at h and h/2, (D(h/2) - D(h)) / 3 (plus rounding, negligible here)
        c1 = gradlab.gradient(expsin, x, backend="central", h=h)
        c2 = gradlab.gradient(expsin, x, backend="central", h=h / 2)
        levels = np.abs(c2 - c1) / 3
        assert np.all(r.error >= levels) and np.all(r.error <= levels + 1e-12)


# -- the adaptive backend --------------------------------------------------------------------------------


def test_adaptive_is_registered_as_a_reference_that_takes_a_step():
    b = get("adaptive")
    assert isinstance(b, Adaptive) and b.kind == "difference" and "adaptive" in references()
    assert b.tolerance("float64") == (1e-8, 1e-11) and b.drawn.label == "adaptive"


@pytest.mark.parametrize("n", [1, 3, 12])
def test_adaptive_evaluation_count_is_exact_and_within_the_declared_bound(n):
    for f in (expsin, lambda x: np.sum(np.log(x)) + np.sum(x**7), lambda x: float(np.prod(x))):
        counted = Calls(f)
        x = np.linspace(0.5, 2.0, n)
        r = gradlab.differentiate(counted, x, backend="adaptive")
        assert r.evaluations == len(counted.points) <= get("adaptive").evaluations(n)


@pytest.mark.parametrize("backend", [b for b in references() if b != "complex_step"] + ["complex_step"])
def test_every_step_backend_counts_its_evaluations_exactly(backend):
    counted = Calls(expsin)
    r = gradlab.differentiate(counted, np.linspace(-1, 1, 6), backend=backend)
    assert r.evaluations == len(counted.points)
    # what the backend declares about evaluations(n) holds: the count, or a bound on it
    b = get(backend)
    assert b.evaluations_exact is (backend != "adaptive")
    if b.evaluations_exact:
        assert r.evaluations == b.evaluations(6)
    else:
        assert r.evaluations < b.evaluations(6)  # a smooth f takes fewer than the worst case


def test_adaptive_is_accurate_and_its_estimate_bounds_the_error_on_a_smooth_vector():
    x = np.linspace(-2, 2, 15)
    r = gradlab.differentiate(expsin, x, backend="adaptive")
    true = expsin_grad(x)
    assert np.max(np.abs(r.gradient - true)) < 4e-12  # |f| ~ 1 to 15 here: a few hundred eps |f|
    assert np.all(r.error >= np.abs(r.gradient - true)) and np.all(r.error < 1e-8)
    assert r.step.shape == x.shape and np.all(r.step > 0)


def test_every_point_after_the_pilot_lies_on_the_declared_offsets():
    counted = Calls(expsin)
    x = np.array([0.3, -1.2])
    r = gradlab.differentiate(counted, x, backend="adaptive")
    offsets = np.array(get("adaptive").offsets)
    assert offsets.max() == 2.0**SPAN
    for p in counted.points:
        moved = np.flatnonzero(p != x)
        assert moved.size <= 1
        if moved.size:
            i = int(moved[0])
            u = (p[i] - x[i]) / r.step[i]
            assert abs(u) <= 2.0**SPAN  # within the declared span of the step reported


@pytest.mark.parametrize(
    "f, x0, true",
    [
        (np.log, 1e-6, 1e6),  # the pilot step leaves log's domain on the left
        (np.sqrt, 1e-12, 0.5e6),
        (lambda t: np.sinh(t), 710.0, math.cosh(710.0)),  # sinh(710 + 0.5) overflows
        (lambda t: t**3 + t if t >= 0 else math.log(-1.0), 1e-9, 1.0),  # raises (math domain error) below 0
        (lambda t: np.exp(t) if t >= 0 else np.nan, 0.0, 1.0),  # nan below 0, smooth up to the edge
        (lambda t: np.log(1 - t), 1 - 1e-8, -1 / (1 - (1 - 1e-8))),
    ],
    ids=["log", "sqrt", "sinh-overflow", "raises", "nan-left", "log-right-edge"],
)
def test_one_sided_where_one_side_is_undefined(f, x0, true):
    x = np.array([x0])
    before = x.tobytes()
    with np.errstate(all="ignore"):
        r = gradlab.differentiate(lambda v: f(v[0]), x, backend="adaptive")
    assert x.tobytes() == before
    assert abs(r.gradient[0] - true) <= 1e-6 * abs(true)
    assert r.error[0] >= abs(r.gradient[0] - true)


def test_adaptive_fails_only_where_f_is_undefined_on_both_sides():
    def f(v):  # defined at 0 and nowhere near it
        return 0.0 if v[0] == 0 else math.nan

    with pytest.raises(ValueError, match="undefined .* on both sides of x at index 0"):
        gradlab.differentiate(f, np.array([0.0]), backend="adaptive")


def test_adaptive_never_mutates_x_and_hands_f_a_read_only_array():
    x = np.linspace(0.1, 1.0, 5)
    before = x.tobytes()
    gradlab.differentiate(expsin, x, backend="adaptive")
    assert x.tobytes() == before

    def writes(v):
        v[0] = 1.0
        return float(np.sum(v))

    with pytest.raises(FunctionWroteIntoItsArgument):
        gradlab.differentiate(writes, x, backend="adaptive")
    assert x.tobytes() == before


def test_adaptive_in_float32_and_as_a_gradcheck_reference():
    net = gradlab.MLP([3, 5, 2], activation="tanh", output="softmax")
    X, Y = net.random_batch(8)
    obj, theta = net.objective(X, Y), net.init(seed=2)
    bp = gradlab.gradient(obj, theta, backend="backprop")
    ad = gradlab.gradient(obj, theta, backend="adaptive")
    assert np.max(np.abs(ad - bp)) <= 1e-9 * np.max(np.abs(bp))
    assert gradlab.gradcheck(obj, theta, reference="adaptive").passed
    net32 = gradlab.MLP([3, 5, 2], activation="tanh", output="softmax", dtype="float32")
    obj32 = net32.objective(X.astype(np.float32), Y.astype(np.float32))
    g32 = gradlab.gradient(obj32, theta.astype(np.float32), backend="adaptive")
    assert g32.dtype == np.float32
    np.testing.assert_allclose(g32, bp, rtol=1e-2, atol=1e-3)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("h", [1e-20, 1e-30])
def test_a_pilot_below_the_spacing_of_x_or_of_f_grows_to_a_step_that_measures(dtype, h):
    # x + h == x for every entry but the zeros (float32: all of them at 1e-20; float64 from 1e-30), and at
    # x = 0 f is flat to rounding at h: the pilot must grow past both within its rounds, not report
    # "undefined on both sides" (f is defined everywhere) nor a zero gradient with a huge error
    x = np.array([0.0, 0.1, -0.7, 1.5, 3.0], dtype=dtype)
    r = gradlab.differentiate(lambda v: np.sum(np.exp(np.sin(v))), x, backend="adaptive", h=h)
    true = expsin_grad(x.astype(np.float64))
    eps = np.finfo(dtype).eps
    assert r.gradient.dtype == np.dtype(dtype)
    np.testing.assert_allclose(r.gradient.astype(np.float64), true, rtol=0, atol=1e4 * eps)
    assert np.all(r.error >= np.abs(r.gradient.astype(np.float64) - true))  # the estimate still bounds it
    assert r.evaluations <= get("adaptive").evaluations(x.size)


# -- no underflow for tiny derivatives ---------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["complex_step", "adaptive"])
@pytest.mark.parametrize("shift", [700.0, 705.0])
def test_tiny_derivatives_do_not_underflow(backend, shift):
    x = np.array([0.0, 1.0])
    r = gradlab.differentiate(lambda v: np.sum(np.exp(v - shift)), x, backend=backend)
    true = np.exp(x - shift)  # 1e-304 and below: h f' underflows at the complex step's 1e-20
    assert np.all(r.gradient != 0)
    np.testing.assert_allclose(r.gradient, true, rtol=1e-13 if backend == "complex_step" else 1e-11, atol=0)


def test_complex_step_measures_again_only_the_entries_that_underflowed():
    # entry 0: h f' = 1e-20 * 1e-304 underflows; entry 1: h f' = 1e-300 is normal
    counted = Calls(lambda v: np.exp(v[0] - 700) + 1e-280 * v[1])
    r = gradlab.differentiate(counted, np.array([0.0, 0.5]), backend="complex_step")
    # n, then h and h/2 for the first entry, twice: |f| ~ 5e-281 first overstates |f'| ~ 1e-304
    assert r.evaluations == len(counted.points) == 2 + 2 + 2 + 4  # n, two entries again twice, the real cross-check
    assert r.step[1] == 1e-20 and r.step[0] > 1e-6
    assert abs(r.gradient[0] / math.exp(-700) - 1) < 1e-14


# -- the function set: exact derivatives, estimates that hold --------------------------------------------


def test_function_set_derivatives_match_high_precision_differentiation():
    mpmath = pytest.importorskip("mpmath")
    from gradlab.experiments.functions import CASES, mpmath_namespace

    m = mpmath_namespace()
    for case in CASES[::3]:  # a third of them keeps this quick; each closed form against mpmath.diff
        with mpmath.workdps(40):
            xs = [mpmath.mpf(v) for v in case.x]
            exact = case.exact()
            for i in range(len(xs)):

                def along(t, i=i, f=case.f, xs=xs):
                    return f([t if k == i else xs[k] for k in range(len(xs))], m)

                num = float(mpmath.diff(along, xs[i]))
                assert num == pytest.approx(exact[i], rel=1e-12), case.name


def test_estimates_bound_the_true_error_on_smooth_functions():
    pytest.importorskip("mpmath")
    from gradlab.experiments.functions import CASES, accuracy, methods

    chosen = {k: v for k, v in methods(peers=False).items() if k in ("adaptive", "richardson")}
    df = accuracy([c for c in CASES if c.smooth], chosen)
    for method, g in df.groupby("method"):
        assert not g["failed"].any()
        assert g["bounded"].astype(bool).mean() >= 0.95, method
    adaptive = df[df["method"] == "adaptive"]
    assert adaptive["rel_error"].median() < 1e-12
