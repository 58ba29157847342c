"""Batched perturbations: Counted.values, the kernel's batched path, the networks' values(points).

What is claimed, and tested as claimed:

- the kernel hands ``values`` the loop's points, bit for bit, and puts each value where the
  loop puts it: with an objective whose ``values`` evaluates each point as ``value`` does, the
  gradient, the Jacobian and every count are bitwise the loop's;
- the MLP's and the networks' ``values`` differ from ``value`` by rounding only (a few eps of
  the magnitudes involved), bitwise where only a bias of the last layer moves (and, in a
  network, wherever nothing is stacked); so a batched gradient is within
  the backend's own rounding bound of the loop's (not bitwise);
- counts are exact (K points, K evaluations); plain callables keep the loop; ``batch=`` is
  validated; memory is O(K n).
"""

import numpy as np
import pytest

import gradlab
from gradlab import nn
from gradlab.backends import stencil
from gradlab.backends.base import ROUNDING_FACTOR
from gradlab.backends.complex_step import ROUNDING
from gradlab.backends.front import resolve
from gradlab.objective import Counted, FunctionObjective
from gradlab.timing import peak_bytes

rng = np.random.default_rng(19)
EPS = np.finfo(np.float64).eps


class Exact(FunctionObjective):
    """A plain function that also evaluates many points, each exactly as ``value`` does; it
    records the batches it was handed."""

    def __init__(self, f):
        super().__init__(f)
        self.calls = []

    def values(self, points):
        self.calls.append(points.copy())
        return np.array([self.f(p) for p in points])


def smooth(x):
    x = x.reshape(-1)
    return np.sum(np.sin(x) * np.arange(1, x.size + 1)) + np.prod(np.cos(x[:3]))


def vector(x):
    return np.stack([np.sin(x) * x[0], x**2])  # (2, n): an array-valued f


@pytest.mark.parametrize("backend", ["forward", "central", "richardson", "complex_step"])
def test_the_kernel_is_bitwise_the_loop_for_an_exact_values_with_the_loops_counts(backend):
    x = rng.normal(size=(3, 5))
    loop = gradlab.differentiate(smooth, x, backend=backend)  # a plain callable: the loop
    exact = Exact(smooth)
    batched = gradlab.differentiate(exact, x, backend=backend, batch=7)
    assert np.array_equal(batched.gradient, loop.gradient)
    assert batched.evaluations == loop.evaluations == resolve(backend).evaluations(x.size)
    assert exact.calls and all(len(c) <= 7 and c.shape[1:] == x.shape for c in exact.calls)
    # every point moves one entry of x, and the moved entries cover x at every moving offset
    moving = max(1, sum(o != 0 for o in resolve(backend).offsets))
    moved = [np.flatnonzero(p != x) for c in exact.calls for p in c]
    assert all(len(e) == 1 for e in moved)
    assert sorted(int(e[0]) for e in moved) == sorted(list(range(x.size)) * moving)
    assert np.array_equal(x, x.copy())  # the caller's x untouched (read-only points elsewhere)


@pytest.mark.parametrize("backend", ["central", "complex_step"])
def test_a_batched_jacobian_is_bitwise_the_loops(backend):
    x = rng.normal(size=6)
    loop = gradlab.jacobian(vector, x, backend=backend)

    exact = Exact(vector)
    batched = gradlab.jacobian(exact, x, backend=backend, batch=4)
    assert batched.shape == (2, 6, 6) and np.array_equal(batched, loop)
    assert exact.calls and max(len(c) for c in exact.calls) == 4


