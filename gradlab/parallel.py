"""Entries farmed out to dask: the same gradient, bit for bit, on many cores or a cluster.

A difference or complex-step gradient (or Jacobian) is a loop over entries, and entries are
independent: :func:`~gradlab.backends.difference.node_values` and
:func:`~gradlab.backends.complex_step.complex_values` (both the evaluation kernel's,
:mod:`gradlab.backends.stencil`) compute any contiguous range of them on a private copy of
``x``.  :func:`map_entries` cuts ``0..n`` into contiguous chunks, runs
one task per chunk and puts the pieces back in order.  Each entry is computed by exactly
the operations of the serial loop, so the result is **bitwise identical** to the serial
run, and each task returns its evaluation count with its values, so the counts add up to
the serial count however the tasks were scheduled: a task rerun after a worker was lost
is counted once, because only the run that delivered its values is counted.

The scheduler follows dask's conventions:

- ``None`` (default): serial and in-process; nothing is imported from dask;
- ``"threads"``, ``"processes"``, ``"synchronous"``: dask's local schedulers
  (``"threads"`` suits an ``f`` that releases the GIL, such as large BLAS calls);
- a ``dask.distributed.Client``, or the address of a scheduler (``"tcp://10.0.0.5:8786"``,
  ``"10.0.0.5:8786"``): a cluster.  Workers must have gradlab installed.

:func:`use` sets the scheduler for every call that does not pass one, the way
``dask.config.set(scheduler=...)`` does; it is a context variable, so it holds in the
thread (or task) that entered it and in nothing else.

Chunks
------
At most ``min(n, CHUNKS_PER_WORKER * workers, MAX_CHUNKS)`` chunks of (nearly) equal size, with
``workers`` the threads of the cluster (``sum(client.nthreads().values())``) or of the
local pool (dask's ``num_workers``, else the CPU count).  Four chunks per worker let a fast
worker take over the tail of a slow one.  Fewer where the work is small: every chunk should
take at least :data:`ROUND_TRIPS_PER_CHUNK` task round trips, so that the per-task overhead
stays a few percent of the work.  The round trip is measured once per scheduler (a no-op
task, :func:`round_trip`: a few milliseconds on a LocalCluster); the cost of an entry is
measured on the first *batch* of entries, which the caller computes itself, in the serial
run's order, while the rest is farmed out.  On a cluster the shared items (below) are sent
before that first batch, so that the workers fetch them while the caller computes it.

Chunk bounds are multiples of the kernel's batch (the entries one batched call of
``values`` takes, the ``batch`` the backend passes: :func:`gradlab.backends.stencil.batch_size`).
A chunk that is not wastes a partial batch at each end, and, aligned, every call a worker makes
is one the serial run makes, on the same points: the bits do not even depend on BLAS choosing
its kernel by matrix size.

Progress
--------
A long gradcheck hands its reference a progress bar (a tqdm bar over entries, the
``progress`` argument).  :func:`map_entries` advances it by a chunk's entries as each chunk
comes back -- from the cluster (``distributed.as_completed``) or from dask's local pools (a
dask callback, run in the computing thread) -- and, serially, after each slice of about 1%
of the entries.

What travels
------------
The objective, ``x`` and the per-entry steps go out once, each as one key of the graph
(on a cluster, the result of a task of its own, which each worker fetches once whatever
the number of its chunks, and which is computed again if the worker holding it is lost);
a chunk's task receives only its ``start, stop``.  Before any of that, the objective
is serialised once with cloudpickle (what dask uses) so that an ``f`` that cannot be sent
(a closure over a lock, an open file, a generator) is refused with an error that says so,
instead of failing somewhere inside dask.  An exception raised by ``f`` on a worker
reaches the caller with its own type and message, plus a note naming the entry.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import time
import weakref
from collections.abc import Callable, Iterator

import numpy as np

from . import _validate as v
from .objective import Counted, describe

LOCAL = ("threads", "processes", "synchronous")
CHUNKS_PER_WORKER = 4
MAX_CHUNKS = 1024
#: a chunk's work should take at least this many task round trips (overhead <= about 5%)
ROUND_TRIPS_PER_CHUNK = 20
#: no-op tasks timed to measure a round trip (the fastest counts: the others met a busy scheduler)
TRIP_SAMPLES = 3

_DEFAULT: contextvars.ContextVar[object] = contextvars.ContextVar("gradlab_scheduler", default=None)
_PROGRESS: contextvars.ContextVar[bool | None] = contextvars.ContextVar("gradlab_progress", default=None)

_REQUIREMENT = "None, 'threads', 'processes', 'synchronous', a dask.distributed.Client or a scheduler address"


def _is_client(obj: object) -> bool:
    # without importing distributed: a Client can only exist if distributed is already imported
    mod = sys.modules.get("distributed")
    return mod is not None and isinstance(obj, mod.Client)


def _is_address(text: str) -> bool:
    if "://" in text:
        return True
    host, sep, port = text.rpartition(":")
    return bool(sep and host and port.isdigit())


def check(name: str, scheduler: object) -> object:
    """Validate a scheduler argument (``name`` is the argument's name in messages); return it."""
    if scheduler is None or _is_client(scheduler):
        return scheduler
    if not isinstance(scheduler, str):
        raise v.fail(name, _REQUIREMENT, scheduler, TypeError)
    if scheduler not in LOCAL and not _is_address(scheduler):
        raise v.fail(name, _REQUIREMENT + " ('tcp://host:port' or 'host:port')", scheduler)
    return scheduler


def current(scheduler: object = None) -> object:
    """The scheduler a call runs on: its own argument, else the one set by :func:`use`, else ``None``."""
    return _DEFAULT.get() if scheduler is None else check("scheduler", scheduler)


def _import_dask():
    try:
        import dask
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "a `scheduler` needs dask: pip install 'gradlab[dask]' (or pass scheduler=None to run serially)"
        ) from exc
    return dask


