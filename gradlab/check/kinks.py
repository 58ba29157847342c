"""Kinks: entries whose reference stencil crosses a non-differentiable point of ``f``.

In a network with ``relu``, ``leaky_relu``, ``hard_sigmoid`` or ``hard_tanh`` a
pre-activation within ``h`` of a kink makes the difference quotient of an entry that moves
it meaningless.  The objective's ``kinks`` hook tells which smooth piece a point lies on;
an entry crosses when some point of the reference's *declared* stencil (forward
differences step only ``+h``) lies on another piece than ``x``.  Such an entry is measured
again on ``x``'s own piece (:func:`one_sided`, or the complex step, which never crosses).
"""

from __future__ import annotations

import numpy as np

from ..backends import CENTRAL
from ..backends.base import ROUNDING_FACTOR, Backend
from ..backends.stencil import Working
from ..objective import Counted


def crossings(objective, point: np.ndarray, suspects: np.ndarray, reference: Backend, steps) -> np.ndarray:
    """Which ``suspects`` (a flat bool mask) have a stencil point on another smooth piece."""
    out = np.zeros(point.size, dtype=bool)
    key = getattr(objective, "kinks", None)
    offsets = [o for o in reference.offsets if o != 0]
    if key is None or not offsets or not suspects.any():
        return out
    base = key(point)
    work = Working(point)
    for i in np.flatnonzero(suspects).tolist():
        xi = work.flat[i]
        out[i] = any(work.at(i, xi + o * steps[i], key) != base for o in offsets)
    return out


#: times the step is divided by 8 before a kink is declared too close on both sides
SHRINKS = 12


def one_sided(counted: Counted, point: np.ndarray, i: int, step: float, eps_f: float) -> tuple[float, float] | None:
    """Entry ``i`` measured by a one-sided difference whose stencil stays on ``x``'s smooth piece:
    ``(value, bound)``, or ``None`` where a kink lies within any usable step on both sides.

    The step starts at ``step`` (the entry's reference step; the central default where it had
    none) and shrinks by 8 until one side stays on ``x``'s piece.  One-sided truncation,
    ``h |f''| / 2``, is unknown from one step: the bound charges the step's share of the value.
    """
    key = counted.objective.kinks
    base = key(point)
    work = Working(point)
    xi = work.flat[i]
    h = step if step > 0 else float(CENTRAL.default_step(point.reshape(-1)[i : i + 1])[0])
    for _ in range(SHRINKS):
        for side in (1.0, -1.0):
            node = xi + side * h
            if work.at(i, node, key) == base:
                f0 = counted(work.point)
                f1 = work.at(i, node, counted, (i, side))
                dx = float(np.float64(point.dtype.type(node)) - np.float64(xi))
                value = (f1 - f0) / dx
                return value, ROUNDING_FACTOR * 2 * eps_f * max(abs(f0), abs(f1)) / abs(dx) + abs(dx) * abs(value)
        h /= 8
    return None
