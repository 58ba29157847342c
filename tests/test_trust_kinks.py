"""Issue 18, items 2, 3, 4, 7 and 8: verdicts that hold in fast mode, on kinks, in float32, for
the adaptive backend, and the smaller things.  Each repro of the issue is a test here."""

from __future__ import annotations

import numpy as np
import pytest

import gradlab
from gradlab.backends.adaptive import ADAPTIVE


def affine(x, w, b):
    return x @ w + b


def affine_vjp(x, w, b, u):
    return u @ w.T, x.T @ u, u.sum(0)


def transposed_vjp(x, w, b, u):
    return u @ w, x.T @ u, u.sum(0)  # w where w.T belongs: only w's symmetric part is right


# -- item 2: the cotangent and the fast path's directions come from independent streams ------------


def test_fast_check_catches_the_transposed_weight_of_the_issue():
    g = np.random.default_rng(1)
    x, w, b = g.normal(size=(4, 5)), g.normal(size=(5, 5)), g.normal(size=5)
    bad = gradlab.gradcheck(affine, (x, w, b), vjp=transposed_vjp, fast=True)
    assert bad.status == "failed"
    assert gradlab.gradcheck(affine, (x, w, b), vjp=affine_vjp, fast=True).status == "passed"


@pytest.mark.parametrize("seed", range(6))
def test_fast_check_catches_a_transposed_square_weight_for_every_seed(seed):
    g = np.random.default_rng(100 + seed)
    n = 3 + seed % 3
    x, w, b = g.normal(size=(n, n)), g.normal(size=(n, n)), g.normal(size=n)
    assert gradlab.gradcheck(affine, (x, w, b), vjp=transposed_vjp, fast=True, seed=seed).status == "failed"
    assert gradlab.gradcheck(affine, (x, w, b), vjp=affine_vjp, fast=True, seed=seed).status == "passed"


def test_the_cotangent_is_not_the_seed_stream():
    """The documented cotangent, drawn from its own stream (the seed's stream is the directions')."""
    from gradlab.check.adapt import COTANGENT_STREAM

    x = np.arange(6.0).reshape(2, 3)
    seen = []

    def vjp(x, u):
        seen.append(u.copy())
        return 2 * x * u

    r = gradlab.gradcheck(lambda x: x**2, x, vjp=vjp, seed=4)
    assert r.passed
    expected = np.random.default_rng([COTANGENT_STREAM, 4]).standard_normal((2, 3))
    np.testing.assert_array_equal(seen[0], expected)
    assert not np.allclose(seen[0], np.random.default_rng(4).standard_normal((2, 3)))
    assert f"default_rng([{COTANGENT_STREAM}, 4])" in r.message()


# -- item 3: inputs exactly on a kink --------------------------------------------------------------

ON_KINK = np.array([[0.0, 1.0, -2.0, 0.5]])


def relu(x):
    return np.maximum(0, x)


@pytest.mark.parametrize(
    "at_zero, status",
    [(0.0, "passed"), (1.0, "passed"), (0.3, "passed"), (1.5, "failed"), (-0.5, "failed")],
    ids=["left slope", "right slope", "between (convex)", "50% above", "below"],
)
def test_relu_exactly_on_its_kink(at_zero, status):
    """The issue's repro (x > 0 at 0 gives the left slope) and the other conventions pass; a value
    outside [0, 1] at the kink fails."""

    def vjp(x, u):
        return u * np.where(x == 0, at_zero, x > 0)

    r = gradlab.gradcheck(relu, ON_KINK, vjp=vjp, cotangent=np.ones((1, 4)))
    assert r.status == status
    note = next(n for n in r.notes if "exactly on a kink" in n)
    assert "x[0, 0]: slopes 0 | 1" in note
    assert ("accepted" in note) == (status == "passed")


