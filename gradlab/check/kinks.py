"""Kinks: entries whose reference stencil crosses a non-differentiable point of ``f``.

In a network with ``relu``, ``leaky_relu``, ``hard_sigmoid`` or ``hard_tanh`` a
pre-activation within ``h`` of a kink makes the difference quotient of an entry that moves
it meaningless.  The objective's ``kinks`` hook tells which smooth piece a point lies on;
an entry crosses when some point of the reference's *declared* stencil (forward
differences step only ``+h``) lies on another piece than ``x``.
"""

from __future__ import annotations

import numpy as np

from ..backends.base import Backend


def crossings(objective, point: np.ndarray, suspects: np.ndarray, reference: Backend, steps) -> np.ndarray:
    """Which ``suspects`` (a flat bool mask) have a stencil point on another smooth piece."""
    out = np.zeros(point.size, dtype=bool)
    key = getattr(objective, "kinks", None)
    offsets = [o for o in reference.offsets if o != 0]
    if key is None or not offsets or not suspects.any():
        return out
    base = key(point)
    work = point.copy()
    wflat = work.reshape(-1)
    for i in np.flatnonzero(suspects).tolist():
        xi = wflat[i]
        for o in offsets:
            wflat[i] = xi + o * steps[i]
            moved = key(work) != base
            wflat[i] = xi
            if moved:
                out[i] = True
                break
    return out
