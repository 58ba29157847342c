"""Statistics used everywhere: the one log-log fit.

A power law ``y = C n^k`` is a straight line on log-log axes; :func:`loglog_fit` fits it
by least squares in ``log10`` and reports the slope's standard error, so that a reader
(and the report's prose) can tell a measured exponent from noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Fit:
    """``log10 y = intercept + exponent * log10 n`` by least squares, with the slope's standard error."""

    exponent: float
    stderr: float
    intercept: float
    n_points: int

    def __str__(self) -> str:
        return f"{self.exponent:.2f} ± {self.stderr:.2f}"

    def predict(self, n: object) -> np.ndarray:
        return 10 ** (self.intercept + self.exponent * np.log10(np.asarray(n, dtype=np.float64)))


def loglog_fit(n: Sequence[float], y: Sequence[float], *, last: int | None = None) -> Fit:
    """Fit ``y ~ n**k`` on log-log axes, over the ``last`` largest ``n`` (all by default).

    Points where ``y`` is not positive and finite are left out.

    Examples
    --------
    >>> f = loglog_fit([1, 10, 100], [2, 200, 20000])
    >>> round(f.exponent, 6), f.n_points
    (2.0, 3)
    """
    n, y = np.asarray(n, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = np.isfinite(n) & np.isfinite(y) & (n > 0) & (y > 0)
    n, y = n[ok], y[ok]
    order = np.argsort(n)
    n, y = n[order], y[order]
    if last is not None:
        n, y = n[-last:], y[-last:]
    if n.size < 2 or np.ptp(n) == 0:
        raise ValueError(f"`n` must hold at least 2 distinct positive points to fit an exponent; got {n.size}")
    lx, ly = np.log10(n), np.log10(y)
    k, c = np.polyfit(lx, ly, 1)
    if n.size > 2:
        resid = ly - (c + k * lx)
        stderr = float(np.sqrt(np.sum(resid**2) / (n.size - 2) / np.sum((lx - lx.mean()) ** 2)))
    else:
        stderr = math.nan
    return Fit(float(k), stderr, float(c), int(n.size))
