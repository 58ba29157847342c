"""Forward-mode AD: the MLP's tangent propagation against backprop, dual numbers against exact
derivatives (mpmath, closed forms), the conventions at kinks, the counts, and the refusals."""

import math

import mpmath
import numpy as np
import pytest

import gradlab
from gradlab.backends.dual import BINARY, UNARY, Dual, seed
from gradlab.backends.forward_ad import FORWARD_AD
from gradlab.nn import ACTIVATIONS, HEADS


def _rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


# -- the network: tangent propagation equals backprop ----------------------------------------------


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("output, loss", HEADS, ids=[f"{o}-{lo}" for o, lo in HEADS])
def test_forward_ad_equals_backprop_on_every_activation_and_head(activation, output, loss):
    net = gradlab.MLP([3, 5, 4, 2], activation=activation, output=output, loss=loss, l2=0.05)
    obj = net.objective(*net.random_batch(7, seed=3))  # targets that suit the head
    theta = net.init(seed=4) + 0.1 * np.random.default_rng(5).normal(size=net.n_params)
    r = gradlab.differentiate(obj, theta, backend="forward_ad")
    assert _rel(r.gradient, obj.gradient(theta)) <= 1e-13
    assert (r.evaluations, r.backward_passes, r.jvps) == (0, 0, net.n_params)


def test_mlp_jvp_takes_one_direction_or_a_batch():
    net = gradlab.MLP([4, 6, 3], activation="elu", output="softmax", l2=0.1)
    obj = net.objective(*net.random_batch(5))
    theta = net.init(seed=1)
    V = np.random.default_rng(2).normal(size=(3, net.n_params))
    g = obj.gradient(theta)
    np.testing.assert_allclose(obj.jvp(theta, V), V @ g, rtol=1e-13)
    one = obj.jvp(theta, V[0])
    assert isinstance(one, float) and math.isclose(one, float(V[0] @ g), rel_tol=1e-13)
    with pytest.raises(ValueError, match=r"`v` must be a direction of shape \(51,\)"):
        obj.jvp(theta, V[:, :-1])
    with pytest.raises(ValueError, match="`v` must be finite"):
        obj.jvp(theta, np.full(net.n_params, np.nan))


def test_mlp_forward_ad_in_float32():
    net = gradlab.MLP([3, 4, 2], output="softmax", dtype=np.float32)
    obj = net.objective(*net.random_batch(6))
    theta = net.init(seed=0)
    g = gradlab.gradient(obj, theta, backend="forward_ad")
    assert g.dtype == np.float32 and _rel(g, obj.gradient(theta)) < 1e-5


# -- dual numbers: each rule of the tables against an exact derivative ------------------------------

#: where each unary rule is exercised (inside its domain), with mpmath's own function
UNARY_POINTS = {
    np.arccosh: (1.7, mpmath.acosh),
    np.arcsin: (0.3, mpmath.asin),
    np.arccos: (-0.4, mpmath.acos),
    np.arctanh: (0.6, mpmath.atanh),
    np.log: (0.7, mpmath.log),
    np.log2: (0.7, lambda t: mpmath.log(t, 2)),
    np.log10: (0.7, mpmath.log10),
    np.log1p: (0.7, lambda t: mpmath.log(1 + t)),
    np.sqrt: (0.7, mpmath.sqrt),
    np.cbrt: (0.7, mpmath.cbrt),
    np.reciprocal: (0.7, lambda t: 1 / t),
    np.exp: (0.7, mpmath.exp),
    np.exp2: (0.7, lambda t: mpmath.power(2, t)),
    np.expm1: (0.7, mpmath.expm1),
    np.square: (0.7, lambda t: t * t),
    np.sin: (0.7, mpmath.sin),
    np.cos: (0.7, mpmath.cos),
    np.tan: (0.7, mpmath.tan),
    np.arctan: (0.7, mpmath.atan),
    np.sinh: (0.7, mpmath.sinh),
    np.cosh: (0.7, mpmath.cosh),
    np.tanh: (0.7, mpmath.tanh),
    np.arcsinh: (0.7, mpmath.asinh),
    np.negative: (0.7, lambda t: -t),
    np.positive: (0.7, lambda t: t),
    np.deg2rad: (0.7, lambda t: t * mpmath.pi / 180),
    np.rad2deg: (0.7, lambda t: t * 180 / mpmath.pi),
    np.conjugate: (0.7, lambda t: t),
}


