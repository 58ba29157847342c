"""Checks of forward rules: ``gradcheck(f, x, jvp=)`` passes correct rules, catches planted bugs and
names their block; the adjoint test passes correct pairs in float64 and float32 and fails a pair
that disagrees by 1e-8; every option is refused before f runs."""

import math

import numpy as np
import pytest

import gradlab
from gradlab.check.forward import ADJOINT_FACTOR
from gradlab.check.probe import PROBE_EVALUATIONS

RNG = np.random.default_rng(0)
W, B = RNG.normal(size=(5, 3)), RNG.normal(size=5)
X0 = RNG.normal(size=3)


def f_vec(x):
    return np.tanh(W @ x + B)


def jvp_vec(x, v):
    return (1 - np.tanh(W @ x + B) ** 2) * (W @ v)


def vjp_vec(x, u):
    return W.T @ ((1 - np.tanh(W @ x + B) ** 2) * u)


def layer(x, w, b):
    return x @ w + b


def layer_jvp(x, w, b, t):
    dx, dw, db = t  # the tangent is structured like the arguments
    return dx @ w + x @ dw + db


def layer_vjp(x, w, b, u):
    return u @ w.T, x.T @ u, u.sum(axis=0)


LAYER_POINT = (RNG.normal(size=(4, 3)), RNG.normal(size=(3, 2)), RNG.normal(size=2))


def _mlp():
    net = gradlab.MLP([3, 4, 2], activation="tanh", output="softmax", l2=0.01)
    obj = net.objective(*net.random_batch(6, seed=1))
    return net, obj, net.init(seed=2) + 0.05


# -- gradcheck(f, x, jvp=) ---------------------------------------------------------------------------


def test_a_correct_forward_rule_passes_with_an_exact_count():
    r = gradlab.gradcheck(f_vec, X0, jvp=jvp_vec)
    assert r.passed and r.reference == "central (directional)" and r.analytic_source == "jvp_vec"
    # the probe, then one central pair along the one block's direction (settled at its first step)
    assert r.evaluations == PROBE_EVALUATIONS + 2
    assert list(r.directions["block"]) == ["x"] and r.max_rel_error < 1e-8


def test_a_scalar_f_and_the_networks_own_jvp():
    _, obj, theta = _mlp()
    r = gradlab.gradcheck(obj, theta, jvp=obj.jvp, directions=2)
    assert r.passed and list(r.table["block"]) == ["W1", "b1", "W2", "b2"] and len(r.directions) == 8
    assert gradlab.gradcheck(lambda x: np.sum(np.sin(x)), X0, jvp=lambda x, v: np.cos(x) @ v).passed


def test_a_layer_rule_on_a_tuple_of_arguments_passes():
    r = gradlab.gradcheck(layer, LAYER_POINT, jvp=layer_jvp)
    assert r.passed and list(r.table["block"]) == ["x", "w", "b"]


@pytest.mark.parametrize(
    "buggy, block",
    [
        (lambda x, w, b, t: t[0] @ w + x @ t[1] * 1.001 + t[2], "w"),  # a 0.1% factor on one term
        (lambda x, w, b, t: t[0] @ w.T[::-1].T + x @ t[1] + t[2], "x"),  # the wrong weights' order
        (lambda x, w, b, t: t[0] @ w + x @ t[1], "b"),  # the bias's tangent forgotten
    ],
    ids=["factor-on-w", "permuted-w-for-x", "missing-db"],
)
def test_planted_layer_bugs_are_caught_and_named_by_block(buggy, block):
    r = gradlab.gradcheck(layer, LAYER_POINT, jvp=buggy)
    assert r.status == "failed"
    assert r.table.loc[r.table["n_failed"] > 0, "block"].tolist() == [block]
    assert f"failing blocks: {block}" in r.message()


def test_a_planted_network_jvp_bug_is_named_by_block():
    net, obj, theta = _mlp()
    scale = np.ones(net.n_params)
    scale[net.blocks[1].slice] = 1.001  # b1's tangent 0.1% too large

    def jvp_bug(t, v):
        return obj.jvp(t, v * scale)

    r = gradlab.gradcheck(obj, theta, jvp=jvp_bug)
    assert r.status == "failed" and r.table.loc[r.table["n_failed"] > 0, "block"].tolist() == ["b1"]


