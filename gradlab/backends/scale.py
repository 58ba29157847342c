"""Does a fixed-step stencil span more than ``f``'s own scale?  A cheap look, and a warning.

A fixed-step scheme trusts that ``f`` varies slowly on the scale of its step.  The default
rule ``h_i = eps^(1/(p+1)) max(1, |x_i|)`` assumes ``f`` varies on the scale of ``x_i``
itself, which fails at awkward points: ``np.sin`` at 1e6 has central differences' default
step 6.06 there, the stencil spans a whole period, and the quotient is silently wrong
(about -0.02 for an exact 0.94).  Nothing in the quotient says so.

The look is the adaptive backend's pilot (:mod:`gradlab.backends.adaptive`): ``f`` at
``x_i +- H / 8`` beside ``f(x)`` gives a central quotient ``d`` whose truncation is 64
times smaller than the stencil's, and the local scale ``|f' / f''|`` on which the slope
changes.  Where the stencil's quotient differs from ``d`` by more than :data:`AGREEMENT`
of their size (plus what rounding allows at ``H / 8``) and the stencil reaches more than
a quarter of that scale (:data:`SPAN`; or the pilot sees no curvature at all), the step is
too coarse for ``f`` there: a :class:`~gradlab.backends.difference.StencilScaleWarning` (a ``StepWarning``)
names the entry, the step and the scale ``f`` showed.

The rule, so that a network of 1e5 parameters pays nothing:

- only the default step rule is looked at (a step of the caller's is the caller's choice, and
  the accuracy sweep takes large ones on purpose);
- only entries whose step is at least :data:`SUSPECT` (1e-2) are suspicious: below it the
  stencil spans at most 2% of a unit scale, which is what the default rule assumes of ``f``
  at ``|x_i| <= 1``; the default step reaches 1e-2 only at ``|x_i| >= 1650`` (central),
  ``13`` (Richardson) or ``6.7e5`` (forward);
- of those, at most :data:`LOOKS` entries are looked at (the largest steps first), and the
  warning is given once, for the first entry found;
- a look costs ``f(x)`` once and two evaluations per entry looked at: at most
  ``1 + 2 LOOKS = 7``, counted in ``GradientResult.evaluations``; none where no step is
  suspicious.  Only a scalar ``f`` is looked at (a Jacobian's outputs each have their scale).
"""

from __future__ import annotations

import math

import numpy as np

from ..objective import Counted
from . import stencil

#: steps (absolute) from which a fixed stencil is looked at
SUSPECT = 1e-2
#: entries looked at, at most, per gradient (the largest steps)
LOOKS = 3
#: the pilot's step, in units of the stencil's
PILOT = 1 / 8
#: the relative disagreement between the stencil's quotient and the pilot's that warns
AGREEMENT = 1e-3
#: a stencil reaching less than scale / SPAN from x is small beside f's scale: no warning
SPAN = 4.0
#: rounding of one evaluation, in units of eps |f|, for the pilot's own quotient
ROUNDING = 8.0


def suspicious(steps: np.ndarray) -> np.ndarray:
    """The entries a look is spent on: steps of at least :data:`SUSPECT`, the largest first, at most
    :data:`LOOKS` of them."""
    cand = np.flatnonzero(steps >= SUSPECT)
    return cand[np.argsort(-steps[cand], kind="stable")][:LOOKS]


def look(objective: Counted, x: np.ndarray, g: np.ndarray, steps: np.ndarray, reach: float, name: str) -> str | None:
    """The warning's message where the stencil of scheme ``name`` (reaching ``reach`` steps from ``x``)
    at ``steps`` gave a quotient ``g`` (flat) that a pilot at an eighth of the step contradicts, for the
    first such entry; ``None`` where every entry looked at agrees (the caller warns: this module
    evaluates and judges, :mod:`~gradlab.backends.difference` owns the warning classes)."""
    entries = suspicious(steps)
    if not entries.size or g.ndim != 1:
        return None
    flat = x.reshape(-1)
    work = stencil.Working(x)
    eps = float(np.finfo(x.dtype).eps)
    f0 = None
    for i in entries.tolist():
        p = float(steps[i]) * PILOT
        xi = float(flat[i])
        with np.errstate(all="ignore"):
            up, down = x.dtype.type(xi + p), x.dtype.type(xi - p)
        dp, dm = float(up) - xi, float(down) - xi
        if not (dp > 0 > dm):
            continue  # the pilot's step is below the spacing of x: nothing closer to compare with
        try:
            if f0 is None:
                f0 = float(objective(work.point))
            fp = float(work.at(i, up, objective, (i, PILOT)))
            fm = float(work.at(i, down, objective, (i, -PILOT)))
        except (ValueError, ArithmeticError):
            continue  # f undefined that close (a domain edge): the stencil's own checks speak there
        if not (math.isfinite(fp) and math.isfinite(fm) and math.isfinite(f0)):
            continue
        d = (fp - fm) / (dp - dm)
        rounding = ROUNDING * eps * max(abs(fp), abs(fm), abs(f0)) / (dp - dm)
        gap = abs(float(g[i]) - d)
        if gap <= AGREEMENT * max(abs(d), abs(float(g[i]))) + rounding:
            continue
        span = reach * float(steps[i])
        scale = _scale(f0, fp, dp, fm, dm)
        if scale is not None and span <= scale / SPAN:
            continue  # a stencil small beside f's scale: the disagreement is plain truncation, not this
        if scale is None:
            shown = "f's slope changes within the stencil although the pilot sees no curvature"
        elif scale < p:  # the pilot itself spans more than it found: the scale is below its step
            shown = f"f's slope changes on a scale below {p:.3g} there"
        else:
            shown = f"f's slope changes on a scale of about {scale:.3g} there (|f'/f''|)"
        return (
            f"the {name} stencil at index {i} (x = {xi:g}) spans +-{span:.3g} (step {float(steps[i]):.3g}), "
            f"not small beside f's own scale: {shown}, and the quotient {float(g[i]):.6g} disagrees with "
            f"{d:.6g} at an eighth of the step; the value is likely wrong: use backend 'adaptive' (it chooses "
            f"a step per entry), or a smaller h"
        )
    return None


def _scale(f0: float, fp: float, dp: float, fm: float, dm: float) -> float | None:
    """``|f' / f''|`` from the three pilot points (None where their curvature is 0)."""
    a, b = (fp - f0) / dp, (f0 - fm) / -dm
    if a == b:
        return None
    return abs(fp - fm) / (2 * abs(a - b))
