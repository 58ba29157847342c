"""Forward and central differences, one coordinate at a time.

Both schemes perturb a single working copy of the point in place and restore
each entry after use, so a gradient of ``n`` parameters needs ``O(n)`` memory,
never a copy of ``x`` per parameter.  The step used in the quotient is the one
actually represented in floating point, ``(x + h) - x``, not the nominal ``h``:
that removes the error of rounding ``x + h`` from the quotient (Press et al.).

Error model (Taylor expansion of ``f`` around ``x``, ``eps`` the unit roundoff):

- forward  ``(f(x + h) - f(x)) / h = f'(x) + h f''(x) / 2 + O(h^2)``; rounding adds
  about ``eps |f| / h``.  Best ``h ~ sqrt(eps)``, error ``~ sqrt(eps)``.
- central  ``(f(x + h) - f(x - h)) / 2h = f'(x) + h^2 f'''(x) / 6 + O(h^4)``;
  best ``h ~ eps^(1/3)``, error ``~ eps^(2/3)``.

The default step follows these optima, scaled by ``max(1, |x_i|)`` so that it
stays meaningful for large coordinates: ``sqrt(eps)`` (1.5e-8 in float64) for
forward and ``eps^(1/3)`` (6.1e-6 in float64) for central.  See
:mod:`gradlab.theory` for the constants.

References
----------
W. H. Press et al., *Numerical Recipes*, 3rd ed., section 5.7.
"""

from __future__ import annotations

import numpy as np

from ..objective import Objective
from .base import GradientResult, register


class StepTooSmallError(ValueError):
    """``x + h == x`` in floating point at some entry: the quotient would be 0/0."""


def default_step(x: np.ndarray, order: int) -> np.ndarray:
    """Per-entry step ``eps^(1/(order+1)) * max(1, |x|)`` for a scheme of the given order."""
    eps = np.finfo(x.dtype).eps
    return eps ** (1.0 / (order + 1)) * np.maximum(1.0, np.abs(x.astype(np.float64)))


def _taken(x_from: np.ndarray, x_to: np.ndarray, x: np.ndarray, h) -> np.ndarray:
    """``x_to - x_from`` in float64 (exact for nearby floats), refusing zero steps."""
    dx = x_to.astype(np.float64) - x_from.astype(np.float64)
    zero = np.flatnonzero(dx == 0)
    if zero.size:
        i = int(zero[0])
        spacing = float(np.spacing(np.abs(x[i])))
        raise StepTooSmallError(
            f"`h` = {h:g} is below the floating-point spacing of x at index {i} "
            f"(x = {float(x[i]):g}, spacing {spacing:.3g} in {x.dtype}): x + h == x, so the "
            f"difference quotient is 0/0; use h of at least {spacing:.3g} (best near "
            f"{float(np.finfo(x.dtype).eps) ** 0.5:.1g} forward, {float(np.finfo(x.dtype).eps) ** (1 / 3):.1g} central)"
        )
    return dx


class ForwardDifference:
    """``g_i = (f(x + h e_i) - f(x)) / h``: ``n + 1`` evaluations, error ``O(h)``."""

    name = "forward"
    order = 1

    def compute(self, objective: Objective, x: np.ndarray, *, h: float | None) -> GradientResult:
        start = objective.evaluations
        x = x.copy()  # the one working copy; the caller's array is never touched
        xf = x.reshape(-1)  # a view: perturbing xf perturbs x
        xp = xf + (default_step(xf, self.order) if h is None else h)
        xp = xp.astype(x.dtype)  # the perturbed value, rounded to x's precision
        dx = _taken(xf, xp, xf, h if h is not None else float(np.min(xp - xf)))
        f0 = objective(x)
        fp = np.empty(xf.size, dtype=np.float64)
        for i, (xi, xpi) in enumerate(zip(xf.tolist(), xp.tolist())):
            xf[i] = xpi
            fp[i] = objective(x, (i, 1))
            xf[i] = xi
        g = (fp - f0) / dx
        return GradientResult(g.astype(x.dtype).reshape(x.shape), self.name, h, objective.evaluations - start)


class CentralDifference:
    """``g_i = (f(x + h e_i) - f(x - h e_i)) / 2h``: ``2 n`` evaluations, error ``O(h^2)``."""

    name = "central"
    order = 2

    def compute(self, objective: Objective, x: np.ndarray, *, h: float | None) -> GradientResult:
        start = objective.evaluations
        x = x.copy()  # the one working copy; the caller's array is never touched
        xf = x.reshape(-1)
        step = default_step(xf, self.order) if h is None else h
        xp = (xf + step).astype(x.dtype)
        xm = (xf - step).astype(x.dtype)
        dx = _taken(xm, xp, xf, h if h is not None else float(np.min(step)))
        fp = np.empty(xf.size, dtype=np.float64)
        fm = np.empty(xf.size, dtype=np.float64)
        for i, (xi, xpi, xmi) in enumerate(zip(xf.tolist(), xp.tolist(), xm.tolist())):
            xf[i] = xpi
            fp[i] = objective(x, (i, 1))
            xf[i] = xmi
            fm[i] = objective(x, (i, -1))
            xf[i] = xi
        g = (fp - fm) / dx
        return GradientResult(g.astype(x.dtype).reshape(x.shape), self.name, h, objective.evaluations - start)


register(ForwardDifference())
register(CentralDifference())
