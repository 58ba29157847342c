"""Fast checks: directional derivatives ``<grad f, v>`` against a difference of ``t -> f(x + t v)``.

The cheap path costs what torch's ``fast_mode`` costs: one projection along a seeded random
direction that gives every block the same weight (each block's part of ``v`` has the same
norm), 2 evaluations when it agrees (4 when the first step is too coarse to tell).  Only a
disagreement pays for more: one direction per block localises the failing blocks, and a
sample of entries in them names the entries (the full check when asked, or when it is cheap).

A projection sees entry ``i`` only through its share ``a_i v_i`` of ``<a, v>``: a block whose
share is below the projection's tolerance gets a direction of its own, a few entries whose
share is (an entry at 1e-4 of max|g| beside large ones) are measured along their coordinate,
and a passing result says what it could not see: entries below the analytic side's own
rounding, which no check judges, and the least visible entry with the resolution it had.

Each direction is judged as an entry is (:func:`~gradlab.check.judge.judge`), and the result
names the reference that measured: central differences along ``v``, or the complex step
along ``v`` where ``f`` evaluates in complex arithmetic and the real difference agrees.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from ..backends import CENTRAL, COMPLEX_STEP, stencil
from ..backends.base import ROUNDING_FACTOR, TRUNCATION_FACTOR
from ..backends.complex_step import ROUNDING
from ..backends.difference import StepTooSmallError
from ..objective import Block
from .case import Case
from .judge import ROUNDING_FLOOR, direction_table, judge
from .result import Deferred, GradcheckResult

#: the smallest scale of a direction's judgement (no atol: a projection's size is not an entry's)
TINY = float(np.finfo(float).tiny)
#: evaluations of a fast check whose projection agrees: central differences at t, and at t/2 when
#: the first step is too coarse to tell (one complex evaluation instead of the second pair, where f takes it)
FAST_EVALUATIONS = 4
#: evaluations of one direction that settles at its first step: a central pair, and the complex step along
#: it where f evaluates in complex arithmetic (tests count with it)
PROJECTION_EVALUATIONS = 3
#: in fast mode, a disagreement is localised by the full check when n is at most this
FULL_FALLBACK_MAX = 2000
#: the analytic side's rounding, in its eps times max|g|, where a float32 x's reference is lifted to float64
LIFTED_ROUNDING = 4
#: a passing fast check measures on its own each entry its directions verified more coarsely than
#: the limit, when there are at most this many (a small entry beside large ones: 1e-4 of max|g| in
#: a block of 4); more are stated, not measured (a network's gradient has hundreds)
SEPARATE_ENTRIES = 4


def block_direction(point: np.ndarray, blocks: tuple[Block, ...], rng, only: Block | None = None) -> np.ndarray:
    """A random unit direction with an equal share of norm in every block (or in ``only``)."""
    v = np.zeros(point.size)
    chosen = blocks if only is None else (only,)
    for b in chosen:
        vb = rng.standard_normal(b.size)
        v[b.slice] = vb / np.linalg.norm(vb)
    return v / np.linalg.norm(v)


def _judged(case: Case, a: float, numeric: float, bound: float, evaluations: int, reference: str) -> dict:
    """One direction, judged as an entry is."""
    j = judge(np.array([a]), np.array([numeric]), np.array([bound]), rtol=case.rtol, floor=TINY, limit=case.limit)
    return {
        "analytic": a,
        "numeric": float(numeric),
        "abs_error": float(j.abs_error[0]),
        "rel_error": float(j.rel_error[0]),
        "resolution": float(j.resolution[0]),
        "bound": bound,
        "failed": bool(j.failed[0]),
        "coarse": bool(j.coarse[0]),
        "evaluations": evaluations,
        "reference": reference,
    }


def projection(case: Case, v: np.ndarray) -> dict:
    """``<analytic, v>`` against central differences along ``v`` (refined once if they disagree).

    Where ``f`` evaluates in complex arithmetic, the complex step along ``v``
    (``Im f(x + i t v) / t``, one evaluation, exact to rounding) is the reference, trusted
    after the real central difference along the same ``v`` agrees with it.
    """
    real = _central_projection(case, v)
    if not case.objective.complex_ok or case.settings.h is not None:
        return real
    ag = case.a * v
    a = float(ag.sum())
    try:
        numeric = COMPLEX_STEP.along(case.counted, case.point, v)
    except TypeError:
        return real
    bound = ROUNDING * case.profile.eps_f * float(np.abs(ag).sum())
    scale = max(abs(a), abs(numeric), TINY)
    # the cross-check: the real difference must agree with the complex step within its own bound
    if abs(real["numeric"] - numeric) > real["bound"] + case.rtol * scale:
        return real | {"evaluations": real["evaluations"] + 1}
    return _judged(case, a, numeric, bound, real["evaluations"] + 1, COMPLEX_STEP.name)


def _central_projection(case: Case, v: np.ndarray, a: float | None = None) -> dict:
    """Central differences along ``v`` at ``t``; if that cannot settle it, a Richardson pair
    (``t, t/2``, or ``2 t0, t0`` around the default ``t0`` when the user's ``t`` is far larger).
    ``a`` is the analytic directional derivative to judge: ``<analytic gradient, v>`` unless given
    (a forward rule's own ``J v``, :mod:`gradlab.check.forward`)."""
    point, eps_f, noise = case.point, case.profile.eps_f, case.noise
    flat = point.reshape(-1).astype(np.float64)
    a = float(case.a @ v) if a is None else a
    largest = np.array([np.abs(flat).max(initial=0.0)])
    # the default step of the largest entry, rounded to x's precision (the step x + t v is taken in)
    t0 = float(point.dtype.type(CENTRAL.default_step(largest, eps=np.finfo(point.dtype).eps)[0]))
    t = t0 if case.settings.h is None else case.settings.h
    evaluations = 0

    def central(s):
        nonlocal evaluations
        xp, xm = stencil.along(point, v, s), stencil.along(point, v, -s)
        span = float((xp.reshape(-1).astype(np.float64) - xm.reshape(-1)) @ v)
        if span <= 0:
            raise StepTooSmallError(
                f"`h` = {s:g} is below the floating-point spacing of x ({point.dtype}): x + t v and x - t v "
                f"round to the same point; use a larger h"
            )
        fp, fm = case.counted(xp), case.counted(xm)
        evaluations += 2
        d = (fp - fm) / span
        return d, ROUNDING_FACTOR * (eps_f * max(abs(fp), abs(fm)) + noise) / (2 * s)

    d0, bound = central(t)
    row = _judged(case, a, d0, bound, evaluations, CENTRAL.name)
    if row["failed"] or row["coarse"]:  # a second level, Richardson-extrapolated
        if t > 4 * t0:
            dc, _ = central(2 * t0)
            df, rounding = central(t0)
        else:
            dc = d0
            df, rounding = central(t / 2)
        bound = TRUNCATION_FACTOR * abs(df - dc) / 3 + rounding
        row = _judged(case, a, (4 * df - dc) / 3, bound, evaluations, CENTRAL.name)
    return row


def fast_check(case: Case) -> GradcheckResult | None:
    """The fast path: a :class:`GradcheckResult`, or ``None`` when a disagreement should be
    localised by the full check (n is small)."""
    rng = np.random.default_rng(case.settings.seed)
    blocks, point = case.blocks, case.point
    seen = []  # (direction, its row): what each entry was verified by
    owner = {}  # an entry measured on its own ("W1[2, 0]") -> its block's name

    def project(v, label, k):
        row = {"block": label, "direction": k, **projection(case, v)}
        seen.append((v, row))
        return row

    def settled(rows):
        return not any(r["failed"] or r["coarse"] for r in rows)

    v0 = block_direction(point, blocks, rng)
    rows = [project(v0, "all", 0)]
    if settled(rows):
        # The projection sees an error in block b only through b's share of <a, v>: where that
        # share is too small for the projection's tolerance, the block gets a direction of its own.
        first = rows[0]
        allowed = first["resolution"] * max(abs(first["analytic"]), abs(first["numeric"]))
        weak = [b for b in blocks if allowed > case.limit * abs(float(case.a[b.slice] @ v0[b.slice]))]
        rows += [project(block_direction(point, blocks, rng, b), b.name, 0) for b in weak]
    if settled(rows):
        # and so does an entry: a few that the directions cannot see are measured on their own
        visibility = _visibility(case, seen)
        hidden = least_visible(case, visibility)
        if 0 < hidden.size <= SEPARATE_ENTRIES:
            visibility = None  # the entries' own directions change it
            for i in hidden.tolist():
                e = np.zeros(point.size)
                e[i] = 1.0
                owner[case.entry_name(i)] = next(b.name for b in blocks if b.offset <= i < b.offset + b.size)
                rows.append(project(e, case.entry_name(i), 0))
        if settled(rows):
            notes = entry_notes(case, seen, tuple(owner), visibility)
            return _fast_result(case, rows, "passed", notes, "fast")
    # a disagreement: is f random?  (the fast path skipped evaluating f at x up front)
    f0, repeat = case.counted(point.copy()), case.counted(point.copy())
    if f0 != repeat:
        why = "f is random: two evaluations at the same x differ; fix its seed or pass noise="
        return _fast_result(case, rows, "inconclusive", (why,), "fast")
    # what the full check (the fallback) reads of f at x, learnt here
    case.profile = replace(case.profile, f0=f0, repeat=repeat)
    if point.size <= FULL_FALLBACK_MAX:
        return None
    done = {r["block"] for r in rows}
    for b in blocks:
        for k in range(case.settings.directions):
            if k == 0 and b.name in done:
                continue
            rows.append(project(block_direction(point, blocks, rng, b), b.name, k))
    dirs = pd.DataFrame(rows)
    per_block = dirs[dirs["block"] != "all"]
    # a block is suspect by its own directions, or by an entry of it measured on its own (named "W1[2, 0]")
    mine = per_block["block"].map(lambda label: owner.get(label, label))
    bad = [b for b in blocks if per_block[mine == b.name][["failed", "coarse"]].to_numpy().any()]
    notes = (_sample_entries(case, bad, rng),) if bad else ()
    status = "failed" if per_block["failed"].any() else "inconclusive"
    return _fast_result(case, rows, status, notes, "fast, localised")


def analytic_rounding(case: Case, largest: float) -> tuple[float, str]:
    """The analytic side's own rounding, below which no entry can be judged relative to itself,
    and how it was set: one rule for the full check and the fast one."""
    rounding, how = ROUNDING_FLOOR * case.profile.eps_f * largest, f"{ROUNDING_FLOOR} eps max|g|"
    if case.judged_dtype is not None:
        # a float32 analytic side judged against a float64 reference: its own rounding, a few float32 eps
        # of max|g| in an entry formed by cancellation, is what it is judged against (issue 18, item 4);
        # below LIFTED_ROUNDING eps_32 max|g| / limit no entry can be judged relative to itself
        lifted = LIFTED_ROUNDING * float(np.finfo(case.analytic.dtype).eps) * largest / case.limit
        if lifted > rounding:
            rounding, how = lifted, f"{LIFTED_ROUNDING} float32 eps max|g| / {case.limit:g}"
    return rounding, how


def _visibility(case: Case, seen: list[tuple[np.ndarray, dict]]) -> tuple[np.ndarray, np.ndarray, float, str]:
    """Per entry, the relative error to which the directions ``seen`` verified it (0 where not
    judged), which entries lie below the analytic side's own rounding, and that rounding.

    A relative error ``r`` confined to entry ``i`` moves ``<a, v>`` by exactly ``r a_i v_i``, so
    a direction verified entry ``i`` only to ``allowed / |a_i v_i|`` of itself, where ``allowed``
    is what the direction's judgement let pass; the best direction through ``i`` counts.  Entries
    below the analytic side's own rounding cannot be judged at all (as in the full check).  O(n)
    arithmetic per direction, no evaluation."""
    a = case.a
    rounding, how = analytic_rounding(case, float(np.abs(a).max(initial=0.0)))
    below = (np.abs(a) < rounding) & (a != 0)
    share = np.zeros(a.size)
    for v, row in seen:
        allowed = row["resolution"] * max(abs(row["analytic"]), abs(row["numeric"]))
        if allowed > 0 and math.isfinite(allowed):
            share = np.maximum(share, np.abs(a * v) / allowed)  # 1 / (the entry's resolution) along v
    judged = ~below & (a != 0)
    with np.errstate(divide="ignore"):
        resolution = np.where(judged, 1.0 / share, 0.0)
    return resolution, below, rounding, how


def least_visible(case: Case, visibility: tuple) -> np.ndarray:
    """The entries the directions verified more coarsely than the precision's limit (flat indices),
    from :func:`_visibility`'s result (which the notes read too)."""
    return np.flatnonzero(visibility[0] > case.limit)


def entry_notes(case: Case, seen: list[tuple[np.ndarray, dict]], alone: tuple[str, ...] = (),
                visibility: tuple | None = None) -> tuple[str, ...]:  # fmt: skip
    """What a passing fast check says entry by entry (issue 18, item 5): the entries below the
    analytic side's own rounding, which no check judges (the full check's note), and, where
    entries were verified more coarsely than the limit, the least visible with what was verified
    of it.  ``seen`` includes the entries measured on their own, named in ``alone``; ``visibility``:
    :func:`_visibility` of exactly these ``seen``, where the caller has it already."""
    resolution, below, rounding, how = _visibility(case, seen) if visibility is None else visibility
    notes = []
    if below.any():
        first = case.entry_name(int(np.flatnonzero(below)[0]))
        notes.append(
            f"{int(below.sum())} entries lie below the analytic side's own rounding ({rounding:.3g}, {how}; "
            f"{first} the first): no check can judge them relative to themselves, and this one did not"
        )
    if alone:
        notes.append(f"measured on their own (too small a share of every direction to be seen): {', '.join(alone)}")
    coarse = resolution > case.limit
    if coarse.any():
        i = int(np.argmax(resolution))
        notes.append(
            f"entry by entry the projection verified less: {int(coarse.sum())} entries carry so little of <a, v> "
            f"that an error of more than {case.limit:g} of one of them alone could pass; the least visible, "
            f"{case.entry_name(i)} (|g| = {abs(case.a[i]):.3g}), is verified only to a relative error of "
            f"{resolution[i]:.3g} (fast=False judges every entry)"
        )
    return tuple(notes)


def _sample_entries(case: Case, bad: list[Block], rng) -> str:
    """Measure a sample of entries in the failing blocks; describe the worst one found."""
    # entries one at a time along their coordinate: the reference itself where it can, else central
    scheme = case.backend if case.backend.refinable else CENTRAL
    a, h, sample = case.a, case.settings.h, case.settings.sample
    steps = scheme.default_step(case.flat) if h is None else np.full(case.flat.size, h)
    found = []
    for b in bad:
        idx = np.arange(b.offset, b.offset + b.size)
        top = idx[np.argsort(-np.abs(a[idx]))[: sample // 2]]
        rest = rng.choice(idx, size=min(sample - top.size, idx.size), replace=False)
        for i in np.unique(np.concatenate([top, rest])).tolist():
            n_i, _ = scheme.measure_entry(
                case.counted, case.point, i, steps[i], eps_f=case.profile.eps_f, noise=case.noise
            )
            err = abs(a[i] - n_i) / max(abs(a[i]), abs(n_i), TINY)
            k = tuple(int(t) for t in np.unravel_index(i - b.offset, b.shape))
            found.append((err, b.name, k, a[i], n_i))
    err, name, k, ai, ni = max(found)
    return (
        f"sampled {len(found)} entries of {', '.join(b.name for b in bad)}: worst {name}"
        f"[{', '.join(map(str, k))}]: analytic {ai:.10g}, numeric {ni:.10g} (rel error {err:.3g})"
    )


def _fast_result(case: Case, rows: list[dict], status: str, notes: tuple[str, ...], mode: str) -> GradcheckResult:
    # the reference is what measured the directions: central differences, or the complex step
    measured = " and ".join(dict.fromkeys(r["reference"] for r in rows))
    return case.result(
        status=status,
        max_rel_error=float(max(r["rel_error"] for r in rows)),
        max_abs_error=float(max(r["abs_error"] for r in rows)),
        norm_rel_error=math.nan,
        # built when read: a passing fast check costs a few evaluations, and these tables as much again
        table=Deferred(direction_table, rows, case.blocks),
        directions=Deferred(directions_frame, rows),
        mode=mode,
        atol=case.settings.atol or 0.0,
        reference=f"{measured} (directional)",
        notes=notes + (DIRECTIONAL_RESOLUTION,),
    )


def directions_frame(rows: list[dict]) -> pd.DataFrame:
    """The directions of a fast check, one row each (a result's ``directions``)."""
    return pd.DataFrame(rows)


#: what a fast check's resolution column means (it is no entry's)
DIRECTIONAL_RESOLUTION = (
    "resolution is directional: the relative error of a random directional derivative per block above "
    "which it would have failed; an error confined to k of a block's n entries moves it by about "
    "sqrt(k / n) of that, so a bug on one entry of a large block can hide below it (fast=False judges "
    "every entry)"
)
