"""Sweeps: accuracy against the step h, cost against the size N. Tidy DataFrames out.

- :func:`accuracy_sweep` -- finite-difference backends over a grid of ``h`` and
  precisions, each gradient compared with a float64 reference (analytic or backprop),
  with the error model of :mod:`gradlab.theory` predicted beside every measurement;
  :func:`accuracy_summary` reduces it to best step, best error and the two slopes.
- :func:`cost_sweep` -- every backend over a ladder of MLP widths, timed (median of
  interleaved repeats, one BLAS thread) and counted (objective evaluations);
  :func:`fit_exponent` / :func:`scaling_summary` fit log-log exponents over the large-N end.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import _validate as v
from .backends import StepTooSmallError, StepWarning, differentiate
from .nn.mlp import MLP, MLPObjective
from .objective import Counted
from .theory import error_terms, higher_derivatives

#: 10^0 ... 10^-16, four points per decade (the top decade shows float32's truncation side).
DEFAULT_STEPS = tuple(float(h) for h in np.logspace(0, -16, 65))
#: Every step-based backend (one coordinate at a time, cost proportional to n).
STEP_BACKENDS = ("forward", "central", "richardson", "complex_step")
#: Expected log-log slopes of error against h: (truncation side, rounding side).
EXPECTED_SLOPES = {"forward": (1, -1), "central": (2, -1), "richardson": (4, -1), "complex_step": (2, 0)}


# -- accuracy -----------------------------------------------------------------------------


def in_precision(f: object, dtype: object) -> object:
    """``f`` evaluated in ``dtype``: an MLP objective is rebuilt as a twin network in that
    precision on the same data; a plain callable is returned as is (it receives ``x`` in
    ``dtype`` and is expected to compute in it)."""
    dtype = v.float_dtype("dtype", dtype)
    if isinstance(f, MLPObjective):
        net = f.net
        if net.dtype == dtype:
            return f
        twin = MLP(net.sizes, list(net.activations), net.output, net.loss, net.l2, dtype=dtype)
        return twin.objective(f.X, f.Y)
    return f


def _reference(f: object, x: np.ndarray, grad: object) -> np.ndarray:
    if grad is not None:
        if callable(grad):
            return np.asarray(grad(x.copy()), dtype=np.float64).reshape(x.shape)
        return np.asarray(grad, dtype=np.float64).reshape(x.shape)
    if isinstance(f, MLPObjective):
        return differentiate(in_precision(f, np.float64), x, backend="backprop").gradient
    raise TypeError("accuracy_sweep needs a reference gradient: pass `grad=` or an MLP objective")


def _coordinate_constants(f: object, x: np.ndarray) -> tuple[float, dict[int, np.ndarray]]:
    """``|f(x)|`` and per-coordinate 2nd, 3rd and 5th derivatives (float64), for the error model."""
    obj = Counted(in_precision(f, np.float64))
    x64 = obj.point(x.astype(np.float64))
    flat = x64.reshape(-1)
    derivs = {k: np.empty(flat.size) for k in (2, 3, 5)}
    for i in range(flat.size):
        xi = flat[i]

        def along(t, i=i, xi=xi):
            flat[i] = xi + t
            try:
                return obj(x64)
            finally:
                flat[i] = xi

        for k, d in higher_derivatives(along, 0.0).items():
            derivs[k][i] = d
    return abs(obj(x64)), derivs


def predicted_error(
    scheme: str, h: np.ndarray, *, f0: float, grad: np.ndarray, derivs: dict[int, np.ndarray], dtype: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """2-norms over coordinates of the model's total, truncation and rounding errors, per step."""
    eps = float(np.finfo(v.float_dtype("dtype", dtype)).eps)
    trunc, rnd = error_terms(scheme, h, f0=f0, grad=grad.reshape(-1), derivs=derivs, eps=eps)
    return tuple(np.linalg.norm(e, axis=1) for e in (trunc + rnd, trunc, rnd))


