"""Hints: what a failure's shape says about the bug (a constant factor, a sign, the precision)."""

from __future__ import annotations

import numpy as np


def hints_for(result) -> list[str]:
    """Hints for a failed check, one per failing block whose errors share a shape."""
    hints = []
    bad = result.table[result.table["n_failed"] > 0]
    if result.numeric is not None and len(bad):
        a = result.analytic.reshape(-1).astype(np.float64)
        n = result.numeric.reshape(-1).astype(np.float64)
        for r in bad.itertuples():
            sl = slice(r.offset, r.offset + r.size)
            ok = np.abs(n[sl]) > 1e-3 * np.max(np.abs(n[sl]), initial=0.0)
            if ok.sum() >= 2:
                ratio = a[sl][ok] / n[sl][ok]
                med = float(np.median(ratio))
                # the same factor everywhere (up to a tenth of its distance from 1)
                if abs(med - 1) > result.rtol and np.ptp(ratio) < 0.1 * abs(med - 1):
                    hints.append(
                        f"hint: in {r.block} analytic/numeric = {med:.6g} for every entry: a missing or "
                        f"extra constant factor (a 1/m batch mean? a sign? a factor 2?)"
                    )
    if len(bad) and result.dtype == "float32":
        hints.append("hint: float32 arithmetic limits any finite-difference check to ~1e-3; check in float64")
    return hints
