"""gradcheck: is an analytic gradient right, and if not, where is it wrong?

Composed of parts: :mod:`.probe` (know the function first), :mod:`.reference` (a reference
gradient whose every entry carries a bound on its own error; suspects measured again, kinks
measured on their own piece, the complex step cross-checked), :mod:`.entrywise` (the
judgement per entry and the per-block table), :mod:`.directional` (the fast path),
:mod:`.taylor` (a step-free second opinion when the verdict is not a pass) and
:mod:`.hints`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd

from .. import _validate as v
from .. import parallel
from .._warnings import caller_level
from ..backends import CENTRAL, COMPLEX_STEP, Backend, DifferenceScheme, get, references
from ..backends.complex_step import ComplexStepDisagrees
from ..objective import Counted
from .adapt import prepare_check
from .directional import fast_check
from .entrywise import LIMITS, block_table, judge
from .hints import hints_for
from .kinks import crossings
from .probe import Profile, profile
from .reference import CONFIRMATIONS, LEVELS, Reference, measure, recheck_complex, refine, remeasure_kinks
from .result import GradcheckResult
from .taylor import taylor_test

#: a check whose estimated time exceeds this many seconds draws a CostWarning first
COST_WARNING_SECONDS = 60.0


class CostWarning(UserWarning):
    """A check or gradient is estimated to take long: the estimate and cheaper options."""


def gradcheck(
    f: object,
    x: object,
    *,
    grad: object = None,
    vjp: object = None,
    cotangent: object = None,
    reference: str | Backend = "auto",
    h: float | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    fast: bool = False,
    directions: int = 1,
    sample: int = 32,
    seed: int = 0,
    noise: float | None = None,
    accept_unverified: bool = False,
    max_evaluations: int | None = None,
    scheduler: object = None,
) -> GradcheckResult:
    """Compare an analytic gradient with a numerical reference, entry by entry, block by block.

    Parameters
    ----------
    f : objective or callable
        The objective.  For an MLP objective the analytic side defaults to backprop.
    x : array_like or structure
        The point (``theta`` for an MLP).  Never modified.  A dict, list or tuple of arrays
        (nested as you like, any array-API library) is handed to ``f`` as it is -- a tuple
        as positional arguments, ``f(*x)`` -- and its leaves are the blocks of the table,
        named by path (``W2``, ``layers[0].W``; see :mod:`gradlab.structure`).
    grad : callable, optional
        ``grad(x) -> array`` shaped like ``x``: the analytic gradient to verify (for a
        structure: the same structure, called like ``f``).
        Required when ``f`` has no analytic gradient of its own.
    vjp : callable, optional
        A backward pass to verify instead: ``f`` returns an array and ``vjp(x, u)`` (called
        like ``f`` with the upstream gradient ``u`` appended) returns ``u^T J`` structured
        like ``x`` -- ``dx, dw, db`` for a layer ``f(x, w, b)``.  Checked as the gradient
        of ``<u, f(x)>`` (see :mod:`gradlab.check.adapt`).
    cotangent : array_like, optional
        The ``u`` for ``vjp``, shaped like ``f(x)``; default: standard normal, seeded by ``seed``.
    reference : str or Backend
        ``"auto"`` (default): the complex step where ``f`` evaluates in complex arithmetic
        (cross-checked by a real difference along a random direction), central differences
        otherwise.  Or any registered backend that takes a step: ``"central"``,
        ``"forward"``, ``"richardson"``, ``"complex_step"``, ``"adaptive"``, yours.
    h : float, optional
        The reference's first step; default: the backend's own rule.  Entries the first
        step cannot settle are measured again at ``h/2``, ``h/4``, ...
    rtol, atol : float, optional
        Slack for the analytic side beyond the reference's own error bound; defaults:
        the reference backend's tolerance for the precision ``f`` computes in, and
        ``atol = 1e-3 * rtol * max |g|``.
    fast : bool
        One random projection across all blocks first (a few evaluations whatever N);
        only a disagreement pays for per-block directions and a sample of entries.
    directions : int
        Random directions per block when a fast check localises a disagreement.
    sample : int
        Entries per failing block measured when a fast check localises (when the full
        check is not cheap).
    seed : int
        Seed of the random directions and the Taylor test.
    noise : float, optional
        The absolute noise of a random ``f`` you accept (its values at one point differ
        by about this much); without it a random ``f`` makes the check inconclusive.
    accept_unverified : bool
        Pass even when some entries could not be measured (they stay listed).
    max_evaluations : int, optional
        Refuse a check that would take more evaluations than this.
    scheduler : optional
        Where the reference's evaluations run (see :mod:`gradlab.parallel`).

    Returns
    -------
    GradcheckResult
        ``status`` (passed | failed | inconclusive), the per-block ``table`` with each
        block's resolution, the per-entry errors, the reasons and hints.

    Examples
    --------
    >>> import numpy as np, gradlab
    >>> net = gradlab.MLP([3, 4, 2], activation="tanh", output="softmax", loss="cross_entropy")
    >>> X = np.random.default_rng(0).normal(size=(5, 3)); Y = np.eye(2)[[0, 1, 1, 0, 1]]
    >>> result = gradlab.gradcheck(net.objective(X, Y), net.init(seed=0))
    >>> result.status, list(result.table["block"])
    ('passed', ['W1', 'b1', 'W2', 'b2'])
    """
    # -- structures and backward passes: the same check on a flat vector (gradlab.structure) --
    call = prepare_check(f, x, grad=grad, vjp=vjp, cotangent=cotangent, seed=seed)
    if call is not None:
        options = dict(
            reference=reference,
            h=h,
            rtol=rtol,
            atol=atol,
            fast=fast,
            directions=directions,
            sample=sample,
            seed=seed,
            noise=noise,
            accept_unverified=accept_unverified,
            max_evaluations=max_evaluations,
            scheduler=scheduler,
        )
        return call.finish(gradcheck(call.objective, call.point, grad=call.grad, **options))
    # -- the flat check --
    counter = Counted(f)
    objective = counter.objective
    point = counter.point(x)
    fast = v.boolean("fast", fast)
    directions = v.positive_int("directions", directions)
    sample = v.positive_int("sample", sample)
    seed = v.seed("seed", seed)
    h = None if h is None else v.positive_float("h", h)
    noise_given = noise is not None
    noise = 0.0 if noise is None else v.nonnegative_float("noise", noise)
    accept_unverified = v.boolean("accept_unverified", accept_unverified)
    max_evaluations = None if max_evaluations is None else v.positive_int("max_evaluations", max_evaluations)
    ref = _reference_backend(reference, objective, h)
    scheduler = parallel.check("scheduler", scheduler)
    analytic, source = _analytic(grad, objective, point, f)
    blocks = objective.blocks(point)
    prof = profile(counter, point, blocks, seed, full=not fast)
    dtype = point.dtype.name
    rtol_default, _ = ref.tolerance(prof.precision)
    rtol = rtol_default if rtol is None else v.positive_float("rtol", rtol)
    a = analytic.astype(np.float64).reshape(-1)
    notes = _profile_notes(prof, dtype)
    common = dict(analytic_source=source, h=h, dtype=dtype, rtol=rtol)

    early = _cannot_judge(prof, noise_given)
    if early:
        table = pd.DataFrame([_empty_row(b, a) for b in blocks])
        return _finish(
            GradcheckResult(
                status="inconclusive",
                max_rel_error=math.nan,
                max_abs_error=math.nan,
                norm_rel_error=math.nan,
                table=table,
                analytic=analytic,
                mode="fast" if fast else "full",
                atol=atol or 0.0,
                reference=ref.name,
                evaluations=counter.evaluations,
                notes=notes,
                reasons=(early,),
                **common,
            ),
            objective,
            point,
            seed,
        )

    # the noise the reference must allow for: the caller's (a random f), and f's own rounding as measured
    noise = max(noise, 3 * prof.noise)
    counter.noise = noise
    _cost_guard(ref, point.size, prof, max_evaluations, fast, counter)
    limit = LIMITS[prof.precision]
    if fast:
        result = fast_check(
            counter, point, analytic, blocks, ref, h, prof, noise, rtol, atol, limit, directions, sample, seed
        )
        if result is not None:
            return _finish(replace(result, notes=notes + result.notes, **common), objective, point, seed)
        notes += ("fast check: the projection disagrees; localised with the full check (n is small)",)

    if h is None and prof.precision != dtype and isinstance(ref, DifferenceScheme):
        # f computes in a lower precision than x: the step follows f's precision, not x's
        h = float(prof.eps_f ** (1 / (ref.order + 1)) * max(1.0, float(np.abs(point).max())))
        notes += (f"the reference steps by h = {h:.3g}, the best step for {prof.precision} arithmetic",)
    try:
        R, ref, more = _measure_full(ref, counter, point, h, prof, noise, seed, scheduler)
    finally:
        if counter.progress is not None:
            counter.progress.close()
            counter.progress = None
    notes += more
    atol = (
        1e-3 * rtol * max(float(np.abs(a).max(initial=0)), float(np.abs(R.values).max(initial=0)), 1e-300)
        if (atol is None)
        else v.positive_float("atol", atol)
    )
    j = _settle(R, ref, counter, objective, point, a, rtol, atol, limit, prof, noise)
    unverified = R.unverified | j.coarse
    unverified &= ~j.failed
    table = block_table(blocks, a, R.values, j, unverified)
    status = "failed" if j.failed.any() else "inconclusive" if unverified.any() and not accept_unverified else "passed"
    counted_mask = ~unverified
    n = R.values
    result = GradcheckResult(
        status=status,
        max_rel_error=float(np.max(j.rel_error[counted_mask], initial=0.0)),
        max_abs_error=float(np.max(j.abs_error[counted_mask], initial=0.0)),
        norm_rel_error=float(np.linalg.norm(a - n) / max(np.linalg.norm(a), np.linalg.norm(n), np.finfo(float).tiny)),
        table=table,
        analytic=analytic,
        numeric=n.astype(point.dtype).reshape(point.shape),
        rel_error=j.rel_error.reshape(point.shape),
        abs_error=j.abs_error.reshape(point.shape),
        unverified=unverified.reshape(point.shape),
        mode="fast, then full" if fast else "full",
        atol=atol,
        reference=R.name,
        evaluations=counter.evaluations,
        notes=notes,
        reasons=_unverified_reasons(table, R, unverified, blocks, h),
        **common,
    )
    return _finish(result, objective, point, seed)


def assert_gradcheck(f: object, x: object, **kwargs) -> GradcheckResult:
    """:func:`gradcheck` for test suites: raise :class:`GradcheckError` (an ``AssertionError``)
    with the full message unless the check passed, return the result otherwise."""
    __tracebackhide__ = True
    return gradcheck(f, x, **kwargs).raise_if_failed()


# -- the parts, composed -----------------------------------------------------------------------


def _reference_backend(reference: object, objective, h) -> Backend:
    if isinstance(reference, Backend):
        return reference
    name = v.choice("reference", reference, ["auto", *references()])
    if name != "auto":
        return get(name)
    # the complex step where f is known to evaluate in complex arithmetic (cross-checked
    # later); a step given by the user is a difference step: central differences then
    return COMPLEX_STEP if objective.complex_ok and h is None else CENTRAL


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


def _profile_notes(prof: Profile, dtype: str) -> tuple[str, ...]:
    notes = []
    if prof.precision != dtype:
        notes.append(
            f"f computes in {prof.precision} although x is {dtype} (its values are {prof.precision} numbers): "
            f"judged at {prof.precision}'s precision"
        )
    if prof.zeros:
        listing = ", ".join(f"{name} ({k})" for name, k in prof.zeros)
        notes.append(
            f"warning: x has exact zeros in {listing}: a bug that scales with those entries (an L2 term on the "
            f"biases, say) is invisible here; check again at a perturbed point, x + 0.01 * noise"
        )
    return tuple(notes)


def _cannot_judge(prof: Profile, noise_given: bool) -> str | None:
    if prof.random and not noise_given:
        return (
            f"f is random: two evaluations at the same x gave {prof.f0!r} and {prof.repeat!r} (dropout? a fresh "
            f"mini-batch? an unseeded generator?). No difference quotient can be trusted: fix f's seed, or pass "
            f"noise=<the size of that difference> to judge with it"
        )
    if prof.constant:
        return (
            "f does not depend on x: it returned exactly the same value after every entry of x moved by 1e-3 "
            "(a closure over the parameters instead of its argument, as in `lambda W: net.loss(X, y)`?). "
            "Write f so that it computes from the x it is given"
        )
    return None


def _empty_row(b, a) -> dict:
    return {
        "block": b.name,
        "shape": "x".join(map(str, b.shape)) or "scalar",
        "size": b.size,
        "offset": b.offset,
        "max_rel_error": math.nan,
        "max_abs_error": math.nan,
        "worst_index": (),
        "analytic": math.nan,
        "numeric": math.nan,
        "n_failed": 0,
        "n_unverified": b.size,
        "resolution": math.nan,
        "status": "inconclusive",
        "passed": False,
    }


#: a check estimated to take longer than this shows a progress bar (tqdm: a line per update when
#: stderr is not a terminal)
PROGRESS_SECONDS = 10.0


def _cost_guard(ref: Backend, n: int, prof: Profile, max_evaluations, fast: bool, counter: Counted) -> None:
    count = ref.evaluations(n) if not fast else 4
    seconds = count * prof.seconds
    advice = "try fast=True (a few evaluations whatever n), or scheduler='processes' or a dask cluster"
    if max_evaluations is not None and count > max_evaluations:
        raise ValueError(
            f"`max_evaluations` = {max_evaluations} is below what this check needs: {count:,} evaluations of f "
            f"(about {seconds:,.0f} s at {prof.seconds:.3g} s each); {advice}"
        )
    if seconds > COST_WARNING_SECONDS:
        warnings.warn(
            f"this check needs {count:,} evaluations of f, about {seconds / 3600:,.2f} h at {prof.seconds:.3g} s "
            f"each; {advice}; max_evaluations= refuses outright",
            CostWarning,
            stacklevel=caller_level(),
        )
    if seconds > PROGRESS_SECONDS and not fast:
        from tqdm.auto import tqdm

        counter.progress = tqdm(total=n, desc=f"gradcheck ({ref.name})", unit="entry", mininterval=5.0)


def _measure_full(ref, counter, point, h, prof, noise, seed, scheduler) -> tuple[Reference, Backend, tuple]:
    """The reference; the complex step falls back to central differences where ``f`` cannot take
    complex input, or where its own real cross-check shows that ``f``'s complex evaluation drops or
    conjugates an imaginary part."""
    if ref.kind == "complex":
        try:
            return measure(ref, counter, point, h, prof.eps_f, noise, scheduler, prof.f0), ref, ()
        except (TypeError, ComplexStepDisagrees) as exc:
            note = (
                f"the complex step cannot be trusted here ({str(exc).split(';')[0]}); judged with central differences"
            )
            return measure(CENTRAL, counter, point, None, prof.eps_f, noise, scheduler, prof.f0), CENTRAL, (note,)
    return measure(ref, counter, point, h, prof.eps_f, noise, scheduler, prof.f0), ref, ()


def _settle(R: Reference, ref, counter, objective, point, a, rtol, atol, limit, prof, noise):
    """Judge; entries the reference cannot settle are measured again (kinks, then finer steps)."""
    j = judge(a, R.values, R.bound, rtol, atol, limit)
    if not isinstance(ref, DifferenceScheme):
        if ref.kind == "complex" and j.failed.any():
            recheck_complex(R, counter, point, np.flatnonzero(j.failed))
            j = judge(a, R.values, R.bound, rtol, atol, limit)
        return j
    suspects = (j.failed | j.coarse) & ~R.unverified
    crossed = crossings(objective, point, suspects, ref, R.steps)
    if crossed.any():
        remeasure_kinks(R, ref, counter, point, np.flatnonzero(crossed), prof.eps_f)
        j = judge(a, R.values, R.bound, rtol, atol, limit)
        if j.failed[crossed].any():  # measured by the complex step: its rounding, measured too
            recheck_complex(R, counter, point, np.flatnonzero(j.failed & crossed))
            j = judge(a, R.values, R.bound, rtol, atol, limit)
    default = prof.eps_f ** (1 / (ref.order + 1)) * np.maximum(1.0, np.abs(point.reshape(-1).astype(np.float64)))
    R.needed = CONFIRMATIONS if (R.steps > 4 * default).any() or prof.precision == "float32" else 1
    R.confirmed[crossed] = R.needed  # measured on their own piece: a failure there is a failure

    def confirmed():
        # a second confirmation guards against truncation far from the asymptotic regime; where the
        # bound is rounding and the step never was the user's far larger one, one is enough
        rounding = (R.rounding >= 0.5 * R.bound) & ~R.restarted
        return (R.confirmed >= R.needed) | ((R.confirmed >= 1) & rounding)

    for _ in range(LEVELS):
        todo = np.flatnonzero(((j.failed & ~confirmed()) | j.coarse) & ~R.unverified)
        if not todo.size:
            break
        refine(R, ref, counter, point, todo, prof.eps_f, noise, j.failed)
        j = judge(a, R.values, R.bound, rtol, atol, limit)
    unconfirmed = j.failed & ~confirmed()
    if unconfirmed.any():  # the estimates never settled: not a failure, not a pass
        R.unverified |= unconfirmed
        for i in np.flatnonzero(unconfirmed).tolist():
            R.why.setdefault(
                i, "the reference does not converge as the step shrinks (a step far too large, or f not smooth here)"
            )
        j.failed &= ~unconfirmed
    return j


def _unverified_reasons(table, R: Reference, unverified, blocks, h) -> tuple[str, ...]:
    if not unverified.any():
        return ()
    out = []
    for b in blocks:
        idx = np.flatnonzero(unverified[b.slice])
        if not idx.size:
            continue
        shown = ", ".join(
            f"{b.name}[{', '.join(str(int(k)) for k in np.unravel_index(int(i), b.shape))}]" for i in idx[:5]
        )
        more = f" and {idx.size - 5} more" if idx.size > 5 else ""
        why = {R.why.get(b.offset + int(i)) for i in idx} - {None}
        reason = "; ".join(sorted(why)) or (
            "the reference's own error bound stays above what would reveal a bug"
            + (f" (your step h={h:g} is too coarse?)" if h is not None else "")
        )
        out.append(f"unverified: {shown}{more}: {reason}")
    out.append(
        "what to try: reference='complex_step' (if f takes complex input), the default step, float64, or "
        "accept_unverified=True to pass with these entries listed"
    )
    return tuple(out)


def _finish(result: GradcheckResult, objective, point, seed) -> GradcheckResult:
    """Hints, and the Taylor test where it adds information (a verdict that is not a pass)."""
    taylor = None
    if result.status != "passed":
        try:
            taylor = taylor_test(objective, point, result.analytic, seed=seed)
        except (ValueError, FloatingPointError):
            taylor = None
    result = replace(result, taylor=taylor)
    return replace(result, hints=tuple(hints_for(result)))
