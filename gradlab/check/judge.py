"""The one judgement of an analytic gradient against a reference with error bounds, and the one table row.

For entry i with analytic value ``a``, reference value ``n`` and the reference's own error
bound ``e`` (see :mod:`.reference`):

    scale     = max(|a|, |n|, floor)                floor = atol / rtol (a direction: tiny)
    allowed   = rtol * scale + e                    what a correct gradient may differ by
    agrees    : |a - n| <= allowed                  and allowed <= limit * scale
    failed    : |a - n| > 3 * allowed               clear of any rounding of either side
    unverified: everything else                     nothing can be said: never counted as agreeing

The factor 3 leaves a grey band in which a difference is larger than the tolerance but not
clearly a bug (the analytic side rounds too, in float32 by about 1e-4); an entry there is
unverified, not failed.

``rtol`` is the slack for the analytic side's own rounding; ``limit`` the largest relative
error a passing check may overlook (1e-4 in float64, 5e-4 in float32 -- below the smallest
real bug of the bug zoo, a 0.1% constant).  The *resolution* of an entry,
``allowed / max(|a|, |n|)``, is the relative error -- relative to the entry itself, never to
the floor -- above which a bug there would have been caught.

The floor keeps entries that are 0 up to rounding from being judged relative to nothing; an
entry below it is judged only against it.  Where its resolution relative to itself is then
above ``limit`` (a dict block at 1e-8 of the largest gradient) it is unverified, not passed
(:func:`judge`'s ``rounding``), unless the caller chose the floor by passing ``atol``; below the
analytic side's own rounding (``ROUNDING_FLOOR eps_f max|g|``: one entry at 1e-17 of it) it is not
judged, and the result says so.  A block's resolution is the worst of its judged entries'.

A direction of a fast check is judged as an entry is (a 1-element array), and every mode's
table is built by :func:`block_row` in the columns of :data:`~gradlab.check.result.TABLE_COLUMNS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..objective import Block
from .columns import TABLE_COLUMNS

#: a difference counts as a failure only beyond this many times what is allowed
GREY = 3.0
#: the largest relative error a passing check may overlook, by the precision f computes in
LIMITS = {"float64": 1e-4, "float32": 5e-4}


def pass_limit(precision: str, rtol: float | None) -> float:
    """The largest relative error a pass may overlook: :data:`LIMITS` for the precision, widened by
    a tolerance the caller chose (``rtol=1e-3`` accepts 0.1% differences by its own word; without
    the widening every entry's allowance ``rtol + bound`` would exceed the limit and a correct
    gradient could never pass).  The table's resolution still says what was allowed."""
    return LIMITS[precision] + (rtol or 0.0)


#: entries below this many times eps_f * max|g| lie within the analytic side's own rounding (a
#: backward pass that sums terms of size max|g| rounds at eps_f * max|g|): no checker can judge them
ROUNDING_FLOOR = 64


@dataclass
class Judgement:
    abs_error: np.ndarray
    rel_error: np.ndarray
    failed: np.ndarray
    coarse: np.ndarray
    resolution: np.ndarray
    #: off by more than is allowed (failed, or in the grey band)
    disagree: np.ndarray | None = None
    #: what a correct gradient may differ by, per entry (``rtol * scale + bound``; an entry below the
    #: floor that agrees relative to itself: its own allowance)
    allowed: np.ndarray | None = None


def judge(
    a: np.ndarray,
    n: np.ndarray,
    bound: np.ndarray,
    *,
    rtol: float,
    floor: float,
    limit: float,
    rounding: float | None = None,
) -> Judgement:
    """Judge every entry (flat float64 arrays); ``floor`` is the smallest scale (see above).

    With ``rounding`` (the analytic side's own rounding, :data:`ROUNDING_FLOOR` ``eps_f max|g|``;
    ``None`` where the caller chose the floor) an entry between it and the floor must also agree
    relative to itself to count as verified: else it is too coarse to judge (and measured again),
    never passed on the floor's word.
    """
    abs_error = np.abs(a - n)
    own = np.maximum(np.abs(a), np.abs(n))
    scale = np.maximum(own, floor)
    allowed = rtol * scale + bound
    failed = abs_error > GREY * allowed
    coarse = (allowed > limit * scale) | (abs_error > allowed)
    with np.errstate(divide="ignore", invalid="ignore"):
        resolution = np.where(own > 0, allowed / own, np.inf)
        if rounding is not None:
            below = (own < floor) & (own >= rounding) & (a != n)
            mine = rtol * own + bound  # what the entry would be allowed judged on its own
            itself = (mine <= limit * own) & (abs_error <= mine)
            coarse |= below & ~itself
            resolution = np.where(below & itself, mine / own, resolution)
            own_allowed = np.where(below & itself, mine, allowed)
        else:
            own_allowed = allowed
    rel = abs_error / scale
    return Judgement(abs_error, rel, failed, coarse & ~failed, resolution, abs_error > allowed, own_allowed)


