"""Dual numbers for numpy code: forward-mode automatic differentiation by operator overloading.

A :class:`Dual` carries a value ``x`` (any shape ``S``) and ``K`` tangents at once, an array of
shape ``(K,) + S`` -- the tangent axis comes first, so that a tangent broadcasts against the
value's own arrays the way numpy broadcasts (``f'(x) * dx`` is ``(S) * (K, S)``) and a matrix
product of a tangent is numpy's batched ``matmul`` over the leading axis.  Every numpy ufunc and
array function that it meets applies its derivative rule as well as itself:

    f(x + dx) = f(x) + f'(x) dx + O(dx^2),      so      tangent(f(x)) = f'(x) tangent(x).

Nothing is approximated and no step is taken: the tangent of the result is ``J v`` for each of
the ``K`` seed tangents ``v``, exact to rounding.  A gradient of ``n`` entries seeds the ``n``
unit vectors ``e_i``, ``K`` of them per pass of ``f``: ``ceil(n / K)`` passes, ``n`` JVPs.

The rules live in two tables, one row per function and its rule side by side (the style of
HIPS/autograd's ``defvjp`` table, run forward): :data:`UNARY` (``f -> f'(x, ans)``, where the rule
may reuse the forward output ``ans``: ``exp' = ans``, ``tanh' = 1 - ans^2``) and :data:`BINARY`
(``f -> (df/dx, df/dy)``).  Array functions (``sum``, ``reshape``, ``where``, ``einsum``, ...) are
in :data:`FUNCTIONS`.  A numpy function in none of them raises a :class:`TypeError` naming it:
a dual number never drops its tangent silently (``np.asarray(dual)`` and ``float(dual)`` refuse
too), since a lost tangent is a derivative of 0 that looks like an answer.

Kinks.  Where ``x`` lies off a kink, every rule is the derivative of the piece ``x`` is on, whatever
the distance to the kink (no step crosses it, unlike a difference).  At a kink itself -- ``abs`` at
0, ``maximum(a, b)`` with ``a == b``, ``clip`` at a bound, a tie of ``max`` -- the tangent is the
*one-sided directional derivative* along each seed tangent ``v``,
``lim_{t -> 0+} (f(x + t v) - f(x)) / t``: ``|v|`` for ``abs`` at 0, ``max(da, db)`` for a tie of
``maximum``, the largest tangent of the tied entries for ``max``; along ``+e_i`` that is the
right-hand partial derivative.  ``where(cond, a, b)`` cannot see inside ``cond``: it takes the
branch ``cond`` picks at ``x`` (``where(x > 0, x, 0)`` at ``x = 0``: the ``0`` branch, slope 0).
Piecewise-constant functions (``sign``, ``floor``, comparisons) return plain arrays: their
derivative is 0 wherever it exists.
"""

from __future__ import annotations

import math
import string

import numpy as np
from numpy.lib.mixins import NDArrayOperatorsMixin


