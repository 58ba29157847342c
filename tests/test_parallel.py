"""gradlab.parallel: the same bits and the same counts on every scheduler, and the faults.

One in-process LocalCluster (2 single-threaded workers) serves the module; the "processes"
scheduler and a cluster of worker processes are started once each, where a test needs them.
"""

import importlib.util
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import gradlab
from gradlab import parallel
from gradlab.backends import get
from gradlab.objective import Counted

# the whole file needs dask.distributed, found without importing it: collecting this file would cost
# every pytest-xdist worker its import (half a second); the tests import it where they use it
if importlib.util.find_spec("distributed") is None:
    pytest.skip("needs dask.distributed: pip install 'gradlab[dask]'", allow_module_level=True)


def _distributed():
    import distributed

    return distributed


BACKENDS = ("central", "forward", "richardson", "complex_step")


@pytest.fixture(scope="module")
def client():
    distributed = _distributed()
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster,
        distributed.Client(cluster, set_as_default=False) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def problem():
    net = gradlab.MLP([4, 6, 3], activation="tanh", output="softmax", loss="cross_entropy")
    X, Y = net.random_batch(8, seed=0)
    return net.objective(X, Y), net.init(seed=0)


def on(scheduler_name, client):
    return client if scheduler_name == "cluster" else scheduler_name