def test_every_unary_rule_has_a_test_point():
    assert set(UNARY_POINTS) == set(UNARY)


@pytest.mark.parametrize("ufunc", list(UNARY), ids=lambda u: u.__name__)
def test_unary_rule_equals_the_exact_derivative(ufunc):
    x0, exact = UNARY_POINTS[ufunc]
    mpmath.mp.dps = 40
    want = float(mpmath.diff(exact, mpmath.mpf(x0)))
    y = ufunc(Dual(np.array(x0), np.ones(1)))
    assert y.tangent.shape == (1,)
    assert math.isclose(float(y.tangent[0]), want, rel_tol=4e-15, abs_tol=1e-300)


BINARY_EXACT = {
    np.add: lambda a, b: a + b,
    np.subtract: lambda a, b: a - b,
    np.multiply: lambda a, b: a * b,
    np.divide: lambda a, b: a / b,
    np.power: lambda a, b: mpmath.power(a, b),
    np.float_power: lambda a, b: mpmath.power(a, b),
    np.arctan2: lambda a, b: mpmath.atan2(a, b),
    np.hypot: lambda a, b: mpmath.hypot(a, b),
    np.logaddexp: lambda a, b: mpmath.log(mpmath.exp(a) + mpmath.exp(b)),
    np.logaddexp2: lambda a, b: mpmath.log(mpmath.power(2, a) + mpmath.power(2, b), 2),
}


def test_every_binary_rule_has_an_exact_reference():
    assert set(BINARY_EXACT) == set(BINARY)


@pytest.mark.parametrize("ufunc", list(BINARY), ids=lambda u: u.__name__)
def test_binary_rule_equals_the_exact_partials(ufunc):
    a0, b0 = 0.8, -1.3 if ufunc not in (np.power, np.float_power) else 1.7
    mpmath.mp.dps = 40
    exact = BINARY_EXACT[ufunc]
    da = float(mpmath.diff(lambda t: exact(t, mpmath.mpf(b0)), mpmath.mpf(a0)))
    db = float(mpmath.diff(lambda t: exact(mpmath.mpf(a0), t), mpmath.mpf(b0)))
    both = ufunc(Dual(np.array(a0), np.array([1.0, 0.0])), Dual(np.array(b0), np.array([0.0, 1.0])))
    np.testing.assert_allclose(both.tangent, [da, db], rtol=4e-15)
    # one operand a constant: only the other's rule runs
    np.testing.assert_allclose(ufunc(Dual(np.array(a0), np.ones(1)), b0).tangent, [da], rtol=4e-15)
    np.testing.assert_allclose(ufunc(a0, Dual(np.array(b0), np.ones(1))).tangent, [db], rtol=4e-15)


# -- plain callables through the backend: closed forms, kinks ---------------------------------------

A = np.array([[1.0, -2.0, 0.5], [0.3, 0.7, -1.1]])


def _f_mixed(x):
    return np.sum(np.abs(x) ** 3) + np.max(x) + np.sum(np.maximum(x, 0.2) * np.clip(x, -0.5, 0.5))


def _g_mixed(x):
    g = 3 * x * np.abs(x)
    g[np.argmax(x)] += 1
    m, c = np.maximum(x, 0.2), np.clip(x, -0.5, 0.5)
    return g + np.where(x > 0.2, 1.0, 0.0) * c + m * np.where(np.abs(x) < 0.5, 1.0, 0.0)