class Dual(NDArrayOperatorsMixin):
    """A value and ``K`` tangents: ``value`` of shape ``S``, ``tangent`` of shape ``(K,) + S``.

    Arithmetic, numpy ufuncs and the array functions of :data:`FUNCTIONS` propagate both;
    see the module docstring for the rules and their conventions at kinks.

    Examples
    --------
    >>> import numpy as np
    >>> x = Dual(np.array([1.0, -2.0]), np.eye(2))       # seed both unit vectors at once
    >>> y = np.sum(x * x) + np.abs(x[1])
    >>> float(y.value), y.tangent                         # f(x) and grad f(x) = (2 x0, 2 x1 - 1)
    (7.0, array([ 2., -5.]))
    """

    __slots__ = ("value", "tangent")
    # numpy's binary operators defer to a Dual on the right (ndarray + Dual -> Dual.__radd__)
    __array_priority__ = 1000

    def __init__(self, value: object, tangent: object):
        value = np.asarray(value)
        tangent = np.asarray(tangent)
        if value.dtype.kind not in "fc":
            value = value.astype(np.result_type(value.dtype, np.float64))
        shape = tangent.shape[:1] + value.shape
        if tangent.ndim == 0 or tangent.shape != shape:
            if tangent.ndim == 0:
                raise ValueError("`tangent` must have a leading tangent axis (K,) + value.shape; got a scalar")
            tangent = np.broadcast_to(tangent, shape)  # a rule that gave the broadcast shape of its inputs
        self.value = value
        self.tangent = tangent

    # -- the array's face ----------------------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def ndim(self) -> int:
        return self.value.ndim

    @property
    def size(self) -> int:
        return self.value.size

    @property
    def dtype(self) -> np.dtype:
        return self.value.dtype

    @property
    def k(self) -> int:
        """The number of tangents carried."""
        return self.tangent.shape[0]

    @property
    def T(self) -> Dual:
        return np.transpose(self)

    @property
    def real(self) -> Dual:
        return self

    def __len__(self) -> int:
        return len(self.value)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"Dual(value={self.value!r}, tangents={self.k})"

    def __getitem__(self, index: object) -> Dual:
        if isinstance(index, Dual):
            raise TypeError("a dual number cannot index an array: index with plain integers or booleans")
        rest = index if isinstance(index, tuple) else (index,)
        return Dual(self.value[index], self.tangent[(slice(None), *rest)])

    def __setitem__(self, index: object, item: object) -> None:
        raise TypeError(
            "assignment into a dual number (x[i] = ...) is not supported: build the array with np.where, "
            "np.concatenate or np.stack instead"
        )

    def __array__(self, dtype=None, copy=None):
        raise TypeError(
            "a dual number cannot become a plain numpy array (np.asarray, np.array, or a dual assigned into an "
            "ndarray): that would drop its tangent; build arrays of duals with np.stack or np.concatenate"
        )

    def __float__(self) -> float:
        raise TypeError("float() of a dual number would drop its tangent; keep it an array (return it as it is)")

    __int__ = __complex__ = __index__ = __float__

    def __bool__(self) -> bool:
        return bool(self.value)  # branches follow the value, as `where` does

    # -- methods that mirror ndarray's ---------------------------------------------------------

    def sum(self, axis=None, keepdims=False):
        return _sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims=False):
        return _mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims=False):
        return _extreme(self, axis=axis, keepdims=keepdims, largest=True)

    def min(self, axis=None, keepdims=False):
        return _extreme(self, axis=axis, keepdims=keepdims, largest=False)

    def reshape(self, *shape, order="C"):
        return _reshape(self, shape[0] if len(shape) == 1 else shape, order=order)

    def transpose(self, *axes):
        return _transpose(self, axes[0] if len(axes) == 1 else (axes or None))

    def ravel(self, order="C"):
        return _reshape(self, -1, order=order)

    flatten = ravel

    def squeeze(self, axis=None):
        return _squeeze(self, axis)

    def clip(self, min=None, max=None):
        return _clip(self, min, max)

    def dot(self, other):
        return _dot(self, other)

    def copy(self) -> Dual:
        return Dual(self.value.copy(), self.tangent.copy())

    def astype(self, dtype, copy=True):
        if np.dtype(dtype).kind != "f":
            raise TypeError(f"a dual number can only be cast to a float dtype; got {np.dtype(dtype)}")
        return Dual(self.value.astype(dtype, copy=copy), self.tangent.astype(dtype, copy=copy))

    # -- numpy's protocols ------------------------------------------------------------------

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        name = f"numpy.{ufunc.__name__}"
        if method != "__call__":
            raise TypeError(f"{name}.{method} is not supported on dual numbers (use the array function, e.g. np.sum)")
        out = kwargs.pop("out", None)
        if kwargs:
            raise TypeError(f"{name} on dual numbers takes no keyword arguments; got {sorted(kwargs)}")
        if out is not None:
            return self._into(name, out, self.__array_ufunc__(ufunc, method, *inputs))
        if ufunc in CONSTANT:
            return ufunc(*(value(a) for a in inputs))
        if ufunc is np.matmul:
            return _matmul(*inputs)
        if ufunc in UNARY:
            (x,) = inputs
            ans = ufunc(x.value)
            with np.errstate(divide="ignore", invalid="ignore"):  # an infinite slope (sqrt at 0) is the answer
                return Dual(ans, _scale(UNARY[ufunc](x.value, ans), x.tangent))
        if ufunc in BINARY:
            return _binary(ufunc, *inputs)
        if ufunc in DIRECTIONAL:
            return DIRECTIONAL[ufunc](*inputs)
        raise TypeError(f"{name} is not supported on dual numbers (gradlab.backends.dual has no derivative rule)")

    @staticmethod
    def _into(name: str, out: tuple, result: object) -> Dual:
        """An in-place operation (``z += dual``, ``out=``): a dual target takes the result by rebinding
        its arrays (never writing into them: they may be the caller's point); a plain array cannot
        hold a tangent."""
        (target,) = out
        if not isinstance(target, Dual):
            raise TypeError(
                f"{name} with out= a plain array (an in-place operator such as a += dual on an ndarray) would write "
                f"a dual number into it and drop its tangent: write a = a + dual"
            )
        if not isinstance(result, Dual) or result.shape != target.shape:
            shape = np.shape(value(result))
            raise ValueError(f"{name}: the in-place result of shape {shape} does not fit {target.shape}")
        target.value, target.tangent = result.value, result.tangent
        return target

    def __array_function__(self, func, types, args, kwargs):
        rule = FUNCTIONS.get(func)
        if rule is None:
            where = func.__module__ or "numpy"
            raise TypeError(
                f"{where}.{func.__name__} is not supported on dual numbers (gradlab.backends.dual has no derivative "
                f"rule for it); write f with supported functions (see gradlab.backends.dual.FUNCTIONS)"
            )
        return rule(*args, **kwargs)


