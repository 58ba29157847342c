"""A bare array-API array is a leaf like any other (issue 16, item 8).

``gradlab.gradient(f, torch.tensor([...]))`` used to hand ``f`` a numpy array (``torch.sin():
argument must be Tensor``).  Now ``f`` gets the array's own kind, dtype and device, the result
comes back as that kind, no framework warning reaches the user, and a write into the argument
is refused although these libraries cannot lock an array against writes.  Each library runs
where it is installed: array-api-strict (the test extra) always, torch where present.

References are math: ``f = sum(sin(x) * c)`` has gradient ``cos(x) * c`` and Jacobian
``diag(cos(x))`` for ``sin``; counts are the stencils' exact ``2 n`` (central), ``n`` (complex step).
"""

import warnings

import numpy as np
import pytest

import gradlab
from gradlab.objective import FunctionWroteIntoItsArgument

X0 = np.array([0.5, -1.0, 2.0, 0.25])
C = np.array([1.0, -2.0, 0.5, 3.0])


class Library:
    """What a test needs of one array library: build arrays, and recognise its own kind."""

    def __init__(self, name):
        self.name = name
        if name == "torch":
            torch = pytest.importorskip("torch")
            self.xp, self.kind = torch, torch.Tensor
            self.float32, self.float64 = torch.float32, torch.float64
            self.devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
        else:
            xps = pytest.importorskip("array_api_strict")
            self.xp, self.kind = xps, type(xps.asarray(1.0))
            self.float32, self.float64 = xps.float32, xps.float64
            self.devices = [xps.Device("CPU_DEVICE"), xps.Device("device1")]

    def array(self, values, dtype=None, device=None):
        dtype = self.float64 if dtype is None else dtype
        if self.name == "torch":
            return self.xp.tensor(np.asarray(values), dtype=dtype, device=device)
        return self.xp.asarray(np.asarray(values), dtype=dtype, device=device)

    def numpy(self, a):
        return np.asarray(a.cpu()) if self.name == "torch" else np.from_dlpack(self.xp.asarray(a, device=None))

    def device(self, a):
        return a.device


@pytest.fixture(params=["array_api_strict", "torch"])
def lib(request):
    return Library(request.param)


def _objective(lib, seen):
    xp = lib.xp

    def f(x):
        seen.append((type(x), x.dtype, x.device))
        return xp.sum(xp.sin(x) * lib.array(C, x.dtype, x.device))

    def grad(x):
        return xp.cos(x) * lib.array(C, x.dtype, x.device)

    return f, grad


@pytest.fixture(autouse=True)
def no_warnings():
    """No warning may reach the user.  Recorded, not raised: torch turns a warning raised as an
    error inside its C++ code into a RuntimeError, which a fallback could swallow unseen.  (torch
    warns about a read-only numpy array once per process: the first torch test catches it.)"""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gradient_hands_f_its_own_kind_and_returns_it(lib, dtype):
    for device in lib.devices:
        seen = []
        f, _ = _objective(lib, seen)
        native = getattr(lib, dtype)
        x = lib.array(X0, native, device)
        before = lib.numpy(x).copy()
        r = gradlab.differentiate(f, x)
        g = r.gradient
        assert isinstance(g, lib.kind) and g.dtype == native and lib.device(g) == device
        assert g.shape == x.shape
        tol = 1e-9 if dtype == "float64" else 2e-3
        np.testing.assert_allclose(lib.numpy(g), np.cos(X0) * C, rtol=tol, atol=tol)
        # every evaluation got the user's kind, dtype and device; central: exactly 2 n of them
        assert len(seen) == r.evaluations == 2 * X0.size
        assert set(seen) == {(lib.kind, native, device)}
        assert isinstance(r.step, np.ndarray) and r.step.shape == x.shape
        np.testing.assert_array_equal(lib.numpy(x), before)  # never changed
        # the same gradient to the last bit as the numpy path, which sees the same points
        ref = gradlab.gradient(lambda p: float(np.sum(np.sin(p) * C.astype(p.dtype))), X0.astype(dtype))
        np.testing.assert_allclose(lib.numpy(g), ref, rtol=tol, atol=tol)
        assert np.array_equal(lib.numpy(gradlab.gradient(f, x)), lib.numpy(g))


def test_gradient_of_a_0d_array_is_a_0d_array(lib):
    x = lib.array(0.5)
    g = gradlab.gradient(lambda t: lib.xp.sin(t) * 3.0, x)
    assert isinstance(g, lib.kind) and g.shape == () and abs(float(lib.numpy(g)) - 3 * np.cos(0.5)) < 1e-9


def test_gradcheck_passes_a_right_gradient_and_fails_one_wrong_by_a_tenth_of_a_percent(lib):
    for device in lib.devices:
        seen = []
        f, grad = _objective(lib, seen)
        x = lib.array(X0, device=device)
        for fast in (False, True):
            result = gradlab.gradcheck(f, x, grad=grad, fast=fast)
            assert result.status == "passed", result.message()
            wrong = gradlab.gradcheck(f, x, grad=lambda t, grad=grad: grad(t) * 1.001, fast=fast)
            assert wrong.status == "failed"
        assert {s[0] for s in seen} == {lib.kind} and {s[2] for s in seen} == {device}
        with pytest.raises(AssertionError):
            gradlab.assert_gradcheck(f, x, grad=lambda t, grad=grad: grad(t) * 1.001)