def accuracy_sweep(
    f: object,
    x: object,
    *,
    grad: object = None,
    backends: Sequence[str] = STEP_BACKENDS,
    dtypes: Sequence[object] = ("float64", "float32"),
    steps: Sequence[float] = DEFAULT_STEPS,
    label: str = "",
) -> pd.DataFrame:
    """Error of finite-difference gradients against a reference, over steps and precisions.

    Parameters
    ----------
    f : callable or MLPObjective
        The function.  A plain callable must compute in the precision of its input.
    x : array_like
        The point.
    grad : callable or array, optional
        The exact gradient at ``x`` (or a function giving it); for an MLP objective the
        default is backprop in float64.
    backends, dtypes, steps
        The grid.  Steps are absolute.
    label : str
        A name for ``f``, copied into every row.

    Returns
    -------
    pandas.DataFrame
        One row per (backend, dtype, h): ``abs_error`` (max over entries), ``rel_error``
        (``||g - ref|| / ||ref||``), ``predicted_rel_error`` (the error model),
        ``evaluations``, and ``underflow`` (True where ``x + h == x`` for some entry, so no
        quotient exists; the errors are NaN there).
    """
    x64 = v.real_array("x", x, np.float64)
    ref = _reference(f, x64, grad)
    ref_norm = float(np.linalg.norm(ref)) or 1.0
    f0, derivs = _coordinate_constants(f, x64)
    steps = np.array([v.positive_float("steps", h) for h in steps])
    rows = []
    for dtype in dtypes:
        dtype = v.float_dtype("dtype", dtype)
        fd = in_precision(f, dtype)
        xd = x64.astype(dtype)
        for backend in backends:
            model = predicted_error(backend, steps, f0=f0, grad=ref, derivs=derivs, dtype=dtype)
            for h, pred, pt, pr in zip(steps, *(e / ref_norm for e in model)):
                row = {
                    "function": label,
                    "backend": backend,
                    "dtype": dtype.name,
                    "h": float(h),
                    "predicted_rel_error": float(pred),
                    "predicted_truncation": float(pt),
                    "predicted_rounding": float(pr),
                }
                try:
                    with warnings.catch_warnings():  # steps at the spacing of x are the point here
                        warnings.simplefilter("ignore", StepWarning)
                        r = differentiate(fd, xd, backend=backend, h=float(h))
                except StepTooSmallError:
                    row |= {"abs_error": math.nan, "rel_error": math.nan, "evaluations": 0, "underflow": True}
                else:
                    err = r.gradient.astype(np.float64) - ref
                    row |= {
                        "abs_error": float(np.max(np.abs(err))),
                        "rel_error": float(np.linalg.norm(err) / ref_norm),
                        "evaluations": r.evaluations,
                        "underflow": False,
                    }
                rows.append(row)
    return pd.DataFrame(rows)


def _slope(h: np.ndarray, e: np.ndarray) -> float:
    ok = np.isfinite(e) & (e > 0)
    if ok.sum() < 3:
        return math.nan
    return float(np.polyfit(np.log10(h[ok]), np.log10(e[ok]), 1)[0])


def accuracy_summary(sweep: pd.DataFrame) -> pd.DataFrame:
    """Per (function, backend, dtype): measured and predicted best step and error, and slopes.

    The truncation slope is fitted where the model's truncation term exceeds its
    rounding term tenfold (expected ``+p``), the rounding slope where rounding
    exceeds truncation tenfold (expected -1; 0 for the complex step, whose rounding
    error does not depend on h).  Points whose relative error exceeds 0.5 (the
    quotient has lost all meaning) are left out of both fits.
    """
    rows = []
    for (function, backend, dtype), g in sweep.groupby(["function", "backend", "dtype"], sort=False):
        g = g.sort_values("h")
        h, e = g["h"].to_numpy(), g["rel_error"].to_numpy()
        pt, pr, pred = (g[c].to_numpy() for c in ("predicted_truncation", "predicted_rounding", "predicted_rel_error"))
        valid = np.isfinite(e)
        best = int(np.nanargmin(e)) if valid.any() else 0
        fine = np.logspace(np.log10(h.min()), np.log10(h.max()), 2000)
        pred_fine = np.interp(np.log10(fine), np.log10(h), np.log10(pred))
        sane = e < 0.5
        trunc, rnd = (pt > 10 * pr) & sane, (pr > 10 * pt) & sane
        expected = EXPECTED_SLOPES.get(backend, (math.nan, math.nan))
        rows.append(
            {
                "function": function,
                "backend": backend,
                "dtype": dtype,
                "best_h": float(h[best]),
                "best_rel_error": float(e[best]),
                "predicted_h": float(fine[np.argmin(pred_fine)]),
                "predicted_rel_error": float(10 ** pred_fine.min()),
                "truncation_slope": _slope(h[trunc], e[trunc]),
                "expected_truncation_slope": expected[0],
                "rounding_slope": _slope(h[rnd], e[rnd]),
                "expected_rounding_slope": expected[1],
                "smallest_step": float(h[valid].min()) if valid.any() else math.nan,
            }
        )
    return pd.DataFrame(rows)


