"""Richardson extrapolation, as a wrapper over a difference scheme (see :mod:`.finite`)."""

from __future__ import annotations

import numpy as np

from .base import register
from .finite import CentralDifference, DifferenceScheme, StepTooSmallError


class Richardson(DifferenceScheme):
    """Richardson extrapolation of a symmetric order-2 scheme from steps ``h`` and ``h/2``.

    With ``D(h) = f' + c h^2 + O(h^4)`` and the spans ``s1, s2`` actually taken (ratio
    ``r = s1 / s2``, 2 up to rounding), ``(r^2 D(h/2) - D(h)) / (r^2 - 1)`` cancels the
    ``h^2`` term exactly, leaving ``O(h^4)``.  It costs twice the base scheme.
    """

    name = "richardson"
    order = 4

    def __init__(self, base: DifferenceScheme | None = None):
        self.base = CentralDifference() if base is None else base
        if self.base.order != 2:
            raise ValueError(f"`base` must be a symmetric scheme of order 2; got {self.base.name!r}")

    def estimate(self, objective, x, step):
        d1, s1 = self.base.estimate(objective, x, step)
        d2, s2 = self.base.estimate(objective, x, np.asarray(step, dtype=np.float64) / 2)
        same = np.flatnonzero(s1 == s2)
        if same.size:  # h and h/2 rounded to the same step: nothing to extrapolate from
            i = int(same[0])
            raise StepTooSmallError(
                f"`h` = {float(np.min(step)):g} is at the floating-point spacing of x at index {i} "
                f"(x = {float(x.reshape(-1)[i]):g}, {x.dtype}): h and h/2 round to the same step, so "
                f"Richardson extrapolation has nothing to combine; use a larger h"
            )
        r2 = (s1 / s2) ** 2
        return (r2 * d2 - d1) / (r2 - 1), s1


register(Richardson())
