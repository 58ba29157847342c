"""Adaptive differences: a step chosen per entry from what ``f`` shows, Richardson extrapolation
over a short geometric ladder, and an error estimate for every entry.

For each entry ``i`` the backend works in three moves, all on the line ``x + t e_i``:

1. **Pilot.**  ``f(x +- h)`` at the pilot step ``h`` (``eps^(1/5) * max(1, |x_i|)`` rounded to
   a power of two, or the ``h`` given) together with ``f(x)`` give the first and second
   differences ``d1 ~ f'`` and ``d2 ~ f''``.  Where ``d2`` stands above its rounding noise
   ``~ eps |f| / h^2``, the local scale on which ``f'`` changes is ``s = |d1 / d2|``
   (capped at ``max(1, |x_i|)``): ``1`` for ``exp`` wherever it is evaluated, ``|x|`` for
   ``log``, ``x / 98`` for ``x^99``, about the distance to the pole for ``tan`` near
   ``pi/2``.  The pilot is repeated (at most ``PILOTS`` rounds in all) at ``s / 8`` where it
   was coarser than ``4 s``; ``2^10`` times further out, and at least at the default pilot
   step, where ``d2`` drowns in rounding (``f`` linear to rounding at ``h``) or ``x + h == x``
   (an ``h`` given below the spacing of ``x_i``: growing by ``2^10`` alone would spend every
   round there); and, where ``f`` is undefined on one side (it returns nan or inf, or raises
   ``ValueError`` or an ``ArithmeticError``), at the relative step ``eps^(1/5) |x_i|``, which
   stays in the domain of ``log`` or ``sqrt`` however close ``x_i`` is to 0.
2. **Ladder.**  Central differences ``D(H / r^k)``, ``k = 0..3``, with ``H ~ s / 8``,
   extrapolated to ``h -> 0`` by Richardson (Neville's scheme in ``h^2``, each level
   removing one more even power: orders 2, 4, 6, 8).  The ladder is aligned with the pilot
   so that the pilot is one of its levels: ratio ``r = 2^q`` (``2 <= q <= 4``) from the pilot
   up past ``s / 8``, else ``r = 4``.  Steps are powers of two and every quotient divides by
   the displacement actually represented, so rounding ``x + h`` adds no error.  Where the
   wider levels leave the domain on one side, the finer levels that stay inside are used;
   where fewer than two do, the defined side gives one-sided differences
   ``(f(x + t) - f(x)) / t`` on a ladder ``t = 4 h_finest / 2^k``, ``k = 0..5``, extrapolated
   in powers of ``t``.  An entry fails only where ``f`` is undefined on both sides at every
   step tried.
3. **Choice and estimate.**  Among the extrapolated values ``T[k][j]`` (``j >= 1``) the one
   with the smallest last correction ``|T[k][j] - T[k][j-1]|`` plus rounding error
   (``4 eps max|f| / h_k``, amplified by the extrapolation weights) is returned.  Its error
   estimate, in ``GradientResult.error``, is the wider ``|T[k][j] - T[k-1][j-1]|`` (the change
   from one level and one order less, which bounds the error with a margin where the
   expansion converges) plus that rounding error; its step ``h_k`` is in
   ``GradientResult.step``.
4. **A closer look.**  Three points can fool the pilot (``sin`` at 1e6 with a pilot step of
   740; ``tanh(1e4 x)`` at 0, whose symmetry cancels the curvature at every step; a Gaussian
   of width 1e-6 that is 0 at both pilot points): a ladder then converges, with a small
   error, to a wrong value.  Where the pilot sees no slope between points where ``f``
   visibly curves it looks closer (the relative step, or ``2^-10`` times nearer); where it
   sees ``f`` linear it looks closer once, and trusts linearity only if the slopes agree.
   Then one central pair at the chosen step ``/ 2^CLOSER_POWER`` must agree with the
   estimate; where it does not, the entry is measured again from a pilot there (at most
   ``RESTARTS`` times), and the error reported is never below the distance from the closest
   quotient seen.

Cost: ``f(x)`` once, then per entry 2 evaluations per pilot round, 2 per ladder level not
already taken by the pilot and 2 for the closer look: 10 to 14 in the common case, at most
``(1 + RESTARTS) (2 PILOTS + 2 LEVELS + ONE_SIDED_LEVELS + 2) = 44``.  The count is adaptive,
so :meth:`Adaptive.evaluations` is that upper bound and ``GradientResult.evaluations`` the
exact count of a run.

:attr:`Adaptive.offsets` lists, in units of the step reported, every point the estimate
can be computed from (``x`` and ``x +- 2^m h`` for ``|m| <= SPAN``): what gradcheck must
look at for kinks.  The pilot's own points only choose the ladder and are not listed.

References
----------
L. F. Richardson, "The deferred approach to the limit", Phil. Trans. R. Soc. A 226 (1927).
J. N. Lyness, C. B. Moler, "Numerical differentiation of analytic functions", SIAM J. Numer.
Anal. 4 (1967) 202-210 (extrapolation of central differences in ``h^2``).
"""

