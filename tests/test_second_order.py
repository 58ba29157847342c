"""The second-order check: gradcheck(..., hvp=), (..., hessian=), (obj, theta, order=2).

Every planted HVP bug caught and named by its block pair; no false alarm across activations
(ReLU and the hard ones included) and heads; a wrong gradient stops the check before the
Hessian; every option refused before f is evaluated."""

import dataclasses

import numpy as np
import pytest

import gradlab
from gradlab.experiments.hvpzoo import CORRECT, HVP_BUGS, ZOO_HEADS, HvpZooParams, detection_table, hvp_zoo
from gradlab.nn import ACTIVATIONS, HEADS


def _net(activation="tanh", output="softmax", loss="cross_entropy", sizes=(3, 4, 3, 2), l2=0.1, seed=0):
    net = gradlab.MLP(list(sizes), activation=activation, output=output, loss=loss, l2=l2)
    obj = net.objective(*net.random_batch(6, seed=seed))
    theta = net.init(seed=seed) + 0.1 * np.random.default_rng(seed + 1).normal(size=net.n_params)
    return obj, theta


def _pairs(result):
    return set(result.table.loc[result.table["n_failed"] > 0, "block"])


def test_order_2_passes_the_mlp_and_names_every_block_pair():
    obj, theta = _net()
    r = gradlab.gradcheck(obj, theta, order=2)
    assert r.status == "passed" and r.order == 2 and r.first_order.status == "passed"
    names = [b.name for b in obj.blocks()]
    assert list(r.table["block"]) == [f"H[{a}, {b}]" for b in names for a in names]
    assert r.reference == "complex_step"  # the complex step of backprop: exact to rounding
    assert "an HVP is the vjp of the gradient" in r.message()


# every activation with one head and every head with one activation in the plain run; the whole
# product (activations x heads) under the slow marker, which CI runs
_EVERY = [(a, o, l) for a in sorted(ACTIVATIONS) for o, l in HEADS]
_CROSS = {(a, "softmax", "cross_entropy") for a in sorted(ACTIVATIONS)} | {("tanh", o, l) for o, l in HEADS}


@pytest.mark.parametrize(
    "activation, output, loss",
    [c if c in _CROSS else pytest.param(*c, marks=pytest.mark.slow) for c in _EVERY],
)
def test_no_false_alarm_on_the_correct_hvp(activation, output, loss):
    obj, theta = _net(activation, output, loss, sizes=(2, 3, 2))
    r = gradlab.gradcheck(obj, theta, order=2)
    assert r.status == "passed", r.message()


def test_a_relu_net_says_what_is_measured():
    obj, theta = _net("relu")
    r = gradlab.gradcheck(obj, theta, order=2)
    assert r.passed
    assert any("the smooth piece that contains x" in note for note in r.notes)


@pytest.fixture(scope="module")
def zoo():
    """The quick zoo under one head (softmax + cross-entropy: every bug applies there), 16 checks; the
    quick zoo under all three heads, 43 checks and five seconds, is the slow test below."""
    return hvp_zoo(dataclasses.replace(HvpZooParams.quick(), heads=(ZOO_HEADS[0],)))


def _every_bug_caught_and_no_false_alarm(zoo, clean_rows):
    bugs = zoo[zoo["bug"] != CORRECT]
    assert set(bugs["bug"]) == set(HVP_BUGS)
    assert bugs["caught"].all(), bugs[~bugs["caught"]]
    clean = zoo[zoo["bug"] == CORRECT]
    assert len(clean) == clean_rows and (clean["status"] == "passed").all()
    table = detection_table(zoo).set_index("bug")
    assert table.loc[CORRECT, "failed"] == 0.0 and (table.drop(CORRECT)["failed"] == 1.0).all()


def test_every_planted_hvp_bug_is_caught_and_there_is_no_false_alarm(zoo):
    _every_bug_caught_and_no_false_alarm(zoo, clean_rows=3)


