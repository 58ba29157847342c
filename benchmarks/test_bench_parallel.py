"""Scaling out (gradlab.parallel): does a LocalCluster of 1 and 2 single-threaded workers
speed up a central-difference gradient and a full gradcheck, and what does one task cost?

Each speedup is measured inside one benchmark, serial and parallel runs interleaved
(shared/notes/benchmarking.md: the machine's speed drifts, so only ratios taken side by
side mean anything); ``extra_info`` carries the median times, the median ratios and
whether every run gave the serial bits.  Networks ``[w, w, w, 10]`` (tanh, softmax,
cross-entropy, batch 64) by size (``--bench-size``): quick, 10^3 parameters, one round;
default, the gradient and the gradcheck at 10^3 (3 rounds) and 10^4 (1 round); full,
both at 10^3, 10^4 and 10^5 (a serial central gradient there takes minutes).  One benchmark group per scale.

Each asserts what it records: every scheduler gives the serial bits and the serial count, the
count is what the backend declares (``2N`` for central differences; a gradcheck's is its own
count, the complex step's ``N`` complex evaluations and its real ones), and the medians are
positive and finite.

    pytest benchmarks/test_bench_parallel.py --benchmark-only -s

One BLAS thread everywhere: the conftest limits this process, and dask's nanny starts
worker processes with ``OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=1``.
"""

import statistics
import time

import numpy as np
import pytest

import gradlab
from benchmarks.sizes import n_id, pick
from gradlab.backends import get

distributed = pytest.importorskip("distributed")

# [w, w, w, 10] has 2 w^2 + 12 w + 10 parameters: 1,050 / 10,650 / 99,450 / 1,002,520 / 10,026,234
WIDTHS = {1_000: 20, 10_000: 70, 100_000: 220, 1_000_000: 705, 10_000_000: 2236}
#: (what, size) measured; the default ladder has the check of issue 19's target (N ~ 10^4), one round
CASES = pick(
    quick=[("gradient", 1_000), ("gradcheck", 1_000)],
    default=[("gradient", 1_000), ("gradcheck", 1_000), ("gradient", 10_000), ("gradcheck", 10_000)],
    full=[(w, s) for s in (1_000, 10_000, 100_000) for w in ("gradient", "gradcheck")],
)
SIZES = sorted({s for _, s in CASES})
ROUNDS = pick(quick={1_000: 1}, default={1_000: 3, 10_000: 1}, full={1_000: 5, 10_000: 3, 100_000: 1})


@pytest.fixture(scope="module")
def clusters():
    made = {}
    try:
        for p in (1, 2):
            cluster = distributed.LocalCluster(
                n_workers=p, threads_per_worker=1, processes=True, dashboard_address=":0"
            )
            made[p] = (cluster, distributed.Client(cluster, set_as_default=False))
        yield {p: client for p, (_, client) in made.items()}
    finally:
        for cluster, client in made.values():
            client.close()
            cluster.close()


def network(size):
    w = WIDTHS[size]
    net = gradlab.MLP([w, w, w, 10], activation="tanh", output="softmax", loss="cross_entropy")
    X, Y = net.random_batch(64, seed=0)
    return net.objective(X, Y), net.init(seed=0)


def interleaved(runs: dict, rounds: int) -> dict:
    """Each runner once per round, in turn; median seconds per runner, and its output of the last round."""
    times = {name: [] for name in runs}
    outputs = {}
    for _ in range(rounds):
        for name, run in runs.items():
            t = time.perf_counter()
            outputs[name] = run()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}, outputs


def scale(size) -> str:
    return f"parallel: speed-up on a LocalCluster, N ~ {size:,}"


@pytest.mark.parametrize("what, size", CASES, ids=[f"{w}-{n_id(s)}" for w, s in CASES])
def test_speedup_on_a_local_cluster(benchmark, clusters, size, what):
    obj, theta = network(size)
    n = int(theta.size)
    if what == "gradient":

        def call(scheduler):
            def run():
                r = gradlab.differentiate(obj, theta, backend="central", scheduler=scheduler)
                return r.gradient, r.evaluations

            return run
    else:

        def call(scheduler):
            def run():
                r = gradlab.gradcheck(obj, theta, scheduler=scheduler)
                assert r.passed, str(r)  # a correct gradient
                return r.numeric, r.evaluations

            return run

    runs = {"serial": call(None), "1 worker": call(clusters[1]), "2 workers": call(clusters[2])}
    for client in clusters.values():  # warm up: the workers import gradlab
        gradlab.gradient(lambda x: float(np.sum(x**2)), np.ones(8), scheduler=client)

    benchmark.group = scale(size)
    rounds = ROUNDS[size]
    medians, outputs = benchmark.pedantic(lambda: interleaved(runs, rounds), rounds=1, iterations=1)
    serial_bits, serial_count = outputs["serial"][0].tobytes(), outputs["serial"][1]
    benchmark.extra_info.update(
        what=what,
        n_params=n,
        evaluations=int(serial_count),
        rounds=rounds,
        **{f"median_s[{k}]": v for k, v in medians.items()},
        speedup_1=medians["serial"] / medians["1 worker"],
        speedup_2=medians["serial"] / medians["2 workers"],
        identical=all(out.tobytes() == serial_bits for out, _ in outputs.values()),
        same_count=all(count == serial_count for _, count in outputs.values()),
    )
    print(f"\n{what} N={n}: " + ", ".join(f"{k}: {v:.3g}" for k, v in benchmark.extra_info.items() if k != "what"))
    assert benchmark.extra_info["identical"] and benchmark.extra_info["same_count"]
    assert all(np.isfinite(t) and t > 0 for t in medians.values())
    if what == "gradient":
        assert serial_count == get("central").evaluations(n) == 2 * n
    else:  # the default reference: n complex evaluations and a few real ones (cross-check, Taylor test)
        assert n <= serial_count <= n + 64


def _nothing():
    return None


def test_task_round_trip(benchmark, clusters):
    """The overhead of one task: submit a no-op, wait for its result."""
    client = clusters[2]
    benchmark.group = "parallel: overheads (one task, one evaluation)"
    rounds = pick(quick=20, default=200, full=200)
    benchmark.pedantic(lambda: client.submit(_nothing, pure=False).result(), rounds=rounds, warmup_rounds=5)
    benchmark.extra_info["what"] = "client.submit(noop).result()"
    assert client.submit(_nothing, pure=False).result() is None


def test_evaluation_cost(benchmark):
    """One objective evaluation at each size: the unit of the README's sizing table."""
    sizes = pick(quick=[1_000, 10_000], default=[1_000, 10_000, 100_000, 1_000_000], full=[*WIDTHS])
    out = {}
    benchmark.group = "parallel: overheads (one task, one evaluation)"
    for size in sizes:
        obj, theta = network(size)
        ts = []
        for _ in range(50 if size < 10**6 else 5):
            t = time.perf_counter()
            obj.value(theta)
            ts.append(time.perf_counter() - t)
        out[f"eval_s[{theta.size}]"] = statistics.median(ts)
    obj, theta = network(sizes[0])
    benchmark.pedantic(obj.value, args=(theta,), rounds=50, warmup_rounds=5)  # the table's row: the smallest
    benchmark.extra_info.update(out)
    print("\n" + ", ".join(f"{k}: {v:.3g}" for k, v in out.items()))
    seconds = list(out.values())
    assert all(np.isfinite(t) and t > 0 for t in seconds) and seconds[-1] > seconds[0]  # 10x N costs more