# -- helpers -----------------------------------------------------------------------------------


def value(a: object) -> object:
    """The value of a dual number, or ``a`` itself."""
    return a.value if isinstance(a, Dual) else a


def seed(x: np.ndarray, start: int, stop: int) -> Dual:
    """``x`` as a dual number carrying the unit tangents ``e_start, ..., e_(stop-1)`` (flat index)."""
    k = stop - start
    tangent = np.zeros((k, x.size), dtype=x.dtype)
    tangent[np.arange(k), np.arange(start, stop)] = 1
    return Dual(x, tangent.reshape((k,) + x.shape))


def _scale(slope: object, tangent: np.ndarray) -> np.ndarray:
    """``slope * tangent``, where a tangent of 0 stays 0 even at an infinite slope: a direction
    that does not move an entry gets nothing from it (``inf * 0`` would be NaN, and a NaN in one
    entry would spread to every direction through the sums that follow)."""
    out = slope * tangent
    if isinstance(slope, np.ndarray) and not np.isfinite(slope).all():
        out = np.where(tangent == 0, 0.0, out)
    return out


def _k(*items: object) -> int:
    ks = {a.k for a in items if isinstance(a, Dual)}
    if len(ks) != 1:
        raise ValueError(f"dual numbers of different tangent counts meet ({sorted(ks)}): seed them together")
    return ks.pop()


def _lift(a: object, ndim: int, k: int) -> np.ndarray | None:
    """The tangent of ``a`` with its value's axes padded on the left to ``ndim`` (broadcasting
    right-aligns the value's axes, the tangent axis stays first); ``None`` for a constant."""
    if not isinstance(a, Dual):
        return None
    t = a.tangent
    return t.reshape((k,) + (1,) * (ndim - a.ndim) + a.shape)


def _axes(axis, ndim: int) -> tuple[int, ...]:
    """``axis`` (None, int or tuple, possibly negative) as sorted non-negative value axes."""
    if axis is None:
        return tuple(range(ndim))
    axis = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    for a in axis:
        if not -ndim <= int(a) < ndim:
            raise np.exceptions.AxisError(int(a), ndim)
    return tuple(sorted(int(a) % ndim for a in axis))


def _t_axes(axis, ndim: int) -> tuple[int, ...]:
    """The tangent's axes for value axes ``axis``: one further along."""
    return tuple(a + 1 for a in _axes(axis, ndim))


# -- elementwise rules: one row per function, the derivative beside it --------------------------

#: ufunc -> f'(x, ans), ``ans = f(x)``: the tangent is ``f'(x, ans) * dx``
UNARY = {
    np.negative: lambda x, ans: -1.0,
    np.positive: lambda x, ans: 1.0,
    np.exp: lambda x, ans: ans,
    np.exp2: lambda x, ans: ans * math.log(2.0),
    np.expm1: lambda x, ans: ans + 1,
    np.log: lambda x, ans: 1 / x,
    np.log2: lambda x, ans: 1 / (x * math.log(2.0)),
    np.log10: lambda x, ans: 1 / (x * math.log(10.0)),
    np.log1p: lambda x, ans: 1 / (1 + x),
    np.sqrt: lambda x, ans: 0.5 / ans,
    np.cbrt: lambda x, ans: 1 / (3 * ans * ans),
    np.square: lambda x, ans: 2 * x,
    np.reciprocal: lambda x, ans: -ans * ans,
    np.sin: lambda x, ans: np.cos(x),
    np.cos: lambda x, ans: -np.sin(x),
    np.tan: lambda x, ans: 1 + ans * ans,
    np.arcsin: lambda x, ans: 1 / np.sqrt(1 - x * x),
    np.arccos: lambda x, ans: -1 / np.sqrt(1 - x * x),
    np.arctan: lambda x, ans: 1 / (1 + x * x),
    np.sinh: lambda x, ans: np.cosh(x),
    np.cosh: lambda x, ans: np.sinh(x),
    np.tanh: lambda x, ans: 1 - ans * ans,
    np.arcsinh: lambda x, ans: 1 / np.sqrt(x * x + 1),
    np.arccosh: lambda x, ans: 1 / np.sqrt(x * x - 1),
    np.arctanh: lambda x, ans: 1 / (1 - x * x),
    np.deg2rad: lambda x, ans: math.pi / 180,
    np.rad2deg: lambda x, ans: 180 / math.pi,
    np.conjugate: lambda x, ans: 1.0,  # real values: the identity
}


