"""gradlab.hessian and gradlab.hvp: closed-form Hessians within the schemes' error models, exact
counts, symmetry and asymmetry, structures, float32, and every bad input by name."""

import numpy as np
import pytest

import gradlab
from gradlab.backends import get
from gradlab.backends.second import (
    best_second_step,
    default_second_step,
    second_difference_constants,
    second_difference_evaluations,
)

SCHEMES = ["forward", "central", "richardson"]


class Counting:
    """f with its own call counter (independent of gradlab's counts)."""

    def __init__(self, f):
        self.f, self.calls = f, 0

    def __call__(self, x):
        self.calls += 1
        return self.f(x)


def rosen(x):
    return np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def rosen_grad(x):
    g = np.zeros_like(x)
    g[:-1] += -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    g[1:] += 200 * (x[1:] - x[:-1] ** 2)
    return g


def rosen_hess(x):
    n = x.size
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        H[i + 1, i + 1] += 200
        H[i, i + 1] = H[i + 1, i] = -400 * x[i]
    return H


X0 = np.array([0.3, -0.8, 1.2, 0.5, -0.1])


def quadratic(n=5, seed=0):
    rng = np.random.default_rng(seed)
    B = rng.normal(size=(n, n))
    A = B + B.T
    return A, (lambda x: 0.5 * x @ A @ x + x.sum()), (lambda x: A @ x + 1.0)


@pytest.mark.parametrize("backend", SCHEMES)
def test_quadratic_form_is_exact_to_rounding_with_exact_counts(backend):
    A, f, _ = quadratic()
    counted = Counting(f)
    r = gradlab.hessian(counted, X0, backend=backend)
    # a quadratic has no truncation error: what remains is rounding, C_r eps |f| / h^2 (forward's
    # default step, eps^(1/3), balances h against eps/h^2, so its rounding is the larger)
    cr = second_difference_constants(get(backend))[2]
    rounding = cr * np.finfo(float).eps * (abs(f(X0)) + 1) / r.step.min() ** 2
    assert np.abs(r.hessian - A).max() <= 10 * rounding
    assert r.evaluations == counted.calls == second_difference_evaluations(get(backend), X0.size)
    assert (r.method, r.gradient_evaluations, r.asymmetry) == ("f", 0, 0.0)
    assert np.array_equal(r.hessian, r.hessian.T)


def test_counts_of_the_classic_stencils():
    n = 7
    assert second_difference_evaluations(get("central"), n) == 1 + 2 * n + 2 * n * (n - 1)
    assert second_difference_evaluations(get("forward"), n) == 1 + 2 * n + n * (n - 1) // 2
    assert second_difference_evaluations(get("richardson"), n) == 1 + 8 * n + 8 * n * (n - 1)


def test_central_error_on_rosenbrock_is_the_model_term_exactly():
    # Rosenbrock is quartic in each x_i and has no mixed fourth derivatives: the central second
    # difference (f(x+2h) - 2f + f(x-2h)) / 4h^2 is f'' + h^2 f''''/3 exactly, f'''' = 2400 on
    # x_0..x_{n-2} and 0 on x_{n-1}; mixed entries are exact.  What is left is rounding.
    r = gradlab.hessian(rosen, X0, h=1e-2)
    h = r.step
    model = np.diag(np.where(np.arange(X0.size) < X0.size - 1, 800.0 * h**2, 0.0))
    rounding = 10 * np.finfo(float).eps * abs(rosen(X0)) / np.outer(h, h)
    assert np.all(np.abs(r.hessian - rosen_hess(X0) - model) <= rounding + 1e-12)
    assert np.abs(model).max() > 10 * rounding.max()  # the model term is what we measured, not noise


def test_richardson_error_estimate_bounds_the_error():
    r = gradlab.hessian(rosen, X0, backend="richardson")
    assert r.error is not None and r.error.shape == r.hessian.shape
    assert np.all(np.abs(r.hessian - rosen_hess(X0)) <= r.error)
    assert gradlab.hessian(rosen, X0).error is None  # central differences estimate none


@pytest.mark.parametrize("backend, grads", [("forward", 6), ("central", 10), ("richardson", 20)])
def test_differences_of_a_gradient(backend, grads):
    counted = Counting(rosen_grad)
    r = gradlab.hessian(rosen, X0, backend=backend, grad=counted)
    assert (r.method, r.evaluations, r.gradient_evaluations) == ("gradient", 0, grads)
    assert counted.calls == grads
    tol = {"forward": 1e-5, "central": 1e-8, "richardson": 1e-9}[backend]
    assert np.abs(r.hessian - rosen_hess(X0)).max() <= tol * np.abs(rosen_hess(X0)).max()
    assert np.array_equal(r.hessian, r.hessian.T) and r.asymmetry < 1e-6


def test_log_sum_exp():
    x = np.array([0.5, -1.0, 2.0, 0.1])

    def lse(x):
        return np.log(np.sum(np.exp(x)))

    p = np.exp(x) / np.exp(x).sum()
    ref = np.diag(p) - np.outer(p, p)
    assert np.abs(gradlab.hessian(lse, x).hessian - ref).max() <= 1e-7
    assert np.abs(gradlab.hessian(lse, x, grad=lambda x: np.exp(x) / np.exp(x).sum()).hessian - ref).max() <= 1e-9


