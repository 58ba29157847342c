"""Cost against size: every backend over a ladder of networks ``[w, w, w, 10]``, batch 64.

One question per group: how does this backend's time grow with N?  Rows are named by N
(``central-N0000090``), so ``--benchmark-sort=name`` lists them in N order.  Each benchmark
records in ``extra_info`` what it measured (``backend``, ``n_params``, ``evaluations``,
``backward_passes``, the network, ``batch``, ``dtype``, BLAS and threads) and the peak
extra memory of one call (``peak_bytes``, by tracemalloc, taken outside the timing), and
asserts it: the evaluation count exactly where the backend declares it exact and at most
its bound where it declares a bound (``Backend.evaluations_exact``), the backward passes,
the gradient against backprop's, the memory within O(N) for the differences.

The backends that take a step are timed as the textbook loop (``batch=1``: one evaluation of
J per call, what the seeds count); ``test_batched`` times central differences and the complex
step again with their perturbations handed to the network in batches (``batch="auto"``), as
the series ``"<backend> batched"``, and asserts the same evaluation count as the loop's, the
gradient within the backend's rounding bound of the loop's, and memory within O(K N).
Run: ``pytest --benchmark-only`` (add ``--benchmark-json=FILE`` for ``gradlab report``).
"""

import numpy as np
import pytest

import gradlab
from benchmarks.sizes import n_id, pick
from gradlab.backends import all_backends, get, stencil
from gradlab.backends.base import ROUNDING_FACTOR
from gradlab.backends.complex_step import ROUNDING
from gradlab.experiments.cost import batched_name, ladder_problem
from gradlab.objective import Counted
from gradlab.timing import blas_info, peak_bytes

BATCH = 64
#: N = 2 w^2 + 12 w + 10: 42, 90, 234, 442, 714, 1,450, 2,442, 4,992, 8,970, 34,314, 134,154, 530,442, 988,410.
#: The default is the ladder of `gradlab report` (quick), so that its report from this file's JSON
#: covers the same sizes as its own sweep
WIDTHS = pick(
    quick=[2, 4, 8, 16],
    default=[2, 4, 8, 12, 16, 24, 32, 64, 128, 256],
    full=[2, 4, 8, 16, 32, 47, 64, 128, 256, 512, 700],
)
#: backends that take a step (cost ~ N^2): to N = 1,450 by default (as the report), 8,970 in full
FD_WIDTHS = pick(quick=[2, 4, 8, 16], default=[2, 4, 8, 12, 16, 24], full=[2, 4, 8, 16, 32, 47, 64])
PROBLEMS: dict = {}
#: half a second of rounds per fast benchmark (pytest-benchmark's default is one): 30 of them
pytestmark = pytest.mark.benchmark(max_time=0.5)


def problem(width):
    """The objective, the point and backprop's gradient (the reference every backend must give)."""
    if width not in PROBLEMS:
        obj, theta = ladder_problem(width, batch=BATCH)
        PROBLEMS[width] = obj, theta, gradlab.gradient(obj, theta, backend="backprop")
    return PROBLEMS[width]


def n_params(width):
    return 2 * width**2 + 12 * width + 10


def memory_budget(backend, obj) -> int:
    """Bytes one call may add at most: the cached forward pass (one activation array per layer, a
    few times over), plus O(N) -- the gradient for backprop, a few vectors per stencil point for
    differences (a copy of x per parameter would be 8 N^2); K times the cache and K directions for
    forward mode, which carries K tangents a pass."""
    n, cache = obj.n_params, 8 * BATCH * sum(obj.net.sizes)
    if backend == "objective":
        return 6 * cache + 100_000
    b = get(backend)
    if b.kind == "analytic":
        return 8 * n + 6 * cache + 100_000
    if b.jvps(n):  # forward mode carries K tangents a pass: K copies of the cache, K directions of N
        k = min(n, getattr(b, "tangents_per_pass", n))
        return k * (6 * cache + 8 * n) + 8 * n + 200_000
    return 8 * (6 * max(2, len(b.offsets)) + 12) * n + 6 * cache + 200_000


def record(benchmark, backend, obj, evaluations, backward_passes, call, jvps=0, budget=None):
    benchmark.extra_info.update(
        backend=backend,
        n_params=int(obj.n_params),
        evaluations=int(evaluations),
        backward_passes=int(backward_passes),
        jvps=int(jvps),
        sizes=[int(s) for s in obj.net.sizes],
        width=int(obj.net.sizes[1]),
        depth=len(obj.net.sizes) - 2,
        batch=BATCH,
        dtype=obj.net.dtype.name,
        peak_bytes=peak_bytes(call),
        **blas_info(),
    )
    if backend != "torch":  # torch's allocator is invisible to tracemalloc
        assert 0 < benchmark.extra_info["peak_bytes"] <= (memory_budget(backend, obj) if budget is None else budget)


def run(benchmark, call, slow: bool):
    if slow:  # seconds per call: fixed rounds instead of minutes of calibration
        return benchmark.pedantic(call, rounds=3, warmup_rounds=0, iterations=1)
    return benchmark(call)