def test_a_concave_kink_accepts_its_generalised_gradient():
    """min(0, x) at 0: slopes 1 (left) and 0 (right); either, or between (torch's tie: 1/2), passes."""
    x = np.array([0.0, 2.0])
    f = lambda x: np.sum(np.minimum(0, x) * np.array([1.0, 3.0]))  # noqa: E731
    for at_zero, status in [(0.0, "passed"), (1.0, "passed"), (0.2, "passed"), (1.5, "failed"), (-0.5, "failed")]:
        grad = lambda x, c=at_zero: np.where(x == 0, c, (x < 0) * np.array([1.0, 3.0]))  # noqa: E731
        assert gradlab.gradcheck(f, x, grad=grad).status == status


def test_svm_margins_exactly_at_zero():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(6, 3)), np.array([1, -1, 1, 1, -1, -1.0])
    w = rng.normal(size=3)
    # move the first two samples onto the hinge's kink: y_k <x_k, w> = 1 exactly
    for k in (0, 1):
        X[k] *= 1.0 / (y[k] * (X[k] @ w))
    margins = 1 - y * (X @ w)
    assert np.abs(margins[:2]).max() < 1e-15

    def hinge(w):
        return np.sum(np.maximum(0, 1 - y * (X @ w)))

    def grad(w):
        return -(X * y[:, None])[1 - y * (X @ w) > 0].sum(0)

    def bug(w):
        return 1.5 * grad(w)

    assert gradlab.gradcheck(hinge, w, grad=grad).status == "passed"
    assert gradlab.gradcheck(hinge, w, grad=bug).status == "failed"


def test_a_dead_layer_with_zero_biases():
    """Every pre-activation exactly 0: each weight moves some samples up and some down, a convex
    kink along every entry; the usual convention (0 at 0) lies between the slopes."""
    rng = np.random.default_rng(0)
    X, V = rng.normal(size=(5, 3)), rng.normal(size=4)
    params = {"W": np.zeros((3, 4)), "b": np.zeros(4)}

    def loss(p):
        return np.sum(np.maximum(0, X @ p["W"] + p["b"]) @ V**2)

    def grad(p):
        z = X @ p["W"] + p["b"]
        dz = (z > 0) * V**2
        return {"W": X.T @ dz, "b": dz.sum(0)}

    r = gradlab.gradcheck(loss, params, grad=grad)
    assert r.status == "passed" and any("exactly on a kink" in n for n in r.notes)
    wrong = lambda p: {"W": grad(p)["W"] + 10.0, "b": grad(p)["b"]}  # noqa: E731  outside every bracket
    assert gradlab.gradcheck(loss, params, grad=wrong).status == "failed"


def test_a_smooth_failure_is_not_excused_as_a_kink():
    x = np.array([0.3, -1.2, 2.0])
    r = gradlab.gradcheck(lambda x: np.sum(np.sin(x)), x, grad=lambda x: 1.01 * np.cos(x))
    assert r.status == "failed" and not any("kink" in n for n in r.notes)


# -- item 4: float32 code gets a verdict -------------------------------------------------------------


def _sin_v(v):
    return np.sum(np.sin(v) * v)


def _sin_v_grad(v):
    return np.cos(v) * v + np.sin(v)


def test_float32_plain_callable_is_conclusive():
    v = np.linspace(-1, 1, 7).astype(np.float32)
    ok = gradlab.gradcheck(_sin_v, v, grad=_sin_v_grad)
    assert ok.status == "passed" and ok.dtype == "float32" and ok.numeric.dtype == np.float32
    assert any("measured in float64" in n for n in ok.notes)
    assert gradlab.gradcheck(_sin_v, v, grad=lambda v: 1.01 * _sin_v_grad(v)).status == "failed"
    assert gradlab.gradcheck(_sin_v, v, grad=_sin_v_grad, fast=True).status == "passed"
    assert gradlab.gradcheck(_sin_v, v, grad=lambda v: 1.01 * _sin_v_grad(v), fast=True).status == "failed"


