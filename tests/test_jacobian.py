"""gradlab.jacobian: the gradient's computation on an array-valued f, with every safeguard of it.

Each output of f is a scalar function, so every row of a Jacobian is checked against the
gradient of that output alone: the same bits, and the same refusals.
"""

import warnings

import numpy as np
import pytest

import gradlab
from gradlab.backends import StepWarning, get
from gradlab.backends.complex_step import ComplexStepDisagrees

rng = np.random.default_rng(11)
A = rng.normal(size=(3, 5))


def F(x):
    return np.concatenate([A @ np.sin(x[:5]), x[0] * x])  # a matrix and an elementwise term


@pytest.mark.parametrize("backend", ["forward", "central", "richardson", "complex_step"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_row_is_the_gradient_of_its_output_bit_for_bit(backend, dtype):
    x = rng.normal(size=5).astype(dtype)
    J = gradlab.jacobian(lambda p: A @ np.sin(p), x, backend=backend)
    assert J.shape == (3, 5) and J.dtype == dtype
    for j in range(3):
        g = gradlab.gradient(lambda p, j=j: (A @ np.sin(p))[j], x, backend=backend)
        assert np.array_equal(J[j], g)


def test_the_complex_step_refuses_an_f_that_drops_the_imaginary_part_as_gradient_does():
    x = rng.normal(size=4)
    with pytest.raises(TypeError, match="drops the imaginary part"):
        gradlab.gradient(lambda p: np.sum(np.abs(p) ** 2), x, backend="complex_step")
    with pytest.raises(TypeError, match="drops the imaginary part"):  # on main: a Jacobian of zeros
        gradlab.jacobian(lambda p: np.abs(p) ** 2, x, backend="complex_step")


def test_the_complex_step_cross_check_catches_a_conjugate_as_gradient_does():
    x = rng.normal(size=4)

    def conj(p):  # complex output, but its imaginary part is the conjugate's: 0
        return np.stack([p * np.conj(p), p])

    with pytest.raises(ComplexStepDisagrees, match="drops or conjugates"):
        gradlab.gradient(lambda p: np.sum(p * np.conj(p)), x, backend="complex_step")
    with pytest.raises(ComplexStepDisagrees, match="drops or conjugates"):
        gradlab.jacobian(conj, x, backend="complex_step")
    # the good output alone passes; one bad output among good ones is enough to refuse
    assert np.array_equal(gradlab.jacobian(lambda p: p, x, backend="complex_step"), np.eye(4))


def test_the_complex_step_rescues_an_underflowing_output_as_gradient_does():
    x = np.array([0.0, 1.0, -2.0])

    def G(p):  # output 0 underflows (|f'| ~ 1e-304), output 1 does not
        return np.stack([np.exp(p[0] - 700) * (1 + p[1] ** 2), np.sin(p[2]) * p[1]])

    J = gradlab.jacobian(G, x, backend="complex_step")
    for j in range(2):
        g = gradlab.gradient(lambda p, j=j: G(p)[j], x, backend="complex_step")
        assert np.array_equal(J[j], g)
    true = np.exp(-700.0) * np.array([2.0, 2.0, 0.0])
    np.testing.assert_allclose(J[0], true, rtol=1e-13)
    assert J[0, 0] != 0  # without the rescue: 0, as on main


def test_the_step_checks_of_gradient_hold_for_jacobians():
    x = np.array([1.0, 2.0])
    with pytest.raises(gradlab.StepTooSmallError, match=r"below the floating-point spacing of x at index 0"):
        gradlab.jacobian(np.sin, x, h=1e-20)
    with pytest.warns(StepWarning, match="step at index 0"):
        gradlab.jacobian(np.sin, x, h=5e-16)
    with pytest.raises(ValueError, match="`h` must be a positive finite float"):
        gradlab.jacobian(np.sin, x, h=-1.0)
    with pytest.raises(gradlab.StepTooSmallError, match="too small for f to resolve at index 0"):
        gradlab.jacobian(lambda p: np.exp(p), np.zeros(2), h=1e-300)


def test_counts_are_the_backends_own():
    calls = []

    def f(p):
        calls.append(1)
        return np.stack([p, p**2]).sum(axis=1)

    x = np.ones(6)
    for name in ("forward", "central", "richardson", "complex_step"):
        calls.clear()
        gradlab.jacobian(f, x, backend=name)
        assert len(calls) == get(name).evaluations(6)
    assert [get(n).evaluations(6) for n in ("forward", "central", "richardson", "complex_step")] == [7, 12, 24, 10]


@pytest.mark.parametrize("name", ["adaptive", "backprop"])
def test_a_backend_of_scalar_functions_only_is_refused_by_name(name):
    with pytest.raises(TypeError, match=rf"for a Jacobian .*'central'.*; got '{name}'"):
        gradlab.jacobian(np.sin, np.ones(2), backend=name)


def test_the_scheduler_path_is_the_serial_path_bit_for_bit():
    pytest.importorskip("dask")
    x = rng.normal(size=9)
    for name in ("central", "complex_step"):
        calls = []

        def f(p, calls=calls):
            calls.append(1)
            return F(p)

        serial = gradlab.jacobian(f, x, backend=name)
        n = len(calls)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            threaded = gradlab.jacobian(f, x, backend=name, scheduler="threads")
        assert np.array_equal(serial, threaded) and len(calls) == 2 * n


@pytest.mark.parametrize("backend", ["forward", "central", "richardson", "complex_step"])
def test_an_f_with_no_outputs_has_an_empty_jacobian(backend):
    assert gradlab.jacobian(lambda p: p[:0], np.ones(3), backend=backend).shape == (0, 3)


def test_a_structure_keeps_its_leaves_and_the_caller_data():
    x = {"a": rng.normal(size=(2, 2)), "s": 0.5}
    keep = x["a"].copy()
    J = gradlab.jacobian(lambda p: p["a"].sum(axis=0) * p["s"], x, backend="complex_step")
    assert J["a"].shape == (2, 2, 2) and np.asarray(J["s"]).shape == (2,)
    np.testing.assert_allclose(J["s"], keep.sum(axis=0), rtol=1e-14)
    assert np.array_equal(x["a"], keep)