def _power_dy(x, y, ans):
    # d/dy x^y = x^y log x; where x^y = 0 (x = 0, y > 0) the limit is 0, not 0 * (-inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ans == 0, 0.0, ans * np.log(np.where(ans == 0, 1.0, x)))


#: ufunc -> (df/dx (x, y, ans), df/dy (x, y, ans)): the tangent is ``df/dx dx + df/dy dy``
BINARY = {
    np.add: (lambda x, y, ans: 1.0, lambda x, y, ans: 1.0),
    np.subtract: (lambda x, y, ans: 1.0, lambda x, y, ans: -1.0),
    np.multiply: (lambda x, y, ans: y, lambda x, y, ans: x),
    np.divide: (lambda x, y, ans: 1 / y, lambda x, y, ans: -ans / y),
    np.power: (lambda x, y, ans: y * x ** (y - 1), _power_dy),
    np.float_power: (lambda x, y, ans: y * np.float_power(x, y - 1), _power_dy),
    np.arctan2: (lambda x, y, ans: y / (x * x + y * y), lambda x, y, ans: -x / (x * x + y * y)),
    np.hypot: (lambda x, y, ans: x / ans, lambda x, y, ans: y / ans),
    np.logaddexp: (lambda x, y, ans: np.exp(x - ans), lambda x, y, ans: np.exp(y - ans)),
    np.logaddexp2: (lambda x, y, ans: np.exp2(x - ans), lambda x, y, ans: np.exp2(y - ans)),
}


def _binary(ufunc, x, y) -> Dual:
    xv, yv = value(x), value(y)
    ans = ufunc(xv, yv)
    k, ndim = _k(x, y), np.ndim(ans)
    dfdx, dfdy = BINARY[ufunc]
    tangent = 0
    for arg, rule in ((x, dfdx), (y, dfdy)):
        t = _lift(arg, ndim, k)
        if t is not None:
            # only the operand that carries a tangent has its rule evaluated: x^c needs no log x
            with np.errstate(divide="ignore", invalid="ignore"):
                tangent = tangent + _scale(rule(xv, yv, ans), t)
    return Dual(ans, tangent)


def _abs(x: Dual) -> Dual:
    # sign(x) dx off 0; at 0 the one-sided derivative along dx is |dx|
    ans = np.abs(x.value)
    return Dual(ans, np.where(x.value == 0, np.abs(x.tangent), np.sign(x.value) * x.tangent))


def _pick(largest: bool):
    """``maximum`` (``largest``) or ``minimum``: the tangent of the operand that wins; at a tie,
    the one-sided derivative ``max(da, db)`` (``min`` for ``minimum``)."""
    ufunc, tie = (np.maximum, np.maximum) if largest else (np.minimum, np.minimum)

    def rule(a, b) -> Dual:
        av, bv = value(a), value(b)
        ans = ufunc(av, bv)
        k, ndim = _k(a, b), np.ndim(ans)
        shape = (k,) + np.shape(ans)
        ta = _lift(a, ndim, k)
        tb = _lift(b, ndim, k)
        ta = np.zeros(shape, ans.dtype) if ta is None else np.broadcast_to(ta, shape)
        tb = np.zeros(shape, ans.dtype) if tb is None else np.broadcast_to(tb, shape)
        a_wins = (av > bv) if largest else (av < bv)
        tangent = np.where(a_wins, ta, np.where(av == bv, tie(ta, tb), tb))
        return Dual(ans, tangent)

    return rule


#: ufuncs with a kink, whose rule needs both tangents at once (see the module docstring)
DIRECTIONAL = {
    np.absolute: _abs,
    np.maximum: _pick(largest=True),
    np.minimum: _pick(largest=False),
    np.fmax: _pick(largest=True),
    np.fmin: _pick(largest=False),
}

#: piecewise-constant ufuncs and predicates: derivative 0 wherever it exists, plain arrays out
CONSTANT = {
    np.sign, np.floor, np.ceil, np.rint, np.trunc,
    np.greater, np.greater_equal, np.less, np.less_equal, np.equal, np.not_equal,
    np.isfinite, np.isinf, np.isnan, np.signbit, np.logical_and, np.logical_or, np.logical_not, np.logical_xor,
}  # fmt: skip