@pytest.mark.slow
def test_every_planted_hvp_bug_is_caught_under_every_head():
    zoo = hvp_zoo(HvpZooParams.quick())
    _every_bug_caught_and_no_false_alarm(zoo, clean_rows=9)
    for bug, expected in BLOCK_PAIRS:
        test_planted_bugs_are_named_by_their_block_pair(zoo, bug, expected)


BLOCK_PAIRS = [
    ("l2_on_biases", lambda pairs: pairs == {"H[b1, b1]", "H[b2, b1]", "H[b3, b1]"} or _only_bias_rows(pairs)),
    ("one_entry_slip", lambda pairs: all(p.startswith("H[W2, ") for p in pairs)),
    ("transposed_tangent", lambda pairs: all(p.split(", ")[1].startswith("W") for p in pairs)),
    ("rz_bias_tangent", lambda pairs: all(p.split(", ")[1].startswith("b") for p in pairs)),
    ("l2_factor_2", lambda pairs: {"H[W1, W1]", "H[W2, W2]", "H[W3, W3]"} <= pairs),
]


@pytest.mark.parametrize("bug, expected", BLOCK_PAIRS)
def test_planted_bugs_are_named_by_their_block_pair(zoo, bug, expected):
    for pairs in zoo.loc[zoo["bug"] == bug, "pairs"]:
        assert expected(set(pairs.split("; "))), pairs


def _only_bias_rows(pairs):
    # l2 db lands on the rows b_l of the columns b_l: the bias-bias diagonal blocks only
    return all(p.startswith("H[b") and p.split(", ")[1].startswith("b") for p in pairs) and pairs


def test_a_factor_2_is_hinted_per_pair():
    obj, theta = _net()

    def doubled(t, v):
        return 2 * obj.hvp(t, v)

    r = gradlab.gradcheck(obj, theta, hvp=doubled)
    assert r.status == "failed" and len(_pairs(r)) == len(r.table)
    assert any("analytic/numeric = 2" in h and "a factor 2" in h for h in r.hints), r.hints


def test_a_wrong_gradient_stops_before_the_hessian():
    obj, theta = _net()

    def wrong(t):
        return 1.01 * obj.gradient(t)

    r = gradlab.gradcheck(obj, theta, grad=wrong, order=2)
    assert r.status == "failed" and r.order == 2 and r.first_order.status == "failed"
    assert "second order not judged" in r.message()
    assert not any(b.startswith("H[") for b in r.table["block"])  # the gradient's table: W1, b1, ...


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


X0 = np.array([0.3, -0.8, 1.2, 0.5])


def test_a_plain_function_with_hvp_and_hessian():
    ok = gradlab.gradcheck(rosen, X0, grad=rosen_grad, hvp=lambda x, v: rosen_hess(x) @ v)
    assert ok.status == "passed" and list(ok.table["block"]) == ["H[x, x]"]
    assert gradlab.gradcheck(rosen, X0, grad=rosen_grad, hessian=rosen_hess).passed
    bad = gradlab.gradcheck(rosen, X0, grad=rosen_grad, hvp=lambda x, v: 1.001 * rosen_hess(x) @ v)
    assert bad.status == "failed"


def test_an_asymmetric_hessian_is_failed_and_named():
    params = {"a": np.array([0.3, -0.2]), "b": np.array([0.7])}

    def f(p):
        return np.sum(p["a"] ** 2) * p["b"][0] ** 2 + p["b"][0] ** 3

    def g(p):
        a, b = p["a"], p["b"][0]
        return {"a": 2 * a * b**2, "b": np.array([2 * np.sum(a**2) * b + 3 * b**2])}

    def H(p):
        a, b = p["a"], p["b"][0]
        M = np.zeros((3, 3))
        M[:2, :2] = 2 * b**2 * np.eye(2)
        M[:2, 2] = M[2, :2] = 4 * a * b
        M[2, 2] = 2 * np.sum(a**2) + 6 * b
        return M

    assert gradlab.gradcheck(f, params, grad=g, hessian=H).passed

    def one_triangle(p):
        M = H(p)
        M[2, :2] = 0.0  # H[b, a] left empty: only the upper triangle filled
        return M

    r = gradlab.gradcheck(f, params, grad=g, hessian=one_triangle)
    assert r.status == "failed"
    assert "H[a, b] differs from H[b, a]^T" in r.message()
    assert "H[b, a]" in _pairs(r)

    def hvp(p, v):
        return {
            "a": 4 * p["a"] * p["b"][0] * v["b"][0] + 2 * p["b"][0] ** 2 * v["a"],
            "b": (H(p) @ np.r_[v["a"], v["b"]])[2:],
        }

    assert gradlab.gradcheck(f, params, grad=g, hvp=hvp).passed


