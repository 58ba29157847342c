"""The evaluation kernel: ``f`` at points that differ from ``x`` in one entry, or along one direction.

Every backend, the Jacobian, the checker and the dask path evaluate ``f`` away from ``x``
through these few functions, so that the rules below hold in one place:

- ``x`` itself is never touched: the kernel works on a private copy (:class:`Working`),
  sets one entry at a time to its node and restores it after ``f`` has seen it, even when
  ``f`` raises (``O(n)`` memory, never a copy per entry);
- a node is rounded to ``x``'s precision before ``f`` sees it, and the displacement
  actually represented, ``fl(x_i + o h_i) - x_i``, is returned beside the values, since
  that, not the nominal ``o h_i``, is what a quotient must divide by;
- every evaluation goes through the caller's ``evaluate`` (a
  :class:`~gradlab.objective.Counted`), which counts it and checks what ``f`` returns;
  ``where = (i, o)`` names the perturbed entry and offset for its messages;
- entries are independent: any split of ``start..stop`` gives the same bits, which is
  what lets :func:`gradlab.parallel.map_entries` farm ranges out.

Batches of points
-----------------
Where the objective has ``values(points)`` (the MLP and the layer networks do) and the
caller's ``batch`` allows it (:attr:`~gradlab.objective.Counted.batched`), the kernel hands it
``K`` perturbed points per call instead of one: the points of a run of consecutive entries
at every moving offset, stacked, ``(K,) + x.shape``.  ``K`` is :func:`batch_size`: as many
points as fit in :data:`BATCH_BYTES` (the points are ``O(K n)`` memory), at most
:data:`MAX_BATCH`, or the caller's ``batch`` when smaller.  What changes and what does not:

- the points are the loop's points, bit for bit (the same nodes written into copies of
  ``x``), and every value lands where the loop puts it; the count is the loop's (``K``
  points are ``K`` evaluations), and so is every displacement and every quotient;
- so the results are bitwise the loop's wherever the objective's ``values`` returns, at each
  point, the bits ``value`` returns there; where it computes them another way (the MLP
  reuses the forward pass below the perturbed layer and adds a rank-one term,
  :mod:`gradlab.nn.batched`) each value differs from ``value``'s by rounding only, and a
  gradient from them by well under the backend's own rounding bound;
- batches never straddle a boundary of the caller's range, so a split of ``start..stop``
  changes which points share a call, never what a point's value is, provided ``values``
  computes each point independently of the others in its call (the MLP's and the
  networks' do).

The output of ``f`` may be a scalar (``Counted(f)``) or an array of one fixed shape
``out`` (``Counted(f, vector=True)``, for Jacobians): the values then carry ``out`` as
trailing axes.

How a caller perturbs
---------------------
One entry, any callable (a kink key, a counted ``f``, its complex evaluation)::

    work = Working(x)                              # Working(x, complex_dtype(x.dtype)): x + i h e_i
    y = work.at(i, node, counted, (i, 1.0))        # counted(x with x_i = node, where=(i, 1.0))
    side = work.at(i, node, key)                   # key(x with x_i = node): no count, no where

A list of entries (``entries = [3, 7]``), each at a node of your own: call ``at`` per entry
on one ``Working``; the copy is restored after each call, so the calls are independent.

Every entry of a range at a stencil's offsets, real::

    points, disp = nodes(x, offsets, steps, start, stop)     # (r, K) each, rounded / represented
    values = node_values(counted, x, offsets, points, start, stop)   # (r, K) + out

Every entry of a range at ``x + i h_i e_i``, complex::

    real, imag = complex_values(counted, x, steps, start, stop)      # (r,) + out each

Along a direction ``v`` (a flat float64 vector) at ``x + t v``, real or complex ``t``::

    y = counted(along(x, v, t))                    # the point rounded to x's precision
    y = counted.complex(along(x, v, 1j * t))       # complex: x + i t v
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

#: entries handled per slice of the real loop (their nodes as Python floats, for speed)
SLICE = 4096
#: the slice when a progress bar is attached (updated once per slice)
PROGRESS_SLICE = 256
#: the memory the stacked points of one batched call may take (they are O(K n))
BATCH_BYTES = 16 * 2**20
#: the most points per batched call, however small ``x`` is (beyond it a call gains nothing)
MAX_BATCH = 128


def batch_size(evaluate: Callable, x: np.ndarray, itemsize: int | None = None) -> int:
    """The points per call for ``evaluate`` (a :class:`~gradlab.objective.Counted`) at ``x``: 1
    where it cannot take a batch (no ``values``, or ``batch=1``), else as many points of
    ``itemsize`` bytes per entry (``x``'s by default) as fit in :data:`BATCH_BYTES`, between 1 and
    :data:`MAX_BATCH`, and no more than the caller's ``batch``."""
    if not getattr(evaluate, "batched", False):
        return 1
    per_point = max(1, x.size * (x.itemsize if itemsize is None else itemsize))
    k = max(1, min(MAX_BATCH, BATCH_BYTES // per_point))
    return k if evaluate.batch == "auto" else min(k, evaluate.batch)


def complex_dtype(dtype: np.dtype) -> np.dtype:
    """The complex precision matching a real one (complex64 for float32, complex128 otherwise)."""
    return np.dtype(np.complex64 if dtype == np.float32 else np.complex128)


class Working:
    """A private working copy of ``x`` (in ``dtype``, by default ``x``'s), perturbed one entry at a time.

    ``point`` is the copy (shaped like ``x``), ``flat`` a flat view of it: assigning
    ``flat[i]`` perturbs ``point``.  :meth:`at` is the one safe way to do it.
    """

    def __init__(self, x: np.ndarray, dtype: np.dtype | None = None):
        self.point = x.copy() if dtype is None else x.astype(dtype)
        self.flat = self.point.reshape(-1)  # a view: perturbing flat perturbs point

    def at(self, i: int, node: object, fn: Callable, *args: object) -> object:
        """``fn(point, *args)`` with entry ``i`` set to ``node``; the entry is restored afterwards."""
        flat = self.flat
        old = flat[i]
        flat[i] = node
        try:
            return fn(self.point, *args)
        finally:
            flat[i] = old


def nodes(
    x: np.ndarray, offsets: Sequence[float], steps: np.ndarray, start: int = 0, stop: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The nodes ``x_i + o_k h_i`` of entries ``start..stop - 1`` rounded to ``x``'s precision, and
    the displacements they actually represent (float64), both of shape ``(stop - start, K)``.

    A node may be ``x_i`` itself (a step below the spacing of ``x``) or overflow: the caller
    checks ``disp`` before evaluating (see ``difference._check_displacements``).
    """
    flat = x.reshape(-1)
    stop = flat.size if stop is None else stop
    o = np.asarray(offsets, dtype=np.float64)
    x64 = flat[start:stop].astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        disp = x64[:, None] + o[None, :] * steps[start:stop, None]
        points = disp.astype(x.dtype)  # the nodes, rounded to x's precision
        np.subtract(points, x64[:, None], out=disp)  # the displacements actually represented
    return points, disp


def node_values(
    evaluate: Callable,
    x: np.ndarray,
    offsets: Sequence[float],
    points: np.ndarray,
    start: int = 0,
    stop: int | None = None,
    f0: object = None,
    *,
    progress: object = None,
) -> np.ndarray:
    """``evaluate`` at the nodes ``points`` (from :func:`nodes`) of entries ``start..stop - 1``.

    Returns float64 values of shape ``(stop - start, K) + out``.  An offset 0 is evaluated
    once, at ``x`` (or taken from ``f0``); every other node is ``evaluate(point, (i, o_k))``
    with only entry ``i`` moved.  ``progress`` (a tqdm-like bar) is updated per slice.
    """
    flat = x.reshape(-1)
    stop = flat.size if stop is None else stop
    rows = stop - start
    work = Working(x)
    wflat = work.flat
    zero = [k for k, o in enumerate(offsets) if o == 0]
    moving = [k for k, o in enumerate(offsets) if o != 0]
    values = None
    if zero:
        y0 = evaluate(work.point) if f0 is None else f0
        values = _allocate(rows, len(offsets), y0)
        values[:, zero[0]] = y0
    batch = batch_size(evaluate, x) if moving and rows else 1
    if batch > 1:
        return _batched_node_values(evaluate, x, offsets, points, start, stop, values, moving, batch, progress)
    size = SLICE if progress is None else PROGRESS_SLICE
    for lo in range(0, rows, size):  # Python floats for speed, a bounded slice at a time
        pts = points[lo : lo + size].tolist()
        for row, i in enumerate(range(start + lo, start + lo + len(pts)), start=lo):
            # the loop of Working.at, inlined: this is the hot path of every difference scheme
            xi = wflat[i]
            prow = pts[row - lo]
            try:
                for k in moving:
                    wflat[i] = prow[k]
                    y = evaluate(work.point, (i, offsets[k]))
                    if values is None:
                        values = _allocate(rows, len(offsets), y)
                    values[row, k] = y
            finally:
                wflat[i] = xi
        if progress is not None:  # after the slice: the last one counts too
            progress.update(len(pts))
    return _allocate(rows, len(offsets), 0.0) if values is None else values


def _batched_node_values(evaluate, x, offsets, points, start, stop, values, moving, batch, progress) -> np.ndarray:
    """:func:`node_values` by ``evaluate.values``: ``batch // len(moving)`` entries (at least one)
    per call, each at every moving offset, in the loop's order (entry by entry, offsets in
    stencil order), so that evaluation numbers and counts read as the loop's."""
    flat = x.reshape(-1)
    rows, M = stop - start, len(moving)
    per_call = max(1, batch // M)
    k_off = np.asarray(offsets, dtype=np.float64)[moving]
    step = per_call if progress is None else max(per_call, PROGRESS_SLICE // per_call * per_call)
    # one stack of copies of x for every call, each point's entry set before the call and
    # restored after it (as Working does for one point): O(K n) memory, never a fresh copy per call
    stack = np.repeat(flat[None, :], min(per_call, rows) * M, axis=0)
    for lo in range(0, rows, step):  # one progress update per slice, as the loop makes
        for a in range(lo, min(lo + step, rows), per_call):
            b = min(a + per_call, rows)
            r = b - a
            entries = np.repeat(np.arange(start + a, start + b), M)  # (r M,): entry of each point
            part, at = stack[: r * M], np.arange(r * M)
            part[at, entries] = points[a:b][:, moving].reshape(-1)  # the loop's nodes
            try:
                y = evaluate.values(part.reshape((r * M, *x.shape)), (entries, np.tile(k_off, r)))
            finally:
                part[at, entries] = flat[entries]
            if values is None:
                values = np.empty((rows, len(offsets), *y.shape[1:]), dtype=np.float64)
            values[a:b, moving] = y.reshape((r, M, *y.shape[1:]))
        if progress is not None:
            progress.update(min(lo + step, rows) - lo)
    return values


def _allocate(rows: int, width: int, sample: object) -> np.ndarray:
    """Room for ``rows x width`` values shaped like ``sample`` (a float, or an array of ``f``)."""
    return np.empty((rows, width, *np.shape(sample)), dtype=np.float64)


def complex_values(
    evaluate: Callable,
    x: np.ndarray,
    steps: np.ndarray,
    start: int = 0,
    stop: int | None = None,
    *,
    progress: object = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(Re, Im) f(x + i h_i e_i)`` for entries ``start..stop - 1`` (float64, shape ``(stop - start,) + out``).

    ``evaluate`` is a counted ``f`` (its :meth:`~gradlab.objective.Counted.complex` is called,
    with ``where = (i, 1)``), on a private complex copy of ``x``.  ``progress`` (a tqdm-like bar)
    is advanced every :data:`PROGRESS_SLICE` entries or so (a whole number of batched calls).
    """
    stop = x.size if stop is None else stop
    batch = batch_size(evaluate, x, 2 * x.itemsize) if stop > start else 1
    if batch > 1:
        return _batched_complex_values(evaluate, x, steps, start, stop, batch, progress)
    work = Working(x, complex_dtype(x.dtype))
    xf = work.flat
    real = imag = None
    call = evaluate.complex
    for row, i in enumerate(range(start, stop)):
        if progress is not None and row and row % PROGRESS_SLICE == 0:
            progress.update(PROGRESS_SLICE)
        # Working.at, inlined: the hot path of the complex step
        xi = xf[i]
        xf[i] = complex(xi.real, steps[i])
        try:
            y = call(work.point, (i, 1))
        finally:
            xf[i] = xi
        if real is None:
            real = np.empty((stop - start, *np.shape(y)), dtype=np.float64)
            imag = np.empty_like(real)
        real[row], imag[row] = y.real, y.imag
    if progress is not None and stop > start:
        progress.update((stop - start - 1) % PROGRESS_SLICE + 1)  # the last slice, whole or not
    if real is None:
        real = imag = np.empty(0, dtype=np.float64)
    return real, imag


def _batched_complex_values(evaluate, x, steps, start, stop, batch, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """:func:`complex_values` by ``evaluate.values``, ``batch`` entries per call: each point is the
    complex copy of ``x`` with the imaginary part of its entry set to the step, as the loop's is."""
    flat = x.reshape(-1).astype(complex_dtype(x.dtype))
    real = imag = None
    # one stack for every call of the range (O(K n), 16 MB at most: BATCH_BYTES), never one per call
    stack = np.repeat(flat[None, :], min(batch, stop - start), axis=0)
    every = max(1, PROGRESS_SLICE // batch)  # calls between two updates of the bar
    shown = start  # the entries the bar has been told of
    for call, a in enumerate(range(start, stop, batch), start=1):
        b = min(a + batch, stop)
        entries, at = np.arange(a, b), np.arange(b - a)
        part = stack[: b - a]
        # the imaginary part alone is written: the real part stays x's, bit for bit (a -0.0 too)
        part.imag[at, entries] = steps[a:b]
        try:
            y = evaluate.values(part.reshape((b - a, *x.shape)), (entries, np.ones(b - a)))
        finally:
            part.imag[at, entries] = 0.0
        if real is None:
            real = np.empty((stop - start, *y.shape[1:]), dtype=np.float64)
            imag = np.empty_like(real)
        real[a - start : b - start], imag[a - start : b - start] = y.real, y.imag
        if progress is not None and (call % every == 0 or b == stop):
            progress.update(b - shown)
            shown = b
    return real, imag


def along(x: np.ndarray, v: np.ndarray, t: complex) -> np.ndarray:
    """The point ``x + t v`` (``v`` flat, float64), computed in float64 (complex for a complex ``t``)
    and rounded to ``x``'s precision (its complex counterpart), shaped like ``x``."""
    flat = x.reshape(-1).astype(np.float64)
    if isinstance(t, complex):
        return (flat + t * v).astype(complex_dtype(x.dtype)).reshape(x.shape)
    return (flat + t * v).astype(x.dtype).reshape(x.shape)