# -- cost -----------------------------------------------------------------------------------


def ladder_network(
    width: int,
    *,
    depth: int = 2,
    n_in: int | None = None,
    n_out: int = 10,
    activation: str = "tanh",
    dtype: object = np.float64,
) -> MLP:
    """The benchmark network ``[width] * (depth + 1) + [n_out]``: ``width`` inputs (unless
    ``n_in`` is given), ``depth`` tanh layers of ``width`` units, a softmax classifier.

    ``N = depth * width^2 + ... `` grows as ``width^2``: 90 parameters at width 4,
    4,992 at 47, about 10^6 at 700 (depth 2).
    """
    n_in = width if n_in is None else n_in
    return MLP(
        [n_in, *([width] * depth), n_out], activation=activation, output="softmax", loss="cross_entropy", dtype=dtype
    )


def ladder_problem(width: int, *, batch: int = 64, seed: int = 0, **net_kw) -> tuple[MLPObjective, np.ndarray]:
    """An objective and a point for the cost ladder: random inputs, one-hot labels."""
    net = ladder_network(width, **net_kw)
    X, Y = net.random_batch(batch, seed=seed)
    return net.objective(X, Y), net.init(seed=seed)


def peak_bytes(call: Callable[[], object]) -> int:
    """Peak memory allocated during one ``call()`` beyond what was held before it (tracemalloc;
    numpy reports its buffers to it).  Slow: measure outside any timing."""
    import tracemalloc

    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        call()
        return int(tracemalloc.get_traced_memory()[1] - base)
    finally:
        tracemalloc.stop()


def blas_info() -> dict[str, object]:
    """BLAS library and thread count in force (threadpoolctl), for the record."""
    from threadpoolctl import threadpool_info

    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            return {
                "blas": f"{pool.get('internal_api')} {pool.get('version')} ({pool.get('architecture')})",
                "threads": int(pool.get("num_threads", 0)),
            }
    return {"blas": "unknown", "threads": 0}


def _timer(call: Callable[[], object], min_seconds: float = 2e-3) -> Callable[[], float]:
    """A function timing one *loop* of ``call`` (looped so one loop lasts ``min_seconds``)."""
    t0 = time.perf_counter()
    call()
    once = time.perf_counter() - t0
    loops = max(1, math.ceil(min_seconds / max(once, 1e-9)))

    def timed() -> float:
        t = time.perf_counter()
        for _ in range(loops):
            call()
        return (time.perf_counter() - t) / loops

    return timed


