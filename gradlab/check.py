"""gradcheck: is an analytic gradient right, and if not, where is it wrong?

The analytic gradient (an MLP's backprop, or a user's ``grad=`` function) is
compared entry by entry with a finite-difference reference.  Each entry gets

    abs_error = |a - n|,     rel_error = abs_error / max(|a|, |n|, atol / rtol),

and passes when ``rel_error <= rtol``, i.e. ``abs_error <= max(rtol * max(|a|, |n|), atol)``.
The floor ``atol / rtol`` is the guard for tiny entries: below that magnitude the
absolute tolerance decides, because a finite difference has an absolute error
floor (about ``eps^(2/3) |f|`` for central differences) however small the entry.

Default tolerances (keyed by precision and reference scheme, see
:data:`TOLERANCES`) sit well above the error the reference makes on a smooth
float64 problem at its default step (about 1e-10 relative for central
differences) and well below any real bug: a gradient wrong by 0.1% fails.

Three more opinions come with every check:

- **kinks** -- in a network with ``relu``, ``leaky_relu``, ``hard_sigmoid`` or
  ``hard_tanh``, an entry whose ``+-h`` step moves some pre-activation across a kink
  gets a meaningless difference quotient.  Such entries (found by comparing which
  piece every pre-activation lies on) are reported apart, not as failures.
- **fast mode** (``fast=True``) -- directional derivatives ``v . grad f`` along a few
  seeded random directions per parameter block, against a central difference of
  ``t -> f(x + t v)``: ``2 * blocks * directions`` evaluations, whatever N.  If any
  direction disagrees, the full per-entry check runs so the message names the entry.
- **the Taylor remainder** -- ``|f(x + t d) - f(x) - t <g, d>|`` shrinks as ``t^2`` for a
  correct gradient and as ``t`` for a wrong one: a verdict that needs no step and no
  tolerance (:func:`taylor_test`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import _validate as v
from .methods.base import differentiate
from .methods.finite import StepTooSmallError, default_step
from .nn.mlp import Block
from .objective import Objective

#: (precision, reference backend) -> (rtol, atol).
TOLERANCES: dict[tuple[str, str], tuple[float, float]] = {
    ("float64", "central"): (1e-6, 1e-9),
    ("float64", "forward"): (1e-4, 1e-6),
    ("float64", "richardson"): (1e-8, 1e-11),
    ("float64", "complex_step"): (1e-9, 1e-12),
    ("float32", "central"): (2e-2, 2e-3),
    ("float32", "forward"): (1e-1, 1e-2),
    ("float32", "richardson"): (2e-2, 2e-3),
    ("float32", "complex_step"): (1e-3, 1e-5),
}
REFERENCES = ("central", "forward", "richardson", "complex_step")


class GradcheckError(AssertionError):
    """Raised by :func:`assert_gradcheck` (and :meth:`GradcheckResult.raise_if_failed`)."""

    def __init__(self, message: str, result: GradcheckResult):
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class TaylorResult:
    """The Taylor-remainder test: residuals ``r(t)`` and their fitted rate ``r ~ t^rate``."""

    rate: float
    verdict: str
    table: pd.DataFrame = field(repr=False)
    evaluations: int = 0


@dataclass(frozen=True)
class GradcheckResult:
    """The verdict of :func:`gradcheck`, with everything needed to see where it came from.

    ``table`` has one row per parameter block (``W1, b1, ...``; ``x`` for a plain
    vector) with its worst entry (in fast mode: its worst direction).
    ``norm_rel_error`` is ``||a - n|| / max(||a||, ||n||)`` over the whole vector (the
    measure of the course notebooks).  ``rel_error``/``abs_error``/``numeric`` are per
    entry, shaped like the point (``None`` after a fast check that passed);
    ``kinks`` marks the entries reported apart because their step crosses a kink.
    """

    passed: bool
    max_rel_error: float
    max_abs_error: float
    norm_rel_error: float
    table: pd.DataFrame = field(repr=False)
    analytic: np.ndarray = field(repr=False)
    numeric: np.ndarray | None = field(repr=False)
    rel_error: np.ndarray | None = field(repr=False)
    abs_error: np.ndarray | None = field(repr=False)
    kinks: np.ndarray | None = field(repr=False)
    taylor: TaylorResult | None = field(repr=False)
    directions: pd.DataFrame | None = field(repr=False)
    mode: str = "full"
    rtol: float = 0.0
    atol: float = 0.0
    analytic_source: str = ""
    reference: str = ""
    h: float | None = None
    dtype: str = "float64"
    evaluations: int = 0
    notes: tuple[str, ...] = ()

    @property
    def n_kinks(self) -> int:
        return 0 if self.kinks is None else int(self.kinks.sum())

    def __str__(self) -> str:
        return self.message()

    def message(self) -> str:
        """A report a person can act on: which block, which entry, both values, tolerances."""
        step = "default step" if self.h is None else f"h={self.h:g}"
        what = f"{self.reference} differences" if self.reference != "complex_step" else "the complex step"
        head = (
            f"gradcheck {'passed' if self.passed else 'FAILED'}: {self.analytic_source} vs {what} "
            f"({self.mode} check, {step}, {self.dtype}, {self.evaluations} evaluations), "
            f"rtol={self.rtol:g}, atol={self.atol:g}; max relative error {self.max_rel_error:.3g}"
        )
        lines = [head, *self.notes]
        if not self.passed:
            bad = self.table[~self.table["passed"]]
            worst = bad.loc[bad["max_rel_error"].idxmax()]
            lines.append(
                f"worst entry {worst['block']}{worst['worst_index']}: analytic {worst['analytic']:.10g}, "
                f"numeric {worst['numeric']:.10g} (abs error {worst['max_abs_error']:.3g}, "
                f"rel error {worst['max_rel_error']:.3g} > rtol {self.rtol:g})"
            )
            lines.append(
                "failing blocks: " + ", ".join(f"{r.block} ({r.n_failed}/{r.size} entries)" for r in bad.itertuples())
            )
            lines.extend(self._hints(bad))
        if self.n_kinks:
            lines.append(
                f"{self.n_kinks} entries reported apart, not as failures: their +-h step moves a pre-activation "
                f"across a kink, where no difference quotient approximates the derivative"
            )
        if self.taylor is not None and np.isfinite(self.taylor.rate):
            lines.append(
                f"Taylor remainder |f(x+td) - f(x) - t<g,d>| ~ t^{self.taylor.rate:.2f} "
                f"(2 for a correct gradient, 1 for a wrong one): {self.taylor.verdict}"
            )
        lines.append(self.table.drop(columns=["offset"]).to_string(index=False, float_format=lambda x: f"{x:.3g}"))
        return "\n".join(lines)

    def _hints(self, bad: pd.DataFrame) -> list[str]:
        hints = []
        if self.numeric is not None:
            a, n = self.analytic.reshape(-1).astype(np.float64), self.numeric.reshape(-1).astype(np.float64)
            for r in bad.itertuples():
                sl = slice(r.offset, r.offset + r.size)
                ok = np.abs(n[sl]) > 1e-3 * np.max(np.abs(n[sl]), initial=0.0)
                if ok.sum() >= 2:
                    ratio = a[sl][ok] / n[sl][ok]
                    med = float(np.median(ratio))
                    # the same factor everywhere (up to a tenth of its distance from 1)
                    if abs(med - 1) > self.rtol and np.ptp(ratio) < 0.1 * abs(med - 1):
                        hints.append(
                            f"hint: in {r.block} analytic/numeric = {med:.6g} for every entry: a missing or "
                            f"extra constant factor (a 1/m batch mean? a sign? a factor 2?)"
                        )
        if self.dtype == "float32":
            hints.append("hint: float32 arithmetic limits any finite-difference check to ~1e-3; check in float64")
        return hints

    def raise_if_failed(self) -> GradcheckResult:
        """Raise :class:`GradcheckError` with :meth:`message` unless the check passed."""
        if not self.passed:
            raise GradcheckError(self.message(), self)
        return self


def gradcheck(
    f: object,
    x: object,
    *,
    grad: object = None,
    reference: str = "central",
    h: float | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    fast: bool = False,
    directions: int = 2,
    seed: int = 0,
) -> GradcheckResult:
    """Compare an analytic gradient with a finite-difference reference, block by block.

    Parameters
    ----------
    f : MLPObjective or callable
        The objective.  For an MLP objective the analytic side defaults to backprop.
    x : array_like
        The point (``theta`` for an MLP).  Never modified.
    grad : callable, optional
        ``grad(x) -> array`` shaped like ``x``: the analytic gradient to verify.
        Required when ``f`` is a plain callable.
    reference : str
        Reference backend: ``"central"`` (default), ``"forward"``, ``"richardson"`` or
        ``"complex_step"`` (exact to rounding, needs ``f`` analytic in complex ``x``).
    h : float, optional
        Reference step; default: the backend's scaled default (see :func:`gradlab.gradient`).
    rtol, atol : float, optional
        Tolerances; defaults from :data:`TOLERANCES` by precision and reference.
    fast : bool
        Check ``directions`` random directional derivatives per block first (a handful
        of evaluations whatever N); the full check runs only if one disagrees.
    directions : int
        Random directions per block in fast mode.
    seed : int
        Seed of the random directions (fast mode and the Taylor test).

    Returns
    -------
    GradcheckResult
        ``passed``, ``max_rel_error``, the per-block ``table`` and the per-entry errors.

    Examples
    --------
    >>> import numpy as np, gradlab
    >>> net = gradlab.MLP([3, 4, 2], activation="tanh", output="softmax", loss="cross_entropy")
    >>> X = np.random.default_rng(0).normal(size=(5, 3)); Y = np.eye(2)[[0, 1, 1, 0, 1]]
    >>> result = gradlab.gradcheck(net.objective(X, Y), net.init(seed=0))
    >>> result.passed, list(result.table["block"])
    (True, ['W1', 'b1', 'W2', 'b2'])
    """
    objective = Objective(f)
    point = objective.point(x)
    dtype = point.dtype.name
    reference = v.choice("reference", reference, REFERENCES)
    rtol_default, atol_default = TOLERANCES[(dtype, reference)]
    rtol = rtol_default if rtol is None else v.positive_float("rtol", rtol)
    atol = atol_default if atol is None else v.positive_float("atol", atol)
    h = None if h is None else v.positive_float("h", h)
    if isinstance(directions, bool) or not isinstance(directions, int) or directions < 1:
        raise v.fail(
            "directions", "a positive integer", directions, TypeError if not isinstance(directions, int) else ValueError
        )

    if grad is not None:
        if not callable(grad):
            raise v.fail("grad", "a callable grad(x) -> array shaped like x", grad, TypeError)
        analytic = _user_gradient(grad, point)
        source = getattr(grad, "__name__", "grad")
        source = "grad" if source == "<lambda>" else source
    elif objective.mlp is not None:
        analytic = differentiate(objective.mlp, point, backend="backprop").gradient
        source = "backprop"
    else:
        raise TypeError(
            "gradcheck needs an analytic gradient to verify: pass `grad=` (a function x -> gradient) "
            f"or an MLP objective; got a plain callable {f!r}"
        )
    blocks = objective.mlp.blocks if objective.mlp is not None else (Block("x", 0, point.shape),)
    common = dict(rtol=rtol, atol=atol, analytic_source=source, reference=reference, h=h, dtype=dtype)
    taylor = taylor_test(objective.f, point, analytic, seed=seed)

    notes: tuple[str, ...] = ()
    if fast:
        counter = Objective(objective.f)
        dirs = _directional(counter, point, analytic, blocks, directions, seed, h, rtol, atol)
        if dirs["passed"].all():
            table = _direction_table(dirs, blocks)
            return GradcheckResult(
                passed=True,
                max_rel_error=float(dirs["rel_error"].max()),
                max_abs_error=float(dirs["abs_error"].max()),
                norm_rel_error=math.nan,
                table=table,
                analytic=analytic,
                numeric=None,
                rel_error=None,
                abs_error=None,
                kinks=None,
                taylor=taylor,
                directions=dirs,
                mode="fast",
                evaluations=counter.evaluations + taylor.evaluations,
                **common,
            )
        failed = ", ".join(dict.fromkeys(dirs.loc[~dirs["passed"], "block"]))
        notes = (f"fast check: directional derivatives disagree in {failed}; full per-entry check follows",)
        fast_cost = counter.evaluations
    else:
        dirs, fast_cost = None, 0

    numeric_result = differentiate(objective.f, point, backend=reference, h=h)
    numeric = numeric_result.gradient
    a = analytic.astype(np.float64).reshape(-1)
    n = numeric.astype(np.float64).reshape(-1)
    abs_error = np.abs(a - n)
    rel_error = abs_error / np.maximum(np.maximum(np.abs(a), np.abs(n)), atol / rtol)
    kinks = _kink_crossings(objective, point, rel_error > rtol, reference, h)
    table = _block_table(blocks, a, n, abs_error, rel_error, rtol, kinks)
    counted = ~kinks
    return GradcheckResult(
        passed=bool(table["passed"].all()),
        max_rel_error=float(rel_error[counted].max(initial=0.0)),
        max_abs_error=float(abs_error[counted].max(initial=0.0)),
        norm_rel_error=float(np.linalg.norm(a - n) / max(np.linalg.norm(a), np.linalg.norm(n), np.finfo(float).tiny)),
        table=table,
        analytic=analytic,
        numeric=numeric,
        rel_error=rel_error.reshape(point.shape),
        abs_error=abs_error.reshape(point.shape),
        kinks=kinks.reshape(point.shape),
        taylor=taylor,
        directions=dirs,
        mode="fast, then full" if fast else "full",
        evaluations=numeric_result.evaluations + fast_cost + taylor.evaluations,
        notes=notes,
        **common,
    )


def assert_gradcheck(f: object, x: object, **kwargs) -> GradcheckResult:
    """:func:`gradcheck` for test suites: raise :class:`GradcheckError` (an ``AssertionError``)
    with the full message on failure, return the result otherwise."""
    __tracebackhide__ = True
    return gradcheck(f, x, **kwargs).raise_if_failed()


def taylor_test(f: object, x: object, grad: object, *, steps: object = None, seed: int = 0) -> TaylorResult:
    """The Taylor-remainder test of a gradient ``grad`` (an array) of ``f`` at ``x``.

    Along a seeded random unit direction ``d``, ``r(t) = |f(x + t d) - f(x) - t <g, d>|``
    is ``O(t^2)`` when ``g`` is the gradient and ``~ t |<g - grad f, d>|`` otherwise.
    The rate is the log-log slope over the smallest steps whose residual stands clear
    of rounding (``r > 100 eps max(1, |f|)``): about 2 for a correct gradient, about 1
    for a wrong one.  Costs ``len(steps) + 1`` evaluations.
    """
    objective = Objective(f)
    x = objective.point(x)
    g = np.asarray(grad, dtype=np.float64).reshape(-1)
    steps = np.logspace(-1, -8, 15) if steps is None else np.asarray(steps, dtype=np.float64)
    d = np.random.default_rng(seed).standard_normal(x.size)
    d /= np.linalg.norm(d)
    slope_dir = float(g @ d)
    f0 = objective(x)
    rows = []
    for t in steps:
        xt = (x.reshape(-1).astype(np.float64) + t * d).astype(x.dtype).reshape(x.shape)
        rows.append({"t": float(t), "residual": abs(objective(xt) - f0 - t * slope_dir)})
    table = pd.DataFrame(rows)
    floor = 100 * float(np.finfo(x.dtype).eps) * max(1.0, abs(f0))
    clear = table[table["residual"] > floor].sort_values("t")
    if len(clear) < 3:
        return TaylorResult(
            math.nan, "inconclusive (f is too nearly linear along d to tell)", table, objective.evaluations
        )
    low = clear.iloc[:4]
    rate = float(np.polyfit(np.log10(low["t"]), np.log10(low["residual"]), 1)[0])
    verdict = (
        "consistent with a correct gradient"
        if rate > 1.8
        else "the gradient is wrong along d"
        if rate < 1.3
        else "inconclusive (between 1 and 2)"
    )
    return TaylorResult(rate, verdict, table, objective.evaluations)


def _user_gradient(grad, point: np.ndarray) -> np.ndarray:
    out = grad(point.copy())
    try:
        arr = np.asarray(out)
    except Exception as exc:
        raise v.fail("grad", "a callable returning an array shaped like x", out, TypeError) from exc
    if arr.shape != point.shape:
        raise ValueError(f"`grad(x)` must return an array of shape {point.shape}; got shape {arr.shape}")
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"`grad(x)` must return a real array; got dtype {arr.dtype}")
    if not np.isfinite(arr).all():
        i = int(np.flatnonzero(~np.isfinite(arr.reshape(-1)))[0])
        raise ValueError(f"`grad(x)` must be finite; got {arr.reshape(-1)[i]} at flat index {i}")
    return arr.astype(point.dtype, copy=True)


def _directional(objective, point, analytic, blocks, directions, seed, h, rtol, atol) -> pd.DataFrame:
    """Central differences of ``t -> f(x + t v)`` for random unit ``v`` inside each block."""
    rng = np.random.default_rng(seed)
    flat = point.reshape(-1).astype(np.float64)
    g = analytic.reshape(-1).astype(np.float64)
    rows = []
    for b in blocks:
        sl = b.slice
        # the central step for the block's largest coordinate, in the point's precision
        scale = np.array([np.abs(flat[sl]).max()], dtype=point.dtype)
        t = h if h is not None else float(default_step(scale, 2)[0])
        for k in range(directions):
            vb = rng.standard_normal(b.size)
            vb /= np.linalg.norm(vb)
            xp, xm = flat.copy(), flat.copy()
            xp[sl] += t * vb
            xm[sl] -= t * vb
            xp, xm = xp.astype(point.dtype).reshape(point.shape), xm.astype(point.dtype).reshape(point.shape)
            # the displacement actually represented, projected on v: divides the difference
            span = float((xp.reshape(-1)[sl].astype(np.float64) - xm.reshape(-1)[sl]) @ vb)
            if span <= 0:
                raise StepTooSmallError(
                    f"`h` = {t:g} is below the floating-point spacing of x in block {b.name} ({point.dtype}): "
                    f"x + t v and x - t v round to the same point; use a larger h"
                )
            numeric = (objective(xp) - objective(xm)) / span
            a = float(g[sl] @ vb)
            err = abs(a - numeric)
            rel = err / max(abs(a), abs(numeric), atol / rtol)
            rows.append(
                {
                    "block": b.name,
                    "direction": k,
                    "analytic": a,
                    "numeric": numeric,
                    "abs_error": err,
                    "rel_error": rel,
                    "passed": rel <= rtol,
                }
            )
    return pd.DataFrame(rows)


def _direction_table(dirs: pd.DataFrame, blocks) -> pd.DataFrame:
    rows = []
    for b in blocks:
        d = dirs[dirs["block"] == b.name]
        w = d.loc[d["rel_error"].idxmax()]
        rows.append(
            {
                "block": b.name,
                "shape": "x".join(map(str, b.shape)) or "scalar",
                "size": b.size,
                "offset": b.offset,
                "max_rel_error": float(d["rel_error"].max()),
                "max_abs_error": float(d["abs_error"].max()),
                "worst_index": f" direction {int(w['direction'])}",
                "analytic": float(w["analytic"]),
                "numeric": float(w["numeric"]),
                "n_failed": int((~d["passed"]).sum()),
                "n_kinks": 0,
                "passed": bool(d["passed"].all()),
            }
        )
    return pd.DataFrame(rows)


def _kink_crossings(objective: Objective, point: np.ndarray, suspects: np.ndarray, reference: str, h) -> np.ndarray:
    """Which ``suspects`` (failing entries) have a reference step that crosses a kink."""
    kinks = np.zeros(point.size, dtype=bool)
    mlp = objective.mlp
    if mlp is None or not mlp.net.kinked or reference == "complex_step" or not suspects.any():
        return kinks
    net, X = mlp.net, mlp.X
    flat = point.reshape(-1)
    order = {"forward": 1, "central": 2, "richardson": 4}[reference]
    steps = default_step(flat, order) if h is None else np.full(flat.size, h)
    base = net.pieces(point, X)
    work = point.copy()
    wflat = work.reshape(-1)
    for i in np.flatnonzero(suspects):
        xi = wflat[i]
        for sign in (1, -1):
            wflat[i] = xi + sign * steps[i]
            moved = any(not np.array_equal(p, q) for p, q in zip(base, net.pieces(work, X)))
            wflat[i] = xi
            if moved:
                kinks[i] = True
                break
    return kinks


def _block_table(blocks, a, n, abs_error, rel_error, rtol, kinks) -> pd.DataFrame:
    rows = []
    for b in blocks:
        sl = b.slice
        counted = rel_error[sl] * ~kinks[sl]  # kink entries count as 0 error
        k = int(np.argmax(counted))
        idx = np.unravel_index(k, b.shape)
        rows.append(
            {
                "block": b.name,
                "shape": "x".join(map(str, b.shape)) or "scalar",
                "size": b.size,
                "offset": b.offset,
                "max_rel_error": float(counted[k]),
                "max_abs_error": float((abs_error[sl] * ~kinks[sl]).max()),
                "worst_index": "[" + ", ".join(str(int(i)) for i in idx) + "]",
                "analytic": float(a[sl][k]),
                "numeric": float(n[sl][k]),
                "n_failed": int((counted > rtol).sum()),
                "n_kinks": int(kinks[sl].sum()),
                "passed": bool((counted <= rtol).all()),
            }
        )
    return pd.DataFrame(rows)