# -- linear algebra ------------------------------------------------------------------------------


def _matmul(a, b) -> Dual:
    """``a @ b``; tangent ``da @ b + a @ db``.  A 1-D operand is promoted to a matrix (a row on
    the left, a column on the right) and the axis squeezed after, as numpy does."""
    k = _k(a, b)
    av, bv = np.asarray(value(a)), np.asarray(value(b))
    if av.ndim == 0 or bv.ndim == 0:
        raise ValueError("numpy.matmul: an operand is a scalar (0-d); use * for scalars")
    ta = a.tangent if isinstance(a, Dual) else None
    tb = b.tangent if isinstance(b, Dual) else None
    squeeze = []
    if av.ndim == 1:
        av, ta = av[None, :], None if ta is None else ta[:, None, :]
        squeeze.append(-2)
    if bv.ndim == 1:
        bv, tb = bv[:, None], None if tb is None else tb[:, :, None]
        squeeze.append(-1)
    ans = av @ bv
    ndim = ans.ndim
    tangent = 0
    if ta is not None:
        tangent = tangent + ta.reshape((k,) + (1,) * (ndim - av.ndim) + av.shape) @ bv  # (K, ..., m, n) @ (n, p)
    if tb is not None:
        tangent = tangent + av @ tb.reshape((k,) + (1,) * (ndim - bv.ndim) + bv.shape)  # (m, n) @ (K, ..., n, p)
    for axis in squeeze:
        ans, tangent = np.squeeze(ans, axis), np.squeeze(tangent, axis)
    return Dual(ans, tangent)


def _tensordot(a, b, axes=2) -> Dual:
    k = _k(a, b)
    av, bv = np.asarray(value(a)), np.asarray(value(b))
    if isinstance(axes, int | np.integer):
        ax_a, ax_b = list(range(av.ndim - axes, av.ndim)), list(range(axes))
    else:
        ax_a, ax_b = ([x] if isinstance(x, int | np.integer) else list(x) for x in axes)
    ax_a = [int(x) % av.ndim for x in ax_a]
    ax_b = [int(x) % bv.ndim for x in ax_b]
    ans = np.tensordot(av, bv, axes=(ax_a, ax_b))
    tangent = 0
    if isinstance(a, Dual):
        tangent = tangent + np.tensordot(a.tangent, bv, axes=([x + 1 for x in ax_a], ax_b))  # K stays first
    if isinstance(b, Dual):
        t = np.tensordot(av, b.tangent, axes=(ax_a, [x + 1 for x in ax_b]))  # a's free axes, K, b's free axes
        tangent = tangent + np.moveaxis(t, av.ndim - len(ax_a), 0)
    return Dual(ans, np.reshape(tangent, (k,) + ans.shape))


def _dot(a, b) -> Dual:
    na, nb = np.ndim(value(a)), np.ndim(value(b))
    if na == 0 or nb == 0:
        return np.multiply(a, b)
    return _tensordot(a, b, axes=([na - 1], [max(nb - 2, 0)]))


def _einsum(subscripts, *operands, **kwargs) -> Dual:
    """``einsum`` with string subscripts: linear in each operand, so the tangent is the sum over
    dual operands of the same contraction with that operand replaced by its tangent, which
    carries one more index (a letter the subscripts do not use), kept first in the output."""
    if kwargs or not isinstance(subscripts, str):
        raise TypeError("numpy.einsum on dual numbers takes string subscripts and no keyword arguments")
    k = _k(*operands)
    spec = subscripts.replace(" ", "")
    inputs, arrow, output = spec.partition("->")
    terms = inputs.split(",")
    if not arrow:  # implicit output: the letters that appear once, sorted (numpy's rule)
        letters = [c for c in inputs if c.isalpha()]
        output = ("..." if "..." in inputs else "") + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    free = next(c for c in string.ascii_letters if c not in spec)
    values = [value(op) for op in operands]
    ans = np.einsum(f"{inputs}->{output}", *values)
    tangent = 0
    for i, op in enumerate(operands):
        if isinstance(op, Dual):
            sub = ",".join(free + t if j == i else t for j, t in enumerate(terms))
            args = [op.tangent if j == i else v for j, v in enumerate(values)]
            tangent = tangent + np.einsum(f"{sub}->{free}{output}", *args)
    return Dual(ans, np.reshape(tangent, (k,) + np.shape(ans)))