def unjudged(a: np.ndarray, n: np.ndarray, j: Judgement, *, floor: float, rounding: float) -> np.ndarray:
    """Entries below the analytic side's own ``rounding`` (and the floor) where the two sides differ:
    no checker can judge them relative to themselves, and the check does not claim to have."""
    own = np.maximum(np.abs(a), np.abs(n))
    return (own < floor) & (own < rounding) & (a != n) & ~j.failed


def block_row(
    b: Block,
    *,
    max_rel_error: float,
    max_abs_error: float,
    worst_index: tuple[int, ...],
    analytic: float,
    numeric: float,
    n_failed: int,
    n_unverified: int,
    resolution: float,
) -> dict:
    """One block's row of a result table: its worst entry (or direction), its counts, its status."""
    status = "failed" if n_failed else "inconclusive" if n_unverified else "passed"
    values = (
        b.name,
        "x".join(map(str, b.shape)) or "scalar",
        b.size,
        b.offset,
        max_rel_error,
        max_abs_error,
        worst_index,
        analytic,
        numeric,
        n_failed,
        n_unverified,
        resolution,
        status,
        status == "passed",
    )
    return dict(zip(TABLE_COLUMNS, values, strict=True))


def table(rows: list[dict]) -> pd.DataFrame:
    """Rows of :func:`block_row` as a result table, in :data:`TABLE_COLUMNS` (also when empty)."""
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def unjudged_table(blocks: tuple[Block, ...]) -> pd.DataFrame:
    """The table of a check that could not judge at all: every entry of every block unverified."""
    nan = float("nan")
    kw = dict(max_rel_error=nan, max_abs_error=nan, worst_index=(), analytic=nan, numeric=nan, n_failed=0)
    return table([block_row(b, **kw, n_unverified=b.size, resolution=nan) for b in blocks])


def block_table(blocks: tuple[Block, ...], a, n, j: Judgement, unverified: np.ndarray, unjudged=None) -> pd.DataFrame:
    """One row per block: its worst entry (a tuple index), failures, unverified entries, and its
    resolution relative to its entries: the worst of those judged, both sides 0 aside (NaN: none)."""
    unjudged = np.zeros(a.size, dtype=bool) if unjudged is None else unjudged
    rows = []
    for b in blocks:
        sl = b.slice
        bad = j.failed[sl]
        # the worst entry: the worst failure if any, else the worst entry that was verified
        pool = np.where(bad, j.rel_error[sl], -1.0) if bad.any() else np.where(unverified[sl], -1.0, j.rel_error[sl])
        k = int(np.argmax(pool))
        verified = ~unverified[sl] | bad
        rows.append(
            block_row(
                b,
                max_rel_error=float(np.max(np.where(verified, j.rel_error[sl], 0.0), initial=0.0)),
                max_abs_error=float(j.abs_error[sl][k]),
                worst_index=tuple(int(i) for i in np.unravel_index(k, b.shape)),
                analytic=float(a[sl][k]),
                numeric=float(n[sl][k]),
                n_failed=int(bad.sum()),
                n_unverified=int((unverified[sl] & ~bad).sum()),
                resolution=_resolution(j.resolution[sl], verified & ~unjudged[sl] & np.isfinite(j.resolution[sl])),
            )
        )
    return table(rows)


def _resolution(resolution: np.ndarray, judged: np.ndarray) -> float:
    return float(np.max(resolution[judged])) if judged.any() else float("nan")


def direction_table(rows: list[dict], blocks: tuple[Block, ...]) -> pd.DataFrame:
    """The per-block table of a fast check: each block's worst direction.

    ``rows`` has one dict per direction with a ``block`` key (``"all"`` for the projection
    across every block, which speaks for each block that has no direction of its own).
    """
    out = []
    for b in blocks:
        d = [r for r in rows if r["block"] == b.name] or [r for r in rows if r["block"] == "all"]
        w = max(d, key=lambda r: r["rel_error"])
        out.append(
            block_row(
                b,
                max_rel_error=float(w["rel_error"]),
                max_abs_error=float(w["abs_error"]),
                worst_index=(),
                analytic=float(w["analytic"]),
                numeric=float(w["numeric"]),
                n_failed=sum(bool(r["failed"]) for r in d),
                n_unverified=sum(bool(r["coarse"]) for r in d),
                resolution=float(max(r["resolution"] for r in d)),
            )
        )
    return table(out)
