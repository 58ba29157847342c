"""The Taylor-remainder test: a verdict on a gradient that needs no step and no tolerance.

Along a seeded random unit direction ``d``, ``r(t) = |f(x + t d) - f(x) - t <g, d>|`` is
``O(t^2)`` when ``g`` is the gradient and ``~ t |<g - grad f, d>|`` otherwise, so the
log-log slope of ``r`` against ``t`` is about 2 for a correct gradient and 1 for a wrong one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..objective import Counted
from ..stats import loglog_fit


@dataclass(frozen=True)
class TaylorResult:
    """The residuals ``r(t)``, their fitted rate ``r ~ t^rate``, and what it cost."""

    rate: float
    verdict: str
    table: pd.DataFrame = field(repr=False)
    evaluations: int = 0


def taylor_test(f: object, x: object, grad: object, *, steps: object = None, seed: int = 0) -> TaylorResult:
    """The Taylor-remainder test of a gradient ``grad`` (an array) of ``f`` at ``x``.

    The rate is the log-log slope over the smallest steps whose residual stands clear of
    rounding (``r > 100 eps max(1, |f|)``): about 2 for a correct gradient, about 1 for a
    wrong one.  Steps go from small to large and stop where ``f`` leaves its domain (a
    non-finite value), so an ``f`` defined only near ``x`` is still tested.  A random ``f``
    (two evaluations at ``x`` differ) is inconclusive: noise has no rate.  Costs at most
    ``len(steps) + 2`` evaluations; ``f`` gets a private read-only copy of each point.
    """
    objective = Counted(f)
    x = objective.point(x)
    g = np.asarray(grad, dtype=np.float64).reshape(-1)
    steps = np.logspace(-8, -1, 15) if steps is None else np.sort(np.asarray(steps, dtype=np.float64))
    d = np.random.default_rng(seed).standard_normal(x.size)
    d /= np.linalg.norm(d)
    slope_dir = float(g @ d)
    f0 = objective(x.copy())
    if objective(x.copy()) != f0:  # a random f: its noise, not a slope, would set the residuals' rate
        return TaylorResult(
            math.nan,
            "inconclusive (f is random: two evaluations at x differ)",
            pd.DataFrame(columns=["t", "residual"]),
            objective.evaluations,
        )
    rows = []
    for t in steps:
        xt = (x.reshape(-1).astype(np.float64) + t * d).astype(x.dtype).reshape(x.shape)
        try:
            ft = objective(xt)
        except (ValueError, FloatingPointError):  # left f's domain (nan, inf): larger steps will too
            break
        rows.append({"t": float(t), "residual": abs(ft - f0 - t * slope_dir)})
    table = pd.DataFrame(rows, columns=["t", "residual"])
    floor = 100 * float(np.finfo(x.dtype).eps) * max(1.0, abs(f0))
    clear = table[table["residual"] > floor].sort_values("t")
    if len(clear) < 3:
        return TaylorResult(
            math.nan, "inconclusive (f is too nearly linear along d to tell)", table, objective.evaluations
        )
    low = clear.iloc[:4]
    rate = loglog_fit(low["t"], low["residual"]).exponent
    verdict = (
        "consistent with a correct gradient"
        if rate > 1.8
        else "the gradient is wrong along d"
        if rate < 1.3
        else "inconclusive (between 1 and 2)"
    )
    return TaylorResult(rate, verdict, table, objective.evaluations)
