"""Second order's lessons as tidy DataFrames: accuracy of second differences against ``h``, the
cost of a full Hessian against ``N``, and the exact HVP's time against backprop's.

- :func:`second_accuracy`: the diagonal and a mixed entry of the Hessian of
  ``f(x) = exp(x0) cos(x1)`` by second differences of every difference scheme, over a grid of
  steps in float64 and float32, with the model ``C_t |f^(p+2)| h^p + C_r eps |f| / h^2``
  (:func:`gradlab.backends.second.second_difference_constants`) beside each measurement, and
  the first-order error of the same scheme for comparison: the first-order V has its minimum
  near ``eps^(1/(p+1))``, the second-order one near ``eps^(1/(p+2))`` (``eps^(1/4)`` central),
  half a decade of digits lower.
- :func:`hessian_cost`: a full Hessian of the cost ladder's networks three ways -- second
  differences of ``f`` (``O(N^2)`` evaluations, ``O(N^3)`` work), central differences of backprop
  (``2N`` gradients, ``O(N^2)``), ``N`` exact HVPs (``O(N^2)``) -- timed and counted.
- :func:`hvp_ratio`: the R-operator's HVP against one backprop gradient, interleaved, one BLAS
  thread, at ``N >= 1e4``.
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..backends import StepWarning, differentiate, get, hessian, schemes
from ..backends.second import second_difference_constants, second_difference_evaluations
from ..stats import loglog_fit
from ..timing import blas_threads, interleaved
from .cost import ladder_problem

#: the point of the accuracy experiment
POINT = (0.5, 0.3)


def _f(x):
    return np.exp(x[0]) * np.cos(x[1])


def _exact():
    """f, its first derivative in x0, and the exact Hessian at :data:`POINT` (all derivatives in x0 are f)."""
    x0, x1 = POINT
    f = math.exp(x0) * math.cos(x1)
    H = np.array([[f, -math.exp(x0) * math.sin(x1)], [-math.exp(x0) * math.sin(x1), -f]])
    return f, f, H


def second_accuracy(
    steps: Sequence[float] = tuple(np.logspace(0, -9, 37)),
    dtypes: Sequence[str] = ("float64", "float32"),
    backends: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per (scheme, dtype, order, entry, h): the error measured and the model's prediction.

    ``order`` 2: ``H[0, 0]`` (entry ``"diagonal"``) and ``H[0, 1]`` (``"mixed"``) by
    :func:`gradlab.hessian` (second differences of ``f``); ``order`` 1: ``df/dx0`` by
    :func:`gradlab.differentiate`, for the first-order V beside it.  Steps the scheme cannot
    take (below the spacing of ``x``) are left out.
    """
    f0, g0, H = _exact()
    rows = []
    for name in backends or schemes():
        scheme = get(name)
        p, ct, cr = second_difference_constants(scheme)
        for dtype in dtypes:
            eps = float(np.finfo(dtype).eps)
            x = np.array(POINT, dtype=dtype)
            for h in steps:
                try:
                    with warnings.catch_warnings():  # steps near the spacing of x are the point of the sweep
                        warnings.simplefilter("ignore", StepWarning)
                        r = hessian(_f, x, backend=scheme, h=float(h))
                        g = differentiate(_f, x, backend=scheme, h=float(h)).gradient
                except ValueError:  # a step below the spacing of x: not a point of the curve
                    continue
                model2 = ct * abs(f0) * h**p + cr * eps * abs(f0) / h**2
                # first order: C_t |f^(p+1)| h^p + C_r eps |f| / h (every derivative in x0 is f)
                model1 = scheme.truncation_constant * abs(f0) * h**p + scheme.rounding_constant * eps * abs(f0) / h
                common = {"backend": name, "dtype": dtype, "h": float(h), "evaluations": r.evaluations}
                rows.append(
                    common
                    | {"order": 2, "entry": "diagonal", "abs_error": abs(float(r[0, 0]) - H[0, 0]), "model": model2}
                )
                rows.append(
                    common
                    | {"order": 2, "entry": "mixed", "abs_error": abs(float(r[0, 1]) - H[0, 1]), "model": math.nan}
                )
                rows.append(
                    common
                    | {
                        "order": 1,
                        "entry": "df/dx0",
                        "abs_error": abs(float(g[0]) - g0),
                        "model": model1,
                        "evaluations": 0,
                    }
                )
    return pd.DataFrame(rows)


def accuracy_summary(samples: pd.DataFrame) -> pd.DataFrame:
    """Per scheme, dtype and order: the best step found and the model's, the best error, and the
    log-log slopes of the error on either side of the best step (model: ``+p`` and ``-2`` for
    second differences, ``+p`` and ``-1`` for first ones)."""
    out = []
    diag = samples[samples["entry"].isin(["diagonal", "df/dx0"])]
    for (name, dtype, order), g in diag.groupby(["backend", "dtype", "order"], sort=False):
        g = g.sort_values("h")
        scheme = get(name)
        eps = float(np.finfo(dtype).eps)
        if order == 2:
            p, ct, cr = second_difference_constants(scheme)
            model_step = (2 * cr * eps / (p * ct)) ** (1 / (p + 2))  # |f| = |f^(p+2)| here
            expected = (float(p), -2.0)
        else:
            p = scheme.order
            model_step = (scheme.rounding_constant * eps / (p * scheme.truncation_constant)) ** (1 / (p + 1))
            expected = (float(p), -1.0)
        best = g.loc[g["abs_error"].idxmin()]
        h_best = float(best["h"])
        # fit each side half a decade away from the optimum, where one term dominates; on the
        # rounding side only while the estimate still carries information (error below half the
        # value: at smaller steps f's values coincide and the error saturates at |H|)
        scale = abs(_exact()[2][0, 0]) if order == 2 else abs(_exact()[1])
        trunc = g[(g["h"] > 3 * h_best) & (g["h"] <= 0.3)]
        rnd = g[(g["h"] < h_best / 3) & (g["abs_error"] > 0) & (g["abs_error"] < 0.5 * scale)]
        out.append(
            {
                "backend": name,
                "dtype": dtype,
                "order": int(order),
                "best_h": h_best,
                "model_best_h": model_step,
                "eps_power": eps ** (1 / (p + order)),
                "best_error": float(best["abs_error"]),
                "truncation_slope": _slope(trunc),
                "rounding_slope": _slope(rnd),
                "expected_truncation_slope": expected[0],
                "expected_rounding_slope": expected[1],
            }
        )
    return pd.DataFrame(out)