@pytest.mark.parametrize("fast", [True, False])
def test_float32_softmax_at_2000_tells_a_1_percent_bug_from_correct_code(fast):
    n = 2000
    z = np.random.default_rng(0).normal(size=n).astype(np.float32)
    t = np.random.default_rng(1).dirichlet(np.ones(n)).astype(np.float32)

    def loss(z):
        e = np.exp(z - z.max())
        return -np.sum(t * np.log(e / e.sum()))

    def grad(z):
        e = np.exp(z - z.max())
        return e / e.sum() * t.sum() - t

    ok = gradlab.gradcheck(loss, z, grad=grad, fast=fast)
    assert ok.status == "passed"
    # full: entries formed by cancellation below what float32's rounding lets anyone judge are said so
    assert fast or any("below the analytic side's own rounding" in n and "float32 eps" in n for n in ok.notes)
    bad = gradlab.gradcheck(loss, z, grad=lambda z: 1.01 * grad(z), fast=fast)
    assert bad.status == "failed"


def _layer_norm(x):
    m = x.mean(-1, keepdims=True)
    s = np.sqrt(((x - m) ** 2).mean(-1, keepdims=True) + 1e-5)
    return (x - m) / s


def _layer_norm_vjp(x, u):
    m = x.mean(-1, keepdims=True)
    s = np.sqrt(((x - m) ** 2).mean(-1, keepdims=True) + 1e-5)
    xh = (x - m) / s
    return (u - u.mean(-1, keepdims=True) - xh * (u * xh).mean(-1, keepdims=True)) / s


@pytest.mark.parametrize("fast", [False, True])
def test_float32_layer_norm_backward_is_conclusive(fast):
    x = np.random.default_rng(2).normal(size=(3, 8)).astype(np.float32)
    assert gradlab.gradcheck(_layer_norm, x, vjp=_layer_norm_vjp, fast=fast).status == "passed"
    bug = gradlab.gradcheck(_layer_norm, x, vjp=lambda x, u: _layer_norm_vjp(x, u) * 1.01, fast=fast)
    assert bug.status == "failed"


def test_float32_dict_of_numpy_leaves_is_conclusive():
    rng = np.random.default_rng(5)
    p = {"W": rng.normal(size=(4, 3)).astype(np.float32), "b": np.zeros(3, np.float32)}
    X = rng.normal(size=(20, 4)).astype(np.float32)

    def loss(p):
        return np.sum(np.tanh(X @ p["W"] + p["b"]) ** 2)

    def grad(p):
        h = np.tanh(X @ p["W"] + p["b"])
        dz = 2 * h * (1 - h**2)
        return {"W": X.T @ dz, "b": dz.sum(0)}

    assert gradlab.gradcheck(loss, p, grad=grad).status == "passed"
    bad = gradlab.gradcheck(loss, p, grad=lambda p: {**grad(p), "b": 1.01 * grad(p)["b"]})
    assert bad.status == "failed" and bad.table.loc[bad.table["n_failed"] > 0, "block"].tolist() == ["b"]


def test_an_f_that_computes_in_float32_inside_is_not_lifted():
    """f casts to float32 itself: its float64 evaluation is the float32 one; nothing is measured in float64."""
    v = np.linspace(-1, 1, 7).astype(np.float32)
    r = gradlab.gradcheck(lambda v: _sin_v(v.astype(np.float32)), v, grad=_sin_v_grad)
    assert not any("measured in float64" in n for n in r.notes)
    assert r.status in ("passed", "inconclusive")


# -- item 7: adaptive differences are never silently wrong with a tiny estimate ------------------------

ADAPTIVE_CASES = [
    ("gaussian of width 1e-6", lambda x: np.exp(-((x[0] / 1e-6) ** 2)), 1e-6, -2e6 * np.exp(-1.0)),
    ("log(x*x) at 1e-100", lambda x: np.log(x[0] * x[0]), 1e-100, 2e100),
    ("tanh(1e4 x) at 0", lambda x: np.tanh(1e4 * x[0]), 0.0, 1e4),
    ("sin at 1e6", lambda x: np.sin(x[0]), 1e6, np.cos(1e6)),
    ("sin(x^2) at 1e3", lambda x: np.sin(x[0] ** 2), 1e3, 2e3 * np.cos(1e6)),
]


@pytest.mark.parametrize("f, x0, exact", [c[1:] for c in ADAPTIVE_CASES], ids=[c[0] for c in ADAPTIVE_CASES])
def test_adaptive_finds_narrow_features_and_states_an_honest_error(f, x0, exact):
    r = gradlab.differentiate(f, np.array([x0]), backend="adaptive")
    g, err = float(r.gradient[0]), float(r.error[0])
    assert abs(g - exact) <= err  # the error estimate bounds the error
    assert abs(g - exact) <= 1e-8 * abs(exact)  # and the value is right
    assert r.evaluations <= ADAPTIVE.evaluations(1)


