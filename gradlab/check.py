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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import _validate as v
from .methods.base import differentiate
from .nn.mlp import Block
from .objective import Objective

#: (precision, reference backend) -> (rtol, atol).
TOLERANCES: dict[tuple[str, str], tuple[float, float]] = {
    ("float64", "central"): (1e-6, 1e-9),
    ("float64", "forward"): (1e-4, 1e-6),
    ("float32", "central"): (2e-2, 2e-3),
    ("float32", "forward"): (1e-1, 1e-2),
}


class GradcheckError(AssertionError):
    """Raised by :func:`assert_gradcheck` (and :meth:`GradcheckResult.raise_if_failed`)."""

    def __init__(self, message: str, result: GradcheckResult):
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class GradcheckResult:
    """The verdict of :func:`gradcheck`, with everything needed to see where it came from.

    ``norm_rel_error`` is ``||a - n|| / max(||a||, ||n||)`` over the whole vector (the
    measure of the course notebooks).  ``table`` has one row per parameter block (``W1, b1, ...``; ``x`` for a plain
    vector) with its worst entry; ``rel_error``/``abs_error`` are per entry,
    shaped like the point.
    """

    passed: bool
    max_rel_error: float
    max_abs_error: float
    norm_rel_error: float
    table: pd.DataFrame = field(repr=False)
    analytic: np.ndarray = field(repr=False)
    numeric: np.ndarray = field(repr=False)
    rel_error: np.ndarray = field(repr=False)
    abs_error: np.ndarray = field(repr=False)
    rtol: float = 0.0
    atol: float = 0.0
    analytic_source: str = ""
    reference: str = ""
    h: float | None = None
    dtype: str = "float64"
    evaluations: int = 0

    def __str__(self) -> str:
        return self.message()

    def message(self) -> str:
        """A report a person can act on: which block, which entry, both values, tolerances."""
        step = "default step" if self.h is None else f"h={self.h:g}"
        head = (
            f"gradcheck {'passed' if self.passed else 'FAILED'}: {self.analytic_source} vs "
            f"{self.reference} differences ({step}, {self.dtype}), rtol={self.rtol:g}, atol={self.atol:g}; "
            f"max relative error {self.max_rel_error:.3g}"
        )
        lines = [head]
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
        lines.append(self.table.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
        return "\n".join(lines)

    def _hints(self, bad: pd.DataFrame) -> list[str]:
        hints = []
        a, n = self.analytic.reshape(-1), self.numeric.reshape(-1)
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
        Finite-difference backend for the reference (``"central"`` or ``"forward"``).
    h : float, optional
        Reference step; default: the backend's scaled default (see :func:`gradlab.gradient`).
    rtol, atol : float, optional
        Tolerances; defaults from :data:`TOLERANCES` by precision and reference.

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
    key = (dtype, v.choice("reference", reference, sorted({k[1] for k in TOLERANCES})))
    rtol_default, atol_default = TOLERANCES[key]
    rtol = rtol_default if rtol is None else v.positive_float("rtol", rtol)
    atol = atol_default if atol is None else v.positive_float("atol", atol)

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
    numeric_result = differentiate(objective.f, point, backend=reference, h=h)
    numeric = numeric_result.gradient

    a = analytic.astype(np.float64).reshape(-1)
    n = numeric.astype(np.float64).reshape(-1)
    abs_error = np.abs(a - n)
    rel_error = abs_error / np.maximum(np.maximum(np.abs(a), np.abs(n)), atol / rtol)
    blocks = objective.mlp.blocks if objective.mlp is not None else (Block("x", 0, point.shape),)
    table = _block_table(blocks, a, n, abs_error, rel_error, rtol)
    return GradcheckResult(
        passed=bool(table["passed"].all()),
        max_rel_error=float(rel_error.max()),
        max_abs_error=float(abs_error.max()),
        norm_rel_error=float(np.linalg.norm(a - n) / max(np.linalg.norm(a), np.linalg.norm(n), np.finfo(float).tiny)),
        table=table,
        analytic=analytic,
        numeric=numeric,
        rel_error=rel_error.reshape(point.shape),
        abs_error=abs_error.reshape(point.shape),
        rtol=rtol,
        atol=atol,
        analytic_source=source,
        reference=reference,
        h=h,
        dtype=dtype,
        evaluations=numeric_result.evaluations,
    )


def assert_gradcheck(f: object, x: object, **kwargs) -> GradcheckResult:
    """:func:`gradcheck` for test suites: raise :class:`GradcheckError` (an ``AssertionError``)
    with the full message on failure, return the result otherwise."""
    __tracebackhide__ = True
    return gradcheck(f, x, **kwargs).raise_if_failed()


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


def _block_table(blocks, a, n, abs_error, rel_error, rtol) -> pd.DataFrame:
    rows = []
    for b in blocks:
        sl = b.slice
        k = int(np.argmax(rel_error[sl]))
        idx = np.unravel_index(k, b.shape)
        rows.append(
            {
                "block": b.name,
                "shape": "x".join(map(str, b.shape)) or "scalar",
                "size": b.size,
                "offset": b.offset,
                "max_rel_error": float(rel_error[sl][k]),
                "max_abs_error": float(abs_error[sl].max()),
                "worst_index": "[" + ", ".join(str(int(i)) for i in idx) + "]",
                "analytic": float(a[sl][k]),
                "numeric": float(n[sl][k]),
                "n_failed": int((rel_error[sl] > rtol).sum()),
                "passed": bool((rel_error[sl] <= rtol).all()),
            }
        )
    return pd.DataFrame(rows)
