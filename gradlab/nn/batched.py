"""Many parameter vectors through one network at once: the ``values(points)`` of the MLP and the layer networks.

A difference kernel evaluates ``J`` at points that each differ from ``theta`` in one entry
(:mod:`gradlab.backends.stencil`).  Evaluated one at a time, every point pays a whole
forward pass and the Python overhead of a call.  Evaluated together, three things are
saved, none of which changes what is computed:

1. **The forward pass below the perturbed layer.**  A point that moves only entries of
   layer ``l`` has the same ``a[0..l-1]`` as ``theta``: the forward pass of the *base* point
   (the ``theta`` the points share, recovered from the points themselves) is computed once
   per batch (and kept while the base does not change) and read there.  Bitwise what the
   loop computes: the same operations on the same numbers.
2. **The perturbed layer, and the one above it.**  Moving one weight ``W[l][i, j]`` by ``d``
   changes ``z[l]`` in column ``i`` only, by the rank-one term ``d a[l-1][:, j]``:
   ``z[l][:, i] = (a[l-1] W[l]^T)[:, i] + d a[l-1][:, j] + b[l][i]``, ``O(m)`` work instead of a
   GEMM.  Then ``a[l]`` differs from the base's in column ``i`` only, and ``z[l+1]`` by an outer
   product: ``z[l+1] = z_base[l+1] + (a[l][:, i] - a_base[l][:, i]) W[l+1][:, i]^T``, ``O(m n[l+1])``.
   Neither is bitwise: the loop sums ``a[l-1][:, k] W'[i, k]`` over ``k`` in BLAS's order,
   the update adds ``d a[l-1][:, j]`` to the sum already rounded, so ``z`` differs by rounding,
   a few ``eps`` times the magnitudes that add up to it (the GEMM's own error bound) -- far
   below a difference quotient's rounding bound, which divides ``eps |J|`` by ``h``.  A bias
   ``b[l][i]`` moved alone gives ``z[l]`` bitwise, ``(a[l-1] W[l]^T) + b'``, as the loop does, so
   ``J`` is bitwise where that is the last layer; below it the outer product is not.  For
   the complex step the imaginary parts, which carry the derivative, come out of these
   updates without cancellation: ``Im z[l+1] = Im a[l][:, i] W[l+1][:, i]``, as in the loop,
   where every other imaginary part is 0.
3. **Calls.**  The layers above ``l + 1`` have the base's weights for every point, so the ``G``
   points' activations are stacked on the sample axis, ``(G m, n)``, and each layer is one
   GEMM for all of them.  Each row of a GEMM is the same dot products as the loop's smaller
   GEMM; BLAS may pick a different kernel for a taller matrix, and then the rows differ by
   rounding (observed bitwise on OpenBLAS).  A complex point keeps its real and imaginary
   parts apart through these layers, ``Re A W^T`` and ``Im A W^T`` as two real GEMMs (exact
   complex arithmetic: ``W`` is real there), instead of the complex GEMM the loop runs with
   ``W`` promoted to complex: half the multiplications, within rounding of the loop's.

The head (the loss) and the L2 penalty are computed per point on that point's ``z[L]`` and
weights in the loop's order and formulas (:func:`totals`), so they add no difference of their
own.  Every point's value is computed from the base and its own entries only, never from the
other points of the call, so which points share a call (the batch size, a split of the
entries into dask chunks) does not change a value, up to BLAS's choice of kernel by matrix
size noted above.

A point that moves two or more entries (or none: the base itself), or a call of one or two
points, is evaluated by ``value`` itself, one point at a time: correct for any points, fast
where they are a stencil's.

The layer networks (:class:`~gradlab.nn.network.Network`) do the same with their layers as
black boxes: the cached inputs below the first perturbed layer, that layer run per point with
its own parameters (bitwise), and the layers above stacked on the sample axis where every
one of them treats samples independently (:data:`STACKABLE`; a batch norm or a dropout mask
drawn for the batch's shape does not), per point otherwise.
"""

from __future__ import annotations

import numpy as np

from ._workspace import small_buffers, workspace
from .activations import ACTIVATIONS
from .layers import LSTM, RNN, Activation, Attention, AvgPool2d, Conv2d, Dense, Flatten, LayerNorm, MaxPool2d

