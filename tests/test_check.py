"""gradcheck: passes correct gradients, catches wrong ones and names where they are wrong."""

import numpy as np
import pytest

import gradlab
from gradlab.backends import get
from gradlab.backends.complex_step import CROSS_CHECK_EVALUATIONS
from gradlab.check.probe import PROBE_EVALUATIONS
from tests.netdata import make_data


@pytest.fixture
def case():
    net = gradlab.MLP([4, 7, 5, 3], activation="tanh", output="softmax", loss="cross_entropy", l2=0.01)
    X, Y = make_data(net, 12, seed=3)
    theta = net.init(seed=1) + 0.05 * np.random.default_rng(2).normal(size=net.n_params)
    return net, net.objective(X, Y), theta


def _backprop(obj):
    return lambda th: gradlab.gradient(obj, th, backend="backprop")


def test_correct_gradient_passes_with_a_block_table(case):
    net, obj, theta = case
    r = gradlab.gradcheck(obj, theta)
    assert r.passed and r.max_rel_error < r.rtol
    assert list(r.table["block"]) == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert list(r.table["size"]) == [28, 7, 35, 5, 15, 3]
    assert r.table["passed"].all() and (r.table["n_failed"] == 0).all()
    assert r.max_rel_error == pytest.approx(r.table["max_rel_error"].max())
    # the complex step (n), what the check learns of f first and the real cross-check;
    # no Taylor test for a pass: it adds nothing then
    assert (
        r.reference == "complex_step"
        and r.evaluations == net.n_params + PROBE_EVALUATIONS + CROSS_CHECK_EVALUATIONS
        and r.taylor is None
    )
    central = gradlab.gradcheck(obj, theta, reference="central")
    assert central.passed and central.evaluations == 2 * net.n_params + PROBE_EVALUATIONS
    assert "gradcheck passed" in r.message()


@pytest.mark.parametrize("block", ["W1", "b1", "W2", "b2", "W3", "b3"])
def test_a_gradient_wrong_by_a_tenth_of_a_percent_fails_and_names_its_block(case, block):
    net, obj, theta = case

    def broken(th):
        g = gradlab.gradient(obj, th, backend="backprop")
        net.params(g)[block][...] *= 1.001
        return g

    r = gradlab.gradcheck(obj, theta, grad=broken)
    assert not r.passed
    assert list(r.table.loc[~r.table["passed"], "block"]) == [block]
    assert f"worst entry {block}[" in r.message()
    assert "analytic/numeric = 1.001" in r.message()
    with pytest.raises(gradlab.GradcheckError, match=f"failing blocks: {block} "):
        r.raise_if_failed()


def test_a_single_wrong_entry_is_located_exactly(case):
    net, obj, theta = case

    def broken(th):
        g = gradlab.gradient(obj, th, backend="backprop")
        net.params(g).W2[3, 1] += 1e-4
        return g

    r = gradlab.gradcheck(obj, theta, grad=broken)
    row = r.table.set_index("block").loc["W2"]
    assert not row["passed"] and row["n_failed"] == 1 and row["worst_index"] == (3, 1)
    assert "worst entry W2[3, 1]" in r.message()


def test_swapped_layers_are_caught(case):
    net, obj, theta = case

    def no_hidden_derivative(th):  # a classic: BP2 without f'(z)
        p = net.params(th)
        zs, acts = net.forward_cache(th, obj.X)
        g = gradlab.gradient(obj, th, backend="backprop")
        G = net.params(g)
        delta = (acts[-1] - obj.Y) / len(obj.X)
        delta = delta @ p.W3  # missing * (1 - a^2)
        G.W2[...] = delta.T @ acts[1] + 0.01 * p.W2
        return g

    r = gradlab.gradcheck(obj, theta, grad=no_hidden_derivative)
    assert list(r.table.loc[~r.table["passed"], "block"]) == ["W2"]


def test_plain_callable_with_user_gradient():
    f = lambda x: float(np.sum(np.sin(x) * x))  # noqa: E731
    good = lambda x: np.sin(x) + x * np.cos(x)  # noqa: E731
    x = np.linspace(-2, 2, 9)
    r = gradlab.gradcheck(f, x, grad=good)
    assert r.passed and list(r.table["block"]) == ["x"] and r.analytic_source == "grad"
    r_bad = gradlab.gradcheck(f, x, grad=lambda x: np.sin(x) + x * np.cos(x) * 1.001)
    assert not r_bad.passed


def test_multidimensional_point_reports_nd_index():
    x = np.arange(6.0).reshape(2, 3) / 10
    f = lambda v: float(np.sum(v**2))  # noqa: E731
    grad = lambda v: 2 * v + np.where(np.arange(6).reshape(2, 3) == 5, 1e-3, 0)  # noqa: E731
    r = gradlab.gradcheck(f, x, grad=grad)
    assert r.table.loc[0, "worst_index"] == (1, 2) and r.table.loc[0, "shape"] == "2x3"


def test_forward_reference_uses_its_own_tolerance(case):
    _, obj, theta = case
    r = gradlab.gradcheck(obj, theta, reference="forward")
    # forward differences resolve ~1e-8 |f|: small entries may stay unverified, never "failed"
    assert r.status != "failed" and r.rtol == get("forward").tolerance("float64")[0]


def test_explicit_tolerances_decide(case):
    _, obj, theta = case
    r = gradlab.gradcheck(obj, theta, reference="central", rtol=1e-14, atol=1e-300)
    assert (r.rtol, r.atol) == (1e-14, 1e-300)  # the analytic side's slack; the reference's own error is added


def test_assert_helper_raises_assertion_error_with_the_message(case):
    net, obj, theta = case
    assert gradlab.assert_gradcheck(obj, theta).passed

    def broken(th):
        return -gradlab.gradient(obj, th, backend="backprop")

    with pytest.raises(AssertionError) as info:
        gradlab.assert_gradcheck(obj, theta, grad=broken)
    assert isinstance(info.value, gradlab.GradcheckError)
    assert "analytic/numeric = -1" in str(info.value)
    assert info.value.result.passed is False


def test_user_gradient_cannot_mutate_the_callers_point():
    x = np.ones(3)

    def grad(v):
        v += 1.0
        return 2 * v

    gradlab.gradcheck(lambda v: float(np.sum(v**2)), x, grad=grad)
    assert np.all(x == 1.0)