from __future__ import annotations

import math

import numpy as np

from ..objective import Counted, FunctionWroteIntoItsArgument
from . import stencil
from .base import ROUNDING_FACTOR, TRUNCATION_FACTOR, Backend, Estimate, GradientResult, Style

#: ratio between successive steps of the two-sided ladder, and its number of levels
RATIO, LEVELS = 4.0, 4
#: levels of the one-sided ladder (ratio 2)
ONE_SIDED_LEVELS = 6
#: after the pilot, every point evaluated is x +- 2^m h for |m| <= SPAN, h the step reported
SPAN = 20
#: the widest ladder ratio, 2^MAX_RATIO_POWER (used where it makes the pilot the finest level)
MAX_RATIO_POWER = 4
#: rounding error of one evaluation of f, in units of eps |f| (f's own rounding included)
ROUNDING = 4.0
#: the top of the ladder is about scale / TOP
TOP = 8.0
#: pilot rounds at most
PILOTS = 3
#: the finest ladder level spans at least this many spacings of x_i (below, x + h rounds to x)
SPACINGS = 16
#: the closer look: one central pair at the chosen step / 2^CLOSER_POWER, which must agree with
#: the estimate; where it does not, the entry is measured again from a pilot there, at most
#: RESTARTS times
CLOSER_POWER, RESTARTS = 6, 1


def _pow2(v: float) -> float:
    """The power of two nearest ``v`` (in log scale)."""
    return 2.0 ** round(math.log2(v))


class _Line:
    """``f`` along one coordinate of a private working copy of ``x``; nan where ``f`` is undefined.

    ``f`` is undefined where it returns nan or inf or raises ``ValueError`` or an
    ``ArithmeticError`` (``math.log(-1)``, a division by zero); floating-point warnings of
    numpy are silenced while probing, since leaving the domain is expected there.
    """

    def __init__(self, objective: Counted, x: np.ndarray):
        self.objective = objective
        self.work = stencil.Working(x)  # the caller's x is never touched
        self.dtype = x.dtype

    def at(self, i: int, x0: float, t: float, label: float) -> tuple[float, float]:
        """``(f(x + t e_i), displacement actually represented)``; ``(nan, 0)`` if the node is x
        itself or out of range, ``(nan, d)`` where ``f`` is undefined there."""
        with np.errstate(all="ignore"):
            node = self.dtype.type(x0 + t)
        d = float(node) - x0
        if d == 0 or not math.isfinite(d):
            return math.nan, 0.0
        try:
            with np.errstate(all="ignore"):
                return self.work.at(i, node, self.objective, (i, label)), d
        except FunctionWroteIntoItsArgument:
            raise
        except (ValueError, ArithmeticError):
            return math.nan, d


def _extrapolate(values: list[float], t: list[float], power: int, fmax: float, eps: float, steps: list[float]):
    """Neville's scheme for the value at ``t -> 0`` of estimates ``values`` at ``t``
    (``t = h^2`` for central, ``h`` for one-sided differences).  Returns ``(best, error, step,
    quotient at that step)``."""
    n = len(values)
    T = [[v] for v in values]
    best = (values[-1], math.inf, steps[-1], math.inf, values[-1])
    for k in range(1, n):
        for j in range(1, k + 1):
            w = t[k] / (t[k - j] - t[k])
            T[k].append(T[k][j - 1] + (T[k][j - 1] - T[k - 1][j - 1]) * w)
            # rounding of each quotient ~ ROUNDING eps fmax / h, amplified by |1 + w| + |w| per order
            amp = math.prod(abs(1 + t[k] / (t[k - m] - t[k])) + abs(t[k] / (t[k - m] - t[k])) for m in range(1, j + 1))
            rounding = ROUNDING * eps * fmax / steps[k] * amp * (1 if power == 2 else 2)
            err = abs(T[k][j] - T[k - 1][j - 1]) + rounding
            # choose by the last correction (small where the expansion converges), report the
            # wider change from one level and one order less
            key = abs(T[k][j] - T[k][j - 1]) + rounding
            if key < best[3]:
                best = (T[k][j], err, steps[k], key, values[k])
    if len(values) == 1:
        return values[0], math.inf, steps[0], values[0]
    return (*best[:3], best[4])