def test_an_asymmetric_gradient_shows_in_the_asymmetry():
    A = np.array([[2.0, 1.0], [0.0, 3.0]])  # A x is no gradient: its Jacobian is not symmetric
    r = gradlab.hessian(lambda x: 0.5 * x @ A @ x, np.ones(2), grad=lambda x: A @ x)
    assert r.asymmetry == pytest.approx(1 / 3, rel=1e-6)
    np.testing.assert_allclose(r.hessian, (A + A.T) / 2, atol=1e-8)


def _mlp(activation="tanh", output="softmax", loss="cross_entropy"):
    net = gradlab.MLP([3, 4, 2], activation=activation, output=output, loss=loss, l2=0.1)
    obj = net.objective(*net.random_batch(6))
    theta = net.init(seed=1) + 0.2 * np.random.default_rng(2).normal(size=net.n_params)
    return obj, theta


def test_the_mlp_hessian_three_ways():
    obj, theta = _mlp()
    n = obj.n_params
    exact = gradlab.hessian(obj, theta, backend="backprop")
    assert (exact.method, exact.hvp_evaluations, exact.evaluations) == ("hvp", n, 0)
    by_grad = gradlab.hessian(obj, theta)  # the objective's own backprop, differenced
    assert (by_grad.method, by_grad.gradient_evaluations) == ("gradient", 2 * n)
    cs = gradlab.hessian(obj, theta, backend="complex_step")
    scale = np.abs(exact.hessian).max()
    assert np.abs(cs.hessian - exact.hessian).max() <= 1e-12 * scale
    assert np.abs(by_grad.hessian - exact.hessian).max() <= 1e-8 * scale
    by_f = gradlab.hessian(lambda t: obj(t), theta)
    assert np.abs(by_f.hessian - exact.hessian).max() <= 1e-5 * scale
    assert exact.block("W1", "b2").shape == (4, 3, 2)
    assert exact.pairs[:3] == ["W1 × W1", "W1 × b1", "W1 × W2"] and len(exact.pairs) == 10
    np.testing.assert_array_equal(exact.block("b2", "W1"), np.moveaxis(exact.block("W1", "b2"), -1, 0))


def test_structures_are_named_by_block_pairs():
    params = {"a": np.array([0.3, 0.2]), "b": np.array(0.5)}

    def f(p):
        return np.sum(p["a"] ** 2) * p["b"] ** 3

    r = gradlab.hessian(f, params)
    assert r.shape == (3, 3) and r.structure is not None and r.pairs == ["a × a", "a × b", "b × b"]
    np.testing.assert_allclose(r.block("a", "b"), 6 * params["a"] * 0.25, rtol=1e-6)
    np.testing.assert_allclose(r.block("a", "a"), 2 * 0.125 * np.eye(2), rtol=1e-6)
    g = gradlab.hessian(
        f, params, grad=lambda p: {"a": 2 * p["a"] * p["b"] ** 3, "b": 3 * np.sum(p["a"] ** 2) * p["b"] ** 2}
    )
    np.testing.assert_allclose(g.hessian, r.hessian, rtol=1e-5)


def test_array_shapes_and_float32():
    x = X0[:4].reshape(2, 2)
    r = gradlab.hessian(lambda x: rosen(x.ravel()), x)
    assert r.shape == (2, 2, 2, 2) and r.step.shape == (2, 2)
    np.testing.assert_allclose(r.hessian.reshape(4, 4), rosen_hess(X0[:4]), rtol=1e-4, atol=1e-3)
    r32 = gradlab.hessian(rosen, X0.astype(np.float32))
    assert r32.hessian.dtype == np.float32
    # the best error of second differences is about sqrt(eps): 3e-4 in float32
    assert np.abs(r32.hessian - rosen_hess(X0)).max() <= 3e-3 * np.abs(rosen_hess(X0)).max()
    eps32 = float(np.finfo(np.float32).eps)
    np.testing.assert_allclose(r32.step, eps32**0.25 * np.maximum(1, np.abs(X0)), rtol=1e-5)


def test_error_model_constants_and_best_step():
    p, ct, cr = second_difference_constants(get("central"))
    assert (p, ct, cr) == (2, pytest.approx(1 / 3), pytest.approx(1.0))
    p, ct, cr = second_difference_constants(get("forward"))
    assert (p, ct, cr) == (1, pytest.approx(1.0), pytest.approx(4.0))
    eps = np.finfo(float).eps
    # |f| = |f''''| = 1: h* = (2 eps / (2/3))^(1/4) = (3 eps)^(1/4), near eps^(1/4)
    assert best_second_step(get("central"), f=1.0, fourth=1.0, eps=eps) == pytest.approx((3 * eps) ** 0.25)
    assert default_second_step(get("central"), np.array([0.5, 3.0])) == pytest.approx([eps**0.25, 3 * eps**0.25])


