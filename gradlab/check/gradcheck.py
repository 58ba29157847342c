"""gradcheck: is an analytic gradient right, and if not, where is it wrong?

A pipeline read top to bottom: :mod:`.settings` (every option validated before ``f`` runs)
-> :mod:`.case` (the counted objective, the point, the analytic side, the blocks, and what
:mod:`.probe` learned of ``f``) -> the reference, measured by the backend's own
:meth:`~gradlab.backends.Backend.reference` and settled by a :class:`.reference.Refinement`
(suspects measured again, kinks on their own piece) -> :mod:`.judge` (one judgement, one
table row) -> the result, with :mod:`.taylor` (a step-free second opinion when the verdict is
not a pass) and :mod:`.hints`.  :mod:`.directional` is the fast path.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np

from .. import _validate as v
from .._warnings import caller_level
from ..backends import CENTRAL, Backend
from .adapt import prepare_check
from .case import Case, open_case
from .directional import FAST_EVALUATIONS, analytic_rounding, fast_check
from .forward import check_forward_rule, judge_forward_rule
from .frameworks import framework_rules
from .hints import hints_for
from .judge import block_table, judge, unjudged, unjudged_table
from .reference import KINK_NOTE, Refinement
from .result import GradcheckResult, replaced
from .second_order import second_order_check, second_order_options
from .settings import CheckSettings, validated
from .taylor import taylor_test

#: a check whose estimated time exceeds this many seconds draws a CostWarning first
COST_WARNING_SECONDS = 60.0
#: a check estimated to take longer than this shows a progress bar (tqdm: a line per update when
#: stderr is not a terminal)
PROGRESS_SECONDS = 10.0


class CostWarning(UserWarning):
    """A check or gradient is estimated to take long: the estimate and cheaper options."""


@framework_rules
def gradcheck(
    f: object,
    x: object,
    *,
    grad: object = None,
    vjp: object = None,
    jvp: object = None,
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
    hvp: object = None,
    hessian: object = None,
    order: int = 1,
) -> GradcheckResult:
    """Compare an analytic gradient with a numerical reference, entry by entry, block by block.

    Parameters
    ----------
    f : objective or callable
        The objective.  For an MLP objective the analytic side defaults to backprop.  A torch
        ``autograd.Function``'s ``apply``, or a jax function (``custom_vjp``, ``custom_jvp``, or
        any that jax can trace) of jax arrays, given no rule: its own backward (or jvp rule) is
        what is checked, argument by argument, float32 included (see :mod:`gradlab.check.frameworks`).
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
    jvp : callable, optional
        A forward rule to verify instead: ``jvp(x, v)`` (called like ``f`` with the tangent ``v``,
        shaped like ``x``, appended) returns ``J v``, shaped like ``f(x)`` (a scalar for a scalar
        ``f``).  Checked along one seeded random direction per block (``directions`` of them)
        against central differences of ``<u, f(x)>`` along it, so that a wrong rule is named by
        its block (see :mod:`gradlab.check.forward`).
    cotangent : array_like, optional
        The ``u`` for ``vjp`` or ``jvp``, shaped like ``f(x)``; default: standard normal, seeded by ``seed``.
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
        Pass even when some entries could not be measured (they stay listed); never when an
        entry was measured off the analytic value by more than the reference's bound.
    max_evaluations : int, optional
        Refuse a check that would take more evaluations than this.
    scheduler : optional
        Where the reference's evaluations run (see :mod:`gradlab.parallel`).
    hvp : callable, optional
        A Hessian-vector product to verify after the gradient: ``hvp(x, v) -> H v`` (called
        like ``f`` with ``v``, shaped like ``x``, appended).  Checked per block pair along
        seeded random directions as the gradient of ``<v, g(x)>`` (see
        :mod:`gradlab.check.second_order`); the table gets one row per pair, ``H[A, B]``.
    hessian : callable, optional
        A Hessian to verify instead: ``hessian(x) -> H`` of shape ``(n, n)`` (or
        ``x.shape * 2``); checked like ``hvp`` with ``H @ v``, and for symmetry.
    order : int
        1 (default): the gradient.  2: the gradient, then the Hessian: ``hvp=``/``hessian=``,
        or the objective's own ``hvp`` (the MLP's R-operator).  ``hvp=`` or ``hessian=``
        imply 2.  The gradient is checked first; if it does not pass, the result says so and
        the Hessian is not judged.

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
    settings = validated(
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
    second = second_order_options(f, x, grad=grad, order=order, hvp=hvp, hessian=hessian, vjp=vjp)
    if jvp is not None:
        if second is not None:
            raise TypeError("a second-order check needs a scalar f and its gradient: `jvp=` checks a forward rule only")
        return _forward_rule_check(f, x, jvp, settings, grad=grad, vjp=vjp, cotangent=cotangent)
    # structures and backward passes: the same check on a flat vector (see check/adapt.py)
    call = prepare_check(f, x, grad=grad, vjp=vjp, cotangent=cotangent, seed=settings.seed)
    if call is None:
        case = open_case(f, x, grad, settings)
    else:
        case = open_case(call.objective, call.point, call.grad, settings)
    result = _finish(_cannot_judge(case) or _judged(case), case)
    result = result if call is None else call.finish(result)
    if second is None:
        return result
    return second_order_check(second, result, _flat_check(settings), settings)


def _flat_check(settings: CheckSettings):
    """The pipeline on a flat objective with ``settings`` (fast or full as asked): what the
    second-order check runs for each direction."""

    def check(objective, point, grad, fast: bool) -> GradcheckResult:
        case = open_case(objective, point, grad, replace(settings, fast=fast))
        return _finish(_cannot_judge(case) or _judged(case), case)

    return check


def _forward_rule_check(f, x, jvp, settings, *, grad, vjp, cotangent) -> GradcheckResult:
    """``gradcheck(f, x, jvp=...)``: the rule along one direction per block (see :mod:`.forward`)."""
    if grad is not None or vjp is not None:
        raise TypeError("pass one rule to check: `grad=`, `vjp=` (a backward pass) or `jvp=` (a forward rule)")
    if not callable(jvp):
        raise v.fail("jvp", "a callable jvp(x, v) -> J v (called like f, the tangent v appended)", jvp, TypeError)
    if settings.reference not in ("auto", CENTRAL.name) and settings.reference is not CENTRAL:
        name = getattr(settings.reference, "name", settings.reference)
        raise ValueError(
            f"`reference` must be 'auto' or 'central' with `jvp=` (a forward rule is judged against central "
            f"differences along each block's direction); got {name!r}"
        )
    if settings.fast:
        raise ValueError("`fast` does not apply with `jvp=`: a forward rule is always checked along directions")
    case, directions, _ = check_forward_rule(f, x, jvp, cotangent, settings)
    return _cannot_judge(case) or judge_forward_rule(case, directions)


def assert_gradcheck(f: object, x: object, **kwargs) -> GradcheckResult:
    """:func:`gradcheck` for test suites: raise :class:`GradcheckError` (an ``AssertionError``)
    with the full message unless the check passed, return the result otherwise."""
    __tracebackhide__ = True
    return gradcheck(f, x, **kwargs).raise_if_failed()


# -- the stages --------------------------------------------------------------------------------


def _cannot_judge(case: Case) -> GradcheckResult | None:
    """An inconclusive result where what the probe learned rules out any verdict, else ``None``."""
    why = _why_not(case)
    if why is None:
        return None
    nan = math.nan
    return case.result(
        status="inconclusive",
        max_rel_error=nan,
        max_abs_error=nan,
        norm_rel_error=nan,
        table=unjudged_table(case.blocks),
        mode="fast" if case.settings.fast else "full",
        atol=case.settings.atol or 0.0,
        reference=case.backend.name,
        reasons=(why,),
    )


def _why_not(case: Case) -> str | None:
    prof = case.profile
    if prof.random and case.settings.noise is None:
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


def _judged(case: Case) -> GradcheckResult:
    """The fast path where asked (``None`` from it: localise with the full check), else the full check."""
    progress = _cost_guard(case)
    result = fast_check(case) if case.settings.fast else None
    return _full_check(case, progress) if result is None else result


def _cost_guard(case: Case):
    """Refuse a check above ``max_evaluations``, warn about a long one; a progress bar for a slow one."""
    s, prof, backend, n = case.settings, case.profile, case.backend, case.point.size
    count = FAST_EVALUATIONS if s.fast else backend.evaluations(n)
    seconds = count * prof.seconds  # NaN where f was not timed (the fast path): no warning, no bar
    advice = "try fast=True (a few evaluations whatever n), or scheduler='processes' or a dask cluster"
    if s.max_evaluations is not None and count > s.max_evaluations:
        timing = f" (about {seconds:,.0f} s at {prof.seconds:.3g} s each)" if math.isfinite(seconds) else ""
        raise ValueError(
            f"`max_evaluations` = {s.max_evaluations} is below what this check needs: {count:,} evaluations of f"
            f"{timing}; {advice}"
        )
    if seconds > COST_WARNING_SECONDS:
        warnings.warn(
            f"this check needs {count:,} evaluations of f, about {seconds / 3600:,.2f} h at {prof.seconds:.3g} s "
            f"each; {advice}; max_evaluations= refuses outright",
            CostWarning,
            stacklevel=caller_level(),
        )
    if seconds > PROGRESS_SECONDS and not s.fast:
        from tqdm.auto import tqdm  # an optional nicety, imported only when shown

        return tqdm(total=n, desc=f"gradcheck ({backend.name})", unit="entry", mininterval=5.0)
    return None


def _full_check(case: Case, progress) -> GradcheckResult:
    """Every entry: the reference with its bounds, settled by refinement, judged, tabled."""
    s, prof, a, rtol = case.settings, case.profile, case.a, case.rtol
    notes = ("fast check: the projection disagrees; localised with the full check (n is small)",) if s.fast else ()
    h, stepped = _precision_step(case)
    try:
        kw = dict(eps_f=prof.eps_f, noise=case.noise, f0=prof.f0, scheduler=s.scheduler, progress=progress)
        estimate = case.backend.reference(case.counted, case.point, h=h, **kw)
    finally:
        if progress is not None:
            progress.close()
    # the floor follows the gradient however small it is (exp(x - 700) has |g| ~ 1e-304): a fixed
    # minimum would judge such a gradient against the floor alone
    largest = max(float(np.abs(a).max(initial=0)), float(np.abs(estimate.values).max(initial=0)))
    atol = 1e-3 * rtol * max(largest, np.finfo(float).tiny) if s.atol is None else s.atol
    refinement = Refinement(estimate, case)
    # entries between the analytic side's rounding and the floor must agree relative to themselves
    # (a floor the caller chose by atol= is theirs)
    rounding, how = analytic_rounding(case, largest)
    floor, own = atol / rtol, (rounding if s.atol is None else None)
    j = refinement.settle(lambda n, bound: judge(a, n, bound, rtol=rtol, floor=floor, limit=case.limit, rounding=own))
    unverified = (refinement.unverified | j.coarse) & ~j.failed
    below = np.zeros(a.size, dtype=bool)
    if s.atol is None:
        below = unjudged(a, refinement.values, j, floor=floor, rounding=rounding) & ~unverified
    if below.any():
        notes += (
            f"{int(below.sum())} entries lie below the analytic side's own rounding ({rounding:.3g}, "
            f"{how}): no check can judge them relative to themselves, and this one did not",
        )
    table = block_table(case.blocks, a, refinement.values, j, unverified, below)
    # accept_unverified passes entries nothing could measure, never one measured off beyond its bound
    disputed = unverified & (refinement.disputed | j.disagree)
    unsettled = (unverified.any() and not s.accept_unverified) or disputed.any()
    status = "failed" if j.failed.any() else "inconclusive" if unsettled else "passed"
    n, shape, counted = refinement.values, case.point.shape, ~unverified
    return case.result(
        status=status,
        max_rel_error=float(np.max(j.rel_error[counted], initial=0.0)),
        max_abs_error=float(np.max(j.abs_error[counted], initial=0.0)),
        norm_rel_error=float(np.linalg.norm(a - n) / max(np.linalg.norm(a), np.linalg.norm(n), np.finfo(float).tiny)),
        table=table,
        numeric=n.astype(case.analytic.dtype).reshape(shape),
        rel_error=j.rel_error.reshape(shape),
        abs_error=j.abs_error.reshape(shape),
        unverified=unverified.reshape(shape),
        tolerance=j.allowed.reshape(shape),
        failing=j.failed.reshape(shape),
        mode="fast, then full" if s.fast else "full",
        atol=atol,
        reference=refinement.name,
        notes=notes + stepped + estimate.notes + refinement.notes,
        reasons=_unverified_reasons(case, refinement, unverified, h) + _disputed(disputed, s.accept_unverified),
    )


def _precision_step(case: Case) -> tuple[float | None, tuple[str, ...]]:
    """The reference's first step: the user's; else, where ``f`` computes in a lower precision than
    ``x`` and the backend's rule follows the precision, that rule at ``f``'s precision."""
    h, prof, backend = case.settings.h, case.profile, case.backend
    if h is not None or prof.precision == case.point.dtype.name:
        return h, ()
    largest = np.array([float(np.abs(case.point).max())])
    low, own = backend.default_step(largest, eps=prof.eps_f), backend.default_step(largest)
    if low is None or low[0] == own[0]:
        return None, ()
    h = float(low[0])
    return h, (f"the reference steps by h = {h:.3g}, the best step for {prof.precision} arithmetic",)


def _disputed(disputed: np.ndarray, accepted: bool) -> tuple[str, ...]:
    if not (accepted and disputed.any()):
        return ()
    return (
        f"accept_unverified passes entries nothing could measure, not these {int(disputed.sum())}: each was "
        "measured off the analytic value by more than the reference's bound",
    )


def _unverified_reasons(case: Case, refinement: Refinement, unverified, h) -> tuple[str, ...]:
    if not unverified.any():
        return ()
    out = []
    for b in case.blocks:
        idx = np.flatnonzero(unverified[b.slice])
        if not idx.size:
            continue
        shown = ", ".join(
            f"{b.name}[{', '.join(str(int(k)) for k in np.unravel_index(int(i), b.shape))}]" for i in idx[:5]
        )
        more = f" and {idx.size - 5} more" if idx.size > 5 else ""
        why = {refinement.why.get(b.offset + int(i)) for i in idx} - {None}
        reason = "; ".join(sorted(why)) or (
            "the reference's own error bound stays above what would reveal a bug"
            + (f" (your step h={h:g} is too coarse?)" if h is not None else "")
        )
        out.append(f"unverified: {shown}{more}: {reason}")
    out.append(
        "what to try: "
        + ", ".join((*_other_settings(case, h), "or accept_unverified=True to pass with these entries listed"))
    )
    return tuple(out)


def _other_settings(case: Case, h) -> tuple[str, ...]:
    """The settings that could resolve what this check left unverified, those it did not use already."""
    tries = []
    if case.backend.name != "complex_step":
        tries.append("reference='complex_step' (if f takes complex input)")
    if h is not None:
        tries.append("the default step")
    if case.dtype != "float64":
        tries.append("float64")
    if not tries:  # the most precise reference at its own step, in float64: what is left is the point
        tries.append("another point (here these entries' gradients are too small beside the reference's error bound)")
    return tuple(tries)


def _finish(result: GradcheckResult, case: Case) -> GradcheckResult:
    """Hints, and the Taylor test where it adds information (a verdict that is not a pass)."""
    taylor = None
    if result.status != "passed":
        try:
            taylor = taylor_test(case.objective, case.point, result.analytic, seed=case.settings.seed)
        except (ValueError, FloatingPointError):
            taylor = None
    if taylor is not None and any(note.startswith(KINK_NOTE) for note in result.notes):
        # along d the residual of a kink is ~ t |f'(x; d) - <g, d>| whichever subgradient g is: rate 1
        taylor = replace(taylor, verdict="inconclusive (x sits on a kink of f: no Taylor expansion there)")
    return replaced(result, taylor=taylor, hints=tuple(hints_for(result)))