def test_adaptive_keeps_its_cheap_common_case():
    """Smooth entries at their natural scale: one pilot, a ladder, the closer look (10 to 14)."""
    x = np.linspace(0.5, 2.0, 6)
    r = gradlab.differentiate(lambda x: np.sum(np.exp(np.sin(x))), x, backend="adaptive")
    np.testing.assert_allclose(r.gradient, np.cos(x) * np.exp(np.sin(x)), rtol=1e-11)
    assert np.all(r.error >= np.abs(r.gradient - np.cos(x) * np.exp(np.sin(x))))
    assert r.evaluations <= 14 * x.size + 1


def test_adaptive_reference_judges_the_narrow_features():
    """As a gradcheck reference: the correct gradient of sin at 1e6 passes, a 1% bug fails."""
    x = np.array([1e6, 2.0])
    f = lambda x: np.sum(np.sin(x))  # noqa: E731
    assert gradlab.gradcheck(f, x, grad=np.cos, reference="adaptive").status == "passed"
    assert gradlab.gradcheck(f, x, grad=lambda x: 1.01 * np.cos(x), reference="adaptive").status == "failed"


# -- item 8: the smaller things ----------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1,), (1, 1)])
def test_a_loss_kept_as_a_size_one_array_is_a_scalar(shape):
    x = np.array([0.3, -1.0, 2.0])
    r = gradlab.gradcheck(lambda x: np.sum(x**2).reshape(shape), x, grad=lambda x: 2 * x)
    assert r.status == "passed"
    with pytest.raises(TypeError, match=r"must return a real scalar; got array of shape \(2,\)"):
        gradlab.gradcheck(lambda x: x[:2], x, grad=lambda x: 2 * x)


def test_a_vjp_lambda_is_labelled_vjp():
    x = np.array([0.3, -0.7, 1.1])
    r = gradlab.gradcheck(np.sin, x, vjp=lambda x, u: u * np.cos(x))
    assert r.analytic_source == "vjp" and r.message().startswith("gradcheck passed: vjp vs")
    g = np.random.default_rng(1)
    layer = gradlab.gradcheck(
        affine, (g.normal(size=(2, 3)), g.normal(size=(3, 2)), g.normal(size=2)), vjp=lambda *a: affine_vjp(*a)
    )
    assert layer.analytic_source == "vjp"
    assert (
        gradlab.gradcheck(
            affine, (g.normal(size=(2, 3)), g.normal(size=(3, 2)), g.normal(size=2)), vjp=affine_vjp
        ).analytic_source
        == "affine_vjp"
    )


def test_a_block_never_written_is_not_a_constant_factor():
    x = {"w": np.array([0.5, -1.0, 2.0]), "b": np.array([0.3, 0.7])}
    f = lambda p: np.sum(np.sin(p["w"])) + np.sum(p["b"] ** 3)  # noqa: E731
    r = gradlab.gradcheck(f, x, grad=lambda p: {"w": np.cos(p["w"]), "b": np.zeros(2)})
    hint = next(h for h in r.hints if "in b only" in h)
    assert "never written" in hint and "constant factor" not in hint


def test_blocks_sharing_one_factor_get_one_hint():
    x = {"a": np.array([0.5, -1.0]), "b": np.array([0.3, 0.7]), "c": np.array([1.5])}
    f = lambda p: np.sum(np.sin(p["a"])) + np.sum(p["b"] ** 3) + np.sum(np.exp(p["c"]))  # noqa: E731

    def grad(p):
        return {"a": 2 * np.cos(p["a"]), "b": 2 * 3 * p["b"] ** 2, "c": np.exp(p["c"])}

    r = gradlab.gradcheck(f, x, grad=grad)
    factor_hints = [h for h in r.hints if "analytic/numeric" in h]
    assert factor_hints == [
        "hint: in a and b only, analytic/numeric = 2 for every entry: a factor 2 (a 1/2 in the loss, or a term "
        "counted twice?)"
    ]


