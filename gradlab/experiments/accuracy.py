"""Accuracy against the step h: every backend that takes a step, over a grid of steps and
precisions, each gradient compared with a float64 reference, and each backend's own error
model (:meth:`gradlab.Backend.error_terms`) predicted beside every measurement.

:func:`accuracy_sweep` works on any function with a reference gradient;
:func:`accuracy_summary` reduces a sweep to the best step, the best error and the two
log-log slopes (fitted with :func:`gradlab.stats.loglog_fit`); :func:`run` is the report's
experiment: a small network, its parameters held in :class:`AccuracyParams`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import _validate as v
from ..backends import Backend, StepTooSmallError, StepWarning, baseline, differentiate, get, references
from ..nn import MLP, MLPObjective, NetworkObjective
from ..objective import Counted
from ..stats import loglog_fit
from ..theory import higher_derivatives

#: 10^0 ... 10^-16, four points per decade (the top decade shows float32's truncation side).
DEFAULT_STEPS = tuple(float(h) for h in np.logspace(0, -16, 65))

#: Default steps of well-known gradient checkers: (label, backend, h).
TOOL_STEPS = (
    ("torch gradcheck", "central", 1e-6),
    ("jax check_grads", "central", 1e-4),
    ("TensorFlow / Chainer", "central", 1e-3),
    ("CS231n notes", "central", 1e-5),
    ("deep-learning course", "central", 1e-7),
    ("scipy check_grad", "forward", 1.49e-8),
)


def adaptive_rows(f, x64, ref, ref_norm, backend: Backend, dtype, label) -> dict:
    """One measurement of a backend that picks its own steps: where it lands, at what cost, and
    how often its error estimate bounds the true error."""
    fd = in_precision(f, dtype)
    r = differentiate(fd, x64.astype(dtype), backend=backend.name)
    err = r.gradient.astype(np.float64).reshape(-1) - ref.reshape(-1)
    bounds = (
        float(np.mean(np.abs(err) <= np.asarray(r.error, dtype=np.float64).reshape(-1)))
        if r.error is not None
        else math.nan
    )
    return {
        "function": label,
        "backend": backend.name,
        "dtype": np.dtype(dtype).name,
        "h": float(np.median(r.step)) if r.step is not None else math.nan,
        "predicted_rel_error": math.nan,
        "predicted_truncation": math.nan,
        "predicted_rounding": math.nan,
        "abs_error": float(np.max(np.abs(err))),
        "rel_error": float(np.linalg.norm(err) / ref_norm),
        "evaluations": r.evaluations,
        "underflow": False,
        "own_steps": True,
        "estimate_bounds_error": bounds,
    }


def in_precision(f: object, dtype: object) -> object:
    """``f`` evaluated in ``dtype``: an MLP or Network objective is rebuilt as a twin network in that
    precision on the same data; a plain callable is returned as is (it receives ``x`` in
    ``dtype`` and is expected to compute in it)."""
    dtype = v.float_dtype("dtype", dtype)
    if isinstance(f, NetworkObjective):
        return f.in_precision(dtype)
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
    if getattr(f, "gradient", None) is not None:
        return differentiate(in_precision(f, np.float64), x, backend=baseline()).gradient
    raise TypeError("accuracy_sweep needs a reference gradient: pass `grad=` or an objective with a gradient")


def coordinate_derivatives(f: object, x: np.ndarray) -> tuple[float, dict[int, np.ndarray]]:
    """``|f(x)|`` and the derivatives of orders 1-5 of ``f`` along each coordinate (float64),
    the constants of every backend's error model."""
    obj = Counted(in_precision(f, np.float64))
    x64 = obj.point(x.astype(np.float64))
    flat = x64.reshape(-1)
    derivs: dict[int, np.ndarray] = {}
    for i in range(flat.size):
        xi = flat[i]

        def along(t, i=i, xi=xi):
            flat[i] = xi + t
            try:
                return obj(x64)
            finally:
                flat[i] = xi

        for k, d in higher_derivatives(along, 0.0).items():
            derivs.setdefault(k, np.empty(flat.size))[i] = d
    return abs(obj(x64)), derivs