#: the memory of the block of ``points != base`` rows :func:`mlp_values` compares at a time
DIFF_BYTES = 2**16


#: the attribute of an objective that keeps its base's forward pass between calls
KEPT = "_stacked_base"


def _kept(objective, base: np.ndarray, build):
    """The forward pass of ``base`` kept on ``objective`` (``build(net, X, base)`` where none is, or
    another base's)."""
    cache = getattr(objective, KEPT, None)
    if cache is None or cache.base.dtype != base.dtype or not np.array_equal(cache.base, base):
        cache = build(objective.net, objective.X, base.copy())  # its own copy: base may be scratch
        setattr(objective, KEPT, cache)  # one assignment: a thread sees the old base or the new one
    return cache


def _raise_on_overflow(out: np.ndarray, advice) -> None:
    """Raise on the first point whose value overflowed, with ``advice(k)`` for point ``k``."""
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        k = int(bad[0])
        raise FloatingPointError(f"J(theta) overflowed to {out[k]} at point {k} of a batch of {len(out)}: {advice(k)}")


def state_without_kept_pass(objective) -> dict:
    """``objective``'s pickle state without its kept forward pass: a dask worker computes its own,
    and pickling it sent ten times the objective's own bytes with every task's shared items."""
    state = dict(objective.__dict__)
    state.pop(KEPT, None)
    return state


