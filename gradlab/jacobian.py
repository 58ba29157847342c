"""Vector-valued functions: Jacobians by differences, and backward passes checked against them.

A layer maps its input and weights to an output array, and its backward pass maps an
upstream gradient ``u`` (``dout``) to ``u^T J``: one gradient per argument.  gradlab
differentiates such an ``f`` with the same stencils it uses for scalars, evaluating ``f``
once per stencil node and combining whole output vectors,

    J[:, i]  ~=  sum_k w_k f(x + o_k h_i e_i) / (divisor h_i),

so :func:`jacobian` costs what :func:`gradlab.gradient` costs (``2 n`` evaluations for
central differences, ``n`` complex ones for the complex step) whatever the size of the
output.  A backward pass is checked without forming ``J`` at all: ``vjp(x, u)`` is the
gradient of the scalar ``g(x) = <u, f(x)>``, so ``gradcheck(f, x, vjp=vjp)`` is a gradient
check of ``g`` -- per named argument, in fast mode too (random projections ``u^T J v``).

Examples
--------
An affine layer ``out = x @ w + b`` and its backward pass (``dx, dw, db`` from ``dout``),
checked in one call; the arguments are named by the layer's own parameter names:

>>> import numpy as np, gradlab
>>> def affine(x, w, b):
...     return x @ w + b
>>> def affine_backward(x, w, b, dout):
...     return dout @ w.T, x.T @ dout, dout.sum(axis=0)
>>> rng = np.random.default_rng(0)
>>> x, w, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
>>> gradlab.jacobian(affine, (x, w, b))[2].shape        # d out / d b: out.shape + b.shape
(4, 2, 2)
>>> result = gradlab.gradcheck(affine, (x, w, b), vjp=affine_backward)
>>> result.status, list(result.table["block"]), result.evaluations
('passed', ['x', 'w', 'b'], 49)

A bug in ``dw`` is named by its argument and entry:

>>> def affine_backward_bug(x, w, b, dout):
...     return dout @ w.T, x.T @ dout / len(x), dout.sum(axis=0)
>>> bad = gradlab.gradcheck(affine, (x, w, b), vjp=affine_backward_bug)
>>> bad.status, bad.table.loc[bad.table["n_failed"] > 0, "block"].tolist()
('failed', ['w'])
>>> "worst entry w[1, 1]" in bad.message()
True
"""

from __future__ import annotations

from collections.abc import Callable

import array_api_compat
import numpy as np

from . import _validate as v
from .backends.difference import DifferenceScheme, StepTooSmallError
from .backends.front import resolve
from .objective import Block, FunctionWroteIntoItsArgument, describe
from .structure import Structure, prepare, to_numpy


class _Vector:
    """Counted evaluations of a vector-valued ``f`` on a flat (or shaped) point: each output as a
    float64 (or complex128) numpy array of one fixed shape, finite, ``f`` handed a read-only point."""

    def __init__(self, fn: Callable[[np.ndarray], object]):
        self.fn = fn
        self.evaluations = 0
        self.shape: tuple[int, ...] | None = None

    def __call__(self, x: np.ndarray, where=None) -> np.ndarray:
        self.evaluations += 1
        was = x.flags.writeable
        x.flags.writeable = False
        try:
            y = self.fn(x)
        except ValueError as exc:
            if "read-only" in str(exc):
                raise FunctionWroteIntoItsArgument(
                    "`f` writes into its argument (numpy: assignment destination is read-only): copy it inside f"
                ) from exc
            raise
        finally:
            x.flags.writeable = was
        y = to_numpy(y)
        if y.dtype.kind not in "fiuc" or (y.dtype.kind == "c" and x.dtype.kind != "c"):
            raise TypeError(
                f"`f` must return a real numeric array; got {v.show(y)} at evaluation {self.evaluations} "
                f"({describe(where)})"
            )
        if self.shape is None:
            self.shape = y.shape
        elif y.shape != self.shape:
            raise ValueError(
                f"`f` must return arrays of one shape; got {self.shape} first and {y.shape} at evaluation "
                f"{self.evaluations} ({describe(where)})"
            )
        if not np.isfinite(y).all():
            bad = [int(i) for i in np.argwhere(~np.isfinite(y))[0]]
            raise ValueError(
                f"`f` must return finite values; got {y[tuple(bad)]} at output index {bad}, evaluation "
                f"{self.evaluations} ({describe(where)})"
            )
        return y.astype(np.complex128 if y.dtype.kind == "c" else np.float64)