def _slope(part: pd.DataFrame) -> float:
    try:
        return float(loglog_fit(part["h"], part["abs_error"]).exponent)
    except ValueError:
        return math.nan


@dataclass(frozen=True)
class HessianCostParams:
    """The cost ladder's networks ``[w, w, w, 10]`` (batch ``batch``); second differences of ``f``
    only up to ``f_max_params`` (their ``2 N^2`` evaluations), the others up to ``max_params``."""

    widths: tuple[int, ...] = (2, 3, 8, 16, 32)
    f_max_params: int = 70
    max_params: int = 3_000
    batch: int = 64
    seed: int = 0


def hessian_cost(params: HessianCostParams = HessianCostParams()) -> pd.DataFrame:
    """One row per (method, N): seconds for one full Hessian and its exact counts."""
    rows = []
    for w in params.widths:
        obj, theta = ladder_problem(w, batch=params.batch, seed=params.seed)
        n = obj.n_params
        if n > params.max_params:
            continue
        runs = [("central differences of backprop", {}), ("N exact HVPs (R-operator)", {"backend": "backprop"})]
        if n <= params.f_max_params:
            runs.insert(0, ("second differences of f", {"f_only": True}))
        for method, kw in runs:
            t0 = time.perf_counter()
            if kw.pop("f_only", False):
                r = hessian(obj.__call__, theta)  # a plain callable: no gradient, second differences of f
            else:
                r = hessian(obj, theta, **kw)
            seconds = time.perf_counter() - t0
            rows.append(
                {
                    "method": method,
                    "n_params": n,
                    "width": w,
                    "seconds": seconds,
                    "evaluations": r.evaluations,
                    "gradients": r.gradient_evaluations,
                    "hvps": r.hvp_evaluations,
                }
            )
    return pd.DataFrame(rows)


def cost_exponents(cost: pd.DataFrame, *, last: int = 3) -> pd.DataFrame:
    """Per method: the exponent of its exact number of calls against N (2 for second differences
    of f, ``2N^2`` evaluations; 1 for the others, ``2N`` gradients or ``N`` HVPs) and of its time
    over its ``last`` largest sizes, beside the model's time exponent (3, 2, 2: each call's own
    work grows as N once N is large enough for the work to outweigh Python's overhead)."""
    model = {"second differences of f": 3.0, "central differences of backprop": 2.0, "N exact HVPs (R-operator)": 2.0}
    out = []
    for method, g in cost.groupby("method", sort=False):
        calls = g["evaluations"] + g["gradients"] + g["hvps"]
        try:
            k = float(loglog_fit(g["n_params"], g["seconds"], last=last).exponent)
            c = float(loglog_fit(g["n_params"], calls).exponent)
        except ValueError:
            k = c = math.nan
        out.append(
            {
                "method": method,
                "sizes": int(min(len(g), last)),
                "largest_n": int(g["n_params"].max()),
                "calls_exponent": c,
                "time_exponent": k,
                "model_time_exponent": model.get(method, math.nan),
            }
        )
    return pd.DataFrame(out)


def hvp_ratio(widths: Sequence[int] = (128,), *, repeats: int = 9, batch: int = 64, min_seconds: float = 1e-2, seed=0):
    """One row per width: the HVP's time over one backprop gradient's, round by round of an
    interleaved timing (one BLAS thread): median, lowest and highest round."""
    rows = []
    with blas_threads(1):
        for w in widths:
            obj, theta = ladder_problem(w, batch=batch, seed=seed)
            v = np.random.default_rng(seed).standard_normal(obj.n_params)
            t = interleaved(
                {"backprop": functools.partial(obj.gradient, theta), "hvp": functools.partial(obj.hvp, theta, v)},
                repeats=repeats,
                min_seconds=min_seconds,
            )
            ratio = t["hvp"] / t["backprop"]
            rows.append(
                {
                    "width": w,
                    "n_params": obj.n_params,
                    "backprop_seconds": float(np.median(t["backprop"])),
                    "hvp_seconds": float(np.median(t["hvp"])),
                    "ratio_median": float(np.median(ratio)),
                    "ratio_low": float(ratio.min()),
                    "ratio_high": float(ratio.max()),
                    "repeats": repeats,
                }
            )
    return pd.DataFrame(rows)


def central_count(n: int) -> int:
    """Evaluations of f for a central second-difference Hessian of ``n`` entries: ``1 + 2n + 2n(n-1)``."""
    return second_difference_evaluations(get("central"), n)