def test_gradcheck_of_a_backward_pass_hands_u_in_the_same_kind(lib):
    xp = lib.xp
    for device in lib.devices:
        got = []

        def vjp(x, u, got=got):
            got.append((type(x), type(u), u.device, x.device))
            return xp.cos(x) * u

        x = lib.array(X0, device=device)
        result = gradlab.gradcheck(xp.sin, x, vjp=vjp)
        assert result.status == "passed", result.message()
        assert set(got) == {(lib.kind, lib.kind, device, device)}
        bad = gradlab.gradcheck(xp.sin, x, vjp=lambda x, u: xp.cos(x) * u * 1.001)
        assert bad.status == "failed"
        u = lib.array(C, device=device)
        given = gradlab.gradcheck(xp.sin, x, vjp=vjp, cotangent=u)
        assert given.passed and "for the cotangent given" in " ".join(given.notes)


# the complex step: n complex evaluations and the 4 real ones of its cross-check, as for a gradient
@pytest.mark.parametrize("backend, count", [("central", 8), ("forward", 5), ("complex_step", 4 + 4)])
def test_jacobian_comes_back_as_the_same_kind(lib, backend, count):
    calls = []

    def f(x):
        calls.append(type(x))
        return lib.xp.sin(x)

    for device in lib.devices:
        x = lib.array(X0, device=device)
        J = gradlab.jacobian(f, x, backend=backend)
        assert isinstance(J, lib.kind) and J.shape == (4, 4) and lib.device(J) == device
        np.testing.assert_allclose(lib.numpy(J), np.diag(np.cos(X0)), atol=1e-6)
        assert calls == [lib.kind] * count  # n, 2 n or n + 4 evaluations, one more for forward's f(x)
        calls.clear()


def test_complex_step_on_a_torch_tensor():
    lib = Library("torch")
    f, _ = _objective(lib, [])
    r = gradlab.differentiate(f, lib.array(X0), backend="complex_step")
    assert isinstance(r.gradient, lib.kind) and r.gradient.dtype == lib.float64
    assert r.evaluations == 4 + 4  # n complex evaluations and the 4 real ones of the cross-check
    np.testing.assert_allclose(lib.numpy(r.gradient), np.cos(X0) * C, rtol=1e-14)


def test_a_write_into_the_argument_is_refused_and_the_caller_untouched(lib):
    xp = lib.xp
    x = lib.array(X0)

    def writes(t):
        t[0] = 5.0
        return xp.sum(t)

    for call in (
        lambda: gradlab.gradient(writes, x),
        lambda: gradlab.gradcheck(writes, x, grad=xp.ones_like),
        lambda: gradlab.gradcheck(xp.sum, x, grad=lambda t: writes(t) * 0 + xp.ones_like(t)),
        lambda: gradlab.jacobian(lambda t: writes(t) * xp.ones_like(t), x),
        lambda: gradlab.gradient(lambda d: writes(d["w"]), {"w": x, "b": np.ones(2)}),
    ):
        with pytest.raises(FunctionWroteIntoItsArgument, match=r"writes into its argument x(\['w'\])? \(an array of"):
            call()
    np.testing.assert_array_equal(lib.numpy(x), X0)


def test_a_bare_array_with_an_objective_is_still_its_flat_vector(lib):
    net = gradlab.MLP([2, 3, 1])
    obj = net.objective(*net.random_batch(4))
    theta = net.init(seed=0)
    g = gradlab.gradient(obj, lib.array(theta), backend="backprop")
    assert isinstance(g, np.ndarray) and np.array_equal(g, gradlab.gradient(obj, theta, backend="backprop"))


def test_bad_bare_arrays_are_refused_by_name(lib):
    with pytest.raises(ValueError, match=r"^`x` must be finite; got nan at index 1$"):
        gradlab.gradient(lib.xp.sum, lib.array([1.0, np.nan]))
    with pytest.raises(ValueError, match=r"^`x` must be a non-empty array"):
        gradlab.gradient(lib.xp.sum, lib.array(np.zeros(0)))
    if lib.name == "torch":
        for dtype in (lib.xp.float16, lib.xp.bfloat16):
            with pytest.raises(TypeError, match=rf"^`x` must be float64 or float32; got {dtype} \(finite differences"):
                gradlab.gradient(lib.xp.sum, lib.array([1.0, 2.0], dtype=dtype))


def test_a_bare_array_with_something_not_callable_is_refused_by_name(lib):
    with pytest.raises(TypeError, match=r"^`f` must be a callable f\(x\) -> float; got 3"):
        gradlab.gradient(3, lib.array(X0))
    with pytest.raises(TypeError, match=r"^`f` must be a callable"):
        gradlab.gradcheck("f", lib.array(X0), grad=lib.xp.cos)