def _flat_call(f: Callable, x: object) -> tuple[Callable[[np.ndarray], object], np.ndarray, Structure | None]:
    """``f`` as a function of a flat point, the point, and the structure (``None`` for an array)."""
    prepared = prepare(f, x)
    if prepared is None:
        if not callable(f):
            raise v.fail("f", "a callable f(x) -> array", f, TypeError)
        point = v.real_array("x", x)
        if point.size == 0:
            raise v.fail("x", "a non-empty array", point)
        return f, point, None
    s = prepared.structure
    return (lambda p: s.call(f, p)), prepared.point, s


def jacobian(f: Callable, x: object, *, backend: str = "central", h: float | None = None) -> object:
    """The Jacobian of an array-valued ``f`` at ``x`` by finite differences (or the complex step).

    Parameters
    ----------
    f : callable
        ``f(x) -> array`` of a fixed shape (numpy or any array-API library).
    x : array_like or structure
        The point, never modified; a dict, list or tuple of arrays as in
        :func:`gradlab.gradient` (a tuple is passed as positional arguments, ``f(*x)``).
    backend : str or Backend
        A difference scheme (``"forward"``, ``"central"``, ``"richardson"``, one you
        registered) or ``"complex_step"``.
    h : float, optional
        Absolute step; default: the backend's own rule, per entry.

    Returns
    -------
    numpy.ndarray or structure
        For an array ``x``: shape ``f(x).shape + x.shape``, ``J[..., j] = d f[...] / d x[j]``.
        For a structure: the structure of ``x`` whose leaf for ``x_k`` is
        ``d f / d x_k``, of shape ``f(x).shape + x_k.shape`` (a numpy array for a scalar leaf,
        the leaf's own array library otherwise).

    Notes
    -----
    Each stencil node ``x + o_k h_i e_i`` is evaluated once and the whole output vector is
    combined with the scheme's weights (re-derived where rounding moved a node, as for
    gradients): ``backend.evaluations(n)`` evaluations, the same as one gradient of ``n``
    entries, however many outputs ``f`` has.
    """
    impl = resolve(backend)
    h = None if h is None else v.positive_float("h", h)
    fn, point, structure = _flat_call(f, x)
    evaluate = _Vector(fn)
    if isinstance(impl, DifferenceScheme):
        J = _differences(impl, evaluate, point, h)
    elif impl.kind == "complex":
        J = _complex_step(impl, evaluate, point, h)
    else:
        raise TypeError(
            f"`backend` must be a difference scheme or 'complex_step' for a Jacobian; got {impl.name!r} "
            f"({impl.kind}): gradlab knows no analytic Jacobian of f"
        )
    out_shape = evaluate.shape
    J = J.astype(point.dtype)  # (m, n): one row per output entry
    if structure is None:
        return J.reshape(out_shape + point.shape)
    return structure.unflatten(J.reshape(out_shape + (structure.size,)))


def _differences(scheme: DifferenceScheme, evaluate: _Vector, point: np.ndarray, h: float | None) -> np.ndarray:
    flat = point.reshape(-1)
    n = flat.size
    steps = scheme.steps(point, h)
    o = np.asarray(scheme.offsets, dtype=np.float64)
    x64 = flat.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        nodes = (x64[:, None] + o[None, :] * steps[:, None]).astype(point.dtype)  # rounded to x's precision
        disp = nodes - x64[:, None]  # the displacements actually represented
    moving = [k for k, ok in enumerate(o) if ok != 0]
    stuck = (disp[:, moving] == 0) | ~np.isfinite(disp[:, moving])
    if stuck.any():
        i = int(np.argwhere(stuck)[0][0])
        raise StepTooSmallError(
            f"`h` = {steps[i]:g} cannot be taken at index {i} (x = {float(flat[i]):g}, {point.dtype}): x + h is x "
            f"or overflows; use another h"
        )
    work = point.copy()
    wflat = work.reshape(-1)
    values = None
    f0 = evaluate(work) if 0 in scheme.offsets else None
    for i in range(n):
        xi = wflat[i]
        for k in moving:
            wflat[i] = nodes[i, k]
            y = evaluate(work, (i, scheme.offsets[k])).reshape(-1)
            if values is None:
                values = np.empty((n, len(o), y.size))
                if f0 is not None:
                    values[:, list(o).index(0.0), :] = f0.reshape(-1)
            values[i, k] = y
        wflat[i] = xi
    m = values.shape[2]
    # every output entry is a scalar function: combine (n * m) rows of K node values at once
    rows = values.transpose(0, 2, 1).reshape(n * m, len(o))
    g, _ = scheme.combine(rows, np.repeat(disp, m, axis=0), np.repeat(steps, m), point.dtype)
    return g.reshape(n, m).T