def test_fast_mode_projects_and_localises_on_a_disagreement():
    obj, theta = _net()
    ok = gradlab.gradcheck(obj, theta, order=2, fast=True)
    assert ok.passed and ok.evaluations < gradlab.gradcheck(obj, theta, order=2).evaluations
    assert all(b.endswith(", :]") for b in ok.table["block"])
    bad = gradlab.gradcheck(obj, theta, hvp=HVP_BUGS["l2_on_biases"].hvp(obj), fast=True)
    assert bad.status == "failed" and all(p.startswith("H[b") for p in _pairs(bad))


class Untouchable:
    """An f that must not be evaluated: every bad option is refused first."""

    def __call__(self, x):
        raise AssertionError("f was evaluated before the options were checked")


@pytest.mark.parametrize(
    "kw, error, match",
    [
        ({"order": 3}, ValueError, "`order` must be 1 .* or 2 .*; got 3"),
        ({"order": "2"}, TypeError, "`order` must be 1"),
        ({"order": True}, TypeError, "`order` must be 1"),
        ({"hvp": "no"}, TypeError, "`hvp` must be a callable hvp"),
        ({"hessian": 3}, TypeError, "`hessian` must be a callable hessian"),
        ({"hvp": lambda x, v: v, "hessian": lambda x: x}, TypeError, "either `hvp=`"),
        ({"order": 2}, TypeError, "`order` = 2 checks the objective's own hvp, and f has none"),
        ({"hvp": lambda x, v: v, "vjp": lambda x, u: u}, TypeError, "`vjp=` checks a backward pass only"),
        ({"hvp": lambda x, v: v, "jvp": lambda x, v: v}, TypeError, "`jvp=` checks a forward rule only"),
        ({"order": 2, "rtol": -1.0}, ValueError, "`rtol` must be a positive finite float"),
    ],
)
def test_every_second_order_option_is_checked_before_any_evaluation(kw, error, match):
    with pytest.raises(error, match=match):
        gradlab.gradcheck(Untouchable(), X0, grad=rosen_grad, **kw)


def test_bad_hessian_output_is_named():
    with pytest.raises(ValueError, match=r"`hessian\(x\)` must return an array of shape \(4, 4\)"):
        gradlab.gradcheck(rosen, X0, grad=rosen_grad, hessian=lambda x: np.eye(3))
    with pytest.raises(ValueError, match=r"`hvp\(x, v\)` must return an array shaped like x"):
        gradlab.gradcheck(rosen, X0, grad=rosen_grad, hvp=lambda x, v: v[:2])


def test_a_users_gradient_of_the_mlp_is_not_assumed_to_take_complex_input():
    obj, theta = _net()

    def real_only(t):
        if np.iscomplexobj(t):
            raise TypeError("real input only")
        return obj.gradient(t)

    r = gradlab.gradcheck(obj, theta, grad=real_only, order=2)
    assert r.passed and r.first_order.reference == "complex_step" and r.reference == "central"


def test_the_check_command_takes_order_2(capsys):
    from gradlab import cli

    assert cli.main(["check", "--sizes", "3,4,2", "--order", "2"]) == 0
    out = capsys.readouterr().out
    assert "gradcheck passed: backprop then obj.hvp" in out and "H[b2, W1]" in out


def test_the_check_command_refuses_order_2_for_a_layer_model(capsys):
    from gradlab import cli

    with pytest.raises(SystemExit) as info:
        cli.main(["check", "--model", "cnn", "--order", "2"])
    assert info.value.code == 2
    assert "argument --order: 2 checks the MLP's exact HVP; --model cnn has none" in capsys.readouterr().err