def base_of(points: np.ndarray, ws=None) -> np.ndarray:
    """The point the rows of ``points`` (``(K, n)``, ``K >= 3``) share, entry by entry: the value
    two of rows ``0``, ``K // 2`` and ``K - 1`` agree on (row 0's where none do), real parts only.
    With a workspace ``ws`` the base and its masks are written into its memory (the base must then
    not outlive the call: :func:`_kept` copies it when it keeps it).

    Only speed depends on it: every value is computed from the base *and* the point's own
    entries, so a poor base (points that share nothing) costs time, never correctness."""
    r0, r1, r2 = (points[k].real for k in (0, len(points) // 2, len(points) - 1))
    if ws is None:
        base, odd, other = r0.copy(), r0 != r1, r0 != r2
    else:
        n = r0.size
        base = ws.at_least("base", n, r0.dtype)[:n]
        np.copyto(base, r0)
        odd = np.not_equal(r0, r1, out=ws.at_least("odd", n, np.dtype(bool))[:n])
        other = np.not_equal(r0, r2, out=ws.at_least("other", n, np.dtype(bool))[:n])
    odd &= other
    if odd.any():
        base[odd] = r1[odd]
    return base


def _changed_blocks(points: np.ndarray, base: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``diff`` (``(K, n)``: which entries of each point differ from ``base``) and ``which`` (``(K, B)``:
    which of the blocks starting at ``starts`` each point changes)."""
    diff = points != base
    return diff, np.logical_or.reduceat(diff, starts, axis=1)


# -- the MLP ------------------------------------------------------------------------------


class _MLPBase:
    """The forward pass of the base point, kept for the points that share it: per layer ``l``
    (0-based) its input ``a[l]``, the product ``a[l] W[l]^T`` before the bias, ``z[l]`` after it."""

    def __init__(self, net, X, base: np.ndarray):
        self.base = base
        self.layers = net.layers(base)
        self.inputs, self.products, self.zs = [], [], []
        a = X
        with np.errstate(over="ignore", invalid="ignore"):
            for l, (W, b) in enumerate(self.layers):
                u = a @ W.T
                z = u + b
                self.inputs.append(a)
                self.products.append(u)
                self.zs.append(z)
                if l < len(self.layers) - 1:
                    a = net.hidden[l].f(z)
        self.inputs.append(a)
        #: per layer: np.dot(W, W) of the base's weights, the L2 penalty's terms in the loop's order
        self.squares = [np.dot(W.ravel(), W.ravel()) for W, _ in self.layers] if net.l2 else None
        #: where each layer's block starts in theta
        self.starts = np.array([w.start for w, _, _ in net._layout])
        self._twins = {}

    def like(self, dtype: np.dtype) -> _MLPBase:
        """This forward pass with its arrays in ``dtype`` (the complex points' own), cast once and kept:
        numpy computes a complex-with-real operation by casting the real operand to complex in
        64-128 KB buffers it allocates and frees on every call (a fresh page-faulted buffer each time
        where the allocator returns memory eagerly, as on a dask worker); an operation on operands
        already complex is the same arithmetic on the same numbers, without the buffers.  The
        weights above the perturbed layer stay real (:attr:`layers`): their GEMMs run on real parts."""
        dtype = np.dtype(dtype)
        if all(x.dtype == dtype for group in (self.inputs, self.products, self.zs) for x in group):
            return self  # (a float32 network's X stays float32 under float64 points: not uniform)
        twin = self._twins.get(dtype)
        if twin is None:
            twin = object.__new__(_MLPBase)
            twin.base, twin.starts, twin.squares, twin._twins = self.base.astype(dtype), self.starts, self.squares, {}
            twin.layers = [(W.astype(dtype), b.astype(dtype)) for W, b in self.layers]
            for name in ("inputs", "products", "zs"):
                setattr(twin, name, [x.astype(dtype) for x in getattr(self, name)])
            self._twins[dtype] = twin
        return twin


def mlp_values(objective, points: np.ndarray) -> np.ndarray:
    """``J`` at each row of ``points`` (``(K, n)``, real or complex) for an :class:`~gradlab.nn.mlp.MLPObjective`:
    a ``(K,)`` array in the network's dtype (its complex counterpart for complex points)."""
    net, X, Y = objective.net, objective.X, objective.Y
    K = len(points)
    if K < 3:
        return np.array([objective.value(p) for p in points])
    shapes = tuple(shape for _, shape, _ in net._layout)
    with workspace(("batched-mlp", shapes, X.shape[0], points.dtype, net.dtype)) as ws, small_buffers():
        base = base_of(points, ws)
        cache = _kept(objective, base, _MLPBase)
        scratch = _Scratch(ws, K, X.shape[0] * max(n_out for n_out, _ in shapes))
        moved, entry = _moved(points, base, ws)
        out = np.empty(K, dtype=points.dtype if points.dtype.kind == "c" else net.dtype)
        for k in np.flatnonzero(moved != 1).tolist():  # the base itself, or a point that moves several entries
            out[k] = objective.value(points[k])
        single = np.flatnonzero(moved == 1)
        layer_of = np.searchsorted(cache.starts, entry[single], side="right") - 1
        with np.errstate(over="ignore", invalid="ignore"):
            for l in range(net.n_layers):
                rows = single[layer_of == l]
                if rows.size:
                    out[rows] = _mlp_one_entry(net, Y, cache, points, rows, entry[rows], l, scratch)
    _raise_on_overflow(
        out,
        lambda k: (
            f"the network's numbers exceed float range (largest |x| {float(np.abs(X).max()):.3g}, largest "
            f"|theta| {float(np.abs(points[k]).max()):.3g}, l2 = {net.l2:g}); rescale the inputs or the weights"
        ),
    )
    return out


def _moved(points: np.ndarray, base: np.ndarray, ws) -> tuple[np.ndarray, np.ndarray]:
    """Whether each point moves no entry of ``base`` (0), exactly one (1) or more (2), and the first
    one it moves (the one, for a stencil's point), from ``points != base`` a block of rows at a time
    in reused memory.  Every step allocates only ``(K,)`` arrays: the whole ``(K, n)`` comparison at
    once would be a fresh 1.7 MB (``K = 128``, ``n = 13,770``) on every call, and a count of the
    differences (``count_nonzero``, a bool-to-int sum) a 64 KB cast buffer, each of them handed back
    to the system and faulted in again on the next call where the allocator returns memory eagerly
    (a dask worker's ``MALLOC_TRIM_THRESHOLD_``: 10% of a gradcheck's time)."""
    K, n = points.shape
    block = max(1, min(K, DIFF_BYTES // max(1, n)))
    diff = ws.at_least("diff", block * n, np.dtype(bool))[: block * n].reshape(block, n)
    moved, entry = np.empty(K, dtype=np.intp), np.empty(K, dtype=np.intp)
    for lo in range(0, K, block):
        hi = min(K, lo + block)
        d = np.not_equal(points[lo:hi], base, out=diff[: hi - lo])
        first = d.argmax(axis=1)  # the first True (0 where there is none)
        rows = np.arange(hi - lo)
        hit = d[rows, first]
        d[rows, first] = False  # the comparison is scratch: what is left says whether another moved
        moved[lo:hi] = hit
        moved[lo:hi] += d.any(axis=1)
        entry[lo:hi] = first
    return moved, entry


class _Scratch:
    """Arrays of ``G <= K`` points' rows from a workspace: one flat array per name, sized for all ``K``
    points of the call, of which a call for ``G`` of them takes the first ``G`` rows' worth
    (contiguous).  The points of a call split between the layers in ever different numbers, and
    a chunk's last call has fewer points, so an array per exact shape would be reallocated on
    nearly every call; this one only when a call has more points than any before it in the
    thread (:meth:`~gradlab.nn._workspace.Workspace.at_least`).  A ``wide`` array has room for
    ``wide`` numbers per point (``m`` times the widest layer), so that one name serves every
    layer: the ``z`` and the ``a`` of the stacked layers take turns in two such arrays instead
    of one pair per layer."""

    __slots__ = ("ws", "K", "wide")

    def __init__(self, ws, K: int, wide: int):
        self.ws, self.K, self.wide = ws, K, wide

    def __call__(self, name, G: int, shape: tuple[int, ...], dtype, wide: bool = False) -> np.ndarray:
        size = 1
        for s in shape:
            size *= s
        flat = self.ws.at_least(name, self.K * (self.wide if wide else size), np.dtype(dtype))
        return flat[: G * size].reshape(G, *shape)


def _fresh(name, G: int, shape: tuple[int, ...], dtype, wide: bool = False) -> np.ndarray:
    """Without a workspace: a fresh array for every name."""
    return np.empty((G, *shape), dtype)


def _mlp_one_entry(net, Y, cache: _MLPBase, points: np.ndarray, rows: np.ndarray, q: np.ndarray, l: int,
                   scratch=None):  # fmt: skip
    """``J`` at the points ``points[rows]``, each of which moves the one entry ``q`` of layer ``l`` (0-based).

    The ``(G, m, n)`` arrays are written into ``scratch``'s memory (:class:`_Scratch`) with the
    ``out=`` forms of the same operations the fresh-array expressions run, so the values are the
    same to the bit; only the returned ``(G,)`` values are fresh."""
    buf = _fresh if scratch is None else scratch
    G = len(rows)
    wsl, (n_out, n_in), bsl = net._layout[l]
    a, u = cache.inputs[l], cache.products[l]  # (m, n_in), (m, n_out)
    m = a.shape[0]
    new = points[rows, q]
    is_bias = q >= bsl.start
    # the column i of z[l] each point changes, as the loop computes it: (a W'^T)[:, i] + b'[i]
    i = np.where(is_bias, q - bsl.start, (q - wsl.start) // n_in)
    j = np.where(is_bias, 0, (q - wsl.start) % n_in)
    dtype = np.result_type(points.dtype, u.dtype)
    c = cache.like(dtype)  # the kept arrays in the points' dtype: no mixed-type operation below
    a, u = c.inputs[l], c.products[l]
    # (G, m) columns gathered with np.take into reused memory (a fancy index would be a fresh array)
    # (a W^T)[:, i]: bitwise the loop's where only a bias moves
    col = np.take(u.T, i, axis=0, out=buf("col", G, (m,), dtype), mode="clip")
    w = ~is_bias
    if w.all():  # every point moves a weight (a call that holds no bias entry): in place
        rank1 = np.take(a.T, j, axis=0, out=buf("a-col", G, (m,), dtype), mode="clip")
        rank1 *= (new - c.base[q])[:, None]
        col += rank1  # the rank-one term d a[:, j]
    else:
        col[w] += (new[w] - c.base[q[w]])[:, None] * a.T[j[w]]  # the rank-one term d a[:, j]
    b = c.layers[l][1]
    col += np.where(is_bias, new, b[i])[:, None]  # the point's own bias
    if l == net.n_layers - 1:  # the last layer: z[L] is the base's but for one column
        z = buf("z", G, (m, n_out), dtype, wide=True)
        z[...] = c.zs[l][None]  # the base's z[L]
        z[np.arange(G), :, i] = col
    else:
        # a[l] differs from the base's in column i only, so z[l+1] by an outer product
        act = net.hidden[l]
        fcol = act.f(col) if act.f_out is None else act.f_out(col, buf("fcol", G, (m,), dtype))
        delta = np.take(c.inputs[l + 1].T, i, axis=0, out=buf("delta", G, (m,), dtype), mode="clip")
        np.subtract(fcol, delta, out=delta)  # (G, m): a[l][:, i] - a_base[l][:, i]
        W1 = c.layers[l + 1][0]  # (n[l+1], n[l])
        n1 = W1.shape[0]
        w1 = np.take(W1.T, i, axis=0, out=buf("w-col", G, (n1,), dtype, wide=True), mode="clip")  # W[l+1][:, i]
        z = np.multiply(delta[:, :, None], w1[:, None, :], out=buf("z", G, (m, n1), dtype, wide=True))
        np.add(c.zs[l + 1][None], z, out=z)  # (G, m, n[l+1]): z_base[l+1] + the outer product
        z = z.reshape(G * m, n1)
        for l2 in range(l + 2, net.n_layers):  # the layers above: the base's weights, all G points stacked
            act = net.hidden[l2 - 1]
            if act.f_out is None:
                A = act.f(z)
            else:
                A = act.f_out(z, buf("a", G, (m, z.shape[1]), dtype, wide=True).reshape(z.shape))
            W, bias = cache.layers[l2][0], c.layers[l2][1]  # real weights (the GEMMs below), bias like z
            z = buf("z", G, (m, W.shape[0]), dtype, wide=True).reshape(G * m, W.shape[0])  # z[l2-1] is spent
            if A.dtype.kind == "c":
                # Re A W^T and Im A W^T as two real GEMMs.  numpy copies a strided operand (A.real) to
                # contiguous memory before BLAS; the copy is made here, into reused memory, so the
                # GEMM is the same call on the same numbers (the same bits) without a fresh array each time
                part = buf("re-im", G, (m, A.shape[1]), W.dtype, wide=True).reshape(A.shape)
                prod = buf(("re-im W", l2), G, (m, W.shape[0]), W.dtype).reshape(G * m, W.shape[0])
                np.copyto(part, A.real)
                z.real = np.matmul(part, W.T, out=prod)
                np.copyto(part, A.imag)
                z.imag = np.matmul(part, W.T, out=prod)
            else:
                np.matmul(A, W.T, out=z)
            z += bias
        z = z.reshape(G, m, -1)
    J = totals(net.head, z, Y, scratch) / m
    if net.l2:
        # the penalty's terms in the loop's order, layer l's from each point's own weights
        own = points[rows, wsl]
        terms = cache.squares
        J = J + 0.5 * net.l2 * np.array([sum([*terms[:l], np.dot(own[k], own[k]), *terms[l + 1 :]]) for k in range(G)])
    return J


def totals(head, z: np.ndarray, Y: np.ndarray, scratch=None) -> np.ndarray:
    """``head.total(z[k], Y)`` for each of the ``G`` points' ``z[k]`` (``z`` of shape ``(G, m, n)``).

    The heads of the loss table are computed for all points at once, from the same row-wise
    functions on the stacked samples and the same elementwise formula as
    :mod:`gradlab.nn.losses`; each point's sum then runs over its own ``m n`` contiguous terms.
    The first point is computed by ``head.total`` too, and must agree to the bit: a head whose
    formula is not the table's (or a numpy that sums otherwise) is then called point by point.
    ``scratch`` (a :class:`_Scratch`): where the softmax head's temporaries go (fresh arrays without one)."""
    G, m, n = z.shape
    totals = _table_totals(head, z, Y, _fresh if scratch is None else scratch)
    if totals is None or totals[0] != head.total(z[0], Y):
        return np.array([head.total(z[k], Y) for k in range(G)])
    return totals


def _cast(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``x`` written into ``out`` (of another dtype): numpy's exact cast, no buffer of its own."""
    np.copyto(out, x)
    return out


def _table_totals(head, z: np.ndarray, Y: np.ndarray, buf=_fresh) -> np.ndarray | None:
    G, m, n = z.shape
    key = (head.output_name, head.loss_name)
    flat = z.reshape(G * m, n)
    if key == ("softmax", "cross_entropy"):
        # log_softmax(flat) (activations.py), step by step into reused memory: the same operations
        shift = np.max(flat.real, axis=1, keepdims=True, out=buf("shift", G, (m, 1), flat.real.dtype).reshape(G * m, 1))
        if z.dtype.kind == "c":  # operands of z's own dtype: numpy would cast the real one in fresh buffers
            shift = _cast(shift, buf("shift-c", G, (m, 1), z.dtype).reshape(G * m, 1))
            Y = _cast(Y, buf("Y-c", 1, Y.shape, z.dtype)[0])
        zs = np.subtract(flat, shift, out=buf("a", G, (m, n), z.dtype, wide=True).reshape(G * m, n))  # a is spent
        e = np.exp(zs, out=buf("exp", G, (m, n), z.dtype).reshape(G * m, n))
        lse = np.sum(e, axis=1, keepdims=True, out=buf("lse", G, (m, 1), z.dtype).reshape(G * m, 1))
        np.log(lse, out=lse)
        np.subtract(zs, lse, out=zs)  # log softmax
        # Y broadcast over the points: no copy of it per point
        terms = np.multiply(Y, zs.reshape(G, m, n), out=e.reshape(G, m, n))
        return -terms.reshape(G, m * n).sum(axis=1)
    if key == ("sigmoid", "cross_entropy"):
        terms = ACTIVATIONS["softplus"].f(z) - Y * z
        return terms.reshape(G, m * n).sum(axis=1)
    if head.loss_name == "mse" and (head.output_name in ACTIVATIONS or head.output_name == "softmax"):
        r = head.output(flat).reshape(G, m, n) - Y
        return 0.5 * (r * r).reshape(G, m * n).sum(axis=1)
    return None


# -- the layer networks -------------------------------------------------------------------


#: the layer classes (exactly these, not subclasses) whose output for a sample depends on
#: that sample alone, whatever else is in the batch: the layers above a perturbed one may
#: then run on all points' samples stacked (a batch norm normalises over the batch, a dropout
#: mask is drawn for the batch's shape: neither may)
STACKABLE = (Dense, Conv2d, Activation, Flatten, MaxPool2d, AvgPool2d, LayerNorm, RNN, LSTM, Attention)


class _NetworkBase:
    """The base point's input to every layer, kept for the points that share it."""

    def __init__(self, net, X, base: np.ndarray):
        self.base = base
        self.inputs = []
        x = X
        with np.errstate(over="ignore", invalid="ignore"):
            for layer, p in zip(net.layers, net._views(base)):
                self.inputs.append(x)
                x, _ = layer.forward(p, x)


def network_values(objective, points: np.ndarray) -> np.ndarray:
    """``J`` at each row of ``points`` (``(K, n)``) for a :class:`~gradlab.nn.network.NetworkObjective`."""
    net, X, Y = objective.net, objective.X, objective.Y
    K = len(points)
    starts = [s.start for slots in net._slots for _, s, _ in slots[:1]]
    if K < 3 or not starts:
        return np.array([objective.value(p) for p in points])
    base = base_of(points)
    cache = _kept(objective, base, _NetworkBase)
    layer_index = [i for i, slots in enumerate(net._slots) if slots]  # the layers that have parameters
    _, which = _changed_blocks(points, base, np.array(starts))
    n_changed = which.sum(axis=1)
    out = np.empty(K, dtype=points.dtype if points.dtype.kind == "c" else net.dtype)
    for k in np.flatnonzero(n_changed != 1).tolist():
        out[k] = objective.value(points[k])
    first = which.argmax(axis=1)
    m = X.shape[0]
    with np.errstate(over="ignore", invalid="ignore"):
        for c, i in enumerate(layer_index):
            rows = np.flatnonzero((n_changed == 1) & (first == c))
            if not rows.size:
                continue
            layer = net.layers[i]
            ys = [layer.forward(net._views(points[k])[i], cache.inputs[i])[0] for k in rows.tolist()]
            above = list(zip(net.layers[i + 1 :], net._views(cache.base)[i + 1 :]))
            if all(type(lay) in STACKABLE for lay, _ in above):
                y = np.concatenate(ys)  # (G m, ...): every point's samples, stacked
                for lay, p in above:
                    y, _ = lay.forward(p, y)
                ys = np.split(y, len(rows))
            else:
                for lay, p in above:
                    ys = [lay.forward(p, y)[0] for y in ys]
            out[rows] = [net.head.total(y, Y) / m for y in ys]
    _raise_on_overflow(
        out, lambda k: f"rescale the inputs or the weights (largest |theta| {float(np.abs(points[k]).max()):.3g})"
    )
    return out