def _complex_step(impl, evaluate: _Vector, point: np.ndarray, h: float | None) -> np.ndarray:
    flat = point.reshape(-1)
    steps = impl.default_step(flat) if h is None else np.full(flat.size, float(h))
    work = point.astype(np.complex64 if point.dtype == np.float32 else np.complex128)
    wflat = work.reshape(-1)
    cols = []
    for i in range(flat.size):
        xi = wflat[i]
        wflat[i] = complex(xi.real, steps[i])
        cols.append(evaluate(work, (i, 1)).reshape(-1).imag / steps[i])
        wflat[i] = xi
    return np.stack(cols, axis=1)


# -- backward passes -------------------------------------------------------------------------------


class InnerProduct:
    """The scalar ``g(x) = <u, f(x)>`` of a vector-valued ``f`` and a cotangent ``u``, as an objective
    (on the flat vector of a structure, or on an array point)."""

    complex_ok = None
    kinks = None
    gradient = None

    def __init__(self, fn: Callable[[np.ndarray], object], u: np.ndarray, blocks: tuple[Block, ...]):
        self.fn, self.u, self._blocks = fn, u, blocks

    def value(self, p: np.ndarray) -> object:
        y = to_numpy(self.fn(p))
        if y.shape != self.u.shape:
            raise ValueError(f"`f` must return arrays of one shape, {self.u.shape}; got {y.shape}")
        return np.sum(self.u * y)  # no conjugate: analytic in complex x, for the complex step

    def point(self, x: object) -> np.ndarray:
        return x

    def blocks(self, x: np.ndarray | None = None) -> tuple[Block, ...]:
        return self._blocks


def backward_pass(f: Callable, x: object, vjp: Callable, cotangent: object, seed: int):
    """``(objective, point, flat analytic gradient function, note)`` for checking ``vjp`` against
    differences of ``<u, f(x)>``."""
    if not callable(vjp):
        raise v.fail("vjp", "a callable vjp(x, u) -> u^T J, structured like x", vjp, TypeError)
    fn, point, structure = _flat_call(f, x)
    y0 = f(*structure.arguments(point)) if structure is not None else f(point.copy())
    y0_np = to_numpy(y0)
    if y0_np.dtype.kind not in "fiu":
        raise TypeError(f"`f` must return a real numeric array when `vjp` is given; got {v.show(y0_np)}")
    if cotangent is None:
        u = np.random.default_rng(seed).standard_normal(y0_np.shape)
        note = (
            f"backward pass checked as the gradient of <u, f(x)> along a random cotangent u of shape "
            f"{y0_np.shape} (np.random.default_rng({seed}).standard_normal); pass cotangent= to choose u"
        )
    else:
        u = v.cotangent(cotangent, y0_np.shape)
        note = f"backward pass checked as the gradient of <u, f(x)> for the cotangent given, shape {u.shape}"
    u_native = _like(u, y0, y0_np)
    if structure is None:
        blocks = (Block("x", 0, point.shape),)
        objective = InnerProduct(fn, u, blocks)

        def flat_vjp(p):
            return vjp(p, u_native)

        flat_vjp.__name__ = getattr(vjp, "__name__", "vjp")
        return objective, point, flat_vjp, note
    from .structure import flat_function

    objective = InnerProduct(fn, u, structure.blocks())
    return objective, point, flat_function(vjp, structure, "vjp(x, u)", u_native), note


def _like(u: np.ndarray, y0: object, y0_np: np.ndarray) -> object:
    """The cotangent in the array library, dtype and device of ``f``'s output."""
    dtype = y0_np.dtype if y0_np.dtype.kind == "f" else np.dtype(np.float64)
    if isinstance(y0, np.ndarray | np.generic | float | int):
        return u.astype(dtype)
    xp = array_api_compat.array_namespace(y0)  # torch tensors have no __array_namespace__
    native = y0.dtype if y0_np.dtype.kind == "f" else xp.float64
    return xp.asarray(u.astype(dtype), dtype=native, device=array_api_compat.device(y0), copy=True)
