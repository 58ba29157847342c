"""Kinks: entries whose reference stencil crosses a non-differentiable point of ``f``.

In a network with ``relu``, ``leaky_relu``, ``hard_sigmoid`` or ``hard_tanh`` a
pre-activation within ``h`` of a kink makes the difference quotient of an entry that moves
it meaningless.  The objective's ``kinks`` hook tells which smooth piece a point lies on;
an entry crosses when some point of the reference's *declared* stencil (forward
differences step only ``+h``) lies on another piece than ``x``.  Such an entry is measured
again on ``x``'s own piece (:func:`one_sided`, or the complex step, which never crosses).

An ``x`` that sits *exactly* on a kink has no own piece, and a plain callable has no
``kinks`` hook at all: an entry whose failure stands after refinement is measured from both
sides (:func:`one_sided_pair`), and where the two slopes differ the analytic value is judged
against that :class:`Bracket` -- either slope passes, and so does a value between them;
anything outside still fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backends import CENTRAL
from ..backends.base import ROUNDING_FACTOR, TRUNCATION_FACTOR, Backend
from ..backends.difference import StepTooSmallError
from ..backends.stencil import Working
from ..objective import Counted
from .judge import GREY


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


# -- entries exactly on a kink -----------------------------------------------------------------


@dataclass(frozen=True)
class Bracket:
    """The one-sided derivatives of ``f`` along entry ``i`` at ``x``, each with a bound on its error.

    At a kink that ``x`` sits on exactly (a ReLU input at 0, an SVM margin at 0, a dead layer
    with zero biases) no two-sided quotient means anything: the central difference of
    ``max(0, x)`` at 0 is exactly 1/2 at every step, and every other analytic convention
    (0, 1) disagrees with it.  Either one-sided slope is a correct answer there, and so is
    any value between: at a convex kink (``left < right``) that is the subdifferential, at
    a concave one Clarke's generalised gradient (torch's ``minimum`` splits a tie as 1/2,
    which is what the central difference itself measures there).  Only a value outside
    the bracket is wrong.
    """

    left: float
    left_bound: float
    right: float
    right_bound: float

    def is_kink(self, rtol: float) -> bool:
        """The slopes differ beyond what their bounds and ``rtol`` allow (grey band included)."""
        scale = max(abs(self.left), abs(self.right))
        return abs(self.right - self.left) > GREY * (self.left_bound + self.right_bound + 2 * rtol * scale)

    @property
    def convex(self) -> bool:
        return self.left < self.right

    def nearest(self, a: float) -> tuple[float, float, str]:
        """The value of the bracket nearest ``a``, its bound, and what ``a`` was taken as."""
        if min(self.left, self.right) < a < max(self.left, self.right):
            kind = "a subgradient of a convex kink" if self.convex else "in the generalised gradient of a concave kink"
            return a, max(self.left_bound, self.right_bound), f"between them ({kind})"
        if abs(a - self.left) <= abs(a - self.right):
            return self.left, self.left_bound, "the left slope"
        return self.right, self.right_bound, "the right slope"


def one_sided_pair(counted: Counted, point: np.ndarray, i: int, f0: float, eps_f: float, noise: float) -> Bracket:
    """Both one-sided derivatives of entry ``i``: forward differences at ``h`` and ``h/2`` on each
    side, Richardson-extrapolated (``2 D(h/2) - D(h)``, exact for a quadratic piece), 4 evaluations.

    ``h`` is the central default (``eps^(1/3) max(1, |x_i|)``: the extrapolated one-sided
    quotient is second order).  The bound is the gap between the levels (truncation) plus
    ``f``'s rounding and noise divided by the steps.
    """
    work = Working(point)
    xi = work.flat[i]
    h = float(CENTRAL.default_step(point.reshape(-1)[i : i + 1], eps=eps_f)[0])
    slopes = []
    for side in (-1.0, 1.0):
        quotients, rounding = [], 0.0
        for k, step in enumerate((h, h / 2)):
            node = point.dtype.type(xi + side * step)
            dx = float(np.float64(node) - np.float64(xi))
            if dx == 0:  # the step is below x's spacing: nothing measured on this side
                raise StepTooSmallError(f"`h` = {step:g} is below the floating-point spacing of x at entry {i}")
            fk = work.at(i, node, counted, (i, side))
            quotients.append((fk - f0) / dx)
            rounding += (1 + k) * (eps_f * max(abs(fk), abs(f0)) + noise) * 2 / abs(dx)
        coarse, fine = quotients
        bound = TRUNCATION_FACTOR * abs(fine - coarse) + ROUNDING_FACTOR * rounding
        slopes += [2 * fine - coarse, bound]
    return Bracket(*slopes)


def surfaces_crossed(objective, point: np.ndarray, i: int, eps_f: float) -> int:
    """How many kink surfaces of ``f`` the line ``x + t e_i`` crosses at ``t = +-h`` (the larger side),
    by the objective's ``kinks`` key (0 where ``f`` has none).  Two or more meet at ``x`` in a dead
    layer with zero biases: every sample's pre-activation switches at once."""
    key = getattr(objective, "kinks", None)
    if key is None:
        return 0
    base = key(point)
    work = Working(point)
    xi = work.flat[i]
    h = float(CENTRAL.default_step(point.reshape(-1)[i : i + 1], eps=eps_f)[0])
    most = 0
    for side in (-1.0, 1.0):
        other = work.at(i, point.dtype.type(xi + side * h), key)
        if isinstance(base, bytes) and isinstance(other, bytes) and len(base) == len(other):
            most = max(most, int(np.count_nonzero(np.frombuffer(base, np.int8) != np.frombuffer(other, np.int8))))
        else:
            most = max(most, int(other != base))
    return most