def _norm(x, ord=None, axis=None, keepdims=False) -> Dual:
    if ord not in (None, 2, "fro") or (ord == 2 and (axis is None and x.ndim != 1)):
        raise TypeError(
            f"numpy.linalg.norm on dual numbers supports the 2-norm of vectors and the Frobenius norm only; "
            f"got ord={ord!r}"
        )
    ans = np.sqrt(np.sum(x.value * x.value, axis=axis, keepdims=True))
    axes = _t_axes(axis, x.ndim)
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.sum(x.value * x.tangent, axis=axes, keepdims=True) / ans
    # at x = 0 the one-sided derivative along v is |v|
    tangent = np.where(ans == 0, np.sqrt(np.sum(x.tangent * x.tangent, axis=axes, keepdims=True)), slope)
    if not keepdims:
        ans, tangent = np.squeeze(ans, _axes(axis, x.ndim)), np.squeeze(tangent, axes)
    return Dual(ans, tangent)


# -- reductions ----------------------------------------------------------------------------------


def _sum(x, axis=None, keepdims=False, **kwargs) -> Dual:
    _no_extra("sum", kwargs)
    return Dual(
        np.sum(x.value, axis=axis, keepdims=keepdims), np.sum(x.tangent, axis=_t_axes(axis, x.ndim), keepdims=keepdims)
    )


def _mean(x, axis=None, keepdims=False, **kwargs) -> Dual:
    _no_extra("mean", kwargs)
    count = math.prod(x.shape[a] for a in _axes(axis, x.ndim))
    return _sum(x, axis=axis, keepdims=keepdims) * (1.0 / count)


def _var(x, axis=None, ddof=0, keepdims=False, **kwargs) -> Dual:
    _no_extra("var", kwargs)
    count = math.prod(x.shape[a] for a in _axes(axis, x.ndim))
    r = x - _mean(x, axis=axis, keepdims=True)
    return _sum(r * r, axis=axis, keepdims=keepdims) * (1.0 / (count - ddof))


def _std(x, axis=None, ddof=0, keepdims=False, **kwargs) -> Dual:
    return np.sqrt(_var(x, axis=axis, ddof=ddof, keepdims=keepdims, **kwargs))


def _extreme(x, axis=None, keepdims=False, largest=True, **kwargs) -> Dual:
    """``max`` (``min``): the tangent of the arg-max; at a tie the one-sided derivative along
    each tangent, the largest (smallest) tangent among the tied entries."""
    _no_extra("max" if largest else "min", kwargs)
    reduce, fill = (np.max, -np.inf) if largest else (np.min, np.inf)
    ans = reduce(x.value, axis=axis, keepdims=True)
    axes = _t_axes(axis, x.ndim)
    tangent = reduce(np.where(x.value == ans, x.tangent, fill), axis=axes, keepdims=True)
    if not keepdims:
        ans, tangent = np.squeeze(ans, _axes(axis, x.ndim)), np.squeeze(tangent, axes)
    return Dual(ans, tangent)


def _cumsum(x, axis=None, **kwargs) -> Dual:
    _no_extra("cumsum", kwargs)
    if axis is None:
        x = _reshape(x, -1)
        axis = 0
    axis = _axes(axis, x.ndim)[0]
    return Dual(np.cumsum(x.value, axis=axis), np.cumsum(x.tangent, axis=axis + 1))


def _no_extra(name: str, kwargs: dict) -> None:
    if any(v is not None for v in kwargs.values()):
        raise TypeError(f"numpy.{name} on dual numbers takes axis and keepdims only; got {sorted(kwargs)}")


# -- shape and selection -------------------------------------------------------------------------


def _reshape(x, shape, order="C", **kwargs) -> Dual:
    if order != "C":
        raise TypeError(f"numpy.reshape on dual numbers supports order='C' only; got {order!r}")
    ans = np.reshape(x.value, shape)
    return Dual(ans, np.reshape(x.tangent, (x.k,) + ans.shape))


def _transpose(x, axes=None) -> Dual:
    axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(int(a) % x.ndim for a in axes)
    return Dual(np.transpose(x.value, axes), np.transpose(x.tangent, (0, *(a + 1 for a in axes))))


def _swapaxes(x, axis1, axis2) -> Dual:
    a, b = int(axis1) % x.ndim, int(axis2) % x.ndim
    return Dual(np.swapaxes(x.value, a, b), np.swapaxes(x.tangent, a + 1, b + 1))


def _moveaxis(x, source, destination) -> Dual:
    src = [int(s) % x.ndim for s in np.atleast_1d(source)]
    dst = [int(d) % x.ndim for d in np.atleast_1d(destination)]
    return Dual(np.moveaxis(x.value, src, dst), np.moveaxis(x.tangent, [s + 1 for s in src], [d + 1 for d in dst]))