def test_the_zeros_warning_does_not_blame_biases_for_a_layer_input():
    x = np.zeros((2, 3))
    w = np.random.default_rng(0).normal(size=(3, 2))
    r = gradlab.gradcheck(lambda x: x @ w, x, vjp=lambda x, u: u @ w.T)
    note = next(n for n in r.notes if "exact zeros" in n)
    assert "biases" not in note and "proportional to those entries" in note


def test_taylor_does_not_call_a_random_f_or_a_kink_wrong():
    rng = np.random.default_rng(0)
    x = np.array([0.5, 1.0])
    noisy = gradlab.gradcheck(lambda x: np.sum(x**2) + 1e-9 * rng.normal(), x, grad=lambda x: 2 * x)
    assert noisy.status == "inconclusive" and "wrong along d" not in noisy.message()
    assert noisy.taylor.verdict.startswith("inconclusive (f is random")
    kink = gradlab.gradcheck(relu, ON_KINK, vjp=lambda x, u: u * 1.5 * (x > 0), cotangent=np.ones((1, 4)))
    assert kink.status == "failed" and kink.taylor.verdict.startswith("inconclusive (x sits on a kink")
    smooth = gradlab.gradcheck(lambda x: np.sum(np.sin(x)), x, grad=lambda x: 1.1 * np.cos(x))
    assert smooth.taylor.verdict == "the gradient is wrong along d"


def test_integer_arguments_pass_through_undifferentiated():
    """Word ids and labels in a tuple reach f as they are (as torch does); only floats are checked."""
    rng = np.random.default_rng(0)
    E, ids, labels = rng.normal(size=(6, 3)), np.array([4, 0, 4, 2]), np.array([1, 0, 2, 1])

    def loss(E, ids, labels):
        assert ids.dtype.kind == "i" and labels.dtype.kind == "i"  # the user's own indexing works
        s = E[ids]  # (4, 3) scores
        s = s - s.max(axis=1, keepdims=True)
        return np.mean(np.log(np.exp(s).sum(axis=1)) - s[np.arange(4), labels])

    def grad(E, ids, labels):
        s = E[ids]
        p = np.exp(s - s.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(4), labels] -= 1
        dE = np.zeros_like(E)
        np.add.at(dE, ids, p / 4)
        return dE, None, None

    r = gradlab.gradcheck(loss, (E, ids, labels), grad=grad)
    assert r.status == "passed" and list(r.table["block"]) == ["E"]
    g = gradlab.gradient(loss, (E, ids, labels))
    assert g[1] is None and g[2] is None and g[0].shape == E.shape
    with pytest.raises(ValueError, match="integer arrays are constants"):
        gradlab.gradient(lambda ids: 0.0, (ids,))


class _DeadLayer:
    """``sum_k c_k relu(<X_k, w>) + |w|^2 / 2`` at ``w = 0`` as an objective with a kinks key and no complex
    evaluation: every sample's pre-activation sits at the kink, so moving one weight switches
    several at once."""

    gradient = None
    complex_ok = False

    def __init__(self, X, c):
        self.X, self.c = X, c

    def value(self, w):
        return float(self.c @ np.maximum(0, self.X @ w) + 0.5 * w @ w)

    def point(self, x):
        return np.asarray(x, dtype=np.float64)

    def blocks(self, x=None):
        from gradlab.objective import Block

        return (Block("w", 0, (self.X.shape[1],)),)

    def kinks(self, w):
        return (self.X @ w > 0).astype(np.int8).tobytes()


