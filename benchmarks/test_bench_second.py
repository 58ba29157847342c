"""Second order against size: the exact HVP (R-operator) beside one backprop gradient, and a full
Hessian three ways, over the cost ladder's networks ``[w, w, w, 10]``, batch 64.

One question per group: "HVP vs backprop" -- how much more than a gradient does an exact HVP
cost (the R-operator's model: 1.5 to 2.7 gradients; the issue's bound 2.5 at N >= 1e4)?
"full Hessian" -- how does each way to a Hessian grow with N (2N^2 evaluations of f, 2N
gradients, N HVPs)?  Rows are named by N (``hvp-N0034314``).  Each benchmark records in
``extra_info`` what it measured (``method``, ``n_params``, exact counts, the network, BLAS and
threads) and asserts it: the HVP against the complex step of backprop along v (exact to
rounding), each Hessian's exact count and its agreement with the exact one.  One BLAS thread, as
the ratio is about the arithmetic, not the machine's cores.  Sizes follow ``--bench-size``.
Run: ``pytest benchmarks/test_bench_second.py --benchmark-only``.
"""

import numpy as np
import pytest

import gradlab
from benchmarks.sizes import n_id, pick
from gradlab.experiments.cost import ladder_problem
from gradlab.timing import blas_info, blas_threads

BATCH = 64
#: N = 2 w^2 + 12 w + 10: 714 (w 16), 8,970 (64), 34,314 (128), 134,154 (256), 530,442 (512)
HVP_WIDTHS = pick(quick=[16], default=[16, 64, 128, 256], full=[16, 64, 128, 256, 512])
#: a full Hessian: N = 42 ... 714 (2N gradients, N HVPs); second differences of f to N = 64 (2N^2 evaluations)
HESSIAN_WIDTHS = pick(quick=[2, 4], default=[2, 4, 8, 16], full=[2, 4, 8, 16, 32])
F_WIDTHS = pick(quick=[2], default=[2, 3], full=[2, 3, 4])
PROBLEMS: dict = {}


def problem(width):
    if width not in PROBLEMS:
        PROBLEMS[width] = ladder_problem(width, batch=BATCH)
    return PROBLEMS[width]


@pytest.fixture(autouse=True)
def one_blas_thread():
    with blas_threads(1):
        yield


def record(benchmark, method, obj, **counts):
    benchmark.extra_info.update(
        method=method,
        n_params=int(obj.n_params),
        sizes=[int(s) for s in obj.net.sizes],
        batch=BATCH,
        dtype=obj.net.dtype.name,
        **{k: int(c) for k, c in counts.items()},
        **blas_info(),
    )


def n_params(width):
    return 2 * width**2 + 12 * width + 10


HVP_CASES = [(m, w) for w in HVP_WIDTHS for m in ("backprop", "hvp")]


@pytest.mark.parametrize("method, width", HVP_CASES, ids=[f"{m}-{n_id(n_params(w))}" for m, w in HVP_CASES])
def test_hvp_vs_backprop(benchmark, method, width):
    obj, theta = problem(width)
    v = np.random.default_rng(0).standard_normal(obj.n_params)
    benchmark.group = f"HVP vs backprop: {n_id(obj.n_params)}"
    if method == "hvp":  # what is timed is right: the derivative of backprop along v, exact to rounding
        ref = obj.gradient(theta + 1e-20j * v).imag / 1e-20
        assert np.abs(obj.hvp(theta, v) - ref).max() <= 1e-10 * np.abs(ref).max()
    call = (lambda: obj.gradient(theta)) if method == "backprop" else (lambda: obj.hvp(theta, v))
    record(benchmark, method, obj, backward_passes=1)
    benchmark(call)


CASES = [("f", w) for w in F_WIDTHS] + [(m, w) for m in ("gradient", "hvp") for w in HESSIAN_WIDTHS]


@pytest.mark.parametrize("method, width", CASES, ids=[f"{m}-{n_id(n_params(w))}" for m, w in CASES])
def test_full_hessian(benchmark, method, width):
    obj, theta = problem(width)
    n = obj.n_params
    if method == "f":
        call = lambda: gradlab.hessian(obj.__call__, theta)  # noqa: E731  a plain callable: differences of f
    elif method == "gradient":
        call = lambda: gradlab.hessian(obj, theta)  # noqa: E731  central differences of backprop
    else:
        call = lambda: gradlab.hessian(obj, theta, backend="backprop")  # noqa: E731  N exact HVPs
    r = call()
    assert (
        r.evaluations + r.gradient_evaluations + r.hvp_evaluations
        == {
            "f": 1 + 2 * n + 2 * n * (n - 1),
            "gradient": 2 * n,
            "hvp": n,
        }[method]
    )
    benchmark.group = f"full Hessian: {method}"
    record(benchmark, method, obj, evaluations=r.evaluations, gradients=r.gradient_evaluations, hvps=r.hvp_evaluations)
    benchmark.pedantic(call, rounds=3, warmup_rounds=0, iterations=1)