def _squeeze(x, axis=None) -> Dual:
    ans = np.squeeze(x.value, axis)
    return Dual(ans, np.reshape(x.tangent, (x.k,) + ans.shape))


def _expand_dims(x, axis) -> Dual:
    ans = np.expand_dims(x.value, axis)
    return Dual(ans, np.reshape(x.tangent, (x.k,) + ans.shape))


def _broadcast_to(x, shape, **kwargs) -> Dual:
    ans = np.broadcast_to(x.value, shape)
    return Dual(ans, _lift(x, ans.ndim, x.k))


def _tangents(items, k: int) -> list[np.ndarray]:
    """Each item's tangent, a constant's as zeros of its shape."""
    out = []
    for a in items:
        if isinstance(a, Dual):
            out.append(a.tangent)
        else:
            a = np.asarray(a)
            out.append(np.zeros((k,) + a.shape, dtype=a.dtype if a.dtype.kind == "f" else np.float64))
    return out


def _concatenate(arrays, axis=0, **kwargs) -> Dual:
    _no_extra("concatenate", kwargs)
    arrays = list(arrays)
    k = _k(*arrays)
    if axis is None:
        arrays = [np.ravel(a) for a in arrays]
        axis = 0
    ans = np.concatenate([value(a) for a in arrays], axis=axis)
    axis = int(axis) % ans.ndim
    return Dual(ans, np.concatenate(_tangents(arrays, k), axis=axis + 1))


def _stack(arrays, axis=0, **kwargs) -> Dual:
    _no_extra("stack", kwargs)
    arrays = list(arrays)
    k = _k(*arrays)
    ans = np.stack([value(a) for a in arrays], axis=axis)
    axis = int(axis) % ans.ndim
    return Dual(ans, np.stack(_tangents(arrays, k), axis=axis + 1))


def _hstack(arrays, **kwargs) -> Dual:
    arrays = [np.atleast_1d(a) for a in arrays]
    return _concatenate(arrays, axis=0 if np.ndim(value(arrays[0])) == 1 else 1)


def _vstack(arrays, **kwargs) -> Dual:
    return _concatenate([np.atleast_2d(a) for a in arrays], axis=0)


def _atleast(ndim: int):
    def rule(*arrays):
        out = []
        for a in arrays:
            if not isinstance(a, Dual):
                out.append(np.atleast_1d(a) if ndim == 1 else np.atleast_2d(a))
                continue
            shape = a.shape if a.ndim >= ndim else (1,) * (ndim - a.ndim) + a.shape
            out.append(_reshape(a, shape))
        return out[0] if len(out) == 1 else out

    return rule


def _where(condition, x=None, y=None) -> Dual:
    if x is None or y is None:
        raise TypeError("numpy.where on dual numbers needs all three arguments (where(cond, a, b))")
    cond = np.asarray(value(condition), dtype=bool)
    k = _k(x, y)
    ans = np.where(cond, value(x), value(y))
    ndim = ans.ndim
    shape = (k,) + ans.shape
    tx, ty = _lift(x, ndim, k), _lift(y, ndim, k)
    tx = 0.0 if tx is None else tx
    ty = 0.0 if ty is None else ty
    return Dual(ans, np.broadcast_to(np.where(cond, tx, ty), shape))


def _clip(x, a_min=None, a_max=None, out=None, *, min=None, max=None, **kwargs) -> Dual:
    # clip = minimum(maximum(x, lo), hi): at a bound, the one-sided derivative of that composition
    _no_extra("clip", {"out": out, **kwargs})
    a_min = min if a_min is None else a_min
    a_max = max if a_max is None else a_max
    out = x if a_min is None else np.maximum(x, a_min)
    return out if a_max is None else np.minimum(out, a_max)


def _zeros_like(a, dtype=None, **kwargs):
    return np.zeros_like(a.value, dtype=dtype)


def _ones_like(a, dtype=None, **kwargs):
    return np.ones_like(a.value, dtype=dtype)


def _full_like(a, fill_value, dtype=None, **kwargs):
    return np.full_like(a.value, fill_value, dtype=dtype)


def _shape(a):
    return np.shape(value(a))


def _ndim(a):
    return np.ndim(value(a))


def _size(a, axis=None):
    return np.size(value(a), axis)


def _outer(a, b) -> Dual:
    return np.multiply(_reshape(a, (-1, 1)) if isinstance(a, Dual) else np.reshape(a, (-1, 1)), np.ravel(b))


def _inner(a, b) -> Dual:
    na, nb = np.ndim(value(a)), np.ndim(value(b))
    if na == 0 or nb == 0:
        return np.multiply(a, b)
    return _tensordot(a, b, axes=([na - 1], [nb - 1]))


