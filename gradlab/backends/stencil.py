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


def _allocate(rows: int, width: int, sample: object) -> np.ndarray:
    """Room for ``rows x width`` values shaped like ``sample`` (a float, or an array of ``f``)."""
    return np.empty((rows, width, *np.shape(sample)), dtype=np.float64)


def complex_values(
    evaluate: Callable, x: np.ndarray, steps: np.ndarray, start: int = 0, stop: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``(Re, Im) f(x + i h_i e_i)`` for entries ``start..stop - 1`` (float64, shape ``(stop - start,) + out``).

    ``evaluate`` is a counted ``f`` (its :meth:`~gradlab.objective.Counted.complex` is called,
    with ``where = (i, 1)``), on a private complex copy of ``x``.
    """
    work = Working(x, complex_dtype(x.dtype))
    xf = work.flat
    stop = xf.size if stop is None else stop
    real = imag = None
    call = evaluate.complex
    for row, i in enumerate(range(start, stop)):
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
    if real is None:
        real = imag = np.empty(0, dtype=np.float64)
    return real, imag


def along(x: np.ndarray, v: np.ndarray, t: complex) -> np.ndarray:
    """The point ``x + t v`` (``v`` flat, float64), computed in float64 (complex for a complex ``t``)
    and rounded to ``x``'s precision (its complex counterpart), shaped like ``x``."""
    flat = x.reshape(-1).astype(np.float64)
    if isinstance(t, complex):
        return (flat + t * v).astype(complex_dtype(x.dtype)).reshape(x.shape)
    return (flat + t * v).astype(x.dtype).reshape(x.shape)
