"""Timing utilities: loop timers, interleaved repeats, BLAS threads, peak memory.

What was measured on these machines (``shared/notes/benchmarking.md``) shapes them: time
with one BLAS thread (multi-threaded BLAS collapses when another process holds a core),
interleave the repeats of everything that will be compared (the machine's speed drifts
by 2x over seconds), and keep every sample so that a robust statistic
(:func:`gradlab.stats.low_quantile`) and its spread can be taken afterwards.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Mapping

import numpy as np


def loop_timer(call: Callable[[], object], *, min_seconds: float = 2e-3) -> Callable[[], float]:
    """A function that times one *loop* of ``call`` and returns seconds per call.

    ``call`` runs once here (a warm-up that also sizes the loop) and the loop repeats it
    enough times to last ``min_seconds``, so that the clock's resolution and the cost of
    reading it vanish in the quotient.
    """
    t0 = time.perf_counter()
    call()
    once = time.perf_counter() - t0
    loops = max(1, math.ceil(min_seconds / max(once, 1e-9)))

    def timed() -> float:
        t = time.perf_counter()
        for _ in range(loops):
            call()
        return (time.perf_counter() - t) / loops

    return timed


def interleaved(
    calls: Mapping[str, Callable[[], object]], *, repeats: int, min_seconds: float = 2e-3
) -> dict[str, np.ndarray]:
    """Time every call ``repeats`` times, interleaved (round 1 of every call, then round 2...).

    Interleaving makes a change of machine speed hit all calls alike, so ratios between
    them taken round by round stay honest.  Returns ``{name: seconds per call, one per round}``.
    """
    timers = {name: loop_timer(call, min_seconds=min_seconds) for name, call in calls.items()}
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, timed in timers.items():
            samples[name].append(timed())
    return {name: np.array(s) for name, s in samples.items()}


@contextlib.contextmanager
def blas_threads(limit: int | None = 1) -> Iterator[None]:
    """BLAS limited to ``limit`` threads inside the block (``None``: leave it alone)."""
    from threadpoolctl import threadpool_limits

    if limit is None:
        yield
        return
    with threadpool_limits(limits=limit):
        yield


def blas_info() -> dict[str, object]:
    """BLAS library and thread count in force (threadpoolctl), for the record."""
    from threadpoolctl import threadpool_info

    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            return {
                "blas": f"{pool.get('internal_api')} {pool.get('version')} ({pool.get('architecture')})",
                "threads": int(pool.get("num_threads", 0)),
            }
    return {"blas": "unknown", "threads": 0}


def peak_bytes(call: Callable[[], object]) -> int:
    """Peak memory allocated during one ``call()`` beyond what was held before it (tracemalloc;
    numpy reports its buffers to it).  Slow: measure outside any timing."""
    import tracemalloc

    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        call()
        return int(tracemalloc.get_traced_memory()[1] - base)
    finally:
        tracemalloc.stop()