CLOSED_FORMS = {
    "abs, max, maximum, clip": (_f_mixed, _g_mixed, np.array([0.9, -0.3, 0.35, -1.4])),
    "where": (
        lambda x: np.sum(np.where(x > 0, np.sin(x), x**2)),
        lambda x: np.where(x > 0, np.cos(x), 2 * x),
        np.array([0.4, -0.6, 1e-9, -1e-9]),  # either side of the kink, 1e-9 away: no step crosses it
    ),
    "matmul, tanh, mean": (
        lambda x: np.mean(np.tanh(A @ x) ** 2),
        lambda x: A.T @ (np.tanh(A @ x) * (1 - np.tanh(A @ x) ** 2)),
        np.array([0.2, -0.1, 0.4]),
    ),
    "log-sum-exp": (
        lambda x: np.log(np.sum(np.exp(x))),
        lambda x: np.exp(x) / np.exp(x).sum(),
        np.array([0.1, 2.0, -1.0]),
    ),
    "norm, indexing, stack, einsum": (
        lambda x: np.linalg.norm(x) + x[0] * x[-1] + np.einsum("i,i->", x, x) + np.stack([x, 2 * x])[1, 1],
        lambda x: x / np.linalg.norm(x) + np.array([x[-1], 0, x[0]]) + 2 * x + np.array([0, 2.0, 0]),
        np.array([0.3, -0.5, 1.2]),
    ),
}


@pytest.mark.parametrize("name", list(CLOSED_FORMS))
def test_plain_callables_equal_closed_forms(name):
    f, g, x = CLOSED_FORMS[name]
    before = x.copy()
    np.testing.assert_allclose(gradlab.gradient(f, x, backend="forward_ad"), g(x), rtol=1e-14, atol=1e-15)
    assert np.array_equal(x, before)


def test_at_a_kink_the_one_sided_derivative_along_plus_e_i():
    x = np.array([0.0, 0.2, 0.5, 1.0, 1.0])

    # abs at 0: |+1| = 1; maximum(x, 0.2) at 0.2: max(1, 0) = 1; clip at the upper bound 0.5: min(1, 0) = 0;
    # a tie of max (x3 == x4): the largest tangent, 1 for each of the tied entries along its own +e_i
    def f(x):
        return np.abs(x[0]) + np.maximum(x[1], 0.2) + np.clip(x[2], -0.5, 0.5) + np.max(x[3:]) + np.minimum(x[1], 0.2)

    assert gradlab.gradient(f, x, backend="forward_ad").tolist() == [1.0, 1.0, 0.0, 1.0, 1.0]
    # minimum at a tie: min(1, 0) = 0 along +e_1; where() follows its condition (x > 0 false at 0)
    assert gradlab.gradient(lambda x: np.minimum(x[0], 0.0), np.zeros(1), backend="forward_ad").tolist() == [0.0]
    relu = lambda x: np.sum(np.where(x > 0, x, 0.0))  # noqa: E731
    assert gradlab.gradient(relu, np.array([0.0, 1e-300]), backend="forward_ad").tolist() == [0.0, 1.0]


def test_jacobian_of_a_layer_is_exact():
    W, b = A, np.array([0.1, -0.2])
    x = np.array([0.3, -0.7, 0.2])
    J = gradlab.jacobian(lambda x: np.tanh(W @ x + b), x, backend="forward_ad")
    np.testing.assert_allclose(J, (1 - np.tanh(W @ x + b)[:, None] ** 2) * W, rtol=1e-15, atol=1e-16)


def test_passes_carry_tangents_per_pass_and_count_n_jvps():
    calls = []

    def f(x):
        calls.append(x.k)
        return np.sum(x * x)

    x = np.linspace(-1, 1, 150)
    r = gradlab.differentiate(f, x, backend="forward_ad")
    assert calls == [64, 64, 22] and (r.evaluations, r.jvps, r.backward_passes) == (0, 150, 0)
    np.testing.assert_array_equal(r.gradient, 2 * x)  # exact: 2 x_i has no rounding
    assert FORWARD_AD.jvps(150) == 150 and FORWARD_AD.evaluations(150) == 0 and FORWARD_AD.per_entry


def test_float32_in_float32_out():
    x = np.array([0.5, -1.0], dtype=np.float32)
    g = gradlab.gradient(lambda x: np.sum(np.sin(x) ** 2), x, backend="forward_ad")
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, np.sin(2 * x.astype(np.float64)), rtol=1e-6)


def test_a_constant_f_has_gradient_zero():
    assert gradlab.gradient(lambda x: 3.0, np.ones(3), backend="forward_ad").tolist() == [0.0, 0.0, 0.0]


