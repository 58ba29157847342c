"""gradcheck: is an analytic gradient right, and if not, where is it wrong?

Composed of parts: the reference gradient (any registered backend that takes a step),
:mod:`.entrywise` comparison per block, :mod:`.kinks` re-measurement, :mod:`.directional`
fast checks and the :mod:`.taylor` test.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _validate as v
from .. import parallel
from ..backends import COMPLEX_STEP, get, references
from ..backends.front import resolve
from ..objective import Counted
from .directional import direction_table, directional
from .entrywise import block_table, errors
from .hints import hints_for
from .kinks import crossings
from .result import GradcheckResult
from .taylor import taylor_test


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
    scheduler: object = None,
) -> GradcheckResult:
    """Compare an analytic gradient with a finite-difference reference, block by block.

    Parameters
    ----------
    f : objective or callable
        The objective.  For an MLP objective the analytic side defaults to backprop.
    x : array_like
        The point (``theta`` for an MLP).  Never modified.
    grad : callable, optional
        ``grad(x) -> array`` shaped like ``x``: the analytic gradient to verify.
        Required when ``f`` has no analytic gradient of its own.
    reference : str
        Reference backend, any registered backend that takes a step: ``"central"``
        (default), ``"forward"``, ``"richardson"``, ``"complex_step"`` (exact to rounding,
        needs ``f`` analytic in complex ``x``), or one you registered.
    h : float, optional
        Reference step; default: the backend's own rule (see :func:`gradlab.gradient`).
    rtol, atol : float, optional
        Tolerances; defaults: the reference backend's own, by precision.
    fast : bool
        Check ``directions`` random directional derivatives per block first (a handful
        of evaluations whatever N); the full check runs only if one disagrees.
    directions : int
        Random directions per block in fast mode.
    seed : int
        Seed of the random directions (fast mode and the Taylor test).
    scheduler : None, str or dask.distributed.Client
        Where the reference gradient's entries are evaluated (see :func:`gradlab.gradient`).

    Returns
    -------
    GradcheckResult
        ``status``, ``passed``, ``max_rel_error``, the per-block ``table`` and the per-entry errors.

    Examples
    --------
    >>> import numpy as np, gradlab
    >>> net = gradlab.MLP([3, 4, 2], activation="tanh", output="softmax", loss="cross_entropy")
    >>> X = np.random.default_rng(0).normal(size=(5, 3)); Y = np.eye(2)[[0, 1, 1, 0, 1]]
    >>> result = gradlab.gradcheck(net.objective(X, Y), net.init(seed=0))
    >>> result.status, list(result.table["block"])
    ('passed', ['W1', 'b1', 'W2', 'b2'])
    """
    counted = Counted(f)
    objective = counted.objective
    point = counted.point(x)
    dtype = point.dtype.name
    ref = resolve(reference) if not isinstance(reference, str) else get(v.choice("reference", reference, references()))
    rtol_default, atol_default = ref.tolerance(dtype)
    rtol = rtol_default if rtol is None else v.positive_float("rtol", rtol)
    atol = atol_default if atol is None else v.positive_float("atol", atol)
    h = None if h is None else v.positive_float("h", h)
    fast = v.boolean("fast", fast)
    directions = v.positive_int("directions", directions)
    seed = v.seed("seed", seed)
    scheduler = parallel.check("scheduler", scheduler)
    analytic, source = _analytic(grad, objective, point, f)
    blocks = objective.blocks(point)
    common = dict(rtol=rtol, atol=atol, analytic_source=source, reference=ref.name, h=h, dtype=dtype)
    taylor = taylor_test(objective, point, analytic, seed=seed)

    notes: tuple[str, ...] = ()
    fast_cost, dirs = 0, None
    if fast:
        probe = Counted(objective)
        dirs = directional(probe, point, analytic, blocks, directions, seed, h, rtol, atol)
        fast_cost = probe.evaluations
        if dirs["passed"].all():
            table = direction_table(dirs, blocks)
            return GradcheckResult(
                status="passed",
                max_rel_error=float(dirs["rel_error"].max()),
                max_abs_error=float(dirs["abs_error"].max()),
                norm_rel_error=math.nan,
                table=table,
                analytic=analytic,
                numeric=None,
                rel_error=None,
                abs_error=None,
                unverified=None,
                taylor=taylor,
                directions=dirs,
                mode="fast",
                evaluations=fast_cost,
                **common,
            )
        failed = ", ".join(dict.fromkeys(dirs.loc[~dirs["passed"], "block"]))
        notes = (f"fast check: directional derivatives disagree in {failed}; full per-entry check follows",)

    counter = Counted(objective)
    numeric_result = ref.compute(counter, point, h=h, **({} if scheduler is None else {"scheduler": scheduler}))
    a = analytic.astype(np.float64).reshape(-1)
    n = numeric_result.gradient.astype(np.float64).reshape(-1)
    abs_error, rel_error = errors(a, n, rtol, atol)
    steps = numeric_result.step.reshape(-1) if numeric_result.step is not None else np.zeros(a.size)
    crossed = crossings(objective, point, rel_error > rtol, ref, steps)
    unverified = np.zeros(a.size, dtype=bool)
    if crossed.any():
        # re-measure, don't excuse: the complex step takes the branch at x and never crosses
        if objective.complex_ok:
            for i in np.flatnonzero(crossed).tolist():
                from ..backends.complex_step import complex_values

                hi = COMPLEX_STEP.default_step(point.reshape(-1)[i : i + 1])
                steps_c = np.zeros(a.size)
                steps_c[i] = hi[0]
                n[i] = complex_values(counter, point, steps_c, i, i + 1)[1][0] / hi[0]
            abs_error, rel_error = errors(a, n, rtol, atol)
        else:
            unverified = crossed
    table = block_table(blocks, a, n, abs_error, rel_error, rtol, unverified)
    counted_mask = ~unverified
    status = "failed" if (table["n_failed"] > 0).any() else "inconclusive" if unverified.any() else "passed"
    reasons = ()
    if unverified.any():
        reasons = (
            f"{int(unverified.sum())} entries unverified: their stencil crosses a kink of f and f cannot be "
            f"evaluated in complex arithmetic to re-measure them; try reference='complex_step' or a smaller h",
        )
    numeric = n.astype(point.dtype).reshape(point.shape)
    result = GradcheckResult(
        status=status,
        max_rel_error=float(rel_error[counted_mask].max(initial=0.0)),
        max_abs_error=float(abs_error[counted_mask].max(initial=0.0)),
        norm_rel_error=float(np.linalg.norm(a - n) / max(np.linalg.norm(a), np.linalg.norm(n), np.finfo(float).tiny)),
        table=table,
        analytic=analytic,
        numeric=numeric,
        rel_error=rel_error.reshape(point.shape),
        abs_error=abs_error.reshape(point.shape),
        unverified=unverified.reshape(point.shape),
        taylor=taylor,
        directions=dirs,
        mode="fast, then full" if fast else "full",
        evaluations=counter.evaluations + fast_cost,
        notes=notes,
        reasons=reasons,
        **common,
    )
    return _with_hints(result)


def _with_hints(result: GradcheckResult) -> GradcheckResult:
    from dataclasses import replace

    return replace(result, hints=tuple(hints_for(result)))


def assert_gradcheck(f: object, x: object, **kwargs) -> GradcheckResult:
    """:func:`gradcheck` for test suites: raise :class:`GradcheckError` (an ``AssertionError``)
    with the full message unless the check passed, return the result otherwise."""
    __tracebackhide__ = True
    return gradcheck(f, x, **kwargs).raise_if_failed()


def _analytic(grad, objective, point, f) -> tuple[np.ndarray, str]:
    if grad is not None:
        if not callable(grad):
            raise v.fail("grad", "a callable grad(x) -> array shaped like x", grad, TypeError)
        source = getattr(grad, "__name__", "grad")
        return _user_gradient(grad, point), "grad" if source == "<lambda>" else source
    if objective.gradient is not None:
        return objective.gradient(point), "backprop"
    raise TypeError(
        "gradcheck needs an analytic gradient to verify: pass `grad=` (a function x -> gradient) "
        f"or an MLP objective; got a plain callable {f!r}"
    )


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