class Adaptive(Backend):
    """Per-entry step from a pilot, Richardson extrapolation over a short ladder, error estimates.

    See the module docstring for the algorithm.  ``h`` (when given) is the pilot step;
    the ladder's steps follow from what ``f`` shows there.

    Examples
    --------
    >>> import numpy as np, gradlab
    >>> r = gradlab.differentiate(lambda x: np.exp(x[0] - 700), np.array([0.0]), backend="adaptive")
    >>> true = np.exp(-700.0)
    >>> bool(abs(r.gradient[0] - true) < 1e-12 * true), bool(r.error[0] >= abs(r.gradient[0] - true))
    (True, True)
    """

    name = "adaptive"
    kind = "difference"
    order = None  # no single order: the extrapolation picks its level per entry
    #: every point evaluated after the pilot, in units of the step reported (the pilot's points,
    #: which only choose the ladder, are not: no estimate is computed from them)
    offsets = (0.0, *sorted(s * 2.0**m for m in range(-SPAN, SPAN + 1) for s in (-1, 1)))
    tolerances = {"float64": (1e-8, 1e-11), "float32": (1e-4, 1e-7)}
    style = Style("adaptive", "#e7298a", "*")
    jacobians = False  # its step is chosen from one scalar f, entry by entry
    own_steps = True
    evaluations_exact = False  # evaluations(n) is an upper bound: the count adapts to f

    def evaluations(self, n: int) -> int:
        """An upper bound (the count is adaptive): ``2 PILOTS + 2 LEVELS + ONE_SIDED_LEVELS`` and the
        closer look's 2, per measurement of an entry (``1 + RESTARTS`` at most), and ``f(x)`` once.
        ``GradientResult.evaluations`` is the exact count of a run (10 to 14 in the common case)."""
        return (1 + RESTARTS) * (2 * PILOTS + 2 * LEVELS + ONE_SIDED_LEVELS + 2) * n + 1

    def evaluations_formula(self) -> str:
        return "at most " + super().evaluations_formula()

    def default_step(self, x: np.ndarray, *, eps: float | None = None) -> np.ndarray:
        """The pilot step ``eps^(1/5) * max(1, |x_i|)`` (rounded to a power of two when used), in
        ``x``'s precision whatever ``eps``: the ladder adapts to the noise ``f`` shows at the pilot."""
        eps = float(np.finfo(x.dtype).eps)
        return eps ** (1 / 5) * np.maximum(1.0, np.abs(x.astype(np.float64)))

    def compute(
        self, objective: Counted, x: np.ndarray, *, h: float | None, eps_f: float | None = None
    ) -> GradientResult:
        """The gradient, entry by entry (see the module docstring).  ``eps_f`` is the precision ``f``
        computes in where it is coarser than ``x``'s (a float64 ``x`` whose ``f`` casts to float32):
        the pilot step and every rounding estimate follow ``f``'s precision, not ``x``'s."""
        start = objective.evaluations
        flat = x.reshape(-1)
        line = _Line(objective, x)
        f0 = objective(line.work.point)
        eps = max(float(np.finfo(x.dtype).eps), eps_f or 0.0)
        if h is None:
            h0 = eps ** (1 / 5) * np.maximum(1.0, np.abs(flat.astype(np.float64)))
        else:
            h0 = np.full(flat.size, float(h))
        g, err, step = np.empty(flat.size), np.empty(flat.size), np.empty(flat.size)
        for i in range(flat.size):
            g[i], err[i], step[i] = self._measured(line, i, float(flat[i]), f0, float(h0[i]), eps)
        bad = np.flatnonzero(~np.isfinite(g))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"adaptive differences found f undefined (nan, inf or an error) on both sides of x at index {i} "
                f"(x = {float(flat[i]):g}) at every step tried, or the quotient overflows: f has no derivative "
                f"there that differences can measure"
            )
        return GradientResult(
            g.astype(x.dtype).reshape(x.shape),
            self.name,
            h,
            objective.evaluations - start,
            step=step.reshape(x.shape),
            error=err.reshape(x.shape),
        )

    def reference(self, objective, x, *, h, eps_f, noise, f0=None, scheduler=None, progress=None) -> Estimate:
        """The adaptive gradient as a gradcheck reference, measured at ``f``'s own precision
        ``eps_f``: each entry's bound is twice its error estimate (a safety factor) plus ``f``'s
        measured ``noise`` divided by the entry's step, as any difference quotient divides it."""
        result = self.compute(objective, x, h=h, eps_f=eps_f)
        values = result.gradient.astype(np.float64).reshape(-1)
        steps = result.step.reshape(-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            rounding = np.where(steps > 0, ROUNDING_FACTOR * noise / steps, 0.0)
        bound = TRUNCATION_FACTOR * result.error.reshape(-1) + rounding
        return Estimate(values, bound, steps, np.zeros(values.size), self)

    # -- one entry ------------------------------------------------------------------------------------

    def _measured(self, line: _Line, i: int, xi: float, f0: float, h0: float, eps: float):
        """Entry ``i``: :meth:`_entry`, then a closer look that must agree with it.

        The pilot judges ``f``'s scale from three points; a function that varies on a scale far
        below the pilot step (``sin`` at 1e6 with a step of 740, ``tanh(1e4 x)`` at 0, where
        symmetry hides the curvature) can fool it into a ladder that converges to a wrong value
        with a small error.  One central pair at the chosen step ``/ 2^CLOSER_POWER`` has a
        truncation ``2^(2 CLOSER_POWER)`` times smaller than the chosen level's: where it
        disagrees with the estimate by more than the error, that rounding and that share of
        the level's own truncation allow, the entry is measured again from a pilot at the closer
        step.  What never agrees keeps the largest disagreement seen as its error: the estimate
        is never reported as better than the disagreement it has met.
        """
        g, err, step, level = self._entry(line, i, xi, f0, h0, eps)
        seen = []  # the closer quotients met, with their own rounding
        first = None  # the first estimate, once a closer quotient refuted it
        for restart in range(RESTARTS + 1):
            if not (math.isfinite(g) and math.isfinite(level)) or step <= 0:
                break  # one-sided or undefined: no closer central pair to compare with
            close = step / 2.0**CLOSER_POWER
            fp, dp = line.at(i, xi, close, close / _pow2(h0))
            fm, dm = line.at(i, xi, -close, -close / _pow2(h0))
            if not (math.isfinite(fp) and math.isfinite(fm)) or dp <= 0 or dm >= 0 or fp == fm:
                # fp == fm: no slope resolved that close (f quantised by its own rounding, as
                # log(cosh x) is by cosh's, or symmetric about x): nothing to compare with
                break
            d = (fp - fm) / (dp - dm)
            rounding = 2 * ROUNDING * eps * max(abs(fp), abs(fm), abs(f0)) / (dp - dm)
            allowed = 2 * err + rounding + 4 * abs(level - g) / 4.0**CLOSER_POWER
            seen.append((d, rounding))
            if abs(d - g) <= allowed or restart == RESTARTS:
                break
            first = (g, err, step)
            g, err, step, level = self._entry(line, i, xi, f0, close, eps)
        if first is not None and len(seen) >= 1:
            # the quotient that refuted the first estimate must be confirmed by the estimate measured
            # from there (a pilot fooled by a narrow feature: sin at 1e6, tanh(1e4 x) at 0).  Where that
            # estimate lands even further from it, the closer scales are ruled by f's own rounding, far
            # above eps |f| (log(cosh x) at 1e-9: cosh rounds to 1 + k eps, f to multiples of eps), and
            # not by a feature: the first estimate, at the coarser step, stands, no better than the
            # disagreement it met
            d, rounding = seen[0]
            if abs(g - d) > abs(first[0] - d) + err + rounding:
                g, err, step = first
                seen = seen[:1]
        # a closer quotient truncates less than any level above it: the estimate is no better than
        # its distance from the closest of them (the last: an estimate it agreed with is within err)
        if seen:
            d, rounding = seen[-1]
            err = max(err, abs(d - g) - rounding)
        return g, err, step

    def _entry(self, line: _Line, i: int, xi: float, f0: float, h0: float, eps: float):
        """Entry ``i`` from a pilot at ``h0``: :meth:`_piloted`, and never a zero error on a zero that a
        pilot contradicted.  A ladder whose every point returns the same value (``log(1 + x^2)`` at
        1e-8: ``1 + x^2`` rounds to 1 within 1e-8 of x) measures nothing; where a pilot saw ``f``
        slope, the estimate 0 is no better than that slope."""
        known = {}
        g, err, step, level = self._piloted(line, i, xi, f0, h0, eps, known)
        if g == 0 and err == 0:
            slopes = [
                abs((fp - fm) / (dp - dm))
                for fp, dp, fm, dm in known.values()
                if math.isfinite(fp) and math.isfinite(fm) and dp > 0 > dm
            ]
            err = max(slopes, default=0.0)
        return g, err, step, level

    def _piloted(self, line: _Line, i: int, xi: float, f0: float, h0: float, eps: float, known: dict):
        unit = _pow2(h0)

        def pair(h):
            fp, dp = line.at(i, xi, h, h / unit)
            fm, dm = line.at(i, xi, -h, -h / unit)
            return fp, dp, fm, dm

        # further out: 2^10 times, and at least to the default pilot (a tiny h given, below the
        # spacing of x or where f is flat to rounding, would otherwise stay there for every round)
        pilot = _pow2(eps ** (1 / 5) * max(1.0, abs(xi)))
        h, scale = unit, None
        rel = _pow2(h0 / max(1.0, abs(xi)) * abs(xi)) if xi != 0 else 0.0  # the relative step
        lin = None  # (step, slope, its rounding) of a pilot that saw f linear
        varied = None  # the last step at which a pilot saw f's scale
        for _ in range(PILOTS):
            fp, dp, fm, dm = known[h] = pair(h)
            if dp == 0 or dm == 0:
                nxt = max(h * 2.0**10, pilot)  # below the spacing of x: x + h == x, f says nothing at h
            elif not (math.isfinite(fp) and math.isfinite(fm)):
                # a domain edge (or overflow) within h: look closer, at the relative step if smaller
                nxt = rel if 0 < rel < h / 4 else h / 2.0**10
            else:
                scale = self._scale(f0, fp, dp, fm, dm, eps)
                if scale is None and fp == fm and self._curved(f0, fp, dp, fm, dm, eps):
                    # no slope between two points where f visibly curves: the pilot straddles a
                    # feature far narrower than h (exp(-(x/1e-6)^2) at 1e-6, log(x*x) at 1e-100)
                    nxt = rel if 0 < rel < h / 4 else h / 2.0**10
                elif scale is None and fp == fm == f0 and varied is not None:
                    # f constant to the last bit here, after a coarser pilot saw it vary: the scale
                    # |f'/f''| was the distance to a stationary point (log(cosh x) at 1e-9), not a
                    # width, and this step drowns f in its rounding -- the coarser pilot was right
                    h = varied
                    break
                elif scale is None:
                    # f linear to rounding at h -- or symmetric about x (tanh(1e4 x) at 0, where the
                    # curvature cancels): a pilot closer by, then further out while the slopes agree
                    slope = (fp - fm) / (dp - dm)
                    noise = 2 * ROUNDING * eps * max(abs(fp), abs(fm), abs(f0)) / (dp - dm)
                    if lin is None:
                        lin, nxt = (h, slope, noise), h / 2.0**10
                    elif abs(slope - lin[1]) > noise + lin[2]:
                        h = min(h, lin[0])  # not linear: the closer step is the nearer to f'
                        break
                    else:
                        coarse = max(h, lin[0])
                        # further out, and at least to the default pilot (a tiny h given)
                        lin, nxt = (coarse, slope, noise), max(coarse * 2.0**10, pilot)
                        if nxt > max(1.0, abs(xi)):
                            h = coarse
                            break
                else:
                    varied = h
                    scale = min(scale, max(1.0, abs(xi)))
                    if h <= 4 * scale:
                        break
                    nxt = _pow2(scale / TOP)  # the pilot was coarse for the scale it found: measure again
            if not nxt > 0:
                break
            h = nxt
        if scale is not None:
            # a ladder aligned with the pilot (so that it is one of its levels where it can be)
            m = round(math.log2(scale / TOP / h))
            q = -(-m // (LEVELS - 1))  # ceil: a ladder from h up past the target, ratio 2^q
            if 2 <= q <= MAX_RATIO_POWER:
                return self._ladder(line, i, xi, f0, h * 2.0 ** (q * (LEVELS - 1)), 2.0**q, known, eps, unit)
            top = h * RATIO ** round(m / 2)
        else:
            top = h
        return self._ladder(line, i, xi, f0, top, RATIO, known, eps, unit)

    @staticmethod
    def _curved(f0, fp, dp, fm, dm, eps) -> bool:
        """Do the one-sided slopes of a symmetric pilot differ beyond rounding?"""
        a, b = (fp - f0) / dp, (f0 - fm) / -dm
        return abs(a - b) > 4 * ROUNDING * eps * max(abs(fp), abs(fm), abs(f0)) * (1 / dp + 1 / -dm)

    @staticmethod
    def _scale(f0, fp, dp, fm, dm, eps) -> float | None:
        """``|f' / f''|`` from a symmetric pilot, or None where the pilot cannot tell."""
        if not (math.isfinite(fp) and math.isfinite(fm)) or dp <= 0 or dm >= 0:
            return None
        # f' ~ (fp - fm) / (dp - dm) and f'' ~ 2 (a - b) / (dp - dm) with the one-sided slopes a, b;
        # their ratio without forming either (each may overflow where the other does not)
        a, b = (fp - f0) / dp, (f0 - fm) / -dm
        noise = 4 * ROUNDING * eps * max(abs(fp), abs(fm), abs(f0)) * (1 / dp + 1 / -dm)
        if not abs(a - b) > noise or fp == fm:
            return None
        return abs(fp - fm) / (2 * abs(a - b))

    def _ladder(self, line, i, xi, f0, top, ratio, known, eps, unit):
        # the finest level at least SPACINGS times the spacing of x_i: a pilot led below it (a noisy
        # float32 f with kinks, constant to the last bit at its finest round) would leave every level
        # at x + h == x, which is no measurement at all, and the entry "undefined on both sides"
        least = SPACINGS * float(np.spacing(line.dtype.type(abs(xi))))
        if top / ratio ** (LEVELS - 1) < least:
            top = 2.0 ** math.ceil(math.log2(least)) * ratio ** (LEVELS - 1)
        steps = [top / ratio**k for k in range(LEVELS)]
        rows = [known.get(h) or self._pair(line, i, xi, h, unit) for h in steps]
        both = [k for k, r in enumerate(rows) if math.isfinite(r[0]) and math.isfinite(r[2])]
        # the contiguous finer levels where both sides are defined
        usable = []
        for k in reversed(range(LEVELS)):
            if k not in both:
                break
            usable.insert(0, k)
        if len(usable) >= 2:
            D, t, hs, fmax = [], [], [], abs(f0)
            for k in usable:
                fp, dp, fm, dm = rows[k]
                D.append((fp - fm) / (dp - dm))
                half = (dp - dm) / 2
                t.append((half / top) ** 2)  # in units of the top step: h^2 may underflow
                hs.append(half)
                fmax = max(fmax, abs(fp), abs(fm))
            return _extrapolate(D, t, 2, fmax, eps, hs)
        # one side only: forward differences on the side that is defined at the finest level
        plus = math.isfinite(rows[-1][0])
        if not plus and not math.isfinite(rows[-1][2]):
            return math.nan, math.inf, steps[-1], math.nan
        sign = 1.0 if plus else -1.0
        taken = {h: (r[0], r[1]) if plus else (r[2], r[3]) for h, r in zip(steps, rows)}
        start = steps[-1] * 4  # reach back: the finest defined point is inside
        F, t, fmax = [], [], abs(f0)
        for k in range(ONE_SIDED_LEVELS):
            s = start / 2.0**k
            v, d = taken[s] if s in taken else line.at(i, xi, sign * s, sign * s / unit)
            if math.isfinite(v) and d != 0:
                F.append((v - f0) / d)
                t.append(abs(d) / start)
                fmax = max(fmax, abs(v))
        if not F:
            return math.nan, math.inf, steps[-1], math.nan
        # a one-sided estimate (a domain edge): no central pair can look closer
        return (*_extrapolate(F, t, 1, fmax, eps, [v * start for v in t])[:3], math.nan)

    @staticmethod
    def _pair(line, i, xi, h, unit):
        fp, dp = line.at(i, xi, h, h / unit)
        fm, dm = line.at(i, xi, -h, -h / unit)
        return fp, dp, fm, dm


ADAPTIVE = Adaptive()