class SchedulerUnreachable(OSError):
    """No dask scheduler answered at the address given."""


def _client_for(address: str):
    _import_dask()
    try:
        from distributed import Client
    except ImportError as exc:  # pragma: no cover
        raise ImportError("a scheduler address needs dask.distributed: pip install 'gradlab[dask]'") from exc
    try:
        return Client(address, set_as_default=False)
    except OSError as exc:
        raise SchedulerUnreachable(
            f"no dask scheduler answers at {address!r} ({exc}); start one (`dask scheduler`, then "
            f"`dask worker {address}` on each machine) or check the address"
        ) from exc


@contextlib.contextmanager
def use(scheduler: object, *, progress: bool | None = None) -> Iterator[object]:
    """Run every gradient, gradcheck reference, sweep and report inside on ``scheduler``.

    Parameters
    ----------
    scheduler : None, str or dask.distributed.Client
        As for :func:`gradlab.gradient`.  An address is connected once, for the whole
        block, and the connection closed on the way out.
    progress : bool, optional
        Show dask's progress bar (``None``: when stderr is a terminal).

    Yields
    ------
    The scheduler in force (the ``Client`` when an address was given).

    Examples
    --------
    >>> import numpy as np, gradlab
    >>> f, x = (lambda x: np.sum(np.sin(x))), np.arange(50.0)
    >>> with gradlab.parallel.use("threads"):
    ...     g = gradlab.gradient(f, x)
    >>> bool(np.array_equal(g, gradlab.gradient(f, x)))   # the same bits as the serial run
    True
    """
    scheduler = check("scheduler", scheduler)
    progress = None if progress is None else v.boolean("progress", progress)
    opened = None
    if isinstance(scheduler, str) and scheduler not in LOCAL:
        scheduler = opened = _client_for(scheduler)
    token, ptoken = _DEFAULT.set(scheduler), _PROGRESS.set(progress)
    try:
        yield scheduler
    finally:
        _DEFAULT.reset(token)
        _PROGRESS.reset(ptoken)
        if opened is not None:
            opened.close()


def workers(scheduler: object) -> int:
    """Threads that run tasks: the cluster's, or the local pool's."""
    if _is_client(scheduler):
        return max(1, sum(scheduler.nthreads().values()))
    if scheduler == "synchronous":
        return 1
    dask = _import_dask()
    from dask.system import CPU_COUNT

    return int(dask.config.get("num_workers", None) or CPU_COUNT)


