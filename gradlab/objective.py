"""What a backend differentiates: a scalar function, counted and checked.

:class:`Objective` wraps either a plain Python callable ``f(x) -> float`` or an
:class:`~gradlab.nn.mlp.MLPObjective`.  It validates the point once, hands the
backends a private working copy, counts every evaluation (the cost axis that
timing noise cannot disturb) and turns a bad return value into an error that
says which evaluation produced it.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from . import _validate as v
from .nn.mlp import MLPObjective


class Objective:
    """A counted, checked view of ``f`` for the backends.

    Parameters
    ----------
    f : callable or MLPObjective
        ``f(x)`` must return a real finite scalar for an ``x`` shaped like the point.
    """

    def __init__(self, f: object):
        if isinstance(f, Objective):
            f = f.f
        if not callable(f):
            raise v.fail("f", "a callable f(x) -> float or an MLP objective", f, TypeError)
        self.f = f
        self.mlp: MLPObjective | None = f if isinstance(f, MLPObjective) else None
        # The MLP's own call re-checks theta; the backends pass a validated copy.
        self._fn = self.mlp.value if self.mlp is not None else f
        self.evaluations = 0

    def point(self, x: object) -> np.ndarray:
        """``x`` validated, in the precision it will be differentiated in.

        The result may be the caller's own array: backends must not write into it
        (finite differences perturb a working copy of their own).
        """
        if self.mlp is not None:
            return self.mlp.net._check_theta(x, copy=False)
        x = v.real_array("x", x, copy=False)
        if x.size == 0:
            raise v.fail("x", "a non-empty array", x)
        return x

    def __call__(self, x: np.ndarray, where: tuple[int, int] | None = None) -> float:
        """``f(x)`` as a finite Python float; ``where = (i, ±1)`` names the perturbed entry."""
        self.evaluations += 1
        y = self._fn(x)
        if type(y) is not float:
            y = self._scalar(y, where)
        if not math.isfinite(y):
            raise ValueError(
                f"`f` must return a finite scalar; got {y} at evaluation {self.evaluations} ({_describe(where)})"
            )
        return y

    def complex(self, x: np.ndarray, where: tuple[int, int] | None = None) -> complex:
        """``f(x)`` at a complex ``x`` (for the complex step), as a finite Python complex."""
        self.evaluations += 1
        try:
            y = self._fn(x)
        except TypeError as exc:  # e.g. float() of a complex number inside f
            raise TypeError(
                f"`f` cannot take complex input, which backend 'complex_step' needs ({exc}); "
                f"use 'central' or 'richardson', or write f with numpy functions that accept complex x"
            ) from exc
        if isinstance(y, np.ndarray) and y.ndim == 0:
            y = y[()]
        if isinstance(y, numbers.Real) or isinstance(y, np.ndarray) and y.dtype.kind == "f":
            raise TypeError(
                "`f` returned a real value for complex input, so it drops the imaginary part "
                "(abs(), float(), .real, np.maximum?) and the complex step would give 0; "
                "use 'central' or 'richardson'"
            )
        if not isinstance(y, numbers.Complex):
            what = f"array of shape {y.shape}" if isinstance(y, np.ndarray) else repr(y)
            raise TypeError(
                f"`f` must return a scalar; got {what} at evaluation {self.evaluations} ({_describe(where)})"
            )
        y = complex(y)
        if not (math.isfinite(y.real) and math.isfinite(y.imag)):
            raise ValueError(
                f"`f` must return a finite scalar; got {y} at evaluation {self.evaluations} ({_describe(where)})"
            )
        return y

    def _scalar(self, y: object, where) -> float:
        if isinstance(y, np.ndarray) and y.ndim == 0:
            y = y[()]
        if isinstance(y, numbers.Real) and not isinstance(y, bool | np.bool_):
            return float(y)
        what = f"array of shape {y.shape}" if isinstance(y, np.ndarray) else repr(y)
        raise TypeError(
            f"`f` must return a real scalar; got {what} at evaluation {self.evaluations} ({_describe(where)})"
        )


def _describe(where: tuple[int, int] | None) -> str:
    if where is None:
        return "at x"
    i, sign = where
    return f"at x {'+' if sign > 0 else '-'} h*e[{i}]"