def cost_sweep(
    widths: Sequence[int] = (2, 4, 8, 16, 32, 48, 64, 128, 256),
    *,
    backends: Sequence[str] = ("forward", "central", "richardson", "complex_step", "backprop"),
    fd_max_params: int = 5_000,
    repeats: int = 5,
    batch: int = 64,
    depth: int = 2,
    seed: int = 0,
    threads: int | None = 1,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Time and count every backend over a ladder of network widths.

    For each width all measurements are interleaved (repeat 1 of every backend, then
    repeat 2, ...) so that a change of machine speed hits all of them alike; the row
    keeps the median.  ``backend == "objective"`` is one evaluation of J, the unit of
    finite-difference cost.  Finite differences stop above ``fd_max_params``.
    BLAS is limited to ``threads`` threads while timing (None: leave it alone).

    Returns
    -------
    pandas.DataFrame
        ``backend, width, n_params, seconds, evaluations, backward_passes, batch, depth,
        dtype, threads, blas, repeats``.
    """
    from threadpoolctl import threadpool_limits
    from tqdm.auto import tqdm

    rows = []
    bar = tqdm(widths, desc="cost sweep", unit="size", disable=None if progress is None else not progress)
    with threadpool_limits(limits=threads):
        info = blas_info()
        for width in bar:
            obj, theta = ladder_problem(width, batch=batch, depth=depth, seed=seed)
            n = obj.n_params
            plan: dict[str, Callable[[], object]] = {"objective": lambda obj=obj, theta=theta: obj(theta)}
            counts = {"objective": (1, 0)}
            for backend in backends:
                if backend in STEP_BACKENDS and n > fd_max_params:
                    continue
                r = differentiate(obj, theta, backend=backend)
                counts[backend] = (r.evaluations, r.backward_passes)
                plan[backend] = lambda obj=obj, theta=theta, b=backend: differentiate(obj, theta, backend=b)
            timers = {name: _timer(call) for name, call in plan.items()}
            samples: dict[str, list[float]] = {name: [] for name in plan}
            for _ in range(repeats):
                for name, timed in timers.items():
                    samples[name].append(timed())
            for name, ts in samples.items():
                rows.append(
                    {
                        "backend": name,
                        "width": width,
                        "n_params": n,
                        "seconds": float(np.median(ts)),
                        "evaluations": counts[name][0],
                        "backward_passes": counts[name][1],
                        "batch": batch,
                        "depth": depth,
                        "dtype": "float64",
                        "repeats": repeats,
                        **info,
                    }
                )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Fit:
    """``log10 y = intercept + exponent * log10 n`` by least squares, with the slope's standard error."""

    exponent: float
    stderr: float
    intercept: float
    n_points: int

    def __str__(self) -> str:
        return f"{self.exponent:.2f} ± {self.stderr:.2f}"


def fit_exponent(n: Sequence[float], y: Sequence[float], *, last: int | None = None) -> Fit:
    """Fit ``y ~ n**k`` on log-log axes, over the ``last`` largest ``n`` (all by default)."""
    n, y = np.asarray(n, dtype=np.float64), np.asarray(y, dtype=np.float64)
    order = np.argsort(n)
    n, y = n[order], y[order]
    if last is not None:
        n, y = n[-last:], y[-last:]
    if n.size < 2:
        raise ValueError(f"`n` must hold at least 2 points to fit an exponent; got {n.size}")
    lx, ly = np.log10(n), np.log10(y)
    (k, c), res, *_ = np.polyfit(lx, ly, 1, full=True)
    if n.size > 2:
        resid = ly - (c + k * lx)
        stderr = float(np.sqrt(np.sum(resid**2) / (n.size - 2) / np.sum((lx - lx.mean()) ** 2)))
    else:
        stderr = math.nan
    return Fit(float(k), stderr, float(c), int(n.size))


def scaling_summary(cost: pd.DataFrame, *, last: int = 4) -> pd.DataFrame:
    """Exponents of time against N per backend (over the ``last`` largest sizes; beside it the
    exponent of one objective evaluation over the same sizes), the cost in
    units of one objective evaluation at the largest N, and for each finite-difference
    backend the exponent of its time divided by backprop's over their shared sizes."""
    t = cost.pivot_table(index="n_params", columns="backend", values="seconds")
    rows = []
    for backend in t.columns:
        s = t[backend].dropna()
        fit = fit_exponent(s.index, s.to_numpy(), last=last)
        largest = s.index.max()
        obj = t["objective"].reindex(s.index[-fit.n_points :]).dropna() if "objective" in t.columns else s[:0]
        obj_exp = fit_exponent(obj.index, obj.to_numpy()).exponent if len(obj) >= 2 else math.nan
        row = {
            "backend": backend,
            "exponent": fit.exponent,
            "stderr": fit.stderr,
            "objective_exponent": obj_exp,
            "sizes": f"{s.index[-min(last, len(s))]:,}–{largest:,}",
            "largest_n": int(largest),
            "seconds_at_largest": float(s.loc[largest]),
            "in_objective_units": float(s.loc[largest] / t.loc[largest, "objective"]),
        }
        if backend in STEP_BACKENDS and "backprop" in t.columns:
            both = t[[backend, "backprop"]].dropna()
            ratio = both[backend] / both["backprop"]
            rfit = fit_exponent(both.index, ratio.to_numpy(), last=last)
            row |= {
                "ratio_to_backprop_exponent": rfit.exponent,
                "ratio_to_backprop_stderr": rfit.stderr,
                "ratio_to_backprop_at_largest": float(ratio.iloc[-1]),
            }
        rows.append(row)
    return pd.DataFrame(rows)
