"""Cost against size: every backend over a ladder of networks ``[w, w, w, 10]``, batch 64.

One question per group: how does this backend's time grow with N?  Each benchmark
records in ``extra_info`` what it measured (``backend``, ``n_params``, ``evaluations``,
``backward_passes``, the network, ``batch``, ``dtype``, BLAS and threads) and the peak
extra memory of one call (``peak_bytes``, by tracemalloc, taken outside the timing).
Run: ``pytest --benchmark-only`` (add ``--benchmark-json=FILE`` for ``gradlab report``).
"""

import pytest

import gradlab
from gradlab.backends import all_backends, get
from gradlab.experiments.cost import ladder_problem
from gradlab.timing import blas_info, peak_bytes

BATCH = 64
WIDTHS = [2, 4, 8, 16, 32, 47, 64, 128, 256, 512, 700]  # N = 42 ... 988,410
FD_WIDTHS = [2, 4, 8, 16, 32, 47, 64]  # N = 42 ... 8,970: up to about a second per gradient
PROBLEMS: dict = {}


def problem(width):
    if width not in PROBLEMS:
        PROBLEMS[width] = ladder_problem(width, batch=BATCH)
    return PROBLEMS[width]


def record(benchmark, backend, obj, evaluations, backward_passes, call, jvps=0):
    benchmark.extra_info.update(
        backend=backend,
        n_params=int(obj.n_params),
        evaluations=int(evaluations),
        backward_passes=int(backward_passes),
        jvps=int(jvps),
        sizes=[int(s) for s in obj.net.sizes],
        batch=BATCH,
        dtype=obj.net.dtype.name,
        peak_bytes=peak_bytes(call),
        **blas_info(),
    )


def run(benchmark, call, slow: bool):
    if slow:  # seconds per call: fixed rounds instead of minutes of calibration
        return benchmark.pedantic(call, rounds=3, warmup_rounds=0, iterations=1)
    return benchmark(call)


@pytest.mark.parametrize("width", WIDTHS, ids=lambda w: f"w{w}")
def test_objective(benchmark, width):
    """One evaluation of J: the unit in which finite-difference cost is counted."""
    obj, theta = problem(width)
    benchmark.group = "cost vs N: objective (one evaluation of J)"
    record(benchmark, "objective", obj, 1, 0, lambda: obj(theta))
    run(benchmark, lambda: obj(theta), slow=False)


#: every registered backend; those that pay a pass per entry (a step's, forward mode's) stop at
#: FD_WIDTHS: their cost grows as N^2
CASES = [(b.name, w) for b in all_backends() for w in (FD_WIDTHS if b.per_entry else WIDTHS)]


@pytest.mark.parametrize("backend, width", CASES, ids=[f"{b}-w{w}" for b, w in CASES])
def test_backend(benchmark, backend, width):
    obj, theta = problem(width)
    benchmark.group = f"cost vs N: {backend}"
    call = lambda: gradlab.differentiate(obj, theta, backend=backend)  # noqa: E731
    r = call()
    assert r.evaluations == get(backend).evaluations(obj.n_params) and r.jvps == get(backend).jvps(obj.n_params)
    record(benchmark, backend, obj, r.evaluations, r.backward_passes, call, jvps=r.jvps)
    run(benchmark, call, slow=get(backend).per_entry and width >= 16)


@pytest.mark.parametrize("width", WIDTHS, ids=lambda w: f"w{w}")
def test_torch_autograd(benchmark, width):
    """The same network and loss under torch autograd (float64), as a peer; skipped without torch."""
    torch = pytest.importorskip("torch")
    obj, theta = problem(width)
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

    benchmark.group = "cost vs N: torch autograd (peer)"
    record(benchmark, "torch", obj, 1, 1, call)
    run(benchmark, call, slow=False)
