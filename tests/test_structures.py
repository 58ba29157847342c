"""Parameters as users keep them: dicts, lists, tuples, nestings, any array-API library."""

import copy

import numpy as np
import pytest

import gradlab
from gradlab.check.probe import PROBE_EVALUATIONS
from gradlab.objective import FunctionWroteIntoItsArgument

rng = np.random.default_rng(3)
X = rng.normal(size=(6, 3))
y = rng.normal(size=6)


def params():
    return {"W1": rng.normal(size=(3, 4)), "b1": rng.normal(size=4) * 0.1, "W2": rng.normal(size=4), "b2": 0.2}


P = params()


def loss(p):
    h = np.tanh(X @ p["W1"] + p["b1"])  # (6, 4)
    return 0.5 * np.mean((h @ p["W2"] + p["b2"] - y) ** 2)


def grads(p, factor=None):
    h = np.tanh(X @ p["W1"] + p["b1"])
    ds = (h @ p["W2"] + p["b2"] - y) / len(y)  # (6,)
    dz = np.outer(ds, p["W2"]) * (1 - h**2)  # (6, 4)
    g = {"W1": X.T @ dz, "b1": dz.sum(axis=0), "W2": h.T @ ds, "b2": ds.sum()}
    if factor:
        g[factor[0]] = g[factor[0]] * factor[1]
    return g


def test_dict_parameters_pass_with_blocks_named_by_key():
    before = copy.deepcopy(P)
    r = gradlab.gradcheck(loss, P, grad=grads)
    assert r.passed, r.message()
    assert list(r.table["block"]) == ["W1", "b1", "W2", "b2"]
    assert r.evaluations == 2 * (12 + 4 + 4 + 1) + PROBE_EVALUATIONS
    assert all(np.array_equal(P[k], before[k]) for k in P)


def test_dict_bug_is_named_with_its_entry_and_hint():
    r = gradlab.gradcheck(loss, P, grad=lambda p: grads(p, ("W1", 6.0)))
    msg = r.message()
    assert r.status == "failed" and "worst entry W1[" in msg and "failing blocks: W1 (12/12 entries)" in msg
    assert "in W1 only, analytic/numeric = 6 for every entry" in msg
    fast = gradlab.gradcheck(loss, P, grad=lambda p: grads(p, ("b2", -1.0)), fast=True)
    assert "fast check: the projection disagrees" in fast.message() and "worst entry b2" in fast.message()


def test_nested_list_of_layers_is_named_by_path():
    layers = [{"W": P["W1"], "b": P["b1"]}, {"W": P["W2"], "b": P["b2"]}]

    def f(ls):
        return loss({"W1": ls[0]["W"], "b1": ls[0]["b"], "W2": ls[1]["W"], "b2": ls[1]["b"]})

    def g(ls, bug=False):
        d = grads({"W1": ls[0]["W"], "b1": ls[0]["b"], "W2": ls[1]["W"], "b2": ls[1]["b"]})
        return [{"W": d["W1"], "b": d["b1"] * (1.5 if bug else 1)}, {"W": d["W2"], "b": d["b2"]}]

    assert gradlab.gradcheck(f, layers, grad=g).passed
    r = gradlab.gradcheck(f, layers, grad=lambda ls: g(ls, bug=True))
    assert list(r.table["block"]) == ["x[0].W", "x[0].b", "x[1].W", "x[1].b"]
    assert "worst entry x[0].b[" in r.message()


def test_gradient_and_differentiate_keep_the_structure():
    g = gradlab.gradient(loss, P)
    assert set(g) == set(P) and g["W1"].shape == (3, 4) and isinstance(g["b2"], float)
    ref = grads(P)
    for k in P:
        np.testing.assert_allclose(g[k], ref[k], rtol=1e-7, atol=1e-10)
    r = gradlab.differentiate(loss, P, backend="richardson")
    assert r.evaluations == 4 * 21 and r.step["W1"].shape == (3, 4) and r.error["b2"].shape == ()


