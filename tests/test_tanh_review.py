"""An adversarial pass over the complex tanh (the complex step's activation) and the batched values.

Each case here was a probe of the review of both: where the real-function formula for tanh lost
accuracy (near the poles, where 1 + e^2 + 2e cos 2y cancels), overflowed (|y| ~ 1e308) or the
batched kernel refused float64 points on a float32 network, a test now holds the fix; the rest
held from the start (sizes around a piece, strides, signed zeros, mixed points, verdicts)."""

import numpy as np
import pytest

import gradlab
from gradlab.nn.activations import _complex_tanh, _tanh, _tanh_out


def _rel(a, b):
    return np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300))


@pytest.mark.parametrize("n", [1, 2047, 2048, 2049, 4097])
@pytest.mark.parametrize("dt", [np.complex128, np.complex64])
def test_complex_step_range_matches_numpy(n, dt):
    rng = np.random.default_rng(0)
    z = (3 * rng.normal(size=n) + 1j * 1e-20 * rng.normal(size=n)).astype(dt)
    eps = np.finfo(z.real.dtype).eps
    ref = np.tanh(z.astype(np.complex128))
    assert _rel(_tanh(z), ref) < 8 * eps


def test_noncontiguous_in_and_out():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(3, 5000)) + 1e-10j * rng.normal(size=(3, 5000))
    for zz in (z, z.T, z[:, ::2]):
        out = np.zeros((zz.shape[1] * 2, zz.shape[0]), complex)[::2].T
        assert _tanh_out(zz, out) is out
        assert _rel(out, np.tanh(zz)) < 8 * np.finfo(float).eps


def test_signed_zeros():
    z = np.array([complex(-0.0, 0.0), complex(-0.0, -0.0), complex(0.0, -0.0), complex(1, -0.0)])
    a, b = _tanh(z), np.tanh(z)
    assert (np.signbit(a.real) == np.signbit(b.real)).all() and (np.signbit(a.imag) == np.signbit(b.imag)).all()


@pytest.mark.parametrize("z", [1e-8 + 1j * np.pi / 2, 1e-12 + 1j * np.pi / 2, 1e-6 + 1.5j])
def test_near_pole_accuracy(z):
    a, b = _complex_tanh(np.array([z]))[0], np.tanh(np.array([z]))[0]
    assert abs(a - b) <= 16 * np.finfo(float).eps * abs(b)


def test_huge_imaginary_part_and_non_finite_parts_are_numpys():
    z = np.array([0.5 + 1e308j, complex(np.inf, np.inf), complex(np.nan, 0.0), complex(-np.inf, 1e-20), 1e-9 + 1e-20j])
    got, want = _complex_tanh(z), np.tanh(z)
    assert np.isfinite(got[0])
    assert np.array_equal(got[1:4], want[1:4], equal_nan=True)  # numpy's own values, NaN where numpy has it
    assert abs(got[4] - want[4]) <= 8 * np.finfo(float).eps * abs(want[4])


def test_float64_points_on_float32_net():
    net = gradlab.MLP([4, 8, 8, 3], activation="tanh", output="softmax", loss="cross_entropy", dtype=np.float32)
    obj = net.objective(*net.random_batch(16, seed=0))
    theta = net.init(seed=0).astype(np.float64)
    pts = np.tile(theta, (4, 1))
    pts[np.arange(4), np.arange(4)] += 1e-3
    v = obj.values(pts)
    assert np.allclose(v, [obj.value(p) for p in pts], rtol=1e-6)


@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_batched_values_mixed_points(dt):
    net = gradlab.MLP([4, 8, 8, 3], activation="tanh", output="softmax", loss="cross_entropy", dtype=dt)
    obj = net.objective(*net.random_batch(16, seed=0))
    theta = net.init(seed=0) + dt(0.01)
    n, h = theta.size, dt(1e-3)
    pts = np.tile(theta, (6, 1))
    pts[0, n - 1] += h  # last-layer bias
    pts[1, 3] += h  # first-layer weight
    pts[2, n - 5] += h
    pts[3, [0, 5]] += h  # two entries
    pts[4, 40] -= h  # pts[5] is theta itself
    ref = np.array([obj.value(p) for p in pts])
    tol = 1e-14 if dt == np.float64 else 1e-6
    assert _rel(obj.values(pts), ref) < tol
    c = np.tile(theta.astype(np.result_type(dt, np.complex64)), (n, 1))
    c[np.arange(n), np.arange(n)] += 1e-20j
    v, ref = obj.values(c), np.array([obj.value(p) for p in c])
    assert _rel(v.real, ref.real) < tol and _rel(v.imag, ref.imag) < (1e-13 if dt == np.float64 else 1e-5)


@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_verdicts(dt):
    net = gradlab.MLP([4, 8, 8, 3], activation="tanh", output="softmax", loss="cross_entropy", dtype=dt)
    obj = net.objective(*net.random_batch(16, seed=0))
    theta = net.init(seed=0)
    g = obj.gradient(theta)
    assert gradlab.gradcheck(obj, theta).status == "passed"
    assert gradlab.gradcheck(obj, theta, fast=True).status == "passed"
    for sl in (net._layout[1][0], net._layout[2][2]):
        bad = g.copy()
        bad[sl] *= 1.01
        assert gradlab.gradcheck(obj, theta, grad=lambda t, bad=bad: bad).status == "failed"
        assert gradlab.gradcheck(obj, theta, grad=lambda t, bad=bad: bad, fast=True).status == "failed"
