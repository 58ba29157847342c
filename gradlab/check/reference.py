"""The reference gradient of a check, each entry with an honest bound on its own error.

A check can only be as sharp as its reference.  Every entry of the reference comes with
``bound``, an estimate of the absolute error the reference makes there, so that the
checker can tell "the gradient is wrong" from "the reference cannot tell":

- **rounding** -- a difference scheme divides ``f``'s rounding error by the step:
  ``sum_k |w_k| / divisor * eps_f * max_k |f(x + o_k h)| / h``, with ``eps_f`` the
  precision ``f`` actually computes in (which may be float32 for a float64 ``x``);
- **truncation** -- unknown from one step.  Entries that disagree with the analytic
  gradient by more than rounding allows, or whose bound is too coarse to judge
  (*suspects*), are measured again at a second step (half the first where truncation may
  dominate, twice it where rounding does): the difference between levels estimates the
  truncation error (Richardson: ``|D(h/2) - D(h)| / (2^p - 1)``) and the extrapolated
  value replaces the estimate.  A correct gradient at a badly scaled point (features of size 1000) then
  passes; a bug stays a bug at every level and fails;
- **kinks** -- an entry whose stencil crosses a kink of ``f`` (the objective's ``kinks``
  hook, the backend's declared stencil) is measured again, not excused: with the complex
  step where ``f`` evaluates in complex arithmetic (it takes the branch at ``x`` and never
  crosses), otherwise with a one-sided stencil that stays on ``x``'s piece;
- **the complex step** has no subtraction: its bound is a few ``eps |g_i|``.  It is
  trusted only after a real central difference along a random direction agrees with it,
  which exposes an ``f`` whose complex evaluation drops or conjugates an imaginary part
  (``abs``, ``np.vdot``, ``np.linalg.norm``) in some term.

What nothing can measure is *unverified*, with the reason.

The backend measures (:meth:`~gradlab.backends.Backend.reference` gives an
:class:`~gradlab.backends.Estimate`, :meth:`~gradlab.backends.Backend.measure_entry` one entry
at another step, :meth:`~gradlab.backends.Backend.recheck` a second opinion on a failure);
a :class:`Refinement` owns everything that changes while the check settles its verdict.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..backends import COMPLEX_STEP, Estimate
from ..backends.base import ROUNDING_FACTOR, TRUNCATION_FACTOR
from ..backends.difference import StepTooSmallError
from .case import Case
from .judge import Judgement
from .kinks import crossings, one_sided

__all__ = ["CONFIRMATIONS", "LEVELS", "ROUNDING_FACTOR", "TRUNCATION_FACTOR", "Refinement"]

#: refinement levels (h/2, h/4, ...) for entries the first measurement cannot settle
LEVELS = 4
#: consecutive confirmations a failing difference quotient needs
CONFIRMATIONS = 2

#: a verdict on the reference as it stands: values and bounds in, a judgement out
Verdict = Callable[[np.ndarray, np.ndarray], Judgement]


class Refinement:
    """The reference of one check while it settles: the one owner of what changes.

    Starts from the backend's :class:`~gradlab.backends.Estimate` (left as it was measured)
    and keeps, per entry (flat float64):

    - ``values``, ``bound``, ``steps``, ``rounding`` (the rounding part of the bound);
    - ``raw``: the unextrapolated estimate at the current step (for the next level);
    - ``confirmed``: consecutive confirmations of the value, refined estimates that landed within
      the previous bound while the levels converge.  A difference quotient's failure counts only
      after ``needed`` of them: one at the scheme's own step in float64; two where a step was far
      above the default (the user's, restarted near it) or ``f`` computes in float32 -- one can be
      luck far from the asymptotic regime, two in a row are not.  A backend that is not
      :attr:`~gradlab.backends.Backend.refinable` starts confirmed;
    - ``restarted``: entries whose first step (the user's) was abandoned for one near the default;
    - ``level_gap``: the last difference between two levels (NaN: none yet);
    - ``unverified`` and ``why``: what nothing could measure, and the reason.
    """

    def __init__(self, estimate: Estimate, case: Case):
        n = estimate.values.size
        self.estimate, self.case, self.backend = estimate, case, estimate.backend
        self.values = estimate.values.copy()
        self.bound = estimate.bound.copy()
        self.steps = estimate.steps.copy()
        self.rounding = estimate.rounding.copy()
        self.raw = estimate.values.copy()
        self.confirmed = np.full(n, 0 if self.backend.refinable else CONFIRMATIONS)
        self.needed = 1
        self.restarted = np.zeros(n, dtype=bool)
        self.level_gap = np.full(n, np.nan)
        self.unverified = np.zeros(n, dtype=bool)
        self.why: dict[int, str] = {}

    @property
    def name(self) -> str:
        return self.backend.name

    # -- the loop -----------------------------------------------------------------------------------

    def settle(self, verdict: Verdict) -> Judgement:
        """Judge; entries the reference cannot settle are measured again (a second opinion on a
        failure, kinks, then finer steps) until they are confirmed or given up as unverified."""
        j = verdict(self.values, self.bound)
        if j.failed.any() and self._recheck(self.backend, j.failed):
            j = verdict(self.values, self.bound)
        if not self.backend.refinable:
            return j
        crossed = self._kinks((j.failed | j.coarse) & ~self.unverified)
        if crossed.any():
            j = verdict(self.values, self.bound)
            if j.failed[crossed].any() and self._recheck(COMPLEX_STEP, j.failed & crossed):
                j = verdict(self.values, self.bound)
        case = self.case
        default = self.backend.default_step(case.flat, eps=case.profile.eps_f)
        far = (self.steps > 4 * default).any()
        self.needed = CONFIRMATIONS if far or case.profile.precision == "float32" else 1
        self.confirmed[crossed] = self.needed  # measured on their own piece: a failure there is a failure
        for _ in range(LEVELS):
            todo = np.flatnonzero(((j.failed & ~self.settled) | j.coarse) & ~self.unverified)
            if not todo.size:
                break
            self.level(todo, j.failed, default)
            j = verdict(self.values, self.bound)
        unconfirmed = j.failed & ~self.settled
        if unconfirmed.any():  # the estimates never settled: not a failure, not a pass
            why = "the reference does not converge as the step shrinks (a step far too large, or f not smooth here)"
            for i in np.flatnonzero(unconfirmed).tolist():
                self._give_up(i, why, keep=True)
            j.failed &= ~unconfirmed
        return j

    @property
    def settled(self) -> np.ndarray:
        """Entries whose value is confirmed: ``needed`` times, or once where the bound is rounding
        and the step never was the user's far larger one (a second confirmation guards against
        truncation far from the asymptotic regime, which such an entry is not in)."""
        rounding = (self.rounding >= 0.5 * self.bound) & ~self.restarted
        return (self.confirmed >= self.needed) | ((self.confirmed >= 1) & rounding)

    def _give_up(self, i: int, why: str, *, keep: bool = False) -> None:
        self.unverified[i] = True
        if keep:
            self.why.setdefault(i, why)
        else:
            self.why[i] = why

    # -- the measurements -------------------------------------------------------------------------

    def _recheck(self, backend, mask: np.ndarray) -> bool:
        """A second opinion of ``backend`` on the entries in ``mask``: their bounds widened."""
        entries = np.flatnonzero(mask)
        case = self.case
        widened = backend.recheck(case.counted, case.point, self.values, self.steps, entries)
        if widened is None:
            return False
        self.bound[entries] = np.maximum(self.bound[entries], widened)
        return True

    def _kinks(self, suspects: np.ndarray) -> np.ndarray:
        """Suspects whose stencil crosses a kink, measured again on ``x``'s own piece: with the
        complex step where ``f`` evaluates in complex arithmetic, one-sided otherwise."""
        case = self.case
        crossed = crossings(case.objective, case.point, suspects, self.backend, self.steps)
        entries = np.flatnonzero(crossed)
        if not entries.size:
            return crossed
        eps_f = case.profile.eps_f
        if case.objective.complex_ok:
            values, bounds, steps = COMPLEX_STEP.at_entries(case.counted, case.point, entries, eps_f=eps_f)
            self.values[entries], self.bound[entries], self.steps[entries] = values, bounds, steps
            return crossed
        for i in entries.tolist():
            found = one_sided(case.counted, case.point, i, self.steps[i], eps_f)
            if found is None:
                self._give_up(i, "a kink of f lies within any usable step of x on both sides")
            else:
                self.values[i], self.bound[i] = found
        return crossed

    def level(self, entries: np.ndarray, failed: np.ndarray, default: np.ndarray) -> None:
        """One more level for ``entries``: a second step, Richardson-extrapolated; value and bound updated.

        Where rounding dominates the bound the step doubles (rounding ~ 1/h), otherwise it
        halves (truncation ~ h^p).  At the first level, when the bound holds rounding only,
        an entry that ``failed`` (the difference may be truncation) halves its step, one that
        was merely too coarse to judge doubles it.  A step more than 4 times the scheme's
        ``default`` (the user's ``h = 0.3``, say) is not halved but restarted at twice the default:
        Richardson's estimates mean nothing far from the asymptotic regime.  With ``Df`` and
        ``Dc`` the estimates at the finer and the coarser of two steps in ratio 2,
        ``(2^p Df - Dc) / (2^p - 1)`` becomes the value and ``|Df - Dc| / (2^p - 1)`` (times a
        safety factor) plus ``Df``'s rounding its bound.
        """
        factor = 2.0**self.backend.order
        for i in entries.tolist():
            first = self.rounding[i] == self.bound[i]
            up = not failed[i] if first else self.rounding[i] >= 0.5 * self.bound[i]
            restart = not up and self.steps[i] > 4 * default[i]
            new = 2 * default[i] if restart else self.steps[i] * (2.0 if up else 0.5)
            if up and new > 4 * default[i]:
                # larger steps would trade rounding for truncation no estimate here can see
                self._give_up(
                    i,
                    "f's rounding noise is too large for any difference step to resolve this entry "
                    "(float32 arithmetic, a large sum?): try the complex step or float64",
                )
                continue
            try:
                d_new, spread = self.backend.measure_entry(
                    self.case.counted, self.case.point, i, new, eps_f=self.case.profile.eps_f, noise=self.case.noise
                )
            except (StepTooSmallError, ValueError) as exc:
                self._give_up(i, f"the step cannot be changed any further at this entry ({str(exc).split(';')[0]})")
                continue
            if restart:  # a fresh first level at a sane step: nothing to extrapolate with yet
                self.restarted[i] = True
                self.values[i] = self.raw[i] = d_new
                self.bound[i] = self.rounding[i] = spread / new
                self.steps[i] = new
                self.confirmed[i] = 0
                self.level_gap[i] = np.nan
                continue
            self._extrapolate(i, d_new, new, spread, up, factor)

    def _extrapolate(self, i: int, d_new: float, new: float, spread: float, up: bool, factor: float) -> None:
        """Entry ``i``'s two levels (the raw estimate at its step, ``d_new`` at ``new``) combined;
        a finer level that lands within the previous bound while the levels converge confirms."""
        fine, coarse = (self.raw[i], d_new) if up else (d_new, self.raw[i])
        rounding = spread / min(new, self.steps[i])
        value = (factor * fine - coarse) / (factor - 1)
        gap = abs(fine - coarse)
        previous = self.level_gap[i]
        # converging: the gap shrinks with the step, or the two levels agree to within rounding
        converging = not np.isfinite(previous) or gap <= 0.6 * previous or gap <= 2 * rounding
        within = abs(value - self.values[i]) <= self.bound[i] + rounding  # the new level rounds too
        # only a finer step confirms (a coarser one may revisit a step already measured: it neither
        # confirms nor refutes)
        if not up:
            self.confirmed[i] = self.confirmed[i] + 1 if within and converging else 0
        self.level_gap[i] = gap
        self.values[i] = value
        self.bound[i] = TRUNCATION_FACTOR * gap / (factor - 1) + rounding
        if self.bound[i] == rounding:  # keep "first level" recognisable: levels agreed to the last bit
            self.bound[i] = np.nextafter(rounding, np.inf)
        self.rounding[i] = rounding
        self.raw[i] = d_new
        self.steps[i] = new
