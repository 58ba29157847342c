"""The scratch arrays backprop and the HVP reuse between calls (gradlab.nn._workspace): results never
alias them, threads never share them, a call re-entered from inside another gets its own, and the
fused product of R of BP4 is the sum of the two it replaces."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from gradlab.nn import MLP, Rules
from gradlab.nn import _workspace as wsmod
from gradlab.nn.backprop import RULES
from gradlab.nn.mlp import _all_finite
from gradlab.nn.rop import _rbp4


@pytest.fixture(scope="module")
def problem():
    net = MLP([5, 7, 7, 3], activation="tanh", output="softmax")
    obj = net.objective(*net.random_batch(9, seed=1))
    rng = np.random.default_rng(2)
    thetas = [net.init(seed=s) + 0.3 * rng.standard_normal(net.n_params) for s in range(4)]
    vs = [rng.standard_normal(net.n_params) for _ in range(4)]
    return obj, thetas, vs


def test_results_are_fresh_arrays_that_a_later_call_leaves_alone(problem):
    obj, thetas, vs = problem
    g0, h0 = obj.gradient(thetas[0]), obj.hvp(thetas[0], vs[0])
    g0_copy, h0_copy = g0.copy(), h0.copy()
    g1, h1 = obj.gradient(thetas[1]), obj.hvp(thetas[1], vs[1])  # same shapes: the same workspace
    assert not np.shares_memory(g0, g1) and not np.shares_memory(h0, h1)
    np.testing.assert_array_equal(g0, g0_copy)
    np.testing.assert_array_equal(h0, h0_copy)
    assert not np.array_equal(g0, g1) and not np.array_equal(h0, h1)
    # and a repeated call gives the same bits: nothing stale in the reused arrays changes the result
    np.testing.assert_array_equal(obj.gradient(thetas[0]), g0)
    np.testing.assert_array_equal(obj.hvp(thetas[0], vs[0]), h0)


def test_the_caller_arrays_are_never_written(problem):
    obj, thetas, vs = problem
    theta, v = thetas[2].copy(), vs[2].copy()
    X, Y = obj.X.copy(), obj.Y.copy()
    obj.gradient(theta)
    obj.hvp(theta, v)
    np.testing.assert_array_equal(theta, thetas[2])
    np.testing.assert_array_equal(v, vs[2])
    np.testing.assert_array_equal(obj.X, X)
    np.testing.assert_array_equal(obj.Y, Y)


def test_threads_get_their_own_workspaces_and_the_serial_bits(problem):
    obj, thetas, vs = problem
    expected = [(obj.gradient(t).copy(), obj.hvp(t, v).copy()) for t, v in zip(thetas, vs)]
    barrier, failures = threading.Barrier(4), []

    def work(i):
        barrier.wait()  # all four in flight together, each on its own point
        for _ in range(25):
            for j in (i, (i + 1) % 4):
                g, h = obj.gradient(thetas[j]), obj.hvp(thetas[j], vs[j])
                if not (np.array_equal(g, expected[j][0]) and np.array_equal(h, expected[j][1])):
                    failures.append(j)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_a_call_reentered_from_a_rule_gets_a_private_workspace(problem):
    obj, thetas, _ = problem
    expected = obj.gradient(thetas[0]).copy()
    inner = []

    def fprime(net, zs, acts, k):  # a local rule that runs a whole backprop of the same shape inside
        inner.append(obj.gradient(thetas[1]))
        return RULES.fprime(net, zs, acts, k)

    got = obj.gradient(thetas[0], rules=Rules(fprime=fprime))
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(inner[0], obj.gradient(thetas[1]))


def test_a_thread_keeps_a_bounded_number_of_workspaces():
    keys = [("test", k) for k in range(wsmod.KEEP + 3)]
    for key in keys:
        with wsmod.workspace(key) as ws:
            ws.array("x", (2, 2), np.float64)
    spaces = wsmod._local.spaces
    assert len(spaces) == wsmod.KEEP
    assert keys[-1] in spaces and keys[0] not in spaces
    with wsmod.workspace(keys[-1]) as ws:
        a = ws.array("x", (2, 2), np.float64)
        assert ws.array("x", (2, 2), np.float64) is a  # same name, shape, dtype: the same memory
        assert ws.array("x", (2, 3), np.float64) is not a
        assert ws.array("x", (2, 3), np.float32).dtype == np.float32


def test_a_thread_keeps_no_more_than_its_byte_budget(monkeypatch):
    monkeypatch.setattr(wsmod, "BUDGET", 10_000)
    with wsmod.workspace(("test", "small")) as ws:
        ws.array("x", (100,), np.float64)  # 800 bytes: kept
    with wsmod.workspace(("test", "large")) as ws:
        big = ws.array("x", (2_000,), np.float64)  # 16,000 bytes: more than the budget
        assert ws.nbytes == 16_000
    spaces = wsmod._local.spaces
    assert ("test", "large") not in spaces and ("test", "small") not in spaces  # the large one dropped last
    with wsmod.workspace(("test", "large")) as ws:
        assert ws.array("x", (2_000,), np.float64) is not big  # a fresh one: nothing was held
    with wsmod.workspace(("test", "small")) as ws:
        ws.array("x", (100,), np.float64)
    with wsmod.workspace(("test", "small2")) as ws:
        ws.halves("d", 10, 10, np.float64)  # 1,600 bytes
        assert ws.nbytes == 1_600
    assert ("test", "small") in spaces and ("test", "small2") in spaces  # 2,400 bytes: both kept


def test_whole_finds_only_the_two_halves_the_workspace_in_use_made():
    with wsmod.workspace(("test", "halves")) as ws:
        top, bottom = ws.halves("d", 3, 4, np.float64)
        assert ws.halves("d", 3, 4, np.float64) == (top, bottom)  # the same view objects on every call
        base = wsmod.whole(top, bottom)
        assert base.shape == (6, 4) and np.shares_memory(base[:3], top) and np.shares_memory(base[3:], bottom)
        base[...] = np.arange(24.0).reshape(6, 4)
        np.testing.assert_array_equal(top, base[:3])
        assert wsmod.whole(bottom, top) is None  # the order matters: [top; bottom]
        assert wsmod.whole(base[:3], base[3:]) is None  # equal views, but not the registered ones
        assert wsmod.whole(top, top.copy()) is None
        other, _ = ws.halves("e", 3, 4, np.float64)
        assert wsmod.whole(other, bottom) is None
    assert wsmod.whole(top, bottom) is None  # no workspace in use


def test_the_fused_product_of_r_bp4_is_the_two_products_summed():
    rng = np.random.default_rng(3)
    m, n, n_prev = 6, 4, 5
    fused, apart = np.empty((n, n_prev)), np.empty((n, n_prev))
    with wsmod.workspace(("test", "rbp4")) as ws:
        (rdelta, delta), (a, ra) = ws.halves("d", m, n, np.float64), ws.halves("a", m, n_prev, np.float64)
        for half in (rdelta, delta, a, ra):
            half[...] = rng.standard_normal(half.shape)
        assert wsmod.whole(rdelta, delta) is not None and wsmod.whole(a, ra) is not None  # one product
        _rbp4(rdelta, delta, a, ra, fused)
        _rbp4(rdelta.copy(), delta.copy(), a.copy(), ra.copy(), apart)  # copies: not halves, two products
    reference = rdelta.T @ a + delta.T @ ra
    np.testing.assert_allclose(fused, reference, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(apart, reference, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_all_finite_sees_every_nonfinite_entry_and_no_false_one(dtype):
    x = np.linspace(-3, 3, 101).astype(dtype)
    assert _all_finite(x)
    for bad in (np.nan, np.inf, -np.inf):
        y = x.copy()
        y[57] = bad
        assert not _all_finite(y)
    huge = np.full(4, np.finfo(dtype).max / 2, dtype=dtype)  # x . x overflows, every entry finite
    assert _all_finite(huge)
    assert not _all_finite(np.array([[1.0, np.nan]], dtype=dtype))  # not a vector: entrywise
    assert not _all_finite(np.array([1.0, complex(np.inf, 0.0)]))
    assert _all_finite(np.array([1.0, 1e200j]))


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "softplus"])
def test_f_second_from_the_noted_f_prime_is_the_table_s_to_the_last_bit(activation):
    # the HVP's f'' reuses the forward pass's f' (Activation.d2f_fp, found by fprime_of): the product
    # must be bitwise the one that recomputes f'' from the table (softplus has no d2f_fp: the table's)
    from gradlab.nn import HvpRules

    net = MLP([4, 6, 5, 3], activation=activation, output="softmax")
    obj = net.objective(*net.random_batch(8, seed=3))
    rng = np.random.default_rng(4)
    theta = net.init(seed=1) + 0.5 * rng.standard_normal(net.n_params)
    v = rng.standard_normal(net.n_params)
    recomputed = obj.hvp(theta, v, rules=HvpRules(fsecond=lambda act, z, a: act.d2f(z, a)))
    np.testing.assert_array_equal(obj.hvp(theta, v), recomputed)
    act = net.hidden[0]
    z = rng.standard_normal((8, 6)) * 4
    a = act.f(z)
    if act.d2f_fp is not None:
        np.testing.assert_array_equal(act.d2f_fp(z, a, act.df(z, a)), act.d2f(z, a))


def test_fprime_of_answers_only_for_the_noted_array_in_the_call():
    z, fp = np.ones((2, 3)), np.full((2, 3), 0.5)
    assert wsmod.fprime_of(z) is None  # no workspace in use
    with wsmod.workspace(("test", "fprime")) as ws:
        ws.note_fprime(z, fp)
        assert wsmod.fprime_of(z) is fp
        assert wsmod.fprime_of(z.copy()) is None and wsmod.fprime_of(z[:]) is None
    with wsmod.workspace(("test", "fprime")) as ws:
        assert wsmod.fprime_of(z) is None  # notes end with their call