def test_tuple_is_positional_arguments_named_by_the_signature():
    def f(a, scale):
        return scale * np.sum(a**2)

    a = np.array([1.0, 2.0])
    ga, gs = gradlab.gradient(f, (a, 3.0))
    np.testing.assert_allclose(ga, 6 * a, rtol=1e-8)
    assert gs == pytest.approx(5.0)
    r = gradlab.gradcheck(f, (a, 3.0), grad=lambda a, scale: (2 * scale * a, np.sum(a**2) + 1))
    assert list(r.table["block"]) == ["a", "scale"] and "worst entry scale[" in r.message()
    r = gradlab.gradcheck(lambda *args: f(*args), (a, 3.0), grad=lambda *args: (6 * a, 5.0))
    assert list(r.table["block"]) == ["x[0]", "x[1]"] and r.passed
    with pytest.raises(TypeError, match=r"`x` is a tuple, so f is called with one argument per entry"):
        gradlab.gradient(lambda p: np.sum(p[0]), (a, a))


def test_flatten_round_trip_and_conventions():
    tree = {"a": np.arange(6.0).reshape(2, 3), "n": [np.float64(2.0), 3, {"deep key": np.ones(2, dtype=int)}]}
    flat, s = gradlab.flatten(tree)
    assert s.names == ("a", "n[0]", "n[1]", "n[2]['deep key']") and flat.dtype == np.float64
    back = s.unflatten(flat)
    assert isinstance(back["n"][0], np.float64) and isinstance(back["n"][1], float)
    assert back["n"][2]["deep key"].dtype == np.float64
    np.testing.assert_array_equal(back["a"], tree["a"])
    flat32, s32 = gradlab.flatten([np.ones(2, dtype=np.float32), 1.0])
    assert flat32.dtype == np.float32 and s32.unflatten(flat32)[0].dtype == np.float32
    # a list of plain numbers is still an array
    g = gradlab.gradient(lambda x: float(np.sum(x**2)), [1.0, 2.0])
    assert isinstance(g, np.ndarray) and g.shape == (2,)


@pytest.mark.parametrize(
    "bad, match",
    [
        (
            lambda p: {k: v for k, v in grads(p).items() if k != "b2"},
            r"`grad\(x\)` must have the keys of x.*missing \['b2'\]",
        ),
        (
            lambda p: {**grads(p), "W1": grads(p)["W1"].T},
            r"`grad\(x\)\['W1'\]` must have shape \(3, 4\) like x; got \(4, 3\)",
        ),
        (
            lambda p: {**grads(p), "b1": grads(p)["b1"].astype(np.float32)},
            r"`grad\(x\)\['b1'\]` must have dtype float64",
        ),
        (lambda p: list(grads(p).values()), r"`grad\(x\)` must be a dict with keys"),
        (lambda p: {**grads(p), "b1": np.full(4, np.nan)}, r"`grad\(x\)\['b1'\]` must be finite"),
    ],
)
def test_a_gradient_of_another_structure_is_named_by_path(bad, match):
    with pytest.raises((TypeError, ValueError), match=match):
        gradlab.gradcheck(loss, P, grad=bad)


def test_nested_mismatch_and_bad_leaves_are_named():
    layers = [{"W": np.ones((2, 2))}]
    with pytest.raises(ValueError, match=r"`grad\(x\)\[0\]\['W'\]` must have shape \(2, 2\)"):
        gradlab.gradcheck(lambda ls: np.sum(ls[0]["W"] ** 2), layers, grad=lambda ls: [{"W": np.ones(4)}])
    with pytest.raises(TypeError, match=r"`x\['act'\]` must be an array or a number; got 'relu'"):
        gradlab.gradient(loss, {**P, "act": "relu"})
    with pytest.raises(TypeError, match=r"one floating precision; got float32 \(a\) and float64 \(b\)"):
        gradlab.flatten({"a": np.ones(2, dtype=np.float32), "b": np.ones(2)})
    with pytest.raises(ValueError, match=r"`x\['b'\]` must be finite"):
        gradlab.gradient(loss, {"a": np.ones(2), "b": np.array([np.inf])})
    with pytest.raises(TypeError, match="structures are for plain functions"):
        net = gradlab.MLP([2, 2])
        gradlab.gradcheck(net.objective(np.ones((1, 2)), np.ones((1, 2))), {"W": np.ones(2)})


def test_f_writing_into_a_leaf_is_caught_and_the_caller_is_untouched():
    p = {"w": np.array([1.0, 2.0])}
    before = p["w"].copy()

    def f(q):
        q["w"][0] = 5.0
        return float(np.sum(q["w"]))

    with pytest.raises(FunctionWroteIntoItsArgument):
        gradlab.gradient(f, p)
    np.testing.assert_array_equal(p["w"], before)