@pytest.mark.parametrize("width", WIDTHS, ids=lambda w: n_id(n_params(w)))
def test_objective(benchmark, width):
    """One evaluation of J: the unit in which finite-difference cost is counted."""
    obj, theta, _ = problem(width)
    benchmark.group = "cost vs N: objective (one evaluation of J)"
    value = obj(theta)
    assert np.isfinite(value) and 0 < value < 2 * np.log(10)  # a cross-entropy of 10 classes near its start
    record(benchmark, "objective", obj, 1, 0, lambda: obj(theta))
    run(benchmark, lambda: obj(theta), slow=False)


#: every registered backend; those that pay a pass per entry (a step's, forward mode's) stop at
#: FD_WIDTHS: their cost grows as N^2
CASES = [(b.name, w) for b in all_backends() for w in (FD_WIDTHS if b.per_entry else WIDTHS)]


@pytest.mark.parametrize("backend, width", CASES, ids=[f"{b}-{n_id(n_params(w))}" for b, w in CASES])
def test_backend(benchmark, backend, width):
    obj, theta, reference = problem(width)
    b = get(backend)
    benchmark.group = f"cost vs N: {backend}"
    # the textbook loop for the backends that take a step (test_batched times them batched)
    call = lambda: gradlab.differentiate(obj, theta, backend=backend, batch=1)  # noqa: E731
    r = call()
    n = obj.n_params
    assert n == n_params(width)
    if b.evaluations_exact:
        assert r.evaluations == b.evaluations(n)
    else:  # a declared upper bound (adaptive: its count adapts to f)
        assert 0 < r.evaluations <= b.evaluations(n)
    assert r.backward_passes == (1 if b.kind == "analytic" else 0) and r.jvps == b.jvps(n)
    # the gradient it was timed for: backprop's, to 1e-5 of the largest entry (forward differences,
    # the least accurate scheme, are near 1e-8 here)
    np.testing.assert_allclose(r.gradient, reference, rtol=0, atol=1e-5 * np.abs(reference).max())
    record(benchmark, backend, obj, r.evaluations, r.backward_passes, call, jvps=r.jvps)
    run(benchmark, call, slow=b.per_entry and width >= 16)


BATCHED = [(b, w) for b in ("central", "complex_step") for w in FD_WIDTHS]


@pytest.mark.parametrize("backend, width", BATCHED, ids=[f"{b}-{n_id(n_params(w))}" for b, w in BATCHED])
def test_batched(benchmark, backend, width):
    """The same gradient with its perturbations in batches: the loop's evaluations, in fewer calls."""
    obj, theta, reference = problem(width)
    b = get(backend)
    benchmark.group = f"cost vs N: {batched_name(backend)}"
    call = lambda: gradlab.differentiate(obj, theta, backend=backend)  # noqa: E731  (batch="auto", the default)
    r, loop = call(), gradlab.differentiate(obj, theta, backend=backend, batch=1)
    n = obj.n_params
    assert r.evaluations == loop.evaluations == b.evaluations(n)  # K points are K evaluations
    eps = float(np.finfo(theta.dtype).eps)
    if backend == "complex_step":  # eps times what adds up to Im J, at the gradient's scale
        bound = ROUNDING * eps * np.abs(loop.gradient).max()
    else:
        bound = ROUNDING_FACTOR * b.rounding_constant * eps * abs(float(obj(theta))) / loop.step
    assert np.all(np.abs(r.gradient - loop.gradient) <= bound)
    np.testing.assert_allclose(r.gradient, reference, rtol=0, atol=1e-5 * np.abs(reference).max())
    K = stencil.batch_size(Counted(obj), theta, (2 if backend == "complex_step" else 1) * theta.itemsize)
    c = 2 if backend == "complex_step" else 1  # complex numbers take two floats
    # one stack of K points and their comparison with the base, and K points' activations (the
    # loop's cache, K times), beside the loop's own budget: O(K (N + batch x widths))
    cache = 8 * BATCH * sum(obj.net.sizes)
    budget = memory_budget(backend, obj) + K * (2 * n * 8 * c + 4 * cache * c)
    record(benchmark, batched_name(backend), obj, r.evaluations, 0, call, budget=budget)
    benchmark.extra_info["points_per_call"] = int(K)
    run(benchmark, call, slow=width >= 24)


@pytest.mark.parametrize("width", WIDTHS, ids=lambda w: n_id(n_params(w)))
def test_torch_autograd(benchmark, width):
    """The same network and loss under torch autograd (float64), as a peer; skipped without torch."""
    torch = pytest.importorskip("torch")
    obj, theta, reference = problem(width)
    net = obj.net
    torch.set_num_threads(1)
    params = [torch.tensor(p.copy(), requires_grad=True) for p in net.params(theta).values()]
    X = torch.from_numpy(obj.X.copy())
    labels = torch.from_numpy(obj.Y.argmax(axis=1).copy())

    def call():
        for p in params:
            p.grad = None
        a = X
        for i in range(0, len(params) - 2, 2):
            a = torch.tanh(torch.nn.functional.linear(a, params[i], params[i + 1]))
        z = torch.nn.functional.linear(a, params[-2], params[-1])
        torch.nn.functional.cross_entropy(z, labels).backward()

    call()  # the same loss: torch's gradient is backprop's, an independent check of both
    got = np.concatenate([p.grad.numpy().reshape(-1) for p in params])
    np.testing.assert_allclose(got, reference, rtol=1e-9, atol=1e-12 * np.abs(reference).max())
    benchmark.group = "cost vs N: torch autograd (peer)"
    record(benchmark, "torch", obj, 1, 1, call)
    run(benchmark, call, slow=False)
