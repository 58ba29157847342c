"""Speed of a LocalCluster of 2 single-threaded worker processes against the serial run, interleaved,
on the default check and on the central and complex-step gradients of an MLP (issue 19, item 4).

    PYTHONPATH=. python tools/dask_speed.py [width=80] [rounds=5]

MLP [w, w, w, 10], tanh, softmax + cross-entropy, batch 64 (w = 80: N = 13,770).  Per run it
prints the median speedup (serial / dask, paired round by round) and, for the dask runs, where
the time went: the workers' busy seconds (the sum of their chunks' durations, measured on the
workers) against the serial seconds (how much slower an entry is on a worker), and the wall
time beyond the busiest worker's busy time (submission, transfers, the caller's own work).
"""

import statistics
import sys
import time

import distributed
from threadpoolctl import threadpool_limits

import gradlab
from gradlab import parallel

w = int(sys.argv[1]) if len(sys.argv) > 1 else 80
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
net = gradlab.MLP([w, w, w, 10], activation="tanh", output="softmax", loss="cross_entropy")
X, Y = net.random_batch(64, seed=0)
obj, theta = net.objective(X, Y), net.init(seed=0)

_run_chunk = parallel._run_chunk


def timed_chunk(*args, **kw):
    import os
    import time

    t = time.perf_counter()
    out, count, shape = _run_chunk(*args, **kw)
    return out, count, (shape, os.getpid(), time.perf_counter() - t)


def main():
    print("N", theta.size)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = distributed.Client(cluster)
    busy = []  # per dask run: {pid: seconds}
    on_cluster = parallel._on_cluster

    def spy(*args, **kw):
        results = on_cluster(*args, **kw)
        per = {}
        for _, _, (_, pid, sec) in results:
            per[pid] = per.get(pid, 0.0) + sec
        busy.append(per)
        return [(out, count, shape) for out, count, (shape, _, _) in results]

    parallel._run_chunk, parallel._on_cluster = timed_chunk, spy
    runs = {
        "check": (lambda: gradlab.gradcheck(obj, theta), lambda: gradlab.gradcheck(obj, theta, scheduler=client)),
        "central": (
            lambda: gradlab.gradient(obj, theta, backend="central"),
            lambda: gradlab.gradient(obj, theta, backend="central", scheduler=client),
        ),
        "complex_step": (
            lambda: gradlab.gradient(obj, theta, backend="complex_step"),
            lambda: gradlab.gradient(obj, theta, backend="complex_step", scheduler=client),
        ),
    }
    with threadpool_limits(1), gradlab.parallel.use(None, progress=False):
        for serial, dask in runs.values():  # warm: imports, the workers' first fetch, the round trip
            serial(), dask()
        ts = {k: ([], [], []) for k in runs}
        for _ in range(rounds):
            for k, (serial, dask) in runs.items():
                t = time.perf_counter()
                serial()
                ts[k][0].append(time.perf_counter() - t)
                busy.clear()
                t = time.perf_counter()
                dask()
                ts[k][1].append(time.perf_counter() - t)
                ts[k][2].append(dict(busy[-1]))
    for k, (s, d, b) in ts.items():
        sums = [sum(per.values()) for per in b]
        ratio = statistics.median(sums) / statistics.median(s)
        beyond = [dd - max(per.values()) for dd, per in zip(d, b)]
        print(
            f"{k:13s} serial {statistics.median(s):.3f} s  dask2 {statistics.median(d):.3f} s  "
            f"speedup {statistics.median(a / c for a, c in zip(s, d)):.2f}x  "
            f"workers' busy sum {statistics.median(sums):.3f} s ({ratio:.2f}x serial)  "
            f"wall beyond busiest worker {statistics.median(beyond):.3f} s"
        )
    client.close()
    cluster.close()


if __name__ == "__main__":
    main()
