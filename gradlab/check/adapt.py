"""What the checker adapts before it checks: a structure, or a backward pass, as a flat gradient check.

The checker itself works on one flat vector ``x`` and a scalar ``f``.  Two calls are
restated as such a check here, so that they reach it already flat:

- ``gradcheck(f, x, grad=...)`` with ``x`` a dict, list or tuple of arrays: ``f`` on the
  structure's flat vector, ``grad`` flattened alike (an error naming the path where it
  returns another structure);
- ``gradcheck(f, x, vjp=...)``, a layer and its backward pass: ``vjp(x, u)`` maps an
  upstream gradient ``u`` (``dout``) to ``u^T J``, which is the gradient of the scalar
  ``g(x) = <u, f(x)>``; so the backward pass is checked as a gradient of ``g``, per named
  argument, in fast mode too (random projections ``u^T J v``), without forming ``J``.

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
>>> result = gradlab.gradcheck(affine, (x, w, b), vjp=affine_backward)
>>> result.status, list(result.table["block"]), result.evaluations
('passed', ['x', 'w', 'b'], 49)

A bug in ``dw`` is named by its argument and entry:

>>> def affine_backward_bug(x, w, b, dout):
...     return dout @ w.T, x.T @ dout / len(x), dout.sum(axis=0)
>>> bad = gradlab.gradcheck(affine, (x, w, b), vjp=affine_backward_bug)
>>> bad.status, bad.table.loc[bad.table["n_failed"] > 0, "block"].tolist()
('failed', ['w'])
>>> "worst entry w[2, 0]" in bad.message()
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import array_api_compat
import numpy as np

from .. import _validate as v
from ..objective import Block
from ..structure import Structure, flat_function, prepare, to_numpy
from .result import replaced

#: the cotangent's random stream, apart from the seed's own (directions, Taylor test)
COTANGENT_STREAM = 7


@dataclass(frozen=True)
class CheckCall:
    """A gradient check of a structure or of a backward pass, restated on a flat vector."""

    objective: object
    point: np.ndarray
    grad: Callable[[np.ndarray], np.ndarray] | None
    notes: tuple[str, ...] = ()

    def finish(self, result):
        """The flat check's result with what was restated said in its notes."""
        return replaced(result, notes=(*self.notes, *result.notes)) if self.notes else result


def prepare_check(f: object, x: object, *, grad: object, vjp: object, cotangent: object, seed: int) -> CheckCall | None:
    """``None`` for the flat path (an array ``x``, no ``vjp``); otherwise the same check on a flat
    vector: ``f`` on the structure's flat vector with ``grad`` flattened (an error naming the
    path when it returns another structure), or ``<u, f(x)>`` with the gradient ``vjp(x, u)``."""
    if vjp is None:
        if cotangent is not None:
            raise TypeError("`cotangent` is the upstream gradient of a backward pass: it needs `vjp=`")
        prepared = prepare(f, x)
        if prepared is None:
            return None
        flat_grad = None
        if grad is not None:
            if not callable(grad):
                raise v.fail("grad", "a callable grad(x) -> gradient structured like x", grad, TypeError)
            flat_grad = flat_function(grad, prepared.structure, "grad(x)")
        return CheckCall(prepared.objective, prepared.point, flat_grad)
    if grad is not None:
        raise TypeError("pass either `grad=` (the gradient of a scalar f) or `vjp=` (a backward pass), not both")
    seed = v.seed("seed", seed)
    objective, point, flat_vjp, note = backward_pass(f, x, vjp, cotangent, seed)
    return CheckCall(objective, point, flat_vjp, (note,))


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
        # a stream of its own: the fast path's directions and the Taylor test draw from
        # default_rng(seed), and a cotangent from the same stream would *be* the first block's
        # direction wherever that block has the output's shape (x @ w + b: only w's symmetric part seen)
        u = np.random.default_rng([COTANGENT_STREAM, seed]).standard_normal(y0_np.shape)
        note = (
            f"backward pass checked as the gradient of <u, f(x)> along a random cotangent u of shape "
            f"{y0_np.shape} (np.random.default_rng([{COTANGENT_STREAM}, {seed}]).standard_normal); "
            f"pass cotangent= to choose u"
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

        flat_vjp.__name__ = _label(vjp)
        return objective, point, flat_vjp, note
    objective = InnerProduct(fn, u, structure.blocks())
    flat_vjp = flat_function(vjp, structure, "vjp(x, u)", u_native)
    flat_vjp.__name__ = _label(vjp)
    return objective, point, flat_vjp, note


def _label(vjp: Callable) -> str:
    """The backward pass by its name in the result: "vjp" for a lambda (not the checker's "grad")."""
    name = getattr(vjp, "__name__", "vjp")
    return "vjp" if name == "<lambda>" else name


def _like(u: np.ndarray, y0: object, y0_np: np.ndarray) -> object:
    """The cotangent in the array library, dtype and device of ``f``'s output."""
    dtype = y0_np.dtype if y0_np.dtype.kind == "f" else np.dtype(np.float64)
    if isinstance(y0, np.ndarray | np.generic | float | int):
        return u.astype(dtype)
    xp = array_api_compat.array_namespace(y0)  # torch tensors have no __array_namespace__
    native = y0.dtype if y0_np.dtype.kind == "f" else xp.float64
    return xp.asarray(u.astype(dtype), dtype=native, device=array_api_compat.device(y0), copy=True)
