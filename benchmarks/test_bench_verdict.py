"""The price of a trustworthy verdict, side by side: gradlab's default check (auto: the complex
step, cross-checked), the central-difference check, the fast check, and, when torch is
installed, torch.autograd.gradcheck in full and in fast mode on the same network.

One benchmark runs every checker in interleaved rounds (checker 1, 2, ..., then again), one
thread each, and keeps the median seconds, evaluations and the ratio to torch in
``extra_info``; the table is printed at the end.  It asserts that every checker passes this
correct gradient and the evaluation counts (at least 2N for the central check, N for the
default, fewer than N for the fast check).  Run:
``pytest benchmarks/test_bench_verdict.py --benchmark-only -s``.
"""

import statistics
import time

import numpy as np
import pytest

import gradlab
from benchmarks.sizes import pick

WIDTH, BATCH = 20, 64
ROUNDS = pick(quick=1, default=5, full=9)


def _problem():
    net = gradlab.MLP([WIDTH, WIDTH, WIDTH, 10], activation="tanh", output="softmax", loss="cross_entropy")
    X, Y = net.random_batch(BATCH, seed=0)
    return net, net.objective(X, Y), net.init(seed=0) + 0.01


def _torch_checks(net, X, Y, theta):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    Xt, Yt = torch.tensor(X), torch.tensor(Y)
    shapes = [(b.name, b.offset, b.shape) for b in net.blocks]

    def J(flat):  # the same network and loss, in torch, of the flat parameter vector
        a = Xt
        layers = [(flat[o : o + int(np.prod(s))].reshape(s)) for _, o, s in shapes]
        for i in range(0, len(layers), 2):
            z = a @ layers[i].T + layers[i + 1]
            a = torch.tanh(z) if i + 2 < len(layers) else z
        return -(Yt * torch.log_softmax(a, dim=1)).sum() / Xt.shape[0]

    t = torch.tensor(theta, requires_grad=True)
    from torch.autograd import gradcheck

    return {
        "torch gradcheck (full)": lambda: gradcheck(J, (t,), eps=1e-6, atol=1e-5, rtol=1e-3),
        "torch gradcheck (fast_mode)": lambda: gradcheck(J, (t,), eps=1e-6, atol=1e-5, rtol=1e-3, fast_mode=True),
    }


def test_the_price_of_a_verdict(benchmark):
    from threadpoolctl import threadpool_limits

    net, obj, theta = _problem()
    checks = {
        "gradlab default (auto)": lambda: gradlab.gradcheck(obj, theta),
        "gradlab central": lambda: gradlab.gradcheck(obj, theta, reference="central"),
        "gradlab fast": lambda: gradlab.gradcheck(obj, theta, fast=True),
    }
    try:
        checks |= _torch_checks(net, obj.X, obj.Y, theta)
    except pytest.skip.Exception:
        pass
    seconds = {name: [] for name in checks}
    evaluations = {}
    with threadpool_limits(1):
        for name, call in checks.items():  # warm up, count, and judge: every checker passes this correct gradient
            out = call()
            evaluations[name] = getattr(out, "evaluations", None)
            assert out.passed if name.startswith("gradlab") else out is True, f"{name}: {out}"
        for _ in range(ROUNDS):
            for name, call in checks.items():
                t0 = time.perf_counter()
                call()
                seconds[name].append(time.perf_counter() - t0)
    med = {name: statistics.median(s) for name, s in seconds.items()}
    rows = []
    for name in checks:
        row = {"checker": name, "median_s": med[name], "evaluations": evaluations[name]}
        for ref in ("torch gradcheck (full)", "torch gradcheck (fast_mode)"):
            if ref in med:
                row[f"/ {ref}"] = med[name] / med[ref]
        rows.append(row)
    benchmark.group = "gradcheck: the price of the verdict, against torch"
    benchmark.extra_info.update(n_params=int(net.n_params), rounds=ROUNDS, rows=rows)
    n = net.n_params
    assert evaluations["gradlab central"] >= 2 * n  # the reference's 2n, and the checker's own few
    assert evaluations["gradlab default (auto)"] >= n and evaluations["gradlab fast"] < n
    assert all(np.isfinite(t) and t > 0 for t in med.values())
    print(f"\nN = {net.n_params}, batch {BATCH}, one thread, median of {ROUNDS} interleaved rounds")
    for row in rows:
        print("  " + ", ".join(f"{k}: {v:.4g}" if isinstance(v, float) else f"{k}: {v}" for k, v in row.items()))
    benchmark.pedantic(checks["gradlab fast"], rounds=3, iterations=1)