def _vdot(a, b) -> Dual:
    return _sum(np.multiply(np.ravel(a), np.ravel(b)))


def _trace(a, offset=0, axis1=0, axis2=1, **kwargs) -> Dual:
    _no_extra("trace", kwargs)
    a1, a2 = int(axis1) % a.ndim, int(axis2) % a.ndim
    return Dual(np.trace(a.value, offset, a1, a2), np.trace(a.tangent, offset, a1 + 1, a2 + 1))


def _ravel(a, order="C") -> Dual:
    return _reshape(a, -1, order=order)


def _on_values(func):
    """A function whose result is piecewise constant in its arguments (an index, a count, a
    predicate): computed on the values, a plain array out (its derivative is 0 where it exists)."""

    def rule(*args, **kwargs):
        return func(*(value(a) for a in args), **{k: value(a) for k, a in kwargs.items()})

    return rule


def _take_along_axis(arr, indices, axis=None) -> Dual:
    if axis is None:
        return _take_along_axis(_reshape(arr, -1), np.ravel(indices), 0)
    axis = _axes(axis, arr.ndim)[0]
    ans = np.take_along_axis(arr.value, indices, axis)
    return Dual(ans, np.take_along_axis(arr.tangent, np.asarray(indices)[None], axis + 1))


def _pad(array, pad_width, mode="constant", **kwargs) -> Dual:
    # linear in the array for a constant pad: the tangent is padded with zeros (a constant moves nothing)
    if mode != "constant":
        raise TypeError(f"numpy.pad on dual numbers supports mode='constant' only; got {mode!r}")
    widths = np.broadcast_to(np.asarray(pad_width, dtype=int).reshape(-1, 2) if np.ndim(pad_width) else
                             np.full((1, 2), int(pad_width)), (array.ndim, 2))  # fmt: skip
    ans = np.pad(array.value, widths, mode="constant", **kwargs)
    return Dual(ans, np.pad(array.tangent, [(0, 0), *widths.tolist()], mode="constant"))


#: numpy array function -> its rule on dual numbers (anything else raises, naming the function)
FUNCTIONS = {
    np.sum: _sum,
    np.mean: _mean,
    np.var: _var,
    np.std: _std,
    np.max: lambda x, axis=None, keepdims=False, **kw: _extreme(x, axis, keepdims, True, **kw),
    np.amax: lambda x, axis=None, keepdims=False, **kw: _extreme(x, axis, keepdims, True, **kw),
    np.min: lambda x, axis=None, keepdims=False, **kw: _extreme(x, axis, keepdims, False, **kw),
    np.amin: lambda x, axis=None, keepdims=False, **kw: _extreme(x, axis, keepdims, False, **kw),
    np.cumsum: _cumsum,
    np.dot: _dot,
    np.tensordot: _tensordot,
    np.einsum: _einsum,
    np.inner: _inner,
    np.outer: _outer,
    np.vdot: _vdot,
    np.trace: _trace,
    np.linalg.norm: _norm,
    np.reshape: _reshape,
    np.ravel: _ravel,
    np.transpose: _transpose,
    np.swapaxes: _swapaxes,
    np.moveaxis: _moveaxis,
    np.squeeze: _squeeze,
    np.expand_dims: _expand_dims,
    np.broadcast_to: _broadcast_to,
    np.concatenate: _concatenate,
    np.stack: _stack,
    np.hstack: _hstack,
    np.vstack: _vstack,
    np.atleast_1d: _atleast(1),
    np.atleast_2d: _atleast(2),
    np.where: _where,
    np.clip: _clip,
    np.zeros_like: _zeros_like,
    np.ones_like: _ones_like,
    np.full_like: _full_like,
    np.iscomplexobj: lambda x: False,  # the value is real (a dual's tangent is its own part)
    np.isrealobj: lambda x: True,
    np.take_along_axis: _take_along_axis,
    np.pad: _pad,
    np.copy: lambda a, **kw: a.copy(),
    # piecewise constant: indices, counts and predicates, computed on the values
    **{
        f: _on_values(f)
        for f in (
            np.argmax,
            np.argmin,
            np.argsort,
            np.argwhere,
            np.nonzero,
            np.flatnonzero,
            np.count_nonzero,
            np.searchsorted,
            np.isclose,
            np.allclose,
            np.array_equal,
            np.all,
            np.any,
        )
    },  # fmt: skip
    np.result_type: lambda *args: np.result_type(*(value(a) for a in args)),
    np.shape: _shape,
    np.ndim: _ndim,
    np.size: _size,
}
