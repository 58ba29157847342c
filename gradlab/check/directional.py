"""Fast checks: directional derivatives ``<grad f, v>`` against a difference of ``t -> f(x + t v)``.

The cheap path costs what torch's ``fast_mode`` costs: one projection along a seeded random
direction that gives every block the same weight (each block's part of ``v`` has the same
norm), 2 evaluations when it agrees (4 when the first step is too coarse to tell).  Only a
disagreement pays for more: one direction per block localises the failing blocks, and a
sample of entries in them names the entries (the full check when asked, or when it is cheap).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..backends import CENTRAL, DifferenceScheme
from ..backends.difference import StepTooSmallError, node_values
from ..objective import Block, Counted
from .entrywise import GREY
from .reference import ROUNDING_FACTOR, TRUNCATION_FACTOR
from .result import GradcheckResult


def block_direction(point: np.ndarray, blocks: tuple[Block, ...], rng, only: Block | None = None) -> np.ndarray:
    """A random unit direction with an equal share of norm in every block (or in ``only``)."""
    v = np.zeros(point.size)
    chosen = blocks if only is None else (only,)
    for b in chosen:
        vb = rng.standard_normal(b.size)
        v[b.slice] = vb / np.linalg.norm(vb)
    return v / np.linalg.norm(v)


def _row(a: float, numeric: float, bound: float, rtol: float, limit: float, evaluations: int) -> dict:
    """One direction judged as :func:`~gradlab.check.entrywise.judge` judges an entry."""
    scale = max(abs(a), abs(numeric), np.finfo(float).tiny)
    allowed = rtol * scale + bound
    failed = abs(a - numeric) > GREY * allowed
    coarse = (allowed > limit * scale or abs(a - numeric) > allowed) and not failed
    return {
        "analytic": a,
        "numeric": float(numeric),
        "abs_error": abs(a - numeric),
        "rel_error": abs(a - numeric) / scale,
        "resolution": allowed / scale,
        "bound": bound,
        "failed": bool(failed),
        "coarse": bool(coarse),
        "evaluations": evaluations,
    }


def projection(
    counted: Counted,
    point: np.ndarray,
    analytic: np.ndarray,
    v: np.ndarray,
    h,
    eps_f,
    noise,
    rtol,
    limit,
    complex_ok: bool = False,
) -> dict:
    """``<analytic, v>`` against central differences along ``v`` (refined once if they disagree).

    Where ``f`` evaluates in complex arithmetic, the complex step along ``v``
    (``Im f(x + i t v) / t``, one evaluation, exact to rounding) is the reference, trusted
    after the real central difference along the same ``v`` agrees with it.
    """
    real = _central_projection(counted, point, analytic, v, h, eps_f, noise, rtol, limit)
    if not complex_ok or h is not None:
        return real
    flat = point.reshape(-1).astype(np.float64)
    ag = analytic.reshape(-1).astype(np.float64) * v
    a = float(ag.sum())
    t = 1e-20 * max(1.0, float(np.abs(flat).max()))
    ctype = np.complex64 if point.dtype == np.float32 else np.complex128
    xc = (flat + 1j * t * v).astype(ctype).reshape(point.shape)
    try:
        numeric = counted.complex(xc).imag / t
    except TypeError:
        return real
    bound = 16 * eps_f * float(np.abs(ag).sum())
    scale = max(abs(a), abs(numeric), np.finfo(float).tiny)
    # the cross-check: the real difference must agree with the complex step within its own bound
    if abs(real["numeric"] - numeric) > real["bound"] + rtol * scale:
        return real | {"evaluations": real["evaluations"] + 1}
    return _row(a, numeric, bound, rtol, limit, real["evaluations"] + 1)


def _central_projection(counted, point, analytic, v, h, eps_f, noise, rtol, limit) -> dict:
    """Central differences along ``v`` at ``t``; if that cannot settle it, a Richardson pair
    (``t, t/2``, or ``2 t0, t0`` around the default ``t0`` when the user's ``t`` is far larger)."""
    flat = point.reshape(-1).astype(np.float64)
    a = float(analytic.reshape(-1).astype(np.float64) @ v)
    t0 = float(np.finfo(point.dtype).eps ** (1 / 3) * max(1.0, float(np.abs(flat).max())))
    t = t0 if h is None else h
    evaluations = 0

    def central(s):
        nonlocal evaluations
        xp = (flat + s * v).astype(point.dtype).reshape(point.shape)
        xm = (flat - s * v).astype(point.dtype).reshape(point.shape)
        span = float((xp.reshape(-1).astype(np.float64) - xm.reshape(-1)) @ v)
        if span <= 0:
            raise StepTooSmallError(
                f"`h` = {s:g} is below the floating-point spacing of x ({point.dtype}): x + t v and x - t v "
                f"round to the same point; use a larger h"
            )
        fp, fm = counted(xp), counted(xm)
        evaluations += 2
        d = (fp - fm) / span
        return d, ROUNDING_FACTOR * (eps_f * max(abs(fp), abs(fm)) + noise) / (2 * s)

    d0, bound = central(t)
    row = _row(a, d0, bound, rtol, limit, evaluations)
    if row["failed"] or row["coarse"]:  # a second level, Richardson-extrapolated
        if t > 4 * t0:
            dc, _ = central(2 * t0)
            df, rounding = central(t0)
        else:
            dc = d0
            df, rounding = central(t / 2)
        row = _row(a, (4 * df - dc) / 3, TRUNCATION_FACTOR * abs(df - dc) / 3 + rounding, rtol, limit, evaluations)
    return row


def fast_table(rows: list[dict], blocks: tuple[Block, ...]) -> pd.DataFrame:
    """The per-block table of a fast check, in the entrywise table's columns.

    ``rows`` has one dict per direction with a ``block`` key (``"all"`` for the projection
    across every block, which speaks for each block that has no direction of its own).
    """
    out = []
    for b in blocks:
        d = [r for r in rows if r["block"] == b.name] or [r for r in rows if r["block"] == "all"]
        w = max(d, key=lambda r: r["rel_error"])
        n_failed = sum(bool(r["failed"]) for r in d)
        n_coarse = sum(bool(r["coarse"]) for r in d)
        status = "failed" if n_failed else "inconclusive" if n_coarse else "passed"
        out.append(
            {
                "block": b.name,
                "shape": "x".join(map(str, b.shape)) or "scalar",
                "size": b.size,
                "offset": b.offset,
                "max_rel_error": float(w["rel_error"]),
                "max_abs_error": float(w["abs_error"]),
                "worst_index": (),
                "analytic": float(w["analytic"]),
                "numeric": float(w["numeric"]),
                "n_failed": n_failed,
                "n_unverified": n_coarse,
                "resolution": float(max(r["resolution"] for r in d)),
                "status": status,
                "passed": status == "passed",
            }
        )
    return pd.DataFrame(out)


#: in fast mode, a disagreement is localised by the full check when n is at most this
FULL_FALLBACK_MAX = 2000


def fast_check(counter, point, analytic, blocks, ref, h, prof, noise, rtol, atol, limit, directions, sample, seed):
    """The fast path: a :class:`GradcheckResult`, or ``None`` when a disagreement should be
    localised by the full check (n is small)."""
    rng = np.random.default_rng(seed)
    complex_ok = bool(counter.objective.complex_ok)
    a = analytic.astype(np.float64).reshape(-1)

    def project(v, label, k):
        row = projection(counter, point, analytic, v, h, prof.eps_f, noise, rtol, limit, complex_ok)
        return {"block": label, "direction": k, **row}

    def settled(rows):
        return not any(r["failed"] or r["coarse"] for r in rows)

    v0 = block_direction(point, blocks, rng)
    rows = [project(v0, "all", 0)]
    if settled(rows):
        # The projection sees an error in block b only through b's share of <a, v>: where that
        # share is too small for the projection's tolerance, the block gets a direction of its own.
        first = rows[0]
        allowed = first["resolution"] * max(abs(first["analytic"]), abs(first["numeric"]))
        weak = [b for b in blocks if allowed > limit * abs(float(a[b.slice] @ v0[b.slice]))]
        rows += [project(block_direction(point, blocks, rng, b), b.name, 0) for b in weak]
        if settled(rows):
            return _fast_result(rows, blocks, "passed", analytic, point, counter, ref, atol, (), "fast")
    # a disagreement: is f random?  (the fast path skipped evaluating f twice up front)
    if counter(point.copy()) != counter(point.copy()):
        return _fast_result(
            rows,
            blocks,
            "inconclusive",
            analytic,
            point,
            counter,
            ref,
            atol,
            ("f is random: two evaluations at the same x differ; fix its seed or pass noise=",),
            "fast",
        )
    if point.size <= FULL_FALLBACK_MAX:
        return None
    done = {r["block"] for r in rows}
    for b in blocks:
        for k in range(directions):
            if k == 0 and b.name in done:
                continue
            rows.append(project(block_direction(point, blocks, rng, b), b.name, k))
    dirs = pd.DataFrame(rows)
    per_block = dirs[dirs["block"] != "all"]
    bad = [b for b in blocks if per_block[(per_block["block"] == b.name)][["failed", "coarse"]].to_numpy().any()]
    notes = ()
    if bad:
        sampled = _sample_entries(
            counter, point, analytic, bad, ref, h, prof, noise, rtol, atol, limit, sample=sample, rng=rng
        )
        notes = (sampled,)
    status = "failed" if per_block["failed"].any() else "inconclusive"
    return _fast_result(rows, blocks, status, analytic, point, counter, ref, atol, notes, "fast, localised")


def _sample_entries(counter, point, analytic, bad, ref, h, prof, noise, rtol, atol, limit, sample, rng) -> str:
    """Measure a sample of entries in the failing blocks; describe the worst one found."""
    scheme = ref if isinstance(ref, DifferenceScheme) else CENTRAL
    a = analytic.astype(np.float64).reshape(-1)
    found = []
    flat = point.reshape(-1)
    steps = scheme.default_step(flat) if h is None else np.full(flat.size, h)
    for b in bad:
        idx = np.arange(b.offset, b.offset + b.size)
        top = idx[np.argsort(-np.abs(a[idx]))[: sample // 2]]
        rest = rng.choice(idx, size=min(sample - top.size, idx.size), replace=False)
        for i in np.unique(np.concatenate([top, rest])).tolist():
            values, disp = node_values(counter, point, scheme.offsets, steps, i, i + 1)
            n_i = float(scheme.combine(values, disp, steps[i : i + 1], point.dtype)[0][0])
            err = abs(a[i] - n_i) / max(abs(a[i]), abs(n_i), np.finfo(float).tiny)
            k = tuple(int(t) for t in np.unravel_index(i - b.offset, b.shape))
            found.append((err, b.name, k, a[i], n_i))
    err, name, k, ai, ni = max(found)
    return (
        f"sampled {len(found)} entries of {', '.join(b.name for b in bad)}: worst {name}"
        f"[{', '.join(map(str, k))}]: analytic {ai:.10g}, numeric {ni:.10g} (rel error {err:.3g})"
    )


def _fast_result(rows, blocks, status, analytic, point, counter, ref, atol, notes, mode) -> GradcheckResult:
    table = fast_table(rows, blocks)
    dirs = pd.DataFrame(rows)
    return GradcheckResult(
        status=status,
        max_rel_error=float(max(r["rel_error"] for r in rows)),
        max_abs_error=float(max(r["abs_error"] for r in rows)),
        norm_rel_error=math.nan,
        table=table,
        analytic=analytic,
        directions=dirs,
        mode=mode,
        atol=atol or 0.0,
        reference="central (directional)",
        evaluations=counter.evaluations,
        notes=tuple(notes),
    )
