"""Entry-by-entry comparison of an analytic gradient with a reference, summarised per block.

Each entry gets ``abs_error = |a - n|`` and ``rel_error = abs_error / max(|a|, |n|, atol / rtol)``
and agrees when ``rel_error <= rtol``, i.e. ``abs_error <= max(rtol * max(|a|, |n|), atol)``.
The floor ``atol / rtol`` is the guard for tiny entries: below that magnitude the absolute
tolerance decides, because a difference has an absolute error floor however small the entry.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..objective import Block


def errors(a: np.ndarray, n: np.ndarray, rtol: float, atol: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-entry absolute and relative errors (flat float64)."""
    abs_error = np.abs(a - n)
    return abs_error, abs_error / np.maximum(np.maximum(np.abs(a), np.abs(n)), atol / rtol)


def block_table(
    blocks: tuple[Block, ...], a, n, abs_error, rel_error, rtol: float, unverified: np.ndarray
) -> pd.DataFrame:
    """One row per block: its worst counted entry (index a tuple), failures and unverified entries."""
    rows = []
    for b in blocks:
        sl = b.slice
        counted = np.where(unverified[sl], 0.0, rel_error[sl])
        k = int(np.argmax(counted))
        n_failed = int((counted > rtol).sum())
        n_unverified = int(unverified[sl].sum())
        status = "failed" if n_failed else "inconclusive" if n_unverified else "passed"
        rows.append(
            {
                "block": b.name,
                "shape": "x".join(map(str, b.shape)) or "scalar",
                "size": b.size,
                "offset": b.offset,
                "max_rel_error": float(counted[k]),
                "max_abs_error": float(abs_error[sl][k]),
                "worst_index": tuple(int(i) for i in np.unravel_index(k, b.shape)),
                "analytic": float(a[sl][k]),
                "numeric": float(n[sl][k]),
                "n_failed": n_failed,
                "n_unverified": n_unverified,
                "status": status,
                "passed": status == "passed",
            }
        )
    return pd.DataFrame(rows)
