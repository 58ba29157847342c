"""Directional checks: ``v . grad f`` along seeded random directions against a difference of
``t -> f(x + t v)`` -- a few evaluations whatever the number of parameters."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..backends.difference import StepTooSmallError
from ..objective import Block, Counted


def directional(
    objective: Counted, point, analytic, blocks: tuple[Block, ...], directions: int, seed: int, h, rtol, atol
) -> pd.DataFrame:
    """Central differences of ``t -> f(x + t v)`` for random unit ``v`` inside each block."""
    rng = np.random.default_rng(seed)
    flat = point.reshape(-1).astype(np.float64)
    g = analytic.reshape(-1).astype(np.float64)
    eps = float(np.finfo(point.dtype).eps)
    rows = []
    for b in blocks:
        sl = b.slice
        # the central step for the block's largest coordinate, in the point's precision
        t = h if h is not None else float(eps ** (1 / 3) * max(1.0, float(np.abs(flat[sl]).max())))
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


def direction_table(dirs: pd.DataFrame, blocks: tuple[Block, ...]) -> pd.DataFrame:
    """The per-block table of a fast check (worst direction per block), in the entrywise table's columns."""
    rows = []
    for b in blocks:
        d = dirs[dirs["block"] == b.name]
        w = d.loc[d["rel_error"].idxmax()]
        n_failed = int((~d["passed"]).sum())
        rows.append(
            {
                "block": b.name,
                "shape": "x".join(map(str, b.shape)) or "scalar",
                "size": b.size,
                "offset": b.offset,
                "max_rel_error": float(d["rel_error"].max()),
                "max_abs_error": float(w["abs_error"]),
                "worst_index": (int(w["direction"]),),
                "analytic": float(w["analytic"]),
                "numeric": float(w["numeric"]),
                "n_failed": n_failed,
                "n_unverified": 0,
                "status": "failed" if n_failed else "passed",
                "passed": not n_failed,
            }
        )
    return pd.DataFrame(rows)
