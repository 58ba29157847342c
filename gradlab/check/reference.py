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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..backends import CENTRAL, COMPLEX_STEP, Backend, DifferenceScheme
from ..backends.complex_step import complex_values
from ..backends.difference import StepTooSmallError, node_values
from ..objective import Counted

#: safety factors on the rounding and truncation estimates
ROUNDING_FACTOR = 4.0
TRUNCATION_FACTOR = 2.0
#: refinement levels (h/2, h/4, ...) for entries the first measurement cannot settle
LEVELS = 4
#: consecutive confirmations a failing difference quotient needs
CONFIRMATIONS = 2


@dataclass
class Reference:
    """The reference gradient (flat float64), its per-entry error bound and how it was measured."""

    values: np.ndarray
    bound: np.ndarray
    steps: np.ndarray
    unverified: np.ndarray
    #: the unextrapolated estimate at the current step of each entry (for the next level)
    raw: np.ndarray | None = None
    #: the rounding part of each bound
    rounding: np.ndarray | None = None
    #: consecutive confirmations of the value: refined estimates that landed within the previous
    #: bound (the Richardson table converges).  A difference quotient's failure counts only after
    #: ``needed`` of them: one, at the scheme's own step in float64; two where the first step was
    #: the user's (restarted far from it) or f computes in float32 -- one can be luck far from
    #: the asymptotic regime, two in a row are not.
    confirmed: np.ndarray | None = None
    needed: int = 1
    #: entries whose first step (the user's) was abandoned for one near the default
    restarted: np.ndarray | None = None
    #: the last difference between two levels, per entry (NaN: none yet): a confirmation also
    #: needs the levels to converge, this difference shrinking as the step does
    level_gap: np.ndarray | None = None
    why: dict[int, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    name: str = ""


def measure(
    ref: Backend,
    counted: Counted,
    point: np.ndarray,
    h: float | None,
    eps_f: float,
    noise: float,
    scheduler=None,
    f0: float | None = None,
) -> Reference:
    """Compute the reference at ``point`` with a bound per entry (see the module docstring)."""
    kw = {} if scheduler is None else {"scheduler": scheduler}
    result = ref.compute(counted, point, h=h, **kw)
    n = result.gradient.astype(np.float64).reshape(-1)
    steps = np.zeros(n.size) if result.step is None else np.asarray(result.step, dtype=np.float64).reshape(-1)
    rounding = np.zeros(n.size)
    if isinstance(ref, DifferenceScheme):
        bound = rounding = _rounding(ref, counted, point, steps, eps_f, noise, f0)
        if result.error is not None:
            bound = np.maximum(bound, TRUNCATION_FACTOR * result.error.reshape(-1).astype(np.float64))
    elif ref.kind == "complex" and h is not None:
        # a step chosen by the user may be large enough for the h^2 term to matter:
        # measure at h/2 too and extrapolate, (4 D(h/2) - D(h)) / 3, with the levels' difference as bound
        half = ref.compute(counted, point, h=h / 2, **kw).gradient.astype(np.float64).reshape(-1)
        n, bound = (4 * half - n) / 3, TRUNCATION_FACTOR * np.abs(half - n) / 3 + 16 * eps_f * np.abs(half)
    elif ref.kind == "complex":
        bound = (
            16 * eps_f * np.abs(n)
        )  # no subtraction: the noise of f values does not enter (recheck_complex measures its own)
    elif result.error is not None:
        bound = TRUNCATION_FACTOR * np.asarray(result.error, dtype=np.float64).reshape(-1) + noise
    else:  # a backend that says nothing about its error: its declared tolerance is all we have
        bound = np.zeros(n.size)
    return Reference(
        n,
        bound,
        steps,
        np.zeros(n.size, dtype=bool),
        raw=n.copy(),
        rounding=np.array(rounding),
        confirmed=np.full(n.size, 0 if isinstance(ref, DifferenceScheme) else CONFIRMATIONS),
        level_gap=np.full(n.size, np.nan),
        restarted=np.zeros(n.size, dtype=bool),
        name=ref.name,
    )


def _rounding(scheme: DifferenceScheme, counted: Counted, point, steps, eps_f, noise, f0) -> np.ndarray:
    """``sum |w| / divisor * (eps_f |f| + noise) / h`` per entry, with ``|f|`` at ``x``."""
    f0 = abs(counted(point.copy()) if f0 is None else f0)
    return ROUNDING_FACTOR * scheme.rounding_constant * (eps_f * max(f0, np.finfo(float).tiny) + noise) / steps


def refine(
    ref: Reference,
    scheme: DifferenceScheme,
    counted: Counted,
    point: np.ndarray,
    entries: np.ndarray,
    eps_f: float,
    noise: float,
    failed: np.ndarray,
) -> None:
    """One more level for ``entries``: a second step, Richardson-extrapolated; value and bound updated.

    Where rounding dominates the bound the step doubles (rounding ~ 1/h), otherwise it
    halves (truncation ~ h^p).  At the first level, when the bound holds rounding only,
    an entry that ``failed`` (the difference may be truncation) halves its step, one that
    was merely too coarse to judge doubles it.  A step more than 4 times the scheme's
    default (the user's ``h = 0.3``, say) is not halved but restarted at twice the default:
    Richardson's estimates mean nothing far from the asymptotic regime.  With ``Df`` and
    ``Dc`` the estimates at the finer and the coarser of two steps in ratio 2,
    ``(2^p Df - Dc) / (2^p - 1)`` becomes the value and ``|Df - Dc| / (2^p - 1)`` (times a
    safety factor) plus ``Df``'s rounding its bound.
    """
    factor = 2.0**scheme.order
    # the scheme's default step for the precision f computes in (float32 inside a float64 x too)
    default = eps_f ** (1.0 / (scheme.order + 1)) * np.maximum(1.0, np.abs(point.reshape(-1).astype(np.float64)))
    for i in entries.tolist():
        first = ref.rounding[i] == ref.bound[i]
        up = not failed[i] if first else ref.rounding[i] >= 0.5 * ref.bound[i]
        restart = not up and ref.steps[i] > 4 * default[i]
        new = 2 * default[i] if restart else ref.steps[i] * (2.0 if up else 0.5)
        if up and new > 4 * default[i]:
            # larger steps would trade rounding for truncation no estimate here can see
            ref.unverified[i] = True
            ref.why[i] = (
                "f's rounding noise is too large for any difference step to resolve this entry "
                "(float32 arithmetic, a large sum?): try the complex step or float64"
            )
            continue
        steps = np.zeros(point.size)
        steps[i] = new
        try:
            values, disp = node_values(counted, point, scheme.offsets, steps, i, i + 1)
        except (StepTooSmallError, ValueError) as exc:
            ref.unverified[i] = True
            ref.why[i] = f"the step cannot be changed any further at this entry ({str(exc).split(';')[0]})"
            continue
        d_new = float(scheme.combine(values, disp, steps[i : i + 1], point.dtype)[0][0])
        rounding = ROUNDING_FACTOR * scheme.rounding_constant * (eps_f * np.abs(values).max() + noise) / new
        if restart:  # a fresh first level at a sane step: nothing to extrapolate with yet
            ref.restarted[i] = True
            ref.values[i] = ref.raw[i] = d_new
            ref.bound[i] = ref.rounding[i] = rounding
            ref.steps[i] = new
            ref.confirmed[i] = 0
            ref.level_gap[i] = np.nan
            continue
        fine, coarse = (ref.raw[i], d_new) if up else (d_new, ref.raw[i])
        h_fine = min(new, ref.steps[i])
        rounding = ROUNDING_FACTOR * scheme.rounding_constant * (eps_f * np.abs(values).max() + noise) / h_fine
        value = (factor * fine - coarse) / (factor - 1)
        # the new value confirms the old one if it lands within the old bound: the estimates
        # converge (a real bug's reference does, at every step)
        gap = abs(fine - coarse)
        previous = ref.level_gap[i]
        # converging: the gap shrinks with the step, or the two levels agree to within rounding
        converging = not np.isfinite(previous) or gap <= 0.6 * previous or gap <= 2 * rounding
        within = abs(value - ref.values[i]) <= ref.bound[i] + rounding  # the new level rounds too
        # only a finer step confirms (a coarser one may revisit a step already measured: it neither
        # confirms nor refutes)
        if not up:
            ref.confirmed[i] = ref.confirmed[i] + 1 if within and converging else 0
        ref.level_gap[i] = gap
        ref.values[i] = value
        ref.bound[i] = TRUNCATION_FACTOR * abs(fine - coarse) / (factor - 1) + rounding
        if ref.bound[i] == rounding:  # keep "first level" recognisable: levels agreed to the last bit
            ref.bound[i] = np.nextafter(rounding, np.inf)
        ref.rounding[i] = rounding
        ref.raw[i] = d_new
        ref.steps[i] = new


def recheck_complex(ref: Reference, counted: Counted, point: np.ndarray, entries: np.ndarray) -> None:
    """Failing entries of a complex-step reference, measured again at three times the step.

    The complex step has no truncation to speak of, but its rounding is ``eps`` times the
    sum of the *magnitudes* of what adds up to ``Im f``: with a large batch whose terms cancel
    (a float32 sum over 2,000 samples) that is far above ``eps |f'|``.  The rounding at ``3h``
    is another draw (at ``2h`` every imaginary part would scale exactly, and round the same),
    so the two values' difference measures it; it widens the bound, and counts as a
    confirmation only where it is small.
    """
    steps = COMPLEX_STEP.default_step(point.reshape(-1))
    for i in entries.tolist():
        s = ref.steps[i] if ref.steps[i] > 0 else steps[i]
        three = np.zeros(point.size)
        three[i] = 3 * s
        again = complex_values(counted, point, three, i, i + 1)[1][0] / (3 * s)
        spread = abs(again - ref.values[i])
        ref.bound[i] = max(ref.bound[i], 4 * spread)


def remeasure_kinks(
    ref: Reference, scheme: Backend, counted: Counted, point: np.ndarray, entries: np.ndarray, eps_f: float
) -> None:
    """Entries whose stencil crosses a kink: measured on ``x``'s own piece, or marked unverified."""
    objective = counted.objective
    flat = point.reshape(-1)
    if objective.complex_ok:
        steps = COMPLEX_STEP.default_step(flat)
        for i in entries.tolist():
            ref.values[i] = complex_values(counted, point, steps, i, i + 1)[1][0] / steps[i]
            ref.bound[i] = 16 * eps_f * abs(ref.values[i])
            ref.steps[i] = steps[i]
        return
    key = objective.kinks
    base = key(point)
    work = point.copy()
    wflat = work.reshape(-1)
    for i in entries.tolist():
        h = ref.steps[i] if ref.steps[i] > 0 else float(CENTRAL.default_step(flat[i : i + 1])[0])
        found = False
        for _ in range(12):  # shrink until one side's stencil stays on x's piece
            for side in (1.0, -1.0):
                xi = wflat[i]
                wflat[i] = xi + side * h
                same = key(work) == base
                wflat[i] = xi
                if same:
                    f0 = counted(work)
                    wflat[i] = xi + side * h
                    f1 = counted(work, (i, side))
                    wflat[i] = xi
                    dx = float(np.float64(flat.dtype.type(xi + side * h)) - np.float64(xi))
                    ref.values[i] = (f1 - f0) / dx
                    # one-sided: truncation ~ h |f''| / 2 is unknown; bound it by the step's share
                    ref.bound[i] = ROUNDING_FACTOR * 2 * eps_f * max(abs(f0), abs(f1)) / abs(dx) + abs(dx) * abs(
                        ref.values[i]
                    )
                    found = True
                    break
            if found:
                break
            h /= 8
        if not found:
            ref.unverified[i] = True
            ref.why[i] = "a kink of f lies within any usable step of x on both sides"
