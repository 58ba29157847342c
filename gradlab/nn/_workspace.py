"""Scratch arrays that backprop and the HVP reuse from one call to the next, one set per thread.

Why: a pass through the network makes a few arrays of the batch's size per layer (``z``, ``a``,
tangents, products).  Fresh ones on every call cost more than their arithmetic once they are large:
glibc serves allocations above its mmap threshold (128 KiB to start, 64 x 256 float64 already) from
fresh pages, so a call can pay an mmap, a munmap and a page fault per 4 KiB touched for each (the
HVP at N = 134,154 went from 3.1-3.5 gradients to 2.0-2.3 when ``MALLOC_MMAP_THRESHOLD_`` was raised);
below it the memory is reused but still handed out and returned layer by layer.  A workspace keeps one array per
name, shape and dtype and hands the same memory back on the next call of the same shape.

Thread safety: workspaces live in a ``threading.local``, so two threads (the threads scheduler of
:mod:`gradlab.parallel`, a user's thread pool) never share one; a process gets its own on first use
(nothing here is pickled).  A call that finds its thread's workspace already in use (a local rule
that calls back into backprop) gets a fresh, private one, so no call ever writes into arrays another
call in flight still reads.  Nothing handed out of a workspace may leave the call: results (the
gradient, ``H v``) are fresh arrays, and the public :meth:`MLP.forward_cache` does not use one.

Each thread keeps the workspaces of its :data:`KEEP` most recent keys (a key names the network's
shape: the kind of pass, the layer widths, the batch size and the dtype), so interleaving a few
networks, as the benchmarks do, does not reallocate on every switch; and it keeps no more than
:data:`BUDGET` bytes of them, the least recently used dropped first, so that a large batch's
arrays (what one call needs anyway) are not held after the call: such a call allocates as it
would without a workspace, where reuse matters least.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np

#: how many workspaces (distinct keys) a thread keeps
KEEP = 8
#: how many bytes of workspaces a thread keeps between calls
BUDGET = 64 * 2**20

_local = threading.local()


class Workspace:
    """Named scratch arrays: :meth:`array` returns the same memory for the same name, shape and dtype."""

    __slots__ = ("_arrays", "_halves", "_whole", "_fprimes", "busy", "nbytes", "grew")

    def __init__(self):
        self._arrays: dict[Hashable, np.ndarray] = {}
        self._halves: dict[Hashable, tuple[np.ndarray, np.ndarray]] = {}
        self._whole: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._fprimes: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # for this call only
        self.busy = False
        #: bytes of the arrays it holds, and whether that grew in the call in flight
        self.nbytes = 0
        self.grew = True

    def array(self, name: Hashable, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialised array of ``shape`` and ``dtype`` for ``name`` (the previous call's, reused)."""
        a = self._arrays.get(name)
        if a is None or a.shape != shape or a.dtype != dtype:
            self.nbytes -= 0 if a is None else a.nbytes
            a = self._arrays[name] = np.empty(shape, dtype)
            self.nbytes += a.nbytes
            self.grew = True
        return a

    def at_least(self, name: Hashable, size: int, dtype: np.dtype) -> np.ndarray:
        """A flat uninitialised array of at least ``size`` elements of ``dtype`` for ``name``: the
        previous call's when it is large enough (grown, never shrunk, so that calls of varying
        sizes, as the batched values' partial batches are, do not reallocate back and forth)."""
        a = self._arrays.get(name)
        if a is None or a.size < size or a.dtype != dtype or a.ndim != 1:
            self.nbytes -= 0 if a is None else a.nbytes
            a = self._arrays[name] = np.empty(size, dtype)
            self.nbytes += a.nbytes
            self.grew = True
        return a

    def halves(self, name: Hashable, m: int, n: int, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
        """The upper and lower ``m`` rows of a ``(2 m, n)`` array for ``name``: the same two view
        objects on every call, so that :func:`whole` can give back the array they are the halves of
        (one matrix product over both instead of two, without asking numpy for data pointers,
        which costs microseconds a call)."""
        key = (name, m, n, dtype)
        pair = self._halves.get(key)
        if pair is None:
            whole = np.empty((2 * m, n), dtype)
            self.nbytes += whole.nbytes
            self.grew = True
            pair = self._halves[key] = (whole[:m], whole[m:])
            self._whole[id(pair[0])] = (*pair, whole)
        return pair

    def note_fprime(self, z: np.ndarray, fp: np.ndarray) -> None:
        """Record ``f'(z)`` of this call's ``z`` for :func:`fprime_of` (dropped when the call ends)."""
        self._fprimes[id(z)] = (z, fp)

    def __len__(self) -> int:
        return len(self._arrays) + len(self._halves)

    def __enter__(self) -> Workspace:
        self.busy = True
        active = getattr(_local, "active", None)
        if active is None:
            active = _local.active = []
        active.append(self)
        return self

    def __exit__(self, *exc) -> None:
        self.busy = False
        self._fprimes.clear()
        _local.active.pop()
        spaces = getattr(_local, "spaces", None)
        if self.grew and spaces:  # a call that reused every array leaves the total as it was
            self.grew = False
            total = sum(ws.nbytes for ws in spaces.values())
            while total > BUDGET and spaces:  # least recently used first; this one is the most recent
                total -= spaces.popitem(last=False)[1].nbytes


def workspace(key: Hashable) -> Workspace:
    """This thread's workspace for ``key``, to hold in a ``with`` block (a fresh one if it is held already)."""
    spaces = getattr(_local, "spaces", None)
    if spaces is None:
        spaces = _local.spaces = OrderedDict()
    ws = spaces.get(key)
    if ws is None:
        ws = spaces[key] = Workspace()
        while len(spaces) > KEEP:
            spaces.popitem(last=False)
    else:
        spaces.move_to_end(key)
    # re-entered from inside a call (a local rule calling back into backprop): never share arrays
    # with the call in flight
    return Workspace() if ws.busy else ws


#: elements of each buffer numpy's ufuncs allocate for a call (``np.setbufsize``; numpy's default is
#: 8,192) inside :func:`small_buffers`: at most 32 KiB for complex128, under glibc's 64 KiB
SMALL_BUFFER = 2048


@contextlib.contextmanager
def small_buffers():
    """Numpy's per-call ufunc buffers kept under 64 KiB while the block runs (restored after).

    A ufunc that broadcasts one operand along a short inner axis (``z += b`` on a ``(G m, n)``
    batch, a row-wise ``z - lse``) or casts one (a real array against a complex one) iterates
    through buffers of ``np.getbufsize()`` elements it allocates and frees on each call: 128 KiB
    for complex128.  Freeing a chunk of 64 KiB or more lets glibc give the top of the heap back to
    the system when the trim threshold is low, and a dask worker's is (its nanny sets
    ``MALLOC_TRIM_THRESHOLD_=65536``): then every such call faults its pages in again, 10-15% of a
    batched complex-step gradcheck on a worker (1,929 ``brk`` calls per check at N = 13,770 against 5
    in a plain process).  Smaller buffers are freed without a trim and cost nothing measurable.
    ``np.setbufsize`` is a context variable in numpy 2: the setting holds in this thread only."""
    old = np.setbufsize(SMALL_BUFFER)
    try:
        yield
    finally:
        np.setbufsize(old)


def ones(n: int, dtype: np.dtype) -> np.ndarray:
    """A read-only vector of ``n`` ones (shared by every thread: nobody writes into it): a sum over
    the rows of an ``(m, n)`` array as ``ones(m) @ a``, one BLAS matrix-vector product, costs less
    than ``np.add.reduce(a, axis=0)`` on a batch's arrays (a few microseconds a call on small ones)."""
    key = (n, np.dtype(dtype))
    v = _ONES.get(key)
    if v is None:
        v = np.ones(n, dtype)
        v.flags.writeable = False
        if len(_ONES) < 64:  # a handful of batch sizes and widths in practice; never unbounded
            _ONES[key] = v
    return v


_ONES: dict[tuple[int, np.dtype], np.ndarray] = {}


def fprime_of(z: np.ndarray) -> np.ndarray | None:
    """``f'(z)`` as the call in flight noted it for this very array ``z`` (:meth:`Workspace.note_fprime`),
    or None (another array, no note, no workspace in use)."""
    active = getattr(_local, "active", None)
    if not active:
        return None
    entry = active[-1]._fprimes.get(id(z))
    return entry[1] if entry is not None and entry[0] is z else None


def whole(top: np.ndarray, bottom: np.ndarray) -> np.ndarray | None:
    """The ``(2 m, n)`` array whose upper half is ``top`` and lower half ``bottom``, when both came
    from one :meth:`Workspace.halves` of the workspace in use in this thread; None otherwise (any
    other arrays, the halves in the other order, no workspace in use)."""
    active = getattr(_local, "active", None)
    if not active:
        return None
    entry = active[-1]._whole.get(id(top))
    if entry is None or entry[0] is not top or entry[1] is not bottom:
        return None
    return entry[2]
