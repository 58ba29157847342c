"""Entry-by-entry judgement of an analytic gradient against a reference with error bounds.

For entry i with analytic value ``a``, reference value ``n`` and the reference's own error
bound ``e`` (see :mod:`.reference`):

    scale     = max(|a|, |n|, floor)                floor = atol / rtol
    allowed   = rtol * scale + e                    what a correct gradient may differ by
    agrees    : |a - n| <= allowed                  and allowed <= limit * scale
    failed    : |a - n| > 3 * allowed               clear of any rounding of either side
    unverified: everything else                     nothing can be said: never counted as agreeing

The factor 3 leaves a grey band in which a difference is larger than the tolerance but not
clearly a bug (the analytic side rounds too, in float32 by about 1e-4); an entry there is
unverified, not failed.

``rtol`` is the slack for the analytic side's own rounding; ``limit`` the largest relative
error a passing check may overlook (1e-4 in float64, 5e-4 in float32 -- below the smallest
real bug of the bug zoo, a 0.1% constant).  The *resolution* of an entry, ``allowed / scale``,
is the relative error above which a bug there would have been caught.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..objective import Block

#: a difference counts as a failure only beyond this many times what is allowed
GREY = 3.0
#: the largest relative error a passing check may overlook, by the precision f computes in
LIMITS = {"float64": 1e-4, "float32": 5e-4}


@dataclass
class Judgement:
    abs_error: np.ndarray
    rel_error: np.ndarray
    failed: np.ndarray
    coarse: np.ndarray
    resolution: np.ndarray


def judge(a: np.ndarray, n: np.ndarray, bound: np.ndarray, rtol: float, atol: float, limit: float) -> Judgement:
    """Judge every entry (flat float64 arrays)."""
    abs_error = np.abs(a - n)
    scale = np.maximum(np.maximum(np.abs(a), np.abs(n)), atol / rtol)
    allowed = rtol * scale + bound
    failed = abs_error > GREY * allowed
    coarse = (allowed > limit * scale) | (abs_error > allowed)
    return Judgement(abs_error, abs_error / scale, failed, coarse & ~failed, allowed / scale)


def block_table(blocks: tuple[Block, ...], a, n, j: Judgement, unverified: np.ndarray) -> pd.DataFrame:
    """One row per block: its worst entry (a tuple index), failures, unverified entries, resolution."""
    rows = []
    for b in blocks:
        sl = b.slice
        bad = j.failed[sl]
        # the worst entry: the worst failure if any, else the worst entry that was verified
        pool = np.where(bad, j.rel_error[sl], -1.0) if bad.any() else np.where(unverified[sl], -1.0, j.rel_error[sl])
        k = int(np.argmax(pool))
        n_failed = int(bad.sum())
        n_unverified = int((unverified[sl] & ~bad).sum())
        status = "failed" if n_failed else "inconclusive" if n_unverified else "passed"
        verified = ~unverified[sl] | bad
        rows.append(
            {
                "block": b.name,
                "shape": "x".join(map(str, b.shape)) or "scalar",
                "size": b.size,
                "offset": b.offset,
                "max_rel_error": float(np.max(np.where(verified, j.rel_error[sl], 0.0), initial=0.0)),
                "max_abs_error": float(j.abs_error[sl][k]),
                "worst_index": tuple(int(i) for i in np.unravel_index(k, b.shape)),
                "analytic": float(a[sl][k]),
                "numeric": float(n[sl][k]),
                "n_failed": n_failed,
                "n_unverified": n_unverified,
                "resolution": float(np.max(np.where(verified, j.resolution[sl], 0.0), initial=0.0)),
                "status": status,
                "passed": status == "passed",
            }
        )
    return pd.DataFrame(rows)
