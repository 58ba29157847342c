"""Hints: what a failure's shape says about the bug -- per block, not only for the whole vector."""

from __future__ import annotations

import numpy as np

from .case import LIFTED_NOTE


def _factor_text(factor: float) -> str:
    if factor == 0:
        return "the analytic gradient is 0 there: a block never written (a gradient buffer left at its zeros?)"
    if abs(factor + 1) < 1e-3:
        return "a flipped sign"
    if abs(factor - 2) < 1e-3 or abs(factor - 0.5) < 1e-3:
        return "a factor 2 (a 1/2 in the loss, or a term counted twice?)"
    return "a missing or extra constant factor (a 1/m batch mean? a factor 2?)"


def hints_for(result) -> list[str]:
    """Hints for a failed check: a constant analytic/numeric ratio per failing block (one line
    when every failing block shares it), and what the precision allows."""
    if result.status == "passed":  # no block failed: nothing to hint (and a deferred table stays unbuilt)
        return []
    hints = []
    bad = result.table[result.table["n_failed"] > 0]
    factors: dict[str, float] = {}
    if result.numeric is not None and len(bad):
        a = result.analytic.reshape(-1).astype(np.float64)
        n = result.numeric.reshape(-1).astype(np.float64)
        for r in bad.itertuples():
            sl = slice(r.offset, r.offset + r.size)
            ok = np.abs(n[sl]) > 1e-3 * np.max(np.abs(n[sl]), initial=0.0)
            if ok.sum() >= 2 or (ok.sum() == 1 and r.size == 1):
                ratio = a[sl][ok] / n[sl][ok]
                med = float(np.median(ratio))
                # the same factor everywhere (up to a tenth of its distance from 1)
                if abs(med - 1) > 10 * result.rtol and np.ptp(ratio) < 0.1 * abs(med - 1):
                    factors[r.block] = med
    # blocks that share one factor are one hint: "in W2 and b2 only", not "in W2 only" and "in b2 only"
    groups: list[tuple[float, list[str]]] = []
    for block, med in factors.items():
        same = next((g for g in groups if abs(med - g[0]) <= 1e-3 * max(abs(med), abs(g[0]))), None)
        if same is None:
            groups.append((med, [block]))
        else:
            same[1].append(block)
    for med, blocks in groups:
        if len(blocks) == len(result.table):
            hints.append(f"hint: analytic/numeric = {med:.6g} in every block: {_factor_text(med)}")
            continue
        names = blocks[0] if len(blocks) == 1 else ", ".join(blocks[:-1]) + f" and {blocks[-1]}"
        hints.append(f"hint: in {names} only, analytic/numeric = {med:.6g} for every entry: {_factor_text(med)}")
    if len(bad) and result.dtype == "float32" and LIFTED_NOTE not in result.notes:  # lifted: a float64 reference
        hints.append("hint: float32 limits difference references to about 1e-3; check in float64 if you can")
    if result.numeric is not None and len(bad) and not np.any(result.numeric):
        hints.append("hint: the reference gradient is exactly 0 everywhere: does f use its argument x at all?")
    return hints