@pytest.mark.parametrize("scheduler", ["threads", "cluster"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_bitwise_identical_and_same_count(backend, scheduler, problem, client):
    obj, theta = problem
    serial = gradlab.differentiate(obj, theta, backend=backend)
    r = gradlab.differentiate(obj, theta, backend=backend, scheduler=on(scheduler, client))
    assert r.gradient.tobytes() == serial.gradient.tobytes()
    assert r.step.tobytes() == serial.step.tobytes()
    assert r.evaluations == serial.evaluations == get(backend).evaluations(theta.size)


def test_float32_and_a_plain_function_on_the_cluster(client):
    x = np.linspace(-1, 1, 37, dtype=np.float32)
    f = lambda x: np.sum(np.sin(3 * x) * x)  # noqa: E731
    serial = gradlab.gradient(f, x)
    g = gradlab.gradient(f, x, scheduler=client)
    assert g.dtype == np.float32 and g.tobytes() == serial.tobytes()


@pytest.mark.slow  # a pool of worker processes, started for this test: about 3 s
def test_processes_scheduler_and_gradcheck(problem):
    obj, theta = problem
    serial = gradlab.gradcheck(obj, theta)
    r = gradlab.gradcheck(obj, theta, scheduler="processes")
    assert r.numeric.tobytes() == serial.numeric.tobytes()
    assert r.evaluations == serial.evaluations
    assert r.status == serial.status == "passed"


def test_gradcheck_on_the_cluster(problem, client):
    obj, theta = problem
    serial = gradlab.gradcheck(obj, theta, reference="forward")
    r = gradlab.gradcheck(obj, theta, reference="forward", scheduler=client)
    assert r.numeric.tobytes() == serial.numeric.tobytes() and r.evaluations == serial.evaluations


def test_use_sets_the_default_and_restores_it(problem, client):
    obj, theta = problem
    serial = gradlab.gradient(obj, theta)
    assert parallel.current() is None
    with parallel.use(client) as s:
        assert s is client and parallel.current() is client
        with parallel.use("threads"):
            assert parallel.current() == "threads"
            g_threads = gradlab.gradient(obj, theta)
        assert parallel.current() is client
        g_cluster = gradlab.gradient(obj, theta)
    assert parallel.current() is None
    assert g_threads.tobytes() == g_cluster.tobytes() == serial.tobytes()


def test_an_address_connects_for_the_call(problem, client):
    obj, theta = problem
    address = client.scheduler.address
    serial = gradlab.differentiate(obj, theta)
    r = gradlab.differentiate(obj, theta, scheduler=address)
    assert r.gradient.tobytes() == serial.gradient.tobytes() and r.evaluations == serial.evaluations


def test_counts_are_added_to_the_callers_counter(client):
    counted = Counted(lambda x: float(np.sum(x**2)))
    x = np.arange(10.0)
    counted.evaluations = 5
    r = get("forward").compute(counted, x, h=None, scheduler=client)
    assert counted.evaluations == 5 + 11 and r.evaluations == 11


class Bar:
    """A stand-in for the tqdm bar a long gradcheck hands its reference: every update kept, with the
    count of evaluations made when it came (so that an update at the very end is told from steady ones)."""

    def __init__(self, counted):
        self.counted, self.updates = counted, []

    def update(self, k):
        self.updates.append((k, self.counted.evaluations))


@pytest.mark.parametrize("scheduler", [None, "threads", "synchronous", "cluster"])
@pytest.mark.parametrize("backend", ["central", "complex_step"])
def test_a_progress_bar_advances_as_chunks_come_back(backend, scheduler, client, monkeypatch):
    n = 1000  # serial: slices of 256 entries; on a scheduler: the caller's first entry, then one update per chunk
    monkeypatch.setattr(parallel, "round_trip", lambda scheduler: 1e-12)  # as many chunks as the workers take
    x = np.linspace(-1.0, 1.0, n)
    counted = Counted(lambda v: np.sum(np.sin(v) * v))
    bar = Bar(counted)
    kw = dict(h=None, eps_f=np.finfo(np.float64).eps, noise=0.0)
    sched = on(scheduler, client) if scheduler else None
    r = get(backend).reference(counted, x, scheduler=sched, progress=bar, **kw)
    plain_counter = Counted(lambda v: np.sum(np.sin(v) * v))
    plain = get(backend).reference(plain_counter, x, **kw)
    assert r.values.tobytes() == plain.values.tobytes() and counted.evaluations == plain_counter.evaluations
    steps = [k for k, _ in bar.updates]
    assert sum(steps) == n  # every entry once, the last slice too
    if scheduler is None:  # in slices of 256, each while the loop still runs
        assert len(steps) == -(-n // 256)
        seen = [e for _, e in bar.updates]
        assert seen == sorted(seen) and seen[0] < seen[-1] <= counted.evaluations
    else:  # one update per chunk (the counts reach the caller's counter at the end)
        assert steps[0] == 1  # a plain f: a batch of one entry, computed by the caller
        assert len(steps) - 1 == len(parallel.chunks(n - 1, parallel.workers(sched))) > 1


def test_gradchecks_progress_bar_reaches_its_total_on_a_scheduler(monkeypatch, capsys, problem):
    module = sys.modules["gradlab.check.gradcheck"]

    monkeypatch.setattr(module, "PROGRESS_SECONDS", 0.0)  # show the bar for this small check
    obj, theta = problem
    assert gradlab.gradcheck(obj, theta, scheduler="threads").passed
    err = capsys.readouterr().err
    assert f"{theta.size}/{theta.size}" in err and f" 0/{theta.size}" not in err.splitlines()[-1]


def test_chunks_cover_the_range_in_order():
    assert parallel.chunks(10, 2) == [(0, 1), (1, 2), (2, 3), (3, 5), (5, 6), (6, 7), (7, 8), (8, 10)]
    assert parallel.chunks(3, 8) == [(0, 1), (1, 2), (2, 3)]
    assert len(parallel.chunks(10**7, 10**4)) == parallel.MAX_CHUNKS


def test_chunks_align_to_the_batch_and_are_as_many_as_the_work_pays_for():
    # 1000 entries in batches of 64: 16 batches (the last of 40), every bound but the end a multiple of 64
    assert parallel.chunks(1000, 2, align=64) == [(k * 128, min(1000, k * 128 + 128)) for k in range(8)]
    assert parallel.chunks(1000, 100, align=64) == [(k * 64, min(1000, k * 64 + 64)) for k in range(16)]
    # 0.1 s of work at 1 ms a round trip pays for 0.1 / (20 * 1e-3) = 5 chunks: 16 batches cut 3, 3, 3, 3, 4
    five = parallel.chunks(1000, 2, align=64, entry_seconds=1e-4, trip_seconds=1e-3)
    assert five == [(0, 192), (192, 384), (384, 576), (576, 768), (768, 1000)]
    assert len(parallel.chunks(1000, 2, align=64, entry_seconds=1e-3, trip_seconds=1e-3)) == 8  # capped at 4 a worker
    assert parallel.chunks(1000, 2, align=64, entry_seconds=1e-6, trip_seconds=1e-3) == [(0, 1000)]  # at least one
    assert parallel.chunks(50, 2, align=64) == [(0, 50)]
    for n, w, a in [(1, 1, 1), (7, 3, 2), (129, 2, 64), (13770, 2, 64), (13770, 2, 128), (5, 8, 1)]:
        got = parallel.chunks(n, w, align=a)
        assert got[0][0] == 0 and got[-1][1] == n and all(hi == lo2 for (_, hi), (lo2, _) in zip(got, got[1:]))
        assert all(lo < hi for lo, hi in got) and all(hi % a == 0 for _, hi in got[:-1])


def test_round_trip_is_measured_once_per_scheduler(client):
    first = parallel.round_trip(client)
    assert 0 < first < 1 and parallel.round_trip(client) == first  # kept: the same number
    assert 0 < parallel.round_trip("threads") < 1


@pytest.mark.parametrize("backend", ["central", "complex_step"])
def test_a_batched_mlp_farmed_out_in_aligned_chunks_is_bitwise_serial(backend, client, monkeypatch):
    # a batch of 8 points: 4 entries a call for central, 8 for the complex step; the caller computes
    # the first batch, the workers the rest in chunks whose bounds are multiples of it
    net = gradlab.MLP([6, 7, 5, 3], activation="tanh", output="softmax", loss="cross_entropy")
    X, Y = net.random_batch(5, seed=3)
    obj, theta = net.objective(X, Y), net.init(seed=3)
    monkeypatch.setattr(parallel, "round_trip", lambda scheduler: 1e-12)
    seen = []
    chunks = parallel.chunks
    monkeypatch.setattr(parallel, "chunks", lambda *a, **k: seen.append((a, k)) or chunks(*a, **k))
    serial = gradlab.differentiate(obj, theta, backend=backend, batch=8)
    r = gradlab.differentiate(obj, theta, backend=backend, batch=8, scheduler=client)
    assert r.gradient.tobytes() == serial.gradient.tobytes() and r.evaluations == serial.evaluations
    align = 4 if backend == "central" else 8
    (n, workers), kw = seen[-1]
    assert n == theta.size - align and kw["align"] == align and workers == 2
    assert len(chunks(*seen[-1][0], **kw)) == 8  # the workers got 4 chunks each


@pytest.mark.parametrize(
    "bad, kind", [(1, TypeError), ("thread", ValueError), ("tcp:", ValueError), (object(), TypeError)]
)
def test_scheduler_is_validated_at_every_boundary(bad, kind, problem):
    obj, theta = problem
    match = r"`scheduler` must be None, 'threads', 'processes'"
    with pytest.raises(kind, match=match):
        gradlab.gradient(obj, theta, scheduler=bad)
    with pytest.raises(kind, match=match):
        gradlab.gradcheck(obj, theta, scheduler=bad)
    with pytest.raises(kind, match=match), parallel.use(bad):
        pass


def test_a_backend_without_a_scheduler_says_so(problem):
    class Plain(gradlab.Backend):
        name, kind = "plain", "difference"

        def compute(self, objective, x, *, h):
            raise AssertionError("not reached")

    obj, theta = problem
    with pytest.raises(ValueError, match="`scheduler` is not taken by backend 'plain'"):
        gradlab.differentiate(obj, theta, backend=Plain(), scheduler="threads")


@pytest.mark.parametrize("scheduler", ["threads", "cluster"])
def test_an_exception_on_a_worker_keeps_its_type_and_message_and_names_the_entry(scheduler, client):
    x0 = np.linspace(0.1, 1.0, 40)

    class Boom(ArithmeticError):
        pass

    def f(x):
        if x[29] != x0[29]:
            raise Boom("f has no value here")
        return float(np.sum(x**2))

    with pytest.raises(Boom) as info:
        gradlab.gradient(f, x0, scheduler=on(scheduler, client))
    assert str(info.value) == "f has no value here"
    (note,) = info.value.__notes__
    assert "entry 29, evaluated at x - h*e[29]" in note and "on a dask worker" in note


def test_a_failure_in_the_callers_first_batch_leaves_nothing_on_the_cluster(client):
    # the shared items go out before the caller computes its first batch; an f that fails there
    # raises as it would serially, and the items are released, not left in the cluster's memory
    def f(x):
        if x[0] != 0.5:
            raise FloatingPointError("no value at entry 0")
        return float(np.sum(x**2))

    before = set(client.futures)
    with pytest.raises(FloatingPointError, match="no value at entry 0"):
        gradlab.gradient(f, np.full(40, 0.5), scheduler=client)
    assert set(client.futures) <= before


@pytest.mark.parametrize("scheduler", ["processes", "cluster"])
def test_an_unserialisable_f_is_refused_clearly(scheduler, client):
    lock = threading.Lock()

    def f(x):
        with lock:
            return float(np.sum(x**2))

    with pytest.raises(
        TypeError, match=r"`f` cannot be serialised .* cannot pickle '_thread.lock'.*scheduler='threads'"
    ):
        gradlab.gradient(f, np.ones(4), scheduler=on(scheduler, client))
    # threads share the process: nothing to serialise, and it works
    assert gradlab.gradient(f, np.ones(4), scheduler="threads").tobytes() == gradlab.gradient(f, np.ones(4)).tobytes()


def test_the_serial_path_imports_nothing_from_dask():
    code = (
        "import sys, numpy as np, gradlab; gradlab.gradcheck(*(lambda n: (n.objective(*n.random_batch(4, seed=0)), "
        "n.init(seed=0)))(gradlab.MLP([2, 3, 2]))); print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('dask', 'distributed')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cli_check_takes_a_scheduler(capsys, client):
    from gradlab.cli import main

    assert main(["check", "--sizes", "3,4,2", "--scheduler", "threads"]) == 0
    assert main(["check", "--sizes", "3,4,2", "--scheduler", client.scheduler.address]) == 0
    assert "passed" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        main(["check", "--scheduler", "thread"])
    assert exit_.value.code == 2
    assert "argument --scheduler: must be None, 'threads'" in capsys.readouterr().err


@pytest.mark.slow  # about 6 s: a cluster of worker processes, one of them restarted
def test_a_worker_lost_mid_check_changes_nothing(tmp_path):
    """A worker process dies in the middle of a chunk (the first time f reaches entry 150):
    dask reruns its tasks elsewhere, and the gradient and the count are the serial ones."""
    net = gradlab.MLP([8, 16, 4], activation="tanh", output="softmax", loss="cross_entropy")
    X, Y = net.random_batch(8, seed=0)
    obj, theta = net.objective(X, Y), net.init(seed=0)
    marker = str(tmp_path / "died")

    def f(x):  # a closure: cloudpickle sends it by value, the workers need not import this file
        if x[150] != theta[150] and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)  # the worker process dies; its nanny starts a new one
        return obj.value(x)

    # the same values as f's, one point at a time as f is evaluated (f would end this process)
    serial = gradlab.differentiate(obj, theta, batch=1)
    distributed = _distributed()
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster,
        distributed.Client(cluster, set_as_default=False) as c,
    ):
        r = gradlab.differentiate(f, theta, scheduler=c)
    assert os.path.exists(marker)  # a worker did die
    assert r.gradient.tobytes() == serial.gradient.tobytes()
    assert r.evaluations == serial.evaluations == 2 * theta.size
