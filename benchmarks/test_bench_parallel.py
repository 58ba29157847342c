"""Scaling out (gradlab.parallel): does a LocalCluster of 1 and 2 single-threaded workers
speed up a central-difference gradient and a full gradcheck, and what does one task cost?

Each speedup is measured inside one benchmark, serial and parallel runs interleaved
(shared/notes/benchmarking.md: the machine's speed drifts, so only ratios taken side by
side mean anything); ``extra_info`` carries the median times, the median ratios and
whether every run gave the serial bits.  Networks ``[w, w, w, 10]`` (tanh, softmax,
cross-entropy, batch 64) of about 10^3 and 10^4 parameters; 10^5 with
``GRADLAB_BENCH_LARGE=1`` (a serial central gradient there takes minutes).

    pytest benchmarks/test_bench_parallel.py --benchmark-only -s

One BLAS thread everywhere: the conftest limits this process, and dask's nanny starts
worker processes with ``OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=MKL_NUM_THREADS=1``.
"""

import os
import statistics
import time

import numpy as np
import pytest

import gradlab

distributed = pytest.importorskip("distributed")

# [w, w, w, 10] has 2 w^2 + 12 w + 10 parameters: 1,050 / 10,650 / 99,450 / 1,002,520 / 10,026,234
WIDTHS = {1_000: 20, 10_000: 70, 100_000: 220, 1_000_000: 705, 10_000_000: 2236}
SIZES = [1_000, 10_000] + ([100_000] if os.environ.get("GRADLAB_BENCH_LARGE") else [])
ROUNDS = {1_000: 5, 10_000: int(os.environ.get("GRADLAB_BENCH_ROUNDS", 3)), 100_000: 1}


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


@pytest.mark.parametrize("what", ["gradient", "gradcheck"])
@pytest.mark.parametrize("size", SIZES)
def test_speedup_on_a_local_cluster(benchmark, clusters, size, what):
    obj, theta = network(size)
    if what == "gradient":

        def call(scheduler):
            return lambda: gradlab.differentiate(obj, theta, backend="central", scheduler=scheduler).gradient
    else:

        def call(scheduler):
            return lambda: gradlab.gradcheck(obj, theta, scheduler=scheduler).numeric

    runs = {"serial": call(None), "1 worker": call(clusters[1]), "2 workers": call(clusters[2])}
    for client in clusters.values():  # warm up: the workers import gradlab
        gradlab.gradient(lambda x: float(np.sum(x**2)), np.ones(8), scheduler=client)

    medians, outputs = benchmark.pedantic(lambda: interleaved(runs, ROUNDS[size]), rounds=1, iterations=1)
    serial_bits = outputs["serial"].tobytes()
    benchmark.extra_info.update(
        n_params=int(theta.size),
        evaluations=2 * int(theta.size),
        rounds=ROUNDS[size],
        **{f"median_s[{k}]": v for k, v in medians.items()},
        speedup_1=medians["serial"] / medians["1 worker"],
        speedup_2=medians["serial"] / medians["2 workers"],
        identical=all(out.tobytes() == serial_bits for out in outputs.values()),
    )
    print(f"\n{what} N={theta.size}: " + ", ".join(f"{k}: {v:.3g}" for k, v in benchmark.extra_info.items()))
    assert benchmark.extra_info["identical"]


def _nothing():
    return None


def test_task_round_trip(benchmark, clusters):
    """The overhead of one task: submit a no-op, wait for its result."""
    client = clusters[2]
    benchmark.pedantic(lambda: client.submit(_nothing, pure=False).result(), rounds=200, warmup_rounds=20)
    benchmark.extra_info["what"] = "client.submit(noop).result()"


def test_evaluation_cost(benchmark):
    """One objective evaluation at each size: the unit of the README's sizing table."""
    sizes = [*SIZES, 1_000_000, 10_000_000]
    out = {}
    for size in sizes:
        obj, theta = network(size)
        ts = []
        for _ in range(50 if size < 10**6 else 5):
            t = time.perf_counter()
            obj.value(theta)
            ts.append(time.perf_counter() - t)
        out[f"eval_s[{theta.size}]"] = statistics.median(ts)
    benchmark.pedantic(lambda: None, rounds=1)
    benchmark.extra_info.update(out)
    print("\n" + ", ".join(f"{k}: {v:.3g}" for k, v in out.items()))
    assert all(np.isfinite(list(out.values())))