def test_plain_callables_keep_the_loop_and_batch_1_is_the_textbook_loop():
    assert not Counted(smooth).batched and not Counted(Exact(smooth), batch=1).batched
    assert Counted(Exact(smooth)).batched
    exact = Exact(smooth)
    gradlab.gradient(exact, np.ones(4), batch=1)
    assert exact.calls == []
    assert stencil.batch_size(Counted(Exact(smooth), batch=3), np.ones(10)) == 3
    big = np.ones(stencil.BATCH_BYTES // 8 // 4)  # four points fill the budget
    assert stencil.batch_size(Counted(Exact(smooth)), big) == 4
    assert stencil.batch_size(Counted(Exact(smooth)), np.ones(2)) == stencil.MAX_BATCH


@pytest.mark.parametrize(
    "bad, kind, shown",
    [(0, ValueError, "0"), (-3, ValueError, "-3"), (2.0, TypeError, "2.0"), ("fast", ValueError, "'fast'"),
     (True, TypeError, "True"), (None, TypeError, "None")],
)  # fmt: skip
def test_batch_is_validated_at_every_entry_point(bad, kind, shown):
    message = f"`batch` must be 'auto' or a positive integer; got {shown}"
    for call in (gradlab.gradient, gradlab.differentiate, gradlab.jacobian):
        with pytest.raises(kind) as info:
            call(vector if call is gradlab.jacobian else smooth, np.ones(3), batch=bad)
        assert str(info.value) == message


def test_counted_values_checks_what_values_returns_and_names_the_point():
    class Bad(Exact):
        def __init__(self, out):
            super().__init__(smooth)
            self.out = out

        def values(self, points):
            return self.out(points)

    x = np.zeros(4)
    stack = np.repeat(x[None], 3, axis=0)
    stack[np.arange(3), [0, 1, 2]] = 1e-3
    where = (np.array([0, 1, 2]), np.array([1.0, 1.0, -1.0]))
    c = Counted(Bad(lambda p: np.array([1.0, np.nan, 2.0])))
    c.evaluations = 10
    with pytest.raises(ValueError, match=r"finite scalar; got nan at evaluation 12 \(at x \+ h\*e\[1\]\)"):
        c.values(stack, where)
    assert c.evaluations == 13  # three points, three evaluations, counted though they failed
    with pytest.raises(TypeError, match="must return 3 scalars for 3 points"):
        Counted(Bad(lambda p: np.ones((3, 1)))).values(stack, where)
    with pytest.raises(TypeError, match="real value for complex input"):
        Counted(Bad(lambda p: np.ones(3))).values(stack.astype(complex), where)

    def writes(p):
        p[0, 0] = 1.0
        return np.ones(3)

    with pytest.raises(ValueError, match="writes into its argument"):
        Counted(Bad(writes)).values(stack, where)
    assert stack.flags.writeable  # handed back writeable


def _mlp(sizes=(5, 6, 4, 3), activation="tanh", output="softmax", loss="cross_entropy", l2=0.0, dtype=np.float64):
    net = gradlab.MLP(list(sizes), activation=activation, output=output, loss=loss, l2=l2, dtype=dtype)
    X, Y = net.random_batch(11, seed=2)
    return net.objective(X, Y), net.init(seed=3)


def _stencil_points(theta, entries, step, imaginary=False):
    P = np.repeat(theta[None].astype(complex if imaginary else theta.dtype), len(entries), axis=0)
    if imaginary:
        P.imag[np.arange(len(entries)), entries] = step
    else:
        P[np.arange(len(entries)), entries] += step
    return P


def _scale(obj, theta):
    """What adds up to J, in magnitude: the size a rounding error of J is measured against."""
    return abs(float(obj.value(theta))) + 1.0


@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_mlp_values_are_value_up_to_rounding_at_every_layer_and_bitwise_for_the_last_bias(l2):
    obj, theta = _mlp(l2=l2)
    entries = np.arange(obj.n_params)  # every weight and bias of every layer
    P = _stencil_points(theta, entries, 1e-3)
    got = obj.values(P)
    want = np.array([obj.value(p) for p in P])
    assert np.all(np.abs(got - want) <= 64 * EPS * _scale(obj, theta))
    # a bias of the last layer moves one column of z[L], computed as the loop computes it: bitwise
    last = obj.blocks()[-1]
    assert np.array_equal(got[last.slice], want[last.slice])
    assert not np.array_equal(got, want)  # the rest within rounding (the rank-one and outer-product terms)
    # the base itself and a point moving two entries are evaluated by value: bitwise
    two = theta.copy()
    two[[0, -1]] += 1e-3
    mixed = np.stack([theta, two, P[5], P[7]])
    assert np.array_equal(obj.values(mixed)[:2], [obj.value(theta), obj.value(two)])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mlp_complex_values_carry_the_derivative_as_the_loop_does(dtype):
    obj, theta = _mlp(activation="sigmoid", output="sigmoid", sizes=(4, 5, 3, 1), dtype=dtype)
    step = 1e-20
    P = _stencil_points(theta, np.arange(obj.n_params), step, imaginary=True).astype(stencil.complex_dtype(theta.dtype))
    got = obj.values(P)
    want = np.array([obj.value(p) for p in P])
    eps = float(np.finfo(dtype).eps)
    g = want.imag / step
    assert np.all(np.abs(got.imag / step - g) <= 16 * eps * (np.abs(g) + 1e-3 * np.abs(g).max()))
    assert np.all(np.abs(got.real - want.real) <= 64 * eps * (np.abs(want.real) + 1))


@pytest.mark.parametrize("backend", ["central", "richardson", "complex_step"])
def test_a_batched_mlp_gradient_is_within_the_backends_rounding_bound_of_the_loops(backend):
    obj, theta = _mlp(l2=0.1)
    loop = gradlab.differentiate(obj, theta, backend=backend, batch=1)
    batched = gradlab.differentiate(obj, theta, backend=backend)
    assert batched.evaluations == loop.evaluations
    impl = resolve(backend)
    f0 = abs(float(obj.value(theta)))
    if backend == "complex_step":
        # eps times what adds up to Im J: an entry whose terms cancel (|g_i| small) is not held
        # to eps |g_i|, which neither computation meets (see ComplexStep.recheck)
        bound = ROUNDING * EPS * np.abs(loop.gradient).max()
    else:
        bound = ROUNDING_FACTOR * impl.rounding_constant * EPS * f0 / loop.step
    assert np.all(np.abs(batched.gradient - loop.gradient) <= bound + 1e-300)
    assert not np.array_equal(batched.gradient, gradlab.gradient(obj, theta, backend="forward"))  # not vacuous


def test_the_batch_size_never_changes_a_value_and_a_split_gives_the_same_bits():
    from gradlab.backends.difference import node_values

    obj, theta = _mlp()
    steps = np.full(theta.size, 1e-4)
    whole, _ = node_values(Counted(obj, batch=64), theta, (-1.0, 1.0), steps)
    parts = [node_values(Counted(obj, batch=b), theta, (-1.0, 1.0), steps, lo, hi)[0]
             for b, lo, hi in ((6, 0, 13), (64, 13, 40), (10, 40, theta.size))]  # fmt: skip
    assert np.array_equal(np.concatenate(parts), whole)


def test_default_gradcheck_on_the_mlp_batches_with_the_loops_verdict_and_count(monkeypatch):
    obj, theta = _mlp(sizes=(4, 5, 3))
    calls = []
    original = type(obj).values
    monkeypatch.setattr(type(obj), "values", lambda self, p: calls.append(len(p)) or original(self, p))
    batched = gradlab.gradcheck(obj, theta)
    assert calls and max(calls) > 2
    monkeypatch.setattr(stencil, "MAX_BATCH", 1)  # every call one point: the loop
    calls.clear()
    loop = gradlab.gradcheck(obj, theta)
    assert calls == []
    assert batched.status == loop.status == "passed" and batched.evaluations == loop.evaluations


def test_network_values_stack_where_layers_allow_and_are_value_up_to_rounding():
    layers = [nn.Conv2d(1, 2, 3), nn.Activation("tanh"), nn.Flatten(), nn.Dense(2 * 4 * 4, 5),
              nn.Activation("tanh"), nn.Dense(5, 3)]  # fmt: skip
    for extra in ([], [nn.Dropout(0.3, seed=1)]):  # a dropout's mask is drawn per batch shape: not stacked
        net = nn.Network([*layers[:4], *extra, *layers[4:]], loss="cross_entropy", input_shape=(1, 6, 6))
        obj = net.objective(*net.random_batch(7, seed=1))
        theta = net.init(seed=2)
        P = _stencil_points(theta, np.arange(net.n_params), 1e-3)
        got, want = obj.values(P), np.array([obj.value(p) for p in P])
        assert np.all(np.abs(got - want) <= 64 * EPS * _scale(obj, theta))
        if extra:  # above the dropout nothing is stacked: every layer runs per point, bitwise
            dense = net.blocks[2].offset  # dense1.W onwards: the perturbed layer and those above per point
            assert np.array_equal(got[dense:], want[dense:])
        g = gradlab.differentiate(obj, theta, backend="complex_step")
        assert np.allclose(g.gradient, obj.gradient(theta), rtol=1e-9, atol=1e-12)


def test_batched_memory_is_o_of_k_n():
    from gradlab.experiments.cost import ladder_problem

    obj, theta = ladder_problem(28, batch=8)  # n = 1,914
    n = obj.n_params
    K = stencil.batch_size(Counted(obj), theta)
    peak = peak_bytes(lambda: gradlab.differentiate(obj, theta, backend="central"))
    # one stack of K points (reused by every call), their comparison with the base (bools),
    # and the loop's few vectors
    assert peak < 1.5 * K * n * 8 + 30 * 8 * n + 500_000
    assert peak < 8 * n * n / 8  # far from a copy per parameter


def test_an_objective_that_computes_j_its_own_way_is_evaluated_by_its_own_value():
    from gradlab.nn.mlp import MLPObjective

    obj, theta = _mlp()

    class Shifted(MLPObjective):  # a value of its own: values must not bypass it
        def value(self, t):
            return super().value(t) + 1.0

    shifted = Shifted(obj.net, obj.X, obj.Y)
    P = _stencil_points(theta, np.arange(5), 1e-3)
    assert np.array_equal(shifted.values(P), [obj.value(p) + 1.0 for p in P])


def test_a_head_whose_formula_is_not_the_tables_is_summed_by_its_own_total():
    from dataclasses import replace

    from gradlab.nn.batched import totals

    obj, _ = _mlp()
    head = obj.net.head
    odd = replace(head, total=lambda z, y: 2.0 * head.total(z, y))  # same names, another formula
    z = rng.normal(size=(4, obj.X.shape[0], 3))
    assert np.array_equal(totals(odd, z, obj.Y), [2.0 * head.total(zk, obj.Y) for zk in z])
    assert np.array_equal(totals(head, z, obj.Y), [head.total(zk, obj.Y) for zk in z])  # the table's: bitwise


class Bar:
    """A progress bar that records its updates."""

    def __init__(self):
        self.steps = []

    def update(self, k):
        self.steps.append(k)


def test_a_progress_bar_advances_by_every_entry_once_in_batches():
    obj, theta = _mlp()
    bar = Bar()
    steps = np.full(theta.size, 1e-4)
    values = stencil.node_values(Counted(obj, batch=8), theta, (-1.0, 1.0), stencil.nodes(theta, (-1.0, 1.0), steps)[0],
                                 progress=bar)  # fmt: skip
    assert sum(bar.steps) == theta.size and values.shape == (theta.size, 2)
    assert len(bar.steps) == -(-theta.size // max(4, stencil.PROGRESS_SLICE // 4 * 4))  # one update per slice


def _reference_mlp_values(obj, points):
    """``mlp_values`` as it was written before its arrays came from a workspace (fresh arrays for
    every (G, m, n) temporary): the values the rewrite must reproduce to the bit."""
    from gradlab.nn.activations import log_softmax
    from gradlab.nn.batched import _MLPBase, base_of

    net, X, Y = obj.net, obj.X, obj.Y
    base = base_of(points)
    cache = _MLPBase(net, X, base)
    diff = points != base
    moved, entry = np.count_nonzero(diff, axis=1), diff.argmax(axis=1)
    out = np.empty(len(points), dtype=points.dtype if points.dtype.kind == "c" else net.dtype)
    for k in np.flatnonzero(moved != 1):
        out[k] = obj.value(points[k])
    single = np.flatnonzero(moved == 1)
    layer_of = np.searchsorted(cache.starts, entry[single], side="right") - 1
    for l in range(net.n_layers):
        rows = single[layer_of == l]
        if not rows.size:
            continue
        q = entry[rows]
        G = len(rows)
        wsl, (n_out, n_in), bsl = net._layout[l]
        a, u = cache.inputs[l], cache.products[l]
        m = a.shape[0]
        new = points[rows, q]
        is_bias = q >= bsl.start
        i = np.where(is_bias, q - bsl.start, (q - wsl.start) // n_in)
        j = np.where(is_bias, 0, (q - wsl.start) % n_in)
        col = np.empty((G, m), dtype=np.result_type(points.dtype, u.dtype))
        col[...] = u.T[i]
        w = ~is_bias
        col[w] += (new[w] - cache.base[q[w]])[:, None] * a.T[j[w]]
        col += np.where(is_bias, new, cache.layers[l][1][i])[:, None]
        if l == net.n_layers - 1:
            z = np.repeat(cache.zs[l][None].astype(col.dtype), G, axis=0)
            z[np.arange(G), :, i] = col
        else:
            delta = net.hidden[l].f(col) - cache.inputs[l + 1].T[i]
            W1 = cache.layers[l + 1][0]
            z = (cache.zs[l + 1][None] + delta[:, :, None] * W1.T[i][:, None, :]).reshape(G * m, -1)
            for l2 in range(l + 2, net.n_layers):
                A = net.hidden[l2 - 1].f(z)
                W, bias = cache.layers[l2]
                if A.dtype.kind == "c":
                    z = np.empty(A.shape[:-1] + (W.shape[0],), dtype=A.dtype)
                    z.real, z.imag = A.real @ W.T, A.imag @ W.T
                else:
                    z = A @ W.T
                z += bias
            z = z.reshape(G, m, -1)
        n = z.shape[2]
        if (net.head.output_name, net.head.loss_name) == ("softmax", "cross_entropy"):
            J = -(Y * log_softmax(z.reshape(G * m, n)).reshape(G, m, n)).reshape(G, m * n).sum(axis=1)
        else:
            J = np.array([net.head.total(z[k], Y) for k in range(G)])
        J = J / m
        if net.l2:
            own, terms = points[rows, wsl], cache.squares
            J = J + 0.5 * net.l2 * np.array(
                [sum([*terms[:l], np.dot(own[k], own[k]), *terms[l + 1 :]]) for k in range(G)]
            )
        out[rows] = J
    return out


@pytest.mark.parametrize("complex_points", [False, True])
@pytest.mark.parametrize(("activation", "output", "loss", "l2", "dtype"), [
    ("tanh", "softmax", "cross_entropy", 0.0, np.float64),
    ("tanh", "softmax", "cross_entropy", 0.1, np.float32),
    ("sigmoid", "softmax", "cross_entropy", 0.0, np.float64),
    ("relu", "identity", "mse", 0.0, np.float64),
])  # fmt: skip
def test_mlp_values_in_workspace_memory_are_bitwise_the_fresh_array_computation(
    complex_points, activation, output, loss, l2, dtype
):
    # the workspace rewrite runs the same operations with out= arguments: every value is the
    # fresh-array computation's to the bit, on a first call, on a repeated one (reused memory,
    # the base cached) and on one of fewer points (a prefix of the same memory)
    from gradlab.nn.batched import mlp_values

    net = nn.MLP([7, 6, 5, 4], activation=activation, output=output, loss=loss, l2=l2, dtype=dtype)
    X, Y = net.random_batch(9, seed=1)
    obj, theta = net.objective(X, Y), net.init(seed=2)
    g = np.random.default_rng(5)
    for K in (40, 40, 13):
        entries = np.concatenate([np.arange(theta.size), g.integers(0, theta.size, K)])[
            g.permutation(theta.size + K)[:K]
        ]
        cdt = np.complex64 if dtype == np.float32 else np.complex128
        points = np.repeat(theta[None], K, axis=0).astype(cdt if complex_points else dtype)
        if complex_points:
            points.imag[np.arange(K), entries] = 1e-20
        else:
            points[np.arange(K), entries] += g.normal(size=K) * 1e-3
        points[0, :2] += 0.5  # a point that moves two entries: evaluated by value
        got = mlp_values(obj, points)
        want = _reference_mlp_values(obj, points)
        assert got.dtype == want.dtype
        assert np.array_equal(got.view(np.uint8), want.view(np.uint8))  # bitwise, -0.0 and all


def test_batched_mlp_values_reuse_their_memory_across_calls_of_any_size():
    # steady state: after the first call, calls of fewer points (a chunk's last, partial batch) and
    # of as many again allocate no scratch array (the workspace hands back the same ones)
    from gradlab.nn import _workspace
    from gradlab.nn.batched import mlp_values

    net = nn.MLP([7, 6, 5, 4], activation="tanh", output="softmax", loss="cross_entropy")
    X, Y = net.random_batch(9, seed=1)
    obj, theta = net.objective(X, Y), net.init(seed=2)

    def points(K):
        p = np.repeat(theta[None], K, axis=0)
        p[np.arange(K), np.arange(K) % theta.size] += 1e-3
        return p

    first = mlp_values(obj, points(40))
    key = ("batched-mlp", tuple(s for _, s, _ in net._layout), 9, np.dtype(np.float64), net.dtype)
    ws = _workspace.workspace(key)
    held = {name: a for name, a in ws._arrays.items()}
    assert {"z", "a", "diff"} <= set(held) and ws.nbytes == sum(a.nbytes for a in held.values())
    mlp_values(obj, points(13))
    again = mlp_values(obj, points(40))
    assert all(ws._arrays[name] is a for name, a in held.items()) and set(ws._arrays) == set(held)
    assert np.array_equal(first, again)
    # at_least: grows, never shrinks, and a new dtype is a new array
    a = ws.at_least("probe", 10, np.dtype(np.float64))
    assert (
        ws.at_least("probe", 4, np.dtype(np.float64)) is a and ws.at_least("probe", 11, np.dtype(np.float64)).size == 11
    )
    assert ws.at_least("probe", 4, np.dtype(np.float32)).dtype == np.float32


def test_the_kept_forward_pass_is_not_pickled_with_the_objective():
    pickle = pytest.importorskip("cloudpickle")  # what dask sends objectives with (the loss table has lambdas)
    net = gradlab.MLP([6, 8, 3], activation="tanh", output="softmax", loss="cross_entropy")
    X, Y = net.random_batch(16, seed=0)
    obj, theta = net.objective(X, Y), net.init(seed=0)
    bare = len(pickle.dumps(obj))
    g = gradlab.gradient(obj, theta, backend="central")  # batched: keeps the base's forward pass
    assert getattr(obj, "_stacked_base", None) is not None
    again = pickle.loads(pickle.dumps(obj))
    assert len(pickle.dumps(obj)) == bare and not hasattr(again, "_stacked_base")
    assert np.array_equal(gradlab.gradient(again, theta, backend="central"), g)


@pytest.mark.parametrize("complex_points", [False, True])
def test_a_warm_batched_call_makes_no_large_transient_array(complex_points):
    # A dask worker's allocator hands every freed chunk of 64 KiB or more back to the system
    # (MALLOC_TRIM_THRESHOLD_=65536), so a transient of that size is page-faulted in again on every
    # call: the base's copy and numpy's 128 KiB ufunc buffers cost 10-15% of a check there.  After a
    # first call, a call of stencil points allocates only small (K,)-sized arrays and buffers under
    # 32 KiB: its peak of transient memory stays under 160 KiB (it was 240-420 KiB before), and the
    # ufunc buffer size it lowers is the caller's again afterwards.
    import tracemalloc

    w = 80  # N = 13,770: the dask benchmark's network
    net = gradlab.MLP([w, w, w, 10], activation="tanh", output="softmax", loss="cross_entropy")
    X, Y = net.random_batch(64, seed=0)
    obj, theta = net.objective(X, Y), net.init(seed=0)
    K = 64
    bufsize = np.getbufsize()
    for start in (0, 6_400, 13_000):  # entries of W1, W2, W3: every layer's path
        points = np.repeat(theta[None].astype(complex if complex_points else float), K, axis=0)
        if complex_points:
            points.imag[np.arange(K), start + np.arange(K)] = 1e-20
        else:
            points[np.arange(K), start + np.arange(K)] += 1e-4
        first = obj.values(points)
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            again = obj.values(points)
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
        assert np.array_equal(first, again)
        assert peak < 160 * 2**10, (start, peak)
        assert np.getbufsize() == bufsize


def test_points_that_move_no_entry_or_several_are_evaluated_by_value():
    # the moved-entry count is 0, 1 or "more": the base itself and a point that moves two entries
    # (one of them anywhere after the first) are each J at that point, to the bit
    obj, theta = _mlp()
    points = np.repeat(theta[None], 6, axis=0)
    points[1, 3] += 1e-3  # one entry
    points[2, [3, theta.size - 1]] += 1e-3  # two, far apart
    points[3, [0, 1]] -= 1e-3  # two, adjacent
    points[4, 5] += 1e-3
    got = obj.values(points)
    for k in (0, 2, 3, 5):  # 0 and 5: theta itself
        assert got[k] == obj.value(points[k])
    np.testing.assert_allclose(got[[1, 4]], [obj.value(points[1]), obj.value(points[4])], rtol=1e-13)


def test_the_complex_step_kernel_advances_a_progress_bar_by_every_entry_once():
    obj, theta = _mlp(sizes=(9, 20, 20, 3))
    steps = np.full(theta.size, 1e-20)
    for batch in (1, 8):  # the loop and the batched kernel
        bar = Bar()
        real, imag = stencil.complex_values(Counted(obj, batch=batch), theta, steps, progress=bar)
        assert sum(bar.steps) == theta.size and imag.shape == (theta.size,)
        assert len(bar.steps) == -(-theta.size // stencil.PROGRESS_SLICE)  # one update per slice
        assert np.array_equal(imag, stencil.complex_values(Counted(obj, batch=batch), theta, steps)[1])
