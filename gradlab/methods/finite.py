"""Finite differences, one coordinate at a time: forward, central, Richardson, complex step.

Every scheme perturbs a single working copy of the point in place and restores
each entry after use, so a gradient of ``n`` parameters needs ``O(n)`` memory,
never a copy of ``x`` per parameter.  The step used in the quotient is the one
actually represented in floating point, ``(x + h) - x``, not the nominal ``h``:
that removes the error of rounding ``x + h`` from the quotient (Press et al.).

Error model (Taylor expansion of ``f`` around ``x``, ``eps`` the unit roundoff):

- forward  ``(f(x + h) - f(x)) / h = f'(x) + h f''(x) / 2 + O(h^2)``; rounding adds
  about ``eps |f| / h``.  Best ``h ~ sqrt(eps)``, error ``~ sqrt(eps)``.
- central  ``(f(x + h) - f(x - h)) / 2h = f'(x) + h^2 f'''(x) / 6 + O(h^4)``;
  best ``h ~ eps^(1/3)``, error ``~ eps^(2/3)``.
- Richardson (over central): ``(4 D(h/2) - D(h)) / 3 = f'(x) - h^4 f^(5)(x) / 480 + ...``;
  best ``h ~ eps^(1/5)``, error ``~ eps^(4/5)``, for twice central's evaluations.
- complex step ``Im f(x + i h) / h = f'(x) - h^2 f'''(x) / 6 + ...`` involves no
  subtraction, hence no cancellation: the rounding error is about ``eps |f'|``
  whatever ``h``, so a tiny ``h`` (default 1e-20) gives the derivative to the last
  bits, for ``n`` evaluations in complex arithmetic.  ``f`` must be analytic in
  ``x``: no ``abs``, no ``float()``, no ``.real`` on the way.

The default steps follow these optima, scaled by ``max(1, |x_i|)`` so that they
stay meaningful for large coordinates: ``sqrt(eps)`` (1.5e-8 in float64) for
forward, ``eps^(1/3)`` (6.1e-6) for central, ``eps^(1/5)`` (7.4e-4) for Richardson.
See :mod:`gradlab.theory` for the constants.

References
----------
W. H. Press et al., *Numerical Recipes*, 3rd ed., section 5.7.
J. R. R. A. Martins, P. Sturdza, J. J. Alonso, "The complex-step derivative
approximation", ACM Trans. Math. Software 29 (2003) 245-262.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

from ..objective import Objective
from .base import GradientResult, register


class StepTooSmallError(ValueError):
    """``x + h == x`` in floating point at some entry: the quotient would be 0/0."""


class StepWarning(UserWarning):
    """The step actually taken is far larger than asked: ``h`` is below the spacing of ``x``."""


def default_step(x: np.ndarray, order: int) -> np.ndarray:
    """Per-entry step ``eps^(1/(order+1)) * max(1, |x|)`` for a scheme of the given order."""
    eps = np.finfo(x.dtype).eps
    return eps ** (1.0 / (order + 1)) * np.maximum(1.0, np.abs(x.astype(np.float64)))


def _taken(x_from: np.ndarray, x_to: np.ndarray, x: np.ndarray, span) -> np.ndarray:
    """``x_to - x_from`` in float64 (exact for nearby floats).

    ``span`` is the nominal distance.  A zero step is refused (the quotient would be
    0/0); a step that rounding changed by more than 10% draws a :class:`StepWarning`.
    """
    dx = x_to.astype(np.float64) - x_from.astype(np.float64)
    eps = float(np.finfo(x.dtype).eps)
    zero = np.flatnonzero(dx == 0)
    if zero.size:
        i = int(zero[0])
        spacing = float(np.spacing(np.abs(x[i])))
        h = float(np.min(span))
        raise StepTooSmallError(
            f"`h` = {h:g} is below the floating-point spacing of x at index {i} "
            f"(x = {float(x[i]):g}, spacing {spacing:.3g} in {x.dtype}): x + h == x, so the "
            f"difference quotient is 0/0; use h of at least {spacing:.3g} (best near "
            f"{eps**0.5:.1g} forward, {eps ** (1 / 3):.1g} central)"
        )
    change = dx / np.broadcast_to(np.asarray(span, dtype=np.float64), dx.shape) - 1
    if np.any(np.abs(change) > 0.1):
        i = int(np.argmax(np.abs(change)))
        warnings.warn(
            f"the step at index {i} is within a few units of the floating-point spacing of x there "
            f"(x = {float(x[i]):g}, spacing {float(np.spacing(np.abs(x[i]))):.3g} in {x.dtype}): rounding "
            f"changed it by {float(change[i]):+.0%}; the quotient divides by the step actually taken, "
            f"but rounding error dominates at such steps",
            StepWarning,
            stacklevel=_caller_level(),
        )
    return dx


def _caller_level() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside gradlab."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("gradlab"):
        frame, level = frame.f_back, level + 1
    return level


class DifferenceScheme:
    """Shared driver of the schemes: pick the step, run :meth:`estimate`, package the result."""

    name: str
    order: int

    def default_step(self, x: np.ndarray) -> np.ndarray | float:
        """The step used when none is given (per entry, from the scheme's order)."""
        return default_step(x, self.order)

    def compute(self, objective: Objective, x: np.ndarray, *, h: float | None) -> GradientResult:
        start = objective.evaluations
        step = self.default_step(x.reshape(-1)) if h is None else h
        g, _ = self.estimate(objective, x, step)
        return GradientResult(g.astype(x.dtype).reshape(x.shape), self.name, h, objective.evaluations - start)

    def estimate(self, objective: Objective, x: np.ndarray, step) -> tuple[np.ndarray, np.ndarray]:
        """``(gradient, span)``, flat float64, for a scalar or per-entry ``step``.

        ``span`` is the distance between the evaluation points actually used.
        """
        raise NotImplementedError


class ForwardDifference(DifferenceScheme):
    """``g_i = (f(x + h e_i) - f(x)) / h``: ``n + 1`` evaluations, error ``O(h)``."""

    name = "forward"
    order = 1

    def estimate(self, objective, x, step):
        x = x.copy()  # the one working copy; the caller's array is never touched
        xf = x.reshape(-1)  # a view: perturbing xf perturbs x
        xp = (xf + step).astype(x.dtype)  # the perturbed value, rounded to x's precision
        dx = _taken(xf, xp, xf, step)
        f0 = objective(x)
        fp = np.empty(xf.size, dtype=np.float64)
        for i, (xi, xpi) in enumerate(zip(xf.tolist(), xp.tolist())):
            xf[i] = xpi
            fp[i] = objective(x, (i, 1))
            xf[i] = xi
        return (fp - f0) / dx, dx


class CentralDifference(DifferenceScheme):
    """``g_i = (f(x + h e_i) - f(x - h e_i)) / 2h``: ``2 n`` evaluations, error ``O(h^2)``."""

    name = "central"
    order = 2

    def estimate(self, objective, x, step):
        x = x.copy()  # the one working copy; the caller's array is never touched
        xf = x.reshape(-1)
        xp = (xf + step).astype(x.dtype)
        xm = (xf - step).astype(x.dtype)
        dx = _taken(xm, xp, xf, 2 * np.asarray(step, dtype=np.float64))
        fp = np.empty(xf.size, dtype=np.float64)
        fm = np.empty(xf.size, dtype=np.float64)
        for i, (xi, xpi, xmi) in enumerate(zip(xf.tolist(), xp.tolist(), xm.tolist())):
            xf[i] = xpi
            fp[i] = objective(x, (i, 1))
            xf[i] = xmi
            fm[i] = objective(x, (i, -1))
            xf[i] = xi
        return (fp - fm) / dx, dx


register(ForwardDifference())
register(CentralDifference())