def test_a_random_f_is_inconclusive_not_failed():
    rng = np.random.default_rng()
    r = gradlab.gradcheck(lambda x: np.sum(x**2) + 1e-3 * rng.normal(), X0, jvp=lambda x, v: 2 * x @ v)
    assert r.status == "inconclusive" and "f is random" in r.reasons[0]


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(jvp="not callable"), TypeError, "`jvp` must be a callable jvp"),
        (dict(jvp=jvp_vec, grad=lambda x: x), TypeError, "pass one rule to check"),
        (dict(jvp=jvp_vec, vjp=vjp_vec), TypeError, "pass one rule to check"),
        (dict(jvp=jvp_vec, reference="complex_step"), ValueError, "`reference` must be 'auto' or 'central'"),
        (dict(jvp=jvp_vec, fast=True), ValueError, "`fast` does not apply"),
        (dict(jvp=jvp_vec, directions=0), ValueError, "`directions` must be a positive integer"),
    ],
)
def test_options_are_refused_before_f_runs(kwargs, exc, match):
    calls = []

    def f(x):
        calls.append(1)
        return f_vec(x)

    with pytest.raises(exc, match=match):
        gradlab.gradcheck(f, X0, **kwargs)
    assert calls == []


def test_a_jvp_of_the_wrong_shape_is_named():
    with pytest.raises(ValueError, match=r"`jvp\(x, v\)` must return an array shaped like f\(x\), \(5,\); got \(3,\)"):
        gradlab.gradcheck(f_vec, X0, jvp=lambda x, v: v)


# -- the adjoint test ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("seed", range(5))
def test_correct_pairs_pass_in_both_precisions(dtype, seed):
    rng = np.random.default_rng(seed)
    n, m = (int(k) for k in rng.integers(2, 300, size=2))
    A, b = rng.normal(size=(m, n)).astype(dtype), rng.normal(size=m).astype(dtype)
    r = gradlab.adjoint_test(
        lambda x: np.tanh(A @ x + b),
        rng.normal(size=n).astype(dtype),
        jvp=lambda x, v: (1 - np.tanh(A @ x + b) ** 2) * (A @ v),
        vjp=lambda x, u: A.T @ ((1 - np.tanh(A @ x + b) ** 2) * u),
        seed=seed,
    )
    assert r.passed and r.dtype == np.dtype(dtype).name and (r.n, r.m) == (n, m)
    # eps as a Python float, as the check holds it: numpy's float32 scalar would round the product in float32
    assert r.eps == float(np.finfo(dtype).eps)
    assert r.bound == ADJOINT_FACTOR * r.eps * math.sqrt(n + m) * r.scale


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_networks_forward_and_reverse_modes_are_adjoint(dtype):
    net = gradlab.MLP([4, 20, 3], activation="elu", output="softmax", dtype=dtype)
    obj = net.objective(*net.random_batch(30))
    r = gradlab.adjoint_test(obj, net.init(seed=3), jvp=obj.jvp, vjp=lambda t, u: u * obj.gradient(t))
    assert r.passed and r.m == 1 and r.n == net.n_params


def test_a_pair_that_disagrees_by_1e_8_fails():
    r = gradlab.adjoint_test(f_vec, X0, jvp=jvp_vec, vjp=lambda x, u: vjp_vec(x, u) * (1 + 1e-8))
    assert not r.passed and r.rel_error == pytest.approx(1e-8, rel=1e-3)
    assert r.bound < 1e-5 * r.difference  # far outside rounding: no grey zone
    with pytest.raises(AssertionError, match="adjoint test FAILED"):
        r.raise_if_failed()
    # the inner products themselves are what the math gives: <u, J v> from an independent J
    J = (1 - np.tanh(W @ X0 + B) ** 2)[:, None] * W
    rng = np.random.default_rng(0)
    v, u = rng.standard_normal(3), rng.standard_normal(5)
    assert r.forward == pytest.approx(u @ J @ v, rel=1e-14)