def test_where_several_kinks_meet_a_value_outside_the_slopes_is_unverified_not_failed():
    """Backprop's 0 at a dead layer is the gradient of the piece where every unit is off, which
    the line along one weight never enters: outside both slopes there, unverified, not failed."""
    rng = np.random.default_rng(4)
    X, c = rng.normal(size=(6, 3)), np.array([1.0, -2.0, 0.5, 3.0, -1.0, 2.0])
    obj = _DeadLayer(X, c)
    w = np.zeros(3)
    r = gradlab.gradcheck(obj, w, grad=lambda w: c @ ((X @ w > 0)[:, None] * X) + w)
    assert r.status == "inconclusive" and any("several kinks of f meet" in why for why in r.reasons)
    # a single kink (one sample) is judged as before: a value outside its slopes fails
    one = _DeadLayer(X[:1], c[:1])
    assert gradlab.gradcheck(one, w, grad=lambda w: 1.5 * c[:1] @ X[:1] + w).status == "failed"
    assert gradlab.gradcheck(one, w, grad=lambda w: c[:1] @ X[:1] + w).status == "passed"


def test_a_dead_relu_layer_of_an_mlp_is_no_false_alarm():
    net = gradlab.MLP([3, 4, 2], activation="relu", output="softmax", loss="cross_entropy")
    X = np.random.default_rng(0).normal(size=(5, 3))
    obj = net.objective(X, np.eye(2)[[0, 1, 1, 0, 1]])
    theta = net.init(seed=0).copy()
    w1, b1 = obj.blocks(theta)[:2]
    theta[w1.slice] = theta[b1.slice] = 0.0
    for reference in ("auto", "central", "adaptive"):
        assert gradlab.gradcheck(obj, theta, reference=reference).status != "failed"
    b2 = obj.blocks(theta)[3]
    bug = lambda t: obj.gradient(t) * np.where(np.arange(t.size) >= b2.offset, 1.5, 1.0)  # noqa: E731
    assert gradlab.gradcheck(obj, theta, grad=bug, reference="adaptive").status == "failed"


@pytest.mark.slow  # jax's import and dispatch: several seconds
def test_auto_tries_the_complex_step_for_float32_jax_code():
    """jax keeps float32 whatever numpy hands it: the complex step, cross-checked, where f takes
    complex input; a jax scalar from a plain f is a scalar."""
    jnp = pytest.importorskip("jax.numpy")
    v = np.linspace(-1, 1, 7).astype(np.float32)

    def f(v):
        return jnp.sum(jnp.sin(jnp.asarray(v)) * jnp.asarray(v))

    ok = gradlab.gradcheck(f, v, grad=_sin_v_grad)
    assert ok.status == "passed" and ok.reference == "complex_step"
    assert gradlab.gradcheck(f, v, grad=lambda v: 1.001 * _sin_v_grad(v)).status == "failed"


def test_a_float32_torch_leaf_is_lifted_to_float64_for_the_reference():
    """A torch float32 leaf is rebuilt in float64 for the reference (as a numpy leaf is): central
    differences of float64 values judge the float32 gradient, and a 0.1% bug is caught."""
    torch = pytest.importorskip("torch")
    w = torch.linspace(-1, 1, 7, dtype=torch.float32)
    leaf = gradlab.gradcheck(lambda w: (torch.sin(w) * w).sum(), w, grad=lambda w: torch.cos(w) * w + torch.sin(w))
    assert leaf.status == "passed" and leaf.reference == "central" and leaf.dtype == "float32"
    assert any("measured in float64" in note for note in leaf.notes)
    bug = gradlab.gradcheck(
        lambda w: (torch.sin(w) * w).sum(), w, grad=lambda w: 1.001 * (torch.cos(w) * w + torch.sin(w))
    )
    assert bug.status == "failed"


def test_float32_torch_code_that_refuses_complex_input_is_measured_with_differences():
    """float32 data times a complex64 weight is a RuntimeError in torch: auto does not try the
    complex step there, and the check runs (no crash) with central differences."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    X = torch.tensor(rng.normal(size=(20, 3)), dtype=torch.float32)
    w = torch.tensor(rng.normal(size=3), dtype=torch.float32)
    r = gradlab.gradcheck(lambda w: torch.tanh(X @ w).sum(), w, grad=lambda w: X.T @ (1 - torch.tanh(X @ w) ** 2))
    assert r.reference == "central" and r.status != "failed"
    bad = gradlab.gradcheck(
        lambda w: torch.tanh(X @ w).sum(), w, grad=lambda w: 1.05 * X.T @ (1 - torch.tanh(X @ w) ** 2)
    )
    assert bad.status == "failed"