def test_x_is_left_alone_and_messages_name_the_pair():
    x = X0.copy()
    gradlab.hessian(rosen, x)
    assert np.array_equal(x, X0)

    def f(x):
        return np.inf if x[0] > X0[0] and x[2] > X0[2] else rosen(x)

    with pytest.raises(ValueError, match=r"must return a finite scalar; got inf .*at x \+ h\*e\[0\] \+ h\*e\[2\]"):
        gradlab.hessian(f, X0)


def test_bad_input_is_refused_by_name():
    with pytest.raises(ValueError, match="`h` must be a positive finite float; got -0.001"):
        gradlab.hessian(rosen, X0, h=-1e-3)
    with pytest.raises(TypeError, match="`grad` must be a callable"):
        gradlab.hessian(rosen, X0, grad="no")
    with pytest.raises(TypeError, match="'complex_step' gives no second derivatives of f alone"):
        gradlab.hessian(rosen, X0, backend="complex_step")
    with pytest.raises(TypeError, match="'backprop' builds the Hessian from the objective's exact hvp"):
        gradlab.hessian(rosen, X0, backend="backprop")
    with pytest.raises(ValueError, match=r"`grad\(x\)` must return an array of shape \(5,\) like x; got \(4,\)"):
        gradlab.hessian(rosen, X0, grad=lambda x: x[:4])
    with pytest.raises(ValueError, match="`backend` must be one of"):
        gradlab.hessian(rosen, X0, backend="nope")
    with pytest.raises(gradlab.StepTooSmallError, match="below the floating-point spacing of x at index 0"):
        gradlab.hessian(rosen, X0, h=1e-300)
    with pytest.raises(ValueError, match=r"`v` must be an array of shape \(5,\) like x"):
        gradlab.hvp(rosen, X0, np.ones(4), grad=rosen_grad)
    with pytest.raises(ValueError, match="`v` must be finite"):
        gradlab.hvp(rosen, X0, np.full(5, np.nan), grad=rosen_grad)
    with pytest.raises(TypeError, match="'backprop' needs an objective with an exact hvp"):
        gradlab.hvp(rosen, X0, np.ones(5), backend="backprop")


# -- Hessian-vector products ----------------------------------------------------------------------------


def test_hvp_of_a_quadratic_by_differences_of_its_gradient():
    A, f, g = quadratic()
    v = np.random.default_rng(3).normal(size=5)
    counted = Counting(g)
    r = gradlab.hvp(f, X0, v, grad=counted)
    # central differences of a linear gradient are exact up to rounding; two gradients, no f
    assert np.abs(r.hvp - A @ v).max() <= 1e-8 * np.abs(A @ v).max()
    assert (r.gradient_evaluations, counted.calls, r.evaluations, r.method) == (2, 2, 0, "gradient")
    fwd = gradlab.hvp(f, X0, v, grad=g, backend="forward")
    assert fwd.gradient_evaluations == 2  # g(x) and g(x + t v)
    assert np.abs(fwd.hvp - A @ v).max() <= 1e-6 * np.abs(A @ v).max()


def test_hvp_without_a_gradient_and_by_complex_step():
    v = np.linspace(-1, 1, 5)
    ref = rosen_hess(X0) @ v
    counted = Counting(rosen)
    r = gradlab.hvp(counted, X0, v)
    assert r.method == "f" and r.evaluations == counted.calls == 2 * 2 * X0.size
    assert np.abs(r.hvp - ref).max() <= 1e-5 * np.abs(ref).max()
    cs = gradlab.hvp(rosen, X0, v, grad=rosen_grad, backend="complex_step")
    assert cs.gradient_evaluations == 1 and np.abs(cs.hvp - ref).max() <= 1e-13 * np.abs(ref).max()


def test_hvp_of_the_mlp_every_way():
    obj, theta = _mlp("softplus", "sigmoid")
    v = np.random.default_rng(4).normal(size=theta.size)
    exact = gradlab.hvp(obj, theta, v, backend="backprop")
    assert (exact.hvp_evaluations, exact.method) == (1, "hvp")
    np.testing.assert_array_equal(exact.hvp, obj.hvp(theta, v))
    by_grad = gradlab.hvp(obj, theta, v)
    assert by_grad.gradient_evaluations == 2
    assert np.abs(by_grad.hvp - exact.hvp).max() <= 1e-8 * np.abs(exact.hvp).max()


def test_hvp_of_zero_is_zero_for_free_and_structures_come_back():
    r = gradlab.hvp(rosen, X0, np.zeros(5), grad=rosen_grad)
    assert r.gradient_evaluations == 0 and not r.hvp.any()
    params = {"a": np.array([0.3, 0.2]), "b": np.array(0.5)}
    r = gradlab.hvp(
        lambda p: np.sum(p["a"] ** 2) * p["b"] ** 3, params, {"a": np.array([1.0, 0.0]), "b": np.array(0.0)}
    )
    assert set(r.hvp) == {"a", "b"}
    np.testing.assert_allclose(r.hvp["a"], [0.25, 0.0], rtol=1e-5)
    np.testing.assert_allclose(r.hvp["b"], 0.45, rtol=1e-5)