def predicted_error(
    backend: Backend, h: np.ndarray, *, f0: float, grad: np.ndarray, derivs: dict[int, np.ndarray], dtype: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """2-norms over coordinates of the backend's model of the total, truncation and rounding
    errors, per step; ``None`` when the backend has no model."""
    eps = float(np.finfo(v.float_dtype("dtype", dtype)).eps)
    terms = backend.error_terms(np.asarray(h, dtype=np.float64), f0=f0, grad=grad.reshape(-1), derivs=derivs, eps=eps)
    if terms is None:
        return None
    trunc, rnd = terms
    return tuple(np.linalg.norm(e, axis=1) for e in (trunc + rnd, trunc, rnd))


def accuracy_sweep(
    f: object,
    x: object,
    *,
    grad: object = None,
    backends: Sequence[str] | None = None,
    dtypes: Sequence[object] = ("float64", "float32"),
    steps: Sequence[float] = DEFAULT_STEPS,
    label: str = "",
) -> pd.DataFrame:
    """Error of step-based gradients against a reference, over steps and precisions.

    Parameters
    ----------
    f : callable or Objective
        The function.  A plain callable must compute in the precision of its input.
    x : array_like
        The point.
    grad : callable or array, optional
        The exact gradient at ``x`` (or a function giving it); for an objective with an
        analytic gradient (an MLP) the default is backprop in float64.
    backends : sequence of str, optional
        Default: every registered backend that takes a step (:func:`gradlab.backends.references`);
        one that chooses its own steps appears once, as a mark, not along the grid.
    dtypes, steps
        The grid.  Steps are absolute.
    label : str
        A name for ``f``, copied into every row.

    Returns
    -------
    pandas.DataFrame
        One row per (backend, dtype, h): ``abs_error`` (max over entries), ``rel_error``
        (``||g - ref|| / ||ref||``), ``predicted_rel_error`` and its two terms (the
        backend's error model; NaN where it has none), ``evaluations``, and ``underflow``
        (True where the step cannot be taken, e.g. ``x + h == x``; the errors are NaN there).
    """
    x64 = v.real_array("x", x, np.float64)
    ref = _reference(f, x64, grad)
    ref_norm = float(np.linalg.norm(ref)) or 1.0
    f0, derivs = coordinate_derivatives(f, x64)
    steps = np.array([v.positive_float("steps", h) for h in steps])
    chosen = [get(b) for b in (references() if backends is None else backends)]
    nan = np.full(steps.size, math.nan)
    rows = []
    for dtype in dtypes:
        dtype = v.float_dtype("dtype", dtype)
        fd = in_precision(f, dtype)
        xd = x64.astype(dtype)
        for backend in chosen:
            if backend.own_steps:  # one mark where it lands, not a curve over the grid
                rows.append(adaptive_rows(f, x64, ref, ref_norm, backend, dtype, label))
                continue
            model = predicted_error(backend, steps, f0=f0, grad=ref, derivs=derivs, dtype=dtype)
            model = (nan, nan, nan) if model is None else tuple(e / ref_norm for e in model)
            for h, pred, pt, pr in zip(steps, *model):
                row = {
                    "function": label,
                    "backend": backend.name,
                    "dtype": dtype.name,
                    "h": float(h),
                    "predicted_rel_error": float(pred),
                    "predicted_truncation": float(pt),
                    "predicted_rounding": float(pr),
                }
                try:
                    with warnings.catch_warnings():  # steps at the spacing of x are the point here
                        warnings.simplefilter("ignore", StepWarning)
                        r = differentiate(fd, xd, backend=backend.name, h=float(h))
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
                    if r.error is not None:
                        est = np.asarray(r.error, dtype=np.float64).reshape(-1)
                        row["estimate_bounds_error"] = float(np.mean(np.abs(err.reshape(-1)) <= est))
                rows.append(row)
    return pd.DataFrame(rows)


def _slope(h: np.ndarray, e: np.ndarray) -> float:
    ok = np.isfinite(e) & (e > 0)
    if ok.sum() < 3:
        return math.nan
    return loglog_fit(h[ok], e[ok]).exponent


def accuracy_summary(sweep: pd.DataFrame) -> pd.DataFrame:
    """Per (function, backend, dtype): measured and predicted best step and error, and slopes.

    The truncation slope is fitted where the model's truncation term exceeds its
    rounding term tenfold (expected ``+p``), the rounding slope where rounding
    exceeds truncation tenfold (expected -1; 0 for the complex step, whose rounding
    error does not depend on h).  Points whose relative error exceeds 0.5 (the
    quotient has lost all meaning) are left out of both fits.  A backend without an
    error model gets NaN predictions and slopes.
    """
    rows = []
    grid = sweep[~sweep["own_steps"].fillna(False).astype(bool)] if "own_steps" in sweep else sweep
    for (function, backend, dtype), g in grid.groupby(["function", "backend", "dtype"], sort=False):
        g = g.sort_values("h")
        h, e = g["h"].to_numpy(), g["rel_error"].to_numpy()
        pt, pr, pred = (g[c].to_numpy() for c in ("predicted_truncation", "predicted_rounding", "predicted_rel_error"))
        valid = np.isfinite(e)
        best = int(np.nanargmin(e)) if valid.any() else 0
        if np.isfinite(pred).all():
            fine = np.logspace(np.log10(h.min()), np.log10(h.max()), 2000)
            pred_fine = np.interp(np.log10(fine), np.log10(h), np.log10(pred))
            predicted_h, predicted_e = float(fine[np.argmin(pred_fine)]), float(10 ** pred_fine.min())
        else:
            predicted_h = predicted_e = math.nan
        sane = e < 0.5
        trunc, rnd = (pt > 10 * pr) & sane, (pr > 10 * pt) & sane
        expected = get(backend).expected_slopes if backend in references() else (math.nan, math.nan)
        rows.append(
            {
                "function": function,
                "backend": backend,
                "dtype": dtype,
                "best_h": float(h[best]),
                "best_rel_error": float(e[best]),
                "predicted_h": predicted_h,
                "predicted_rel_error": predicted_e,
                "truncation_slope": _slope(h[trunc], e[trunc]),
                "expected_truncation_slope": expected[0],
                "rounding_slope": _slope(h[rnd], e[rnd]),
                "expected_rounding_slope": expected[1],
                "smallest_step": float(h[valid].min()) if valid.any() else math.nan,
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class AccuracyParams:
    """The report's accuracy experiment: a network ``sizes`` (tanh, softmax + cross-entropy)
    on a random batch, steps ``10^decades[0] ... 10^decades[1]`` at ``steps_per_decade`` plus
    the tools' default steps, in ``dtypes``."""

    sizes: tuple[int, ...] = (4, 8, 8, 3)
    batch: int = 32
    seed: int = 0
    steps_per_decade: int = 4
    dtypes: tuple[str, ...] = ("float64", "float32")
    #: the grid's largest and smallest step, as powers of ten
    decades: tuple[int, int] = (0, -16)

    @property
    def label(self) -> str:
        return f"MLP {list(self.sizes)} tanh/softmax, batch {self.batch}"

    def describe(self) -> str:
        """What ran, in one sentence of the report."""
        top, bottom = (f"{10.0**k:g}" for k in self.decades)
        return (
            f"Function: {self.label} (seed {self.seed}), {self.steps_per_decade} steps per decade from {top} to "
            f"{bottom} plus other tools' default steps, in {' and '.join(self.dtypes)}. Reference: {baseline()} in "
            "float64. Error: ‖g − g_ref‖ / ‖g_ref‖."
        )

    def steps(self) -> list[float]:
        """The grid plus the tools' default steps (a tool step replaces a grid point it equals)."""
        tool_hs = [h for _, _, h in TOOL_STEPS]
        top, bottom = self.decades
        grid = np.logspace(top, bottom, (top - bottom) * self.steps_per_decade + 1)
        steps = [float(h) for h in grid if not np.isclose(tool_hs, h, rtol=1e-9, atol=0).any()]
        return sorted({*steps, *tool_hs}, reverse=True)


def run(params: AccuracyParams = AccuracyParams()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The accuracy sweep of :class:`AccuracyParams` and its summary."""
    net = MLP(list(params.sizes), activation="tanh", output="softmax", loss="cross_entropy")
    X, Y = net.random_batch(params.batch, seed=params.seed)
    theta = net.init(seed=params.seed)
    sweep = accuracy_sweep(net.objective(X, Y), theta, dtypes=params.dtypes, steps=params.steps(), label=params.label)
    return sweep, accuracy_summary(sweep)