def test_a_transposed_rule_of_the_wrong_structure_fails_on_a_layer():
    assert gradlab.adjoint_test(layer, LAYER_POINT, jvp=layer_jvp, vjp=layer_vjp).passed

    def vjp_bug(x, w, b, u):
        return u @ w.T, x.T @ u, u.sum(axis=0) * 0.5

    assert not gradlab.adjoint_test(layer, LAYER_POINT, jvp=layer_jvp, vjp=vjp_bug).passed


def test_adjoint_test_refuses_before_f_runs():
    calls = []

    def f(x):
        calls.append(1)
        return f_vec(x)

    with pytest.raises(TypeError, match="`vjp` must be a callable vjp"):
        gradlab.adjoint_test(f, X0, jvp=jvp_vec, vjp=None)
    with pytest.raises(TypeError, match="`jvp` must be a callable jvp"):
        gradlab.adjoint_test(f, X0, jvp=3, vjp=vjp_vec)
    with pytest.raises(TypeError, match="`seed` must be a non-negative integer"):
        gradlab.adjoint_test(f, X0, jvp=jvp_vec, vjp=vjp_vec, seed=1.5)
    assert calls == []
    with pytest.raises(ValueError, match=r"`vjp\(x, u\)` must return an array shaped like x"):
        gradlab.adjoint_test(f, X0, jvp=jvp_vec, vjp=lambda x, u: u)


# -- forward_ad as a gradcheck reference ---------------------------------------------------------------


def test_forward_ad_is_an_exact_gradcheck_reference():
    net = gradlab.MLP([3, 4, 2], activation="relu", output="softmax")
    obj = net.objective(*net.random_batch(5))
    theta = net.init(seed=0) + 0.01
    r = gradlab.gradcheck(obj, theta, reference="forward_ad")
    assert r.passed and r.reference == "forward_ad" and r.max_rel_error < 1e-13
    assert r.evaluations == PROBE_EVALUATIONS  # the probe only: the reference evaluates nothing on its own
    scale = np.where(np.arange(net.n_params) < 12, 1.001, 1.0)  # W1 wrong by 0.1%
    bad = gradlab.gradcheck(obj, theta, grad=lambda t: obj.gradient(t) * scale, reference="forward_ad")
    assert bad.status == "failed" and bad.table.loc[bad.table["n_failed"] > 0, "block"].tolist() == ["W1"]


def test_forward_ad_reference_crosses_no_kink():
    # 1e-12 from the kink of max(x, 0): every difference stencil straddles it, forward mode does not
    def f(x):
        return np.sum(np.maximum(x, 0.0) * x)

    def g(x):
        return np.where(x > 0, 2 * x, 0.0)

    x = np.array([1e-12, -1e-12, 0.5])
    assert gradlab.gradcheck(f, x, grad=g, reference="forward_ad").passed
    wrong = gradlab.gradcheck(f, x, grad=lambda x: g(x) + np.array([0, 0, 1e-3]), reference="forward_ad")
    assert wrong.status == "failed"


def test_max_evaluations_bounds_a_forward_rule_check_before_f_runs():
    from gradlab.check.forward import FORWARD_RULE_EVALUATIONS

    most = PROBE_EVALUATIONS + FORWARD_RULE_EVALUATIONS * 3  # the layer's three blocks, one direction each
    calls = []

    def counted_layer(x, w, b):
        calls.append(1)
        return layer(x, w, b)

    with pytest.raises(ValueError, match=f"up to {most} evaluations"):
        gradlab.gradcheck(counted_layer, LAYER_POINT, jvp=layer_jvp, max_evaluations=most - 1)
    assert calls == []
    r = gradlab.gradcheck(layer, LAYER_POINT, jvp=layer_jvp, max_evaluations=most)
    assert r.passed and r.evaluations <= most


def test_the_command_line_checks_against_forward_ad(capsys):
    from gradlab import cli

    assert cli.main(["check", "--sizes", "3,4,2", "--reference", "forward_ad"]) == 0
    assert "backprop vs forward_ad" in capsys.readouterr().out