# -- refusals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "f, match",
    [
        (lambda x: np.sum(np.sort(x)), r"numpy\.sort is not supported on dual numbers"),
        (lambda x: np.linalg.det(np.outer(x, x)), r"numpy\.linalg\.det is not supported"),
        (lambda x: np.sum(np.asarray(x)), "cannot become a plain numpy array"),
        (lambda x: float(np.sum(x)), "float.. of a dual number would drop its tangent"),
        (lambda x: np.add.reduce(x), r"numpy\.add\.reduce is not supported"),
        (lambda x: np.sum(np.sinc(x)), r"numpy\.sinc is not supported"),
        (lambda x: x * 2, "must return a real scalar; got a dual array of shape"),
    ],
)
def test_what_is_not_supported_is_named(f, match):
    with pytest.raises(TypeError, match=match):
        gradlab.gradient(f, np.array([0.5, 1.5]), backend="forward_ad")


def test_in_place_into_a_plain_array_is_refused_and_into_a_dual_works():
    def into_plain(x):
        out = np.zeros(2)
        out += x
        return np.sum(out)

    with pytest.raises(TypeError, match="out= a plain array"):
        gradlab.gradient(into_plain, np.ones(2), backend="forward_ad")

    def into_dual(x):
        z = x * 1.0
        z += x  # rebinds z's arrays; the point x is never written
        return np.sum(z * z)

    x = np.array([1.0, 2.0])
    assert gradlab.gradient(into_dual, x, backend="forward_ad").tolist() == [8.0, 16.0]
    assert x.tolist() == [1.0, 2.0]


def test_a_non_finite_derivative_is_named():
    with pytest.raises(ValueError, match=r"derivative of `f` along e\[1\] is inf"):
        gradlab.gradient(lambda x: np.sum(np.sqrt(x)), np.array([1.0, 0.0]), backend="forward_ad")


def test_a_structure_is_refused_with_the_way_out():
    with pytest.raises(TypeError, match="gradlab.flatten"):
        gradlab.gradient(lambda d: np.sum(d["a"] ** 2), {"a": np.ones(2)}, backend="forward_ad")


def test_dual_seeds_and_shapes():
    x = np.arange(6.0).reshape(2, 3)
    d = seed(x, 1, 4)
    assert d.tangent.shape == (3, 2, 3) and d.tangent.reshape(3, 6)[:, 1:4].tolist() == np.eye(3).tolist()
    y = d.T.reshape(-1)[::2]
    assert y.shape == (3,) and y.tangent.shape == (3, 3)
    assert np.concatenate([d, x], axis=1).tangent.shape == (3, 2, 6)
    with pytest.raises(ValueError, match="different tangent counts"):
        seed(x, 0, 2) + seed(x, 0, 3)
    with pytest.raises(TypeError, match="assignment into a dual number"):
        d[0, 0] = 1.0


# -- the layer networks: dual numbers through each layer's own forward ---------------------------------


@pytest.mark.parametrize("kind", ["conv", "pool", "norm", "seq", "attn"])
def test_forward_ad_equals_backprop_on_every_layer_family(kind):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from tests.test_nn_layers import NETS, problem

    @settings(max_examples=8, deadline=None)
    @given(data=st.data())
    def check(data):
        net = data.draw(NETS[kind])
        obj, theta = problem(net, seed=data.draw(st.integers(0, 99)))
        r = gradlab.differentiate(obj, theta, backend="forward_ad")
        assert _rel(r.gradient, obj.gradient(theta)) <= 1e-13 and r.jvps == net.n_params

    check()


def test_piecewise_constant_functions_and_selections():
    x = np.array([[0.3, -1.0, 2.0], [1.5, 0.2, -0.4]])
    d = seed(x, 0, x.size)
    i = np.argmax(d, axis=1, keepdims=True)  # computed on the values: a plain index array
    assert isinstance(i, np.ndarray) and i.ravel().tolist() == [2, 0]
    picked = np.take_along_axis(d, i, axis=1)  # the tangent of the picked entries: e_2 and e_3
    assert picked.value.ravel().tolist() == [2.0, 1.5]
    assert picked.tangent.reshape(6, 2).T.tolist() == np.eye(6)[[2, 3]].tolist()
    padded = np.pad(d, 1)
    assert padded.shape == (4, 5) and padded.tangent.shape == (6, 4, 5) and padded.tangent[:, 0].sum() == 0
    with pytest.raises(TypeError, match="mode='constant' only"):
        np.pad(d, 1, mode="edge")