def chunks(
    n: int, workers: int, *, align: int = 1, entry_seconds: float | None = None, trip_seconds: float | None = None
) -> list[tuple[int, int]]:
    """``0..n`` cut into at most ``min(n, CHUNKS_PER_WORKER * workers, MAX_CHUNKS)`` contiguous ranges.

    ``align``: every bound but the last is a multiple of it (the kernel's batch of entries).
    ``entry_seconds`` and ``trip_seconds`` (the measured cost of an entry and of a task's round
    trip): no more chunks than leave each at least :data:`ROUND_TRIPS_PER_CHUNK` round trips of
    work (at least one chunk).

    >>> chunks(10, 2)[:3], len(chunks(10, 2))
    ([(0, 1), (1, 2), (2, 3)], 8)
    >>> chunks(1000, 2, align=64)   # 16 batches (the last partial) in 8 chunks of 2
    [(0, 128), (128, 256), (256, 384), (384, 512), (512, 640), (640, 768), (768, 896), (896, 1000)]
    >>> chunks(1000, 2, align=64, entry_seconds=1e-5, trip_seconds=1e-3)   # 10 ms of work: one chunk
    [(0, 1000)]
    """
    align = max(1, int(align))
    units = -(-n // align)  # batches, the last one possibly partial
    c = min(units, CHUNKS_PER_WORKER * workers, MAX_CHUNKS)
    if entry_seconds is not None and trip_seconds is not None and trip_seconds > 0:
        c = min(c, int(n * entry_seconds / (ROUND_TRIPS_PER_CHUNK * trip_seconds)))
    c = max(1, c)
    bounds = [min(n, align * (units * k // c)) for k in range(c + 1)]
    bounds[-1] = n
    return list(zip(bounds[:-1], bounds[1:]))


def _noop() -> None:
    return None


_TRIPS: dict = {}  # scheduler name -> seconds
_CLIENT_TRIPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Client -> seconds


def round_trip(scheduler: object) -> float:
    """Seconds a no-op task takes from submission to its result on ``scheduler`` (the fastest of
    :data:`TRIP_SAMPLES`), measured once per client or local scheduler and kept."""
    client = _is_client(scheduler)
    cached = _CLIENT_TRIPS.get(scheduler) if client else _TRIPS.get(scheduler)
    if cached is not None:
        return cached
    times = []
    if client:
        for _ in range(TRIP_SAMPLES):
            t = time.perf_counter()
            scheduler.submit(_noop, pure=False).result()
            times.append(time.perf_counter() - t)
    else:
        dask = _import_dask()
        for _ in range(TRIP_SAMPLES):  # a local pool: per task, in a graph of a few (a pool's start shared)
            tasks = [dask.delayed(_noop, pure=False)() for _ in range(4)]
            t = time.perf_counter()
            dask.compute(*tasks, scheduler=scheduler)
            times.append((time.perf_counter() - t) / len(tasks))
    trip = min(times)
    if client:
        _CLIENT_TRIPS[scheduler] = trip
    else:
        _TRIPS[scheduler] = trip
    return trip


class _Tracked(Counted):
    """A worker's :class:`Counted` that starts counting where the serial run would be
    (so that messages naming an evaluation read the same) and remembers which entry it
    was evaluating (so that an exception can name it)."""

    def __init__(self, objective: object, base: int, vector: bool = False, shape: tuple[int, ...] | None = None):
        super().__init__(objective, vector=vector, shape=shape)
        self.evaluations = base
        self.where = None

    def __call__(self, x, where=None):
        self.where = where
        return super().__call__(x, where)

    def complex(self, x, where=None):
        self.where = where
        return super().complex(x, where)


def _note(exc: BaseException, text: str) -> None:
    if hasattr(exc, "add_note"):  # Python 3.11+
        exc.add_note(text)
    else:  # pragma: no cover - Python 3.10 keeps the note without printing it
        exc.__notes__ = [*getattr(exc, "__notes__", []), text]


def _run_chunk(kernel: Callable, objective: object, x: np.ndarray, steps: np.ndarray, start: int, stop: int,
               base: int, static: dict, mode: tuple = (False, None)) -> tuple[tuple, int, tuple | None]:  # fmt: skip
    """One task: the kernel on entries ``start..stop - 1``, the evaluations it made, and the shape
    of ``f``'s values it saw (``None`` for a scalar ``f``).
    ``mode``: the caller's ``(Counted.vector, Counted.shape)``, so that a worker checks an
    array-valued ``f`` as the serial run would."""
    counted = _Tracked(objective, base, *mode)
    try:
        out = kernel(counted, x, steps=steps, start=start, stop=stop, **static)
    except Exception as exc:
        where = counted.where
        entry = f"entry {where[0]}, evaluated {describe(where)}" if where else f"entries {start}..{stop - 1}"
        _note(exc, f"raised while gradlab evaluated f on a dask worker: {entry} (chunk of entries {start}..{stop - 1})")
        raise
    return out, counted.evaluations - base, counted.shape


def _serialisable(objective: object, scheduler: object) -> None:
    import cloudpickle

    try:
        cloudpickle.dumps(objective)
    except Exception as exc:
        where = "the cluster" if _is_client(scheduler) else f"scheduler={scheduler!r}"
        raise TypeError(
            f"`f` cannot be serialised to send it to dask workers ({where}): cloudpickle says "
            f"{type(exc).__name__}: {exc}.  Make f picklable -- a function defined at module level, or an "
            f"object whose attributes are arrays and numbers, not locks, open files, generators or "
            f"connections -- or use scheduler='threads' (no serialisation) or scheduler=None (serial)"
        ) from exc


def _progress_wanted() -> bool:
    wanted = _PROGRESS.get()
    if wanted is not None:
        return wanted
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def map_entries(
    kernel: Callable,
    counted: Counted,
    x: np.ndarray,
    steps: np.ndarray,
    *,
    per_entry: int,
    scheduler: object = None,
    progress: object = None,
    batch: int = 1,
    **static,
) -> tuple[np.ndarray, ...]:
    """``kernel(counted, x, steps=steps, start=0, stop=n, **static)``, run in chunks on ``scheduler``.

    ``kernel`` returns a tuple of arrays whose first axis runs over the entries
    ``start..stop - 1`` (as :func:`~gradlab.backends.difference.node_values` and
    :func:`~gradlab.backends.complex_step.complex_values` do); ``per_entry`` is the number
    of evaluations it makes per entry.  The pieces are concatenated in order and their
    evaluations added to ``counted.evaluations``.  With no scheduler (argument or
    :func:`use`), this is the plain call.  ``progress``: a tqdm-like bar over the entries,
    advanced as chunks come back (serially: after each slice of about 1% of them).
    ``batch``: the entries one call of the kernel's batched ``values`` takes (1 for a plain ``f``;
    :func:`~gradlab.backends.stencil.batch_size` over the points an entry needs): chunk bounds are
    multiples of it, and the caller computes the first batch itself, timed, to size the chunks.
    """
    scheduler = current(scheduler)
    n = steps.size
    if scheduler is None:
        if progress is None:
            return kernel(counted, x, steps=steps, start=0, stop=n, **static)
        return _serial_with_progress(kernel, counted, x, steps, progress, static)
    if isinstance(scheduler, str) and scheduler not in LOCAL:
        with use(scheduler, progress=_PROGRESS.get()) as client:
            return map_entries(
                kernel,
                counted,
                x,
                steps,
                per_entry=per_entry,
                scheduler=client,
                progress=progress,
                batch=batch,
                **static,
            )
    objective = counted.objective
    if scheduler != "threads":
        _serialisable(objective, scheduler)
    base = counted.evaluations
    align = max(1, int(batch))
    head = min(n, align)
    trip = round_trip(scheduler) if head < n else 0.0  # before anything else is in the cluster's queue
    # on a cluster the shared items go out first, so that the workers fetch them while the first
    # batch is computed here (a few tens of milliseconds of a check they would otherwise wait)
    shared = _share(scheduler, (objective, x, steps)) if _is_client(scheduler) and head < n else None
    # the first batch here, timed: the cost of an entry that sizes the chunks (the serial run's
    # first call, so its values and its count are the serial run's too)
    try:
        t = time.perf_counter()
        first = kernel(counted, x, steps=steps, start=0, stop=head, **static)
        entry_seconds = (time.perf_counter() - t) / max(1, head)
    except BaseException:
        if shared is not None:
            scheduler.cancel(shared)
        raise
    if progress is not None:
        progress.update(head)
    if head == n:
        return first
    ranges = [(head + lo, head + hi) for lo, hi in chunks(n - head, workers(scheduler), align=align,
              entry_seconds=entry_seconds, trip_seconds=trip)]  # fmt: skip
    mode = (counted.vector, counted.shape)
    args = [(lo, hi, base + lo * per_entry) for lo, hi in ranges]
    if _is_client(scheduler):
        results = _on_cluster(scheduler, kernel, shared, args, static, mode, progress)
    else:
        results = _on_local(scheduler, kernel, objective, x, steps, args, static, mode, progress)
    counted.evaluations += sum(count for _, count, _ in results)
    parts = [first, *(out for out, _, _ in results)]
    if counted.vector:
        _one_shape(counted, [shape for _, _, shape in results], ranges)
    return tuple(np.concatenate(column) for column in zip(*parts))


def _one_shape(counted: Counted, shapes: list, ranges: list[tuple[int, int]]) -> None:
    """An array-valued ``f`` returns one shape on every worker (each learnt its own where the
    caller had not evaluated ``f`` yet); the caller's :attr:`Counted.shape` learns it."""
    for (lo, hi), shape in zip(ranges, shapes):
        if counted.shape is None:
            counted.shape = shape
        elif shape is not None and shape != counted.shape:
            raise ValueError(
                f"`f` must return arrays of one shape; got {counted.shape} first and {shape} for entries "
                f"{lo}..{hi - 1} (on a dask worker)"
            )


def _serial_with_progress(kernel, counted, x, steps, progress, static) -> tuple[np.ndarray, ...]:
    """The serial loop with the caller's progress bar, which the kernel advances as it goes (every
    few hundred entries): one call over all the entries, so a batched kernel builds its stack of
    points once (a 16 MB copy per slice of 1% cost a tenth of a gradcheck at N = 13,770), and the
    same entries by the same operations, so the same bits and the same count."""
    return kernel(counted, x, steps=steps, start=0, stop=steps.size, progress=progress, **static)


def _itself(item: object) -> object:
    return item


def _share(client, items) -> list:
    """Each shared item as the result of a task of its own, which a worker fetches once whatever
    the number of its chunks.  Not ``scatter``: scattered data lost with a worker cannot be
    recovered, while a task's result is simply computed again from the spec the scheduler holds."""
    return [client.submit(_itself, item, pure=False) for item in items]


def _on_cluster(client, kernel, shared, args, static, mode, bar=None) -> list:
    futures = [
        client.submit(_run_chunk, kernel, *shared, lo, hi, base, static, mode, pure=False) for lo, hi, base in args
    ]
    try:
        if _progress_wanted():
            from distributed import progress

            progress(futures)
        if bar is not None:  # the caller's bar (a long gradcheck) advances as each chunk comes back
            from distributed import as_completed

            entries = {f.key: hi - lo for f, (lo, hi, _) in zip(futures, args)}
            for done in as_completed(futures, loop=client.loop):
                bar.update(entries[done.key])
        return client.gather(futures)
    finally:
        client.cancel([*futures, *shared])


def _on_local(scheduler, kernel, objective, x, steps, args, static, mode, bar=None) -> list:
    import dask

    shared = [dask.delayed(item, pure=False, traverse=False) for item in (objective, x, steps)]
    task = dask.delayed(_run_chunk, pure=False)
    tasks = [task(kernel, *shared, lo, hi, base, static, mode) for lo, hi, base in args]
    shown = contextlib.ExitStack()
    if _progress_wanted():
        from dask.diagnostics import ProgressBar

        shown.enter_context(ProgressBar(out=sys.stderr))
    if bar is not None:  # the caller's bar advances as each chunk comes back
        shown.enter_context(_advancing(bar, {t.key: hi - lo for t, (lo, hi, _) in zip(tasks, args)}))
    with shown:
        return list(dask.compute(*tasks, scheduler=scheduler))


def _advancing(bar, entries: dict):
    """A dask callback (local schedulers) that advances ``bar`` by a chunk's entries when its task
    finishes; dask calls it in the thread that computes, so the bar is never updated concurrently."""
    from dask.callbacks import Callback

    class Advance(Callback):
        def _posttask(self, key, result, dsk, state, worker_id):
            if key in entries:
                bar.update(entries[key])

    return Advance()
