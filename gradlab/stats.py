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


# -- robust statistics of repeated timings --------------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """A robust summary of repeated measurements: a low quantile and the band around it.

    A timing can only be slowed down by noise (another process, a frequency change), never
    sped up, so the low end of the samples is the steady value and the spread above it is
    the noise.  ``value`` is the ``q``-quantile, ``low`` the minimum, ``high`` the median.
    """

    value: float
    low: float
    high: float
    n: int

    @property
    def spread(self) -> float:
        """``(high - low) / value``: 0 on a quiet machine, about 1 when repeats differ 2x."""
        return (self.high - self.low) / self.value if self.value > 0 else math.nan


def low_quantile(samples: Sequence[float], q: float = 0.2) -> Estimate:
    """The ``q``-quantile of ``samples`` (default 0.2: the minimum for up to 5 repeats) with
    the minimum and median as its band.

    Examples
    --------
    >>> e = low_quantile([1.0, 1.1, 3.0, 1.05, 1.2])
    >>> e.value, e.low, e.high
    (1.0, 1.0, 1.1)
    """
    s = np.sort(np.asarray(samples, dtype=np.float64))
    if s.size == 0:
        raise ValueError("`samples` must hold at least one measurement; got none")
    k = int(math.floor(q * (s.size - 1) + 1e-9))  # the lower order statistic: never interpolate upwards
    return Estimate(float(s[k]), float(s[0]), float(np.median(s)), int(s.size))


@dataclass(frozen=True)
class ExponentEstimate:
    """A log-log exponent with two sources of uncertainty.

    ``fit`` is the least-squares fit of the robust values; ``noise`` the standard deviation of
    the exponent over bootstrap resamples of the repeats (how much the timing noise moves it).
    ``uncertainty`` combines both (the fit's standard error also measures curvature: the
    local exponent changing within the window).
    """

    fit: Fit
    noise: float

    @property
    def exponent(self) -> float:
        return self.fit.exponent

    @property
    def uncertainty(self) -> float:
        se = self.fit.stderr if np.isfinite(self.fit.stderr) else 0.0
        return float(math.hypot(se, self.noise))

    def clear(self, tolerance: float) -> bool:
        """Whether the exponent is known to within ``tolerance``."""
        return bool(np.isfinite(self.exponent) and np.isfinite(self.noise) and self.uncertainty <= tolerance)

    def __str__(self) -> str:
        return f"{self.exponent:.2f} ± {self.uncertainty:.2f}"


def exponent_of_samples(
    n: Sequence[float],
    samples: Sequence[Sequence[float]],
    *,
    last: int | None = None,
    q: float = 0.2,
    resamples: int = 200,
    seed: int = 0,
) -> ExponentEstimate:
    """The exponent ``k`` of ``y ~ n**k`` from repeated measurements ``samples[i]`` at ``n[i]``.

    The fit is :func:`loglog_fit` of each size's :func:`low_quantile`; its noise is the spread
    of the same fit over ``resamples`` bootstrap draws of each size's repeats (seeded).
    """
    n = np.asarray(n, dtype=np.float64)
    groups = [np.asarray(s, dtype=np.float64) for s in samples]
    if len(groups) != n.size:
        raise ValueError(f"`samples` must hold one list per size ({n.size}); got {len(groups)}")
    fit = loglog_fit(n, [low_quantile(s, q).value for s in groups], last=last)
    if resamples < 2 or max(s.size for s in groups) < 2:
        return ExponentEstimate(fit, math.nan)
    # the same fit over bootstrap draws of each size's repeats, vectorized: column i of `y`
    # holds the q-quantile of `resamples` draws at size i
    rng = np.random.default_rng(seed)
    order = np.argsort(n)
    keep = order[-last:] if last is not None else order
    lx = np.log10(n[keep])
    cols = []
    for i in keep:
        s = groups[i]
        draws = np.sort(s[rng.integers(0, s.size, size=(resamples, s.size))], axis=1)
        cols.append(draws[:, int(math.floor(q * (s.size - 1) + 1e-9))])
    ly = np.log10(np.column_stack(cols))
    dx = lx - lx.mean()
    slopes = (ly - ly.mean(axis=1, keepdims=True)) @ dx / (dx @ dx)
    return ExponentEstimate(fit, float(np.std(slopes, ddof=1)))
