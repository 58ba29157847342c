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
from functools import cached_property

import numpy as np

from ..backends import COMPLEX_STEP, Estimate
from ..backends.base import ROUNDING_FACTOR, TRUNCATION_FACTOR
from ..backends.difference import StepTooSmallError
from .case import Case
from .judge import GREY, Judgement
from .kinks import crossings, one_sided, one_sided_pair, surfaces_crossed

__all__ = ["CONFIRMATIONS", "LEVELS", "ROUNDING_FACTOR", "TRUNCATION_FACTOR", "Refinement"]

#: refinement levels (h/2, h/4, ...) for entries the first measurement cannot settle
LEVELS = 5
#: the coarsest step, in units of the scheme's default, an entry too coarse to judge may grow to
#: (a first-order scheme's default resolves only about 1e-4 of a small entry against |f|)
COARSEST = 16
#: consecutive confirmations a failing difference quotient needs
CONFIRMATIONS = 2
#: failing entries measured from both sides before the rest are taken for a bug, not kinks: one
#: failure that is no kink settles the verdict (once one is a kink, every failing entry is measured)
KINK_PROBES = 2

#: how the result's note on entries found exactly on a kink begins
KINK_NOTE = "x sits exactly on a kink of f"

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
    - ``level_gap``: the last difference between two levels (NaN: none yet), ``extrapolated`` the
      last extrapolated value (NaN: none yet);
    - ``unverified`` and ``why``: what nothing could measure, and the reason;
    - ``disputed``: unverified entries that failed at every step measured but never confirmed.
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
        self.extrapolated = np.full(n, np.nan)
        self.jumped = np.zeros(n, dtype=bool)
        self.unverified = np.zeros(n, dtype=bool)
        self.disputed = np.zeros(n, dtype=bool)
        self.why: dict[int, str] = {}
        #: entries exactly on a kink: flat index -> (left slope, right slope, what the analytic value was taken as)
        self.on_kink: dict[int, tuple[float, float, str]] = {}
        #: entries where several kinks meet and the analytic value lies outside the slopes: unverified
        self.compound = np.zeros(n, dtype=bool)

    @property
    def name(self) -> str:
        return self.backend.name

    # -- the loop -----------------------------------------------------------------------------------

    def settle(self, verdict: Verdict) -> Judgement:
        """Judge; entries the reference cannot settle are measured again (a second opinion on a
        failure, kinks, then finer steps) until they are confirmed or given up as unverified;
        a failure that stands is measured from both sides in case ``x`` sits on a kink."""
        j = self._refined(verdict)
        if j.failed.any() and self._brackets(j.failed):
            j = verdict(self.values, self.bound)
            j.failed &= ~self.compound  # where kinks meet, nothing measured can say "wrong"
        unconfirmed = j.failed & ~self.settled
        self.disputed = unconfirmed  # measured off at every step, never confirmed: accept_unverified cannot pass them
        if unconfirmed.any():  # the estimates never settled: not a failure, not a pass
            why = "the reference does not converge as the step shrinks (a step far too large, or f not smooth here)"
            for i in np.flatnonzero(unconfirmed).tolist():
                self._give_up(i, why, keep=True)
            j.failed &= ~unconfirmed
        return j

    def _refined(self, verdict: Verdict) -> Judgement:
        j = verdict(self.values, self.bound)
        if j.failed.any() and self._recheck(self.backend, j.failed):
            j = verdict(self.values, self.bound)
        # kinks first, for every backend with a stencil (adaptive's too, which is not refinable:
        # its ladder reaches far across a ReLU's kink and cannot tell)
        crossed = self._kinks((j.failed | j.coarse) & ~self.unverified)
        if crossed.any():
            j = verdict(self.values, self.bound)
            complex_ok = self.case.objective.complex_ok  # a second opinion by the complex step needs it
            if complex_ok and j.failed[crossed].any() and self._recheck(COMPLEX_STEP, j.failed & crossed):
                j = verdict(self.values, self.bound)
        if not self.backend.refinable:
            return j
        case = self.case
        default = self.backend.default_step(case.flat, eps=case.profile.eps_f)
        far = (self.steps > 4 * default).any()
        self.needed = CONFIRMATIONS if far or case.profile.precision == "float32" else 1
        self.confirmed[crossed] = self.needed  # measured on their own piece: a failure there is a failure
        for _ in range(LEVELS):
            todo = np.flatnonzero(((j.failed & ~self.settled) | j.coarse) & ~self.unverified)
            if not todo.size:
                break
            # an entry that disagrees beyond what is allowed (failed, or in the grey band) may be
            # truncation: it is measured finer; one merely too coarse to judge may go coarser
            self.level(todo, j.failed | j.disagree, default)
            j = verdict(self.values, self.bound)
        return j

    @property
    def settled(self) -> np.ndarray:
        """Entries whose value is confirmed: ``needed`` times, or once where the bound is rounding
        and the step never was the user's far larger one (a second confirmation guards against
        truncation far from the asymptotic regime, which such an entry is not in)."""
        rounding = (self.rounding >= 0.5 * self.bound) & ~self.restarted
        return (self.confirmed >= self.needed) | ((self.confirmed >= 1) & rounding)

    @property
    def notes(self) -> tuple[str, ...]:
        """What the result says of entries found on a kink: both slopes, and how the analytic value stood."""
        if not self.on_kink:
            return ()
        a, shown = self.case.a, []
        for i, (left, right, taken) in sorted(self.on_kink.items())[:5]:
            ok = abs(a[i] - self.values[i]) <= self.bound[i] + self.case.rtol * max(abs(a[i]), abs(self.values[i]))
            verdict = f"accepted as {taken}" if ok else "outside them: wrong"
            shown.append(f"{self.case.entry_name(i)}: slopes {left:.6g} | {right:.6g}, analytic {a[i]:.6g} {verdict}")
        more = f"; and {len(self.on_kink) - 5} more" if len(self.on_kink) > 5 else ""
        return (
            f"{KINK_NOTE} in {len(self.on_kink)} entr{'y' if len(self.on_kink) == 1 else 'ies'} "
            f"(one-sided derivatives differ; either one, or a value between them, is correct): "
            + "; ".join(shown)
            + more,
        )

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

    def _brackets(self, failed: np.ndarray) -> bool:
        """Failing entries measured from both sides (:func:`~.kinks.one_sided_pair`); where the slopes
        differ, ``x`` sits on a kink and the analytic value is judged against the bracket: the
        reference becomes the bracket's value nearest it, with that value's bound, confirmed (a
        value outside the bracket fails, one within passes).  At most :data:`KINK_PROBES` entries
        are measured while none is a kink.  Returns whether any entry changed."""
        case = self.case
        prof, rtol, a = case.profile, case.rtol, case.a
        probed = 0
        for i in np.flatnonzero(failed).tolist():
            if probed >= KINK_PROBES and not self.on_kink:
                break
            probed += 1
            try:
                bracket = one_sided_pair(case.counted, case.point, i, prof.f0, prof.eps_f, case.noise)
            except (StepTooSmallError, ValueError, FloatingPointError):
                continue  # no second opinion here: the failure stands as it was measured
            if not bracket.is_kink(rtol):
                continue
            value, bound, taken = bracket.nearest(float(a[i]))
            outside = abs(a[i] - value) > GREY * (bound + rtol * max(abs(a[i]), abs(value)))
            if outside and surfaces_crossed(case.objective, case.point, i, prof.eps_f) >= 2:
                # several kinks meet at x (a dead layer with zero biases): backprop's value is the gradient
                # of a piece the line along this entry never enters, and may lie outside both slopes
                self.compound[i] = True
                self._give_up(
                    i,
                    "several kinks of f meet at x along this entry (pre-activations exactly at a kink, a dead "
                    "layer with zero biases?): the analytic value lies outside both one-sided slopes, which "
                    "no difference along the entry can confirm or refute; check at a perturbed point",
                )
                continue
            self.values[i], self.bound[i] = value, bound
            self.unverified[i] = False  # measured now, from both sides (a kink on both sides gave up before)
            self.why.pop(i, None)
            self.confirmed[i] = max(self.confirmed[i], self.needed)
            self.restarted[i] = False
            self.on_kink[i] = (bracket.left, bracket.right, taken)
        return bool(self.on_kink) or bool(self.compound.any())

    def level(self, entries: np.ndarray, disagree: np.ndarray, default: np.ndarray) -> None:
        """One more level for ``entries``: a second step, Richardson-extrapolated; value and bound updated.

        An entry in ``disagree`` (off the analytic value by more than is allowed) halves its step:
        the difference may be truncation (~ h^p), and only a finer step can confirm it is not.
        An entry merely too coarse to judge doubles its step where rounding (~ 1/h) dominates its
        bound (always at the first level, when the bound holds rounding only), else halves it.
        A first step more than 4 times the scheme's ``default`` (the user's ``h = 0.3``, say) is
        restarted at twice the default whichever way it would go: Richardson's estimates mean
        nothing far from the asymptotic regime, and from there a coarser step never confirms; so
        is one far below it where the entry needs a coarser step.  With ``Df`` and
        ``Dc`` the estimates at the finer and the coarser of two steps in ratio 2,
        ``(2^p Df - Dc) / (2^p - 1)`` becomes the value and ``|Df - Dc| / (2^p - 1)`` (times a
        safety factor) plus ``Df``'s rounding its bound.
        """
        factor = 2.0**self.backend.order
        for i in entries.tolist():
            first = self.rounding[i] == self.bound[i]
            # a failure is a question about truncation, which only a finer step answers: a coarser
            # one can never confirm it (two levels that agree would push the step up and away, and
            # a bug would end "unverified"); only an entry too coarse to judge may trade rounding
            up = not disagree[i] and (first or self.rounding[i] >= 0.5 * self.bound[i]) and not self.jumped[i]
            # far above the default (the user's h = 0.3) neither direction is informative: any
            # estimate there is mostly truncation, so the entry starts again near the default
            # (and a user's step far below it, h = 1e-8, only buries an entry too coarse to judge in
            # rounding: doubling from there would need more levels than there are)
            own = not self.restarted[i] and self.steps[i] == self.estimate.steps[i]
            restart = own and (self.steps[i] > 4 * default[i] or (up and self.steps[i] < default[i] / 4))
            new = 2 * default[i] if restart else self.steps[i] * (2.0 if up else 0.5)
            xi = abs(float(self.case.flat[i]))
            if own and disagree[i] and 0 < xi <= self.steps[i] * self.reach:
                # the stencil reaches across 0, where 1/x, log|x| and sqrt|x| are singular: a
                # disagreement there says nothing until measured at a step relative to x_i itself
                restart, new = True, 2 * xi * self.relative
            if up and not self.jumped[i] and self.jump > 2 * COARSEST:
                # a low-order scheme (forward) whose default step leaves a small entry in rounding:
                # the extrapolated levels are a scheme of one order more, whose own best step lies far
                # above -- measured there, then halved and extrapolated
                restart, new = True, self.jump * default[i]
                self.jumped[i] = True
            elif up and new > COARSEST * default[i]:
                # larger steps would trade rounding for truncation no estimate here can see
                self._give_up(i, self._too_noisy())
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
                self.level_gap[i] = self.extrapolated[i] = np.nan
                continue
            self._extrapolate(i, d_new, new, spread, up, factor)

    @cached_property
    def jump(self) -> float:
        """The best step of the extrapolated levels (a scheme of order p + 1) over the scheme's default:
        ``eps_f^(1/(p+2) - 1/(p+1))``, about 400 for forward differences in float64, 20 for central."""
        p, eps = self.backend.order or 1, self.case.profile.eps_f
        return float(eps ** (1 / (p + 2) - 1 / (p + 1)))

    @cached_property
    def reach(self) -> float:
        """How far the backend's stencil reaches from ``x``, in units of the step."""
        return max((abs(o) for o in self.backend.offsets), default=0.0)

    @cached_property
    def relative(self) -> float:
        """The backend's default step for an entry of size 1, at ``f``'s precision: times ``|x_i|``,
        a step relative to the entry."""
        return float(self.backend.default_step(np.ones(1), eps=self.case.profile.eps_f)[0])

    def _too_noisy(self) -> str:
        """Why an entry whose rounding stays too large at every usable step is unverified."""
        prof = self.case.profile
        cause = "f computes in float32" if prof.precision == "float32" else "a large sum, or noise inside f?"
        return (
            f"f's rounding noise is too large for any difference step to resolve this entry ({cause}): "
            "try the complex step" + (" or float64" if prof.precision == "float32" else "")
        )

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
        truncation = gap / (factor - 1)  # the finer level's own error, an upper bound on the extrapolated one's
        if converging and np.isfinite(self.extrapolated[i]):
            # two extrapolations in a row: their difference bounds the later one's error (the next
            # column of a Richardson table), far below the raw levels' gap for a low-order scheme
            truncation = min(truncation, abs(value - self.extrapolated[i]))
        self.extrapolated[i] = value
        self.values[i] = value
        self.bound[i] = TRUNCATION_FACTOR * truncation + rounding
        if self.bound[i] == rounding:  # keep "first level" recognisable: levels agreed to the last bit
            self.bound[i] = np.nextafter(rounding, np.inf)
        self.rounding[i] = rounding
        self.raw[i] = d_new
        self.steps[i] = new
