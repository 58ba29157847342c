"""What a backend differentiates: the :class:`Objective` protocol, and a counted view of it.

An objective is a scalar function of a flat parameter vector together with what it
knows about itself.  The protocol (structural: implement the methods, no base class):

- ``value(x)`` -- ``f`` at an already validated ``x`` (real, or complex when
  ``complex_ok`` is true); the hot path, no checks;
- ``point(x)`` -- the user's ``x`` validated into the array ``value`` takes;
- ``blocks(x)`` -- named parameter blocks (``W1, b1, ...``; one block ``x`` for a
  plain vector) that checks report on;
- ``gradient`` -- ``None``, or a function giving the analytic gradient at a
  validated ``x`` (one forward and one backward pass);
- ``hvp`` -- optional (looked up with ``getattr``): ``hvp(x, v) -> H v``, an exact
  Hessian-vector product (the MLP's R-operator), which :func:`gradlab.hessian`,
  :func:`gradlab.hvp` and ``gradcheck(..., order=2)`` use;
- ``complex_ok`` -- ``True`` when ``value`` is analytic in complex ``x`` (the complex
  step may be used), ``None`` when unknown (a plain callable: it will be tried);
- ``kinks`` -- ``None`` for a smooth ``f``, or a function ``x -> key`` such that two
  points have equal keys exactly when they lie on the same smooth piece of ``f``
  (for a ReLU network: which side of 0 every pre-activation is on).

Optional, outside the protocol (looked up, never required): ``jvp(x, V)`` -- the directional
derivatives along the rows of ``V`` (shape ``(K, n)``) in one forward pass of tangents, which
backend ``forward_ad`` uses where present (dual numbers through ``value`` otherwise); and
``values(points)`` -- ``f`` at ``K`` points at once, ``points`` of shape ``(K,) + x.shape``
(validated like ``x``: real, or complex where ``value`` takes complex input), returning the
``K`` values (shape ``(K,)``, or ``(K,) + out`` for an array-valued ``f``), each equal to what
``value`` gives at that point up to rounding.  The difference and complex-step kernels hand
it ``K`` perturbed points per call where it is present (:mod:`gradlab.backends.stencil`): the
``K`` points are ``K`` evaluations, counted as such; a plain callable is evaluated one point at
a time.  An implementation may assume nothing about the points (any ``K`` rows), but is fast
where they differ from one another in a few entries, as a stencil's do.

:class:`~gradlab.nn.MLPObjective` implements all of it; :class:`FunctionObjective`
wraps any Python callable ``f(x) -> float``.  Backends do not call an objective
directly but through :class:`Counted`, which counts every evaluation (the cost axis
timing noise cannot disturb), turns a bad return value into an error that names the
evaluation, and hands ``f`` a read-only point so that an ``f`` writing into its
argument is caught instead of corrupting the difference quotients.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from . import _validate as v
from ._arrays import is_array_api, to_numpy


@dataclass(frozen=True)
class Block:
    """One named block of a flat parameter vector: ``x[offset:offset + size]`` viewed as ``shape``."""

    name: str
    offset: int
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def slice(self) -> slice:
        return slice(self.offset, self.offset + self.size)


@runtime_checkable
class Objective(Protocol):
    """The structural contract of an objective (see the module docstring)."""

    gradient: Callable[[np.ndarray], np.ndarray] | None
    complex_ok: bool | None
    kinks: Callable[[np.ndarray], Hashable] | None

    def value(self, x: np.ndarray) -> object: ...

    def point(self, x: object) -> np.ndarray: ...

    def blocks(self, x: np.ndarray) -> tuple[Block, ...]: ...


class FunctionObjective:
    """A plain callable ``f(x) -> float`` seen as an :class:`Objective`: one block ``x``,
    no analytic gradient, complex evaluation to be tried, smoothness unknown."""

    gradient = None
    complex_ok = None
    kinks = None

    def __init__(self, f: Callable[[np.ndarray], object]):
        if not callable(f):
            raise v.fail("f", "a callable f(x) -> float or an MLP objective", f, TypeError)
        self.f = f
        self.value = f

    def point(self, x: object) -> np.ndarray:
        x = v.real_array("x", x, copy=False)
        if x.size == 0:
            raise v.fail("x", "a non-empty array", x)
        return x

    def blocks(self, x: np.ndarray) -> tuple[Block, ...]:
        return (Block("x", 0, x.shape),)

    def __repr__(self) -> str:
        return f"FunctionObjective({self.f!r})"


def as_objective(f: object) -> Objective:
    """``f`` itself when it implements the protocol, a :class:`FunctionObjective` around a callable."""
    if isinstance(f, Counted):
        return f.objective
    if isinstance(f, Objective):
        return f
    return FunctionObjective(f)


def describe(where: tuple | None) -> str:
    """``where = (i, offset)`` in words: which point of a stencil was being evaluated; a second
    difference names two entries, ``where = (i, offset_i, j, offset_j)``."""
    if where is None:
        return "at x"
    terms = [
        f"{'+' if o > 0 else '-'} {'' if abs(o) == 1 else f'{abs(o):g}*'}h*e[{i}]"
        for i, o in zip(where[::2], where[1::2])
        if o != 0
    ]
    return "at x " + " ".join(terms) if terms else "at x"


#: what ``batch=`` takes (see :func:`check_batch`)
BATCH_CHOICES = "'auto' or a positive integer"


def check_batch(batch: object) -> str | int:
    """``batch=`` validated: ``"auto"`` (batched where the objective has ``values``, ``K`` from a
    memory budget), or a positive integer ``K``, at most ``K`` points per call (``1``: the
    textbook loop, one evaluation per call)."""
    if isinstance(batch, str):
        if batch != "auto":
            raise v.fail("batch", BATCH_CHOICES, batch)
        return batch
    if isinstance(batch, bool | np.bool_) or not isinstance(batch, numbers.Integral):
        raise v.fail("batch", BATCH_CHOICES, batch, TypeError)
    if batch < 1:
        raise v.fail("batch", BATCH_CHOICES, batch)
    return int(batch)


def describe_batch(where: tuple | None, k: int) -> str:
    """Point ``k`` of a batched call in words: ``where = (entries, offsets)`` (arrays, one per
    point) names the entry each point moves and by how many steps."""
    if where is None:
        return f"point {k} of a batch of points"
    return describe((int(where[0][k]), float(where[1][k])))


class FunctionWroteIntoItsArgument(ValueError):
    """``f`` assigned into the array it was given (gradlab hands it a read-only one)."""


class Counted:
    """A counted, checked view of an objective, for the backends.

    ``evaluations`` counts every evaluation of ``f``, real or complex: one per call of ``value``,
    ``K`` per batched call of ``values`` on ``K`` points.  In vector mode
    (``vector=True``, for Jacobians) ``f`` returns an array of one fixed shape, learnt at
    the first evaluation (or given as ``shape``) and kept in :attr:`shape`: each value
    comes back as a finite float64 (complex128) numpy array of that shape instead of a
    Python float (complex).

    ``batch`` (``"auto"`` or a positive integer, see :func:`check_batch`) says how the kernel
    may call an objective that has ``values(points)``: :attr:`batched` is true when it may,
    and :meth:`values` is the counted, checked batched call (``K`` points, ``K`` evaluations).
    """

    def __init__(
        self, f: object, *, vector: bool = False, shape: tuple[int, ...] | None = None, batch: str | int = "auto"
    ):
        self.objective: Objective = as_objective(f)
        self._fn = self.objective.value
        self.evaluations = 0
        #: whether f is array-valued (a Jacobian), and the shape of its values once known
        self.vector = vector
        self.shape = shape
        #: "auto" or the most points per batched call (1: one at a time)
        self.batch = check_batch(batch)
        self._values = getattr(self.objective, "values", None)

    @property
    def batched(self) -> bool:
        """Whether the kernel may hand this objective many points per call: it implements
        ``values(points)`` and ``batch`` is not 1."""
        return self._values is not None and self.batch != 1

    def point(self, x: object) -> np.ndarray:
        return self.objective.point(x)

    def _call(self, x: np.ndarray):
        was_writeable = x.flags.writeable
        if was_writeable:
            x.flags.writeable = False
        try:
            return self._fn(x)
        except ValueError as exc:
            if "read-only" in str(exc):
                raise FunctionWroteIntoItsArgument(
                    "`f` writes into its argument x (numpy: assignment destination is read-only); gradlab hands "
                    "f a read-only array because a difference quotient is wrong if f changes the point it is "
                    "given: copy x inside f before changing it (x = x.copy())"
                ) from exc
            raise
        finally:
            if was_writeable:
                x.flags.writeable = True

    def __call__(self, x: np.ndarray, where: tuple[int, float] | None = None) -> float:
        """``f(x)`` as a finite Python float; ``where = (i, offset)`` names the perturbed entry."""
        self.evaluations += 1
        y = self._call(x)
        if self.vector:
            return self._array(y, where, complex_input=False)
        if type(y) is not float:
            y = self._scalar(y, where)
        if not math.isfinite(y):
            raise ValueError(
                f"`f` must return a finite scalar; got {y} at evaluation {self.evaluations} ({describe(where)})"
            )
        return y

    def values(self, points: np.ndarray, where: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """``f`` at each of the ``K`` points ``points`` (shape ``(K,) + x.shape``, real, or complex for
        the complex step) by the objective's ``values``, counted as ``K`` evaluations and checked as
        :meth:`__call__` and :meth:`complex` check one value: float64 values of shape ``(K,)``
        (``(K,) + out`` in vector mode) for real points, complex128 for complex ones.
        ``where = (entries, offsets)`` (one of each per point) names the point a message is about."""
        K = len(points)
        first = self.evaluations + 1  # the evaluation number of point 0, as the loop would count it
        self.evaluations += K
        complex_input = points.dtype.kind == "c"
        if self._values is None:
            raise TypeError(f"`f` has no values(points) method to evaluate a batch of points: {self.objective!r}")
        was_writeable = points.flags.writeable
        if was_writeable:
            points.flags.writeable = False
        try:
            y = self._values(points)
        except ValueError as exc:
            if "read-only" in str(exc):
                raise FunctionWroteIntoItsArgument(
                    "`f.values` writes into its argument points (numpy: assignment destination is read-only); "
                    "gradlab hands it a read-only array: copy the points before changing them"
                ) from exc
            raise
        except TypeError as exc:
            if complex_input:
                raise TypeError(
                    f"`f` cannot take complex input, which backend 'complex_step' needs ({exc}); "
                    f"use 'central' or 'richardson', or write f with numpy functions that accept complex x"
                ) from exc
            raise
        finally:
            if was_writeable:
                points.flags.writeable = True
        if is_array_api(y):
            y = to_numpy(y)
        y = np.asarray(y)
        out = self.shape if self.vector else ()
        if self.vector and out is None:
            out = y.shape[1:]
        if y.shape != (K, *out) or y.dtype.kind not in "fiuc":
            raise TypeError(
                f"`f.values` must return {K} {'arrays of shape ' + str(out) if self.vector else 'scalars'} "
                f"for {K} points (an array of shape {(K, *out)}); got {v.show(y)} at evaluations "
                f"{first}..{first + K - 1}"
            )
        if complex_input and y.dtype.kind != "c":
            raise TypeError(
                "`f` returned a real value for complex input, so it drops the imaginary part "
                "(abs(), float(), .real, np.maximum?) and the complex step would give 0; "
                "use 'central' or 'richardson'"
            )
        if not complex_input and y.dtype.kind == "c":
            raise TypeError(
                f"`f` must return real values for real points; got {v.show(y)} at evaluations {first}..{first + K - 1}"
            )
        finite = np.isfinite(y) if not self.vector else np.isfinite(y.reshape(K, -1)).all(axis=1)
        if not finite.all():
            k = int(np.flatnonzero(~finite)[0])
            shown = y[k] if not self.vector else y[k][~np.isfinite(y[k])][0]
            what = "a finite scalar" if not self.vector else "finite values"
            raise ValueError(
                f"`f` must return {what}; got {shown} at evaluation {first + k} ({describe_batch(where, k)})"
            )
        if self.vector and self.shape is None:
            self.shape = out
        return y.astype(np.complex128 if complex_input else np.float64, copy=False)

    def complex(self, x: np.ndarray, where: tuple[int, float] | None = None) -> complex:
        """``f(x)`` at a complex ``x`` (for the complex step), as a finite Python complex."""
        self.evaluations += 1
        try:
            y = self._call(x)
        except TypeError as exc:  # e.g. float() of a complex number inside f
            raise TypeError(
                f"`f` cannot take complex input, which backend 'complex_step' needs ({exc}); "
                f"use 'central' or 'richardson', or write f with numpy functions that accept complex x"
            ) from exc
        if self.vector:
            return self._array(y, where, complex_input=True)
        if is_array_api(y):
            y = to_numpy(y)
        if isinstance(y, np.ndarray) and y.size == 1:
            y = y.reshape(())[()]
        if isinstance(y, numbers.Real) or isinstance(y, np.ndarray) and y.dtype.kind == "f":
            raise TypeError(
                "`f` returned a real value for complex input, so it drops the imaginary part "
                "(abs(), float(), .real, np.maximum?) and the complex step would give 0; "
                "use 'central' or 'richardson'"
            )
        if not isinstance(y, numbers.Complex):
            what = f"array of shape {y.shape}" if isinstance(y, np.ndarray) else repr(y)
            raise TypeError(
                f"`f` must return a scalar; got {what} at evaluation {self.evaluations} ({describe(where)})"
            )
        y = complex(y)
        if not (math.isfinite(y.real) and math.isfinite(y.imag)):
            raise ValueError(
                f"`f` must return a finite scalar; got {y} at evaluation {self.evaluations} ({describe(where)})"
            )
        return y

    def _array(self, y: object, where, *, complex_input: bool) -> np.ndarray:
        """A value of an array-valued ``f``, checked: numeric, of the one shape, finite; real for a
        real ``x``, complex for a complex one (a real value there drops the imaginary part)."""
        y = np.asarray(y)
        if y.dtype.kind not in "fiuc" or (y.dtype.kind == "c" and not complex_input):
            raise TypeError(
                f"`f` must return a real numeric array; got {v.show(y)} at evaluation {self.evaluations} "
                f"({describe(where)})"
            )
        if complex_input and y.dtype.kind != "c":
            raise TypeError(
                "`f` returned a real array for complex input, so it drops the imaginary part "
                "(abs(), float(), .real, np.maximum?) and the complex step would give 0; "
                "use 'central' or 'richardson'"
            )
        if self.shape is None:
            self.shape = y.shape
        elif y.shape != self.shape:
            raise ValueError(
                f"`f` must return arrays of one shape; got {self.shape} first and {y.shape} at evaluation "
                f"{self.evaluations} ({describe(where)})"
            )
        if not np.isfinite(y).all():
            bad = [int(i) for i in np.argwhere(~np.isfinite(y))[0]] if y.ndim else []
            raise ValueError(
                f"`f` must return finite values; got {y[tuple(bad)]} at output index {bad}, evaluation "
                f"{self.evaluations} ({describe(where)})"
            )
        return y.astype(np.complex128 if complex_input else np.float64)

    def _scalar(self, y: object, where) -> float:
        if is_array_api(y):  # a jax or torch scalar from a plain f on a numpy x
            y = to_numpy(y)
        if isinstance(y, np.ndarray) and y.size == 1:
            y = y.reshape(())[()]  # a loss kept as a (1,) or (1, 1) array (a mean with keepdims) is a scalar
        if isinstance(y, numbers.Real) and not isinstance(y, bool | np.bool_):
            return float(y)
        what = f"array of shape {y.shape}" if isinstance(y, np.ndarray) else repr(y)
        raise TypeError(
            f"`f` must return a real scalar; got {what} at evaluation {self.evaluations} ({describe(where)})"
        )