def test_vjp_options():
    x = np.array([0.3, -0.7, 1.1])
    r = gradlab.gradcheck(np.sin, x, vjp=lambda x, u: u * np.cos(x), cotangent=np.array([1.0, 2.0, 3.0]))
    assert r.passed and "cotangent given" in r.message()
    r = gradlab.gradcheck(np.sin, x, vjp=lambda x, u: u * np.cos(x), seed=5)
    assert "np.random.default_rng(5).standard_normal" in r.message()
    with pytest.raises(ValueError, match=r"`cotangent` must have the shape of f\(x\), \(3,\); got \(2,\)"):
        gradlab.gradcheck(np.sin, x, vjp=lambda x, u: u, cotangent=np.ones(2))
    with pytest.raises(TypeError, match="not both"):
        gradlab.gradcheck(np.sin, x, vjp=lambda x, u: u, grad=np.cos)
    with pytest.raises(TypeError, match="needs `vjp=`"):
        gradlab.gradcheck(np.sin, x, grad=np.cos, cotangent=np.ones(3))
    with pytest.raises(ValueError, match=r"`vjp\(x, u\)\[1\]` must have shape \(2,\) like x; got \(3,\)"):
        gradlab.gradcheck(lambda a, b: a * b, (x[:2], x[1:]), vjp=lambda a, b, u: (u * b, np.ones(3)))


# the complex step: 4 complex evaluations and the gradient's 4 real ones of its cross-check
@pytest.mark.parametrize("backend, count", [("forward", 5), ("central", 8), ("richardson", 16), ("complex_step", 8)])
def test_jacobian_shape_counts_and_values(backend, count):
    calls = []
    A = rng.normal(size=(2, 3, 4))

    def f(x):
        calls.append(1)
        return np.tensordot(A, np.sin(x), axes=1)  # (2, 3)

    x = rng.normal(size=4)
    J = gradlab.jacobian(f, x, backend=backend)
    assert J.shape == (2, 3, 4) and len(calls) == count
    np.testing.assert_allclose(J, A * np.cos(x), rtol=1e-5, atol=1e-8)


def test_jacobian_of_a_structure_is_one_jacobian_per_leaf():
    J = gradlab.jacobian(lambda p: p["a"] * p["s"], {"a": np.array([1.0, 2.0]), "s": 3.0})
    np.testing.assert_allclose(J["a"], 3 * np.eye(2), atol=1e-9)
    np.testing.assert_allclose(J["s"], [1.0, 2.0], rtol=1e-9)
    with pytest.raises(TypeError, match="for a Jacobian"):
        gradlab.jacobian(np.sin, np.ones(2), backend="backprop")


def test_array_api_strict_leaves():
    xp = pytest.importorskip("array_api_strict")
    p = {"w": xp.asarray([0.5, -1.0, 2.0]), "c": xp.asarray(1.5)}

    def f(q):
        return xp.sum(q["w"] ** 2) * q["c"]

    g = gradlab.gradient(f, p)
    assert type(g["w"]) is type(p["w"]) and g["w"].dtype == xp.float64 and g["w"].device == p["w"].device
    np.testing.assert_allclose(np.asarray(g["w"]), 2 * 1.5 * np.array([0.5, -1.0, 2.0]), rtol=1e-8)
    r = gradlab.gradcheck(f, p, grad=lambda q: {"w": 2 * q["c"] * q["w"], "c": xp.sum(q["w"] ** 2)})
    assert r.passed and list(r.table["block"]) == ["w", "c"]
    x = xp.asarray([[0.2, -0.4], [0.9, 0.1]])
    r = gradlab.gradcheck(lambda x: xp.tanh(x), (x,), vjp=lambda x, u: (u * (1 - xp.tanh(x) ** 2),))
    assert r.passed
    bad = gradlab.gradcheck(lambda x: xp.tanh(x), (x,), vjp=lambda x, u: u)
    assert bad.status == "failed" and "worst entry x[1, 0]" in bad.message()


def test_torch_leaves_when_installed():
    torch = pytest.importorskip("torch")
    p = {"w": torch.tensor([0.5, -1.0], dtype=torch.float64)}
    g = gradlab.gradient(lambda q: torch.sum(q["w"] ** 3), p)
    assert isinstance(g["w"], torch.Tensor) and g["w"].dtype == torch.float64
    np.testing.assert_allclose(g["w"].numpy(), 3 * np.array([0.25, 1.0]), rtol=1e-8)
