"""The complex-step derivative: ``g_i = Im f(x + i h e_i) / h``.

Taylor in the imaginary direction, ``f(x + i h) = f(x) + i h f'(x) - h^2 f''(x)/2 - i h^3 f'''(x)/6 + ...``,
so ``Im f(x + i h) / h = f'(x) - h^2 f'''(x) / 6 + ...``.  No difference is taken, hence no
cancellation: the rounding error is about ``eps |f'|`` whatever ``h``, and a tiny step
gives the derivative to the last bits, for ``n`` evaluations in complex arithmetic.
``f`` must be analytic in ``x`` on the way: no ``abs``, no ``float()``, no ``.real``.

The step must be small enough that the ``h^2`` term vanishes and large enough that
``h |f'|`` (the imaginary part ``f`` returns) stays a normal float: below the smallest
normal number ``tiny`` (2.2e-308 in float64) the imaginary part is subnormal or 0 and the
derivative's digits are lost, silently.  No step fixed before ``f`` is seen does both for
every ``f`` (``exp(x - 700)`` has ``|f'| ~ 1e-304``, so ``h |f'|`` underflows for any
``h < 2e-4``), so the default rule has two parts:

1. ``h_i = 1e-20 * max(1, |x_i|)``.  Then ``h^2 |f'''| / 6 <= eps |f'|`` wherever ``f``
   varies on a scale above ``1e-12 * max(1, |x_i|)``: the result is exact to rounding
   (``eps |f'|``), and ``h |f'|`` is normal wherever ``|f'| >= tiny / h ~ 2e-288``.
2. An entry whose imaginary part comes back subnormal, or 0 while ``f`` itself is small
   (``|f| < tiny / (eps h)``; otherwise a derivative below ``tiny / h`` is negligible beside
   ``f``, and 0 is what a derivative that is exactly 0 gives too, at no extra cost), is
   measured again at ``h = 4 tiny / |f|``, the smallest step at which ``h |f'|`` is safely
   normal when ``|f'| ~ |f|``, raised by ``2^8`` while the imaginary part still underflows
   (up to ``1e-2 max(1, |x_i|)``).  Where ``f(x)`` underflowed to 0 as well at an ``x_i`` below
   ``1e-12`` (``x * x`` at 1e-200), ``Im f`` itself sizes the step: it is measured at steps
   growing by ``1e16`` until it appears, and the rescue's two levels must then agree to
   rounding (a step far above ``x_i`` is a measurement only where the ``h^2`` term vanishes).
   Such a step is no longer negligible, so its ``h^2`` term
   is cancelled by Richardson extrapolation over ``h`` and ``h/2``: ``(4 D(h/2) - D(h)) / 3``
   has error ``h^4 |f^(5)| / 480``, 1.4e-15 relative for ``exp(x - 700)`` at 0 (``h = 9e-4``).
   Two evaluations more for each such entry (more while it still underflows), none for
   any other: ``evaluations(n) = n`` is exact except for those, and
   ``GradientResult.evaluations`` always counts them.

A step ``h`` given by the caller is used as it is.

Reference: J. R. R. A. Martins, P. Sturdza, J. J. Alonso, "The complex-step derivative
approximation", ACM Trans. Math. Software 29 (2003) 245-262.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np

from .. import parallel
from ..objective import Counted
from . import stencil
from .base import TRUNCATION_FACTOR, Backend, Estimate, GradientResult, Style, h_power
from .difference import CENTRAL

#: the default step, in units of max(1, |x_i|): far below any curvature, far above underflow
STEP = 1e-20
#: a caller's step up to this (in units of max(1, |x|)) is small enough for the cross-check to judge f
CROSS_CHECKED_STEP = 1e-8
#: below this |x_i| the default step is 1e-8 |x_i| (f may vary on the scale of x_i itself)
TINY_X = 1e-12
#: the rounding bound of a complex-step value, in units of eps times the magnitude of what adds up to it:
#: there is no subtraction, so the noise of f's values does not enter
ROUNDING = 16


class ComplexStep(Backend):
    """``g_i = Im f(x + i h e_i) / h``: ``n`` complex evaluations, exact to rounding."""

    name = "complex_step"
    kind = "complex"
    order = 2
    offsets = ()  # no real displacement: the step is imaginary and never crosses a kink
    #: the slack for the analytic side's own rounding: an exact formula that cancels (the derivative
    #: of sin(x)/x at 1e-4 loses eight digits to x cos x - sin x) is still exact; 1e-8 leaves the
    #: bug zoo's 1e-7 probe visible
    tolerances = {"float64": (1e-8, 1e-11), "float32": (1e-4, 1e-7)}
    style = Style("complex step", "#b8860b", "h")
    jacobians = True

    def evaluations(self, n: int) -> int:
        """``n`` complex evaluations and 4 real ones (the cross-check, skipped for a step of the
        user's above ``1e-8 max(1, |x|)``, where it could not tell); exact except for entries
        measured again because ``h f'`` underflowed (two or more each), which
        ``GradientResult.evaluations`` counts."""
        return n + CROSS_CHECK_EVALUATIONS

    def evaluations_formula(self) -> str:
        """The entries in complex arithmetic, and the cross-check's real evaluations."""
        return f"n complex + {CROSS_CHECK_EVALUATIONS} real"

    def legend(self) -> str:
        return f"C_t·{h_power(self.order)} + ε·|g|"  # no cancellation: rounding does not grow as h shrinks

    @property
    def expected_slopes(self) -> tuple[float, float]:
        return float(self.order), 0.0  # the rounding side is flat: no difference is taken

    def default_step(self, x: np.ndarray, *, eps: float | None = None) -> np.ndarray:
        """``1e-20 max(1, |x_i|)``, and at most ``1e-8 |x_i|`` for a nonzero ``x_i`` so tiny that
        ``f`` may vary on its scale (``log`` at 1e-300): the ``h^2`` term stays below ``eps``.
        The rule is the same in every precision (no rounding to balance), so ``eps`` is unused."""
        ax = np.abs(x.astype(np.float64))
        h = STEP * np.maximum(1.0, ax)
        return np.where((ax > 0) & (ax < TINY_X), np.minimum(h, 1e-8 * ax), h)

    def error_terms(self, h, *, f0, grad, derivs, eps):
        if 3 not in derivs:
            return None
        h = np.asarray(h, dtype=np.float64)[:, None]
        trunc = np.abs(np.asarray(derivs[3]))[None, :] * h**2 / 6
        return trunc, np.broadcast_to(eps * np.abs(grad)[None, :], trunc.shape)

    def compute(
        self, objective: Counted, x: np.ndarray, *, h: float | None, scheduler: object = None
    ) -> GradientResult:
        return self._gradient(objective, x, h, scheduler)

    def _gradient(
        self, objective: Counted, x: np.ndarray, h, scheduler, noise: float = 0.0, progress=None
    ) -> GradientResult:
        start = objective.evaluations
        flat = x.reshape(-1)
        info = np.finfo(x.dtype)
        if h is not None and h < info.tiny:
            raise ValueError(
                f"`h` = {h:g} is a subnormal number in {x.dtype}: h f' would keep only a few significant bits "
                f"(at h = 1e-320 the error is about 1e-3); use h of at least {info.tiny / info.eps:.3g}, or the default"
            )
        steps = self.default_step(flat) if h is None else np.full(flat.size, float(h))
        real, imag = parallel.map_entries(
            complex_values, objective, x, steps, per_entry=1, scheduler=scheduler, progress=progress,
            batch=stencil.batch_size(objective, x, 2 * x.itemsize),  # chunks on the kernel's batches
        )  # fmt: skip
        out = imag.shape[1:]  # the shape of f's values: () for a scalar f
        g = imag / steps.reshape(-1, *(1,) * len(out))  # (n,) + out
        if h is None:
            self._underflowed(objective, x, steps, real, imag, g)
        # the cross-check judges f, not the step: with a large step of the user's the h^2 term is
        # a legitimate error, so only steps too small for it to matter are cross-checked
        small = h is None or h <= CROSS_CHECKED_STEP * max(1.0, float(np.abs(flat).max()))
        agrees, along_real, along_complex = real_cross_check(objective, x, g, noise=noise) if small else (True, 0, 0)
        if not agrees:
            raise ComplexStepDisagrees(
                f"the complex step disagrees with a real central difference along a random direction "
                f"({along_complex:.10g} against {along_real:.10g}): f's complex evaluation drops or conjugates an "
                f"imaginary part somewhere (abs, np.vdot, np.linalg.norm, .real, np.maximum?), so its derivative "
                f"would be silently wrong; use backend 'central', 'richardson' or 'adaptive', or write f with "
                f"functions analytic in complex x (x @ x instead of np.vdot(x, x) or np.linalg.norm(x)**2)"
            )
        # a Jacobian is laid out as out + x.shape: outputs first, entries last
        g = g.reshape(x.shape) if not out else np.moveaxis(g, 0, -1).reshape(out + x.shape)
        return GradientResult(
            g.astype(x.dtype), self.name, h, objective.evaluations - start, step=steps.reshape(x.shape)
        )

    # -- as a gradcheck reference ----------------------------------------------------------------

    def reference(self, objective, x, *, h, eps_f, noise, f0=None, scheduler=None, progress=None) -> Estimate:
        """The complex step with a bound of ``ROUNDING eps_f |g_i|`` (no subtraction), trusted after
        its real cross-check; a step of the caller's, which may be large enough for the ``h^2``
        term to matter, is measured at ``h/2`` too and extrapolated, ``(4 D(h/2) - D(h)) / 3``,
        with the levels' difference as its bound.  Where ``f`` cannot take complex input, or the
        cross-check shows that its complex evaluation drops or conjugates an imaginary part,
        central differences measure instead (and the estimate's note says why)."""
        try:
            with warnings.catch_warnings():
                # an f that casts its argument to real drops the imaginary part: the TypeError or the
                # cross-check below tells, and the note says so; numpy's warning would say it twice
                warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
                result = self._gradient(objective, x, h, scheduler, noise, progress)  # the bar follows the first pass
            values = result.gradient.astype(np.float64).reshape(-1)
            if h is None:
                bound = ROUNDING * eps_f * np.abs(values)
            else:
                half = self._gradient(objective, x, h / 2, scheduler, noise).gradient.astype(np.float64).reshape(-1)
                values, bound = (
                    (4 * half - values) / 3,
                    TRUNCATION_FACTOR * np.abs(half - values) / 3 + (ROUNDING * eps_f * np.abs(half)),
                )
        except (TypeError, ComplexStepDisagrees) as exc:
            why = str(exc).split(";")[0]
            note = f"the complex step cannot be trusted here ({why}); judged with central differences"
            kw = dict(eps_f=eps_f, noise=noise, f0=f0, scheduler=scheduler, progress=progress)
            return replace(CENTRAL.reference(objective, x, h=None, **kw), notes=(note,))
        steps = np.asarray(result.step, dtype=np.float64).reshape(-1)
        return Estimate(values, bound, steps, np.zeros(values.size), self)

    def recheck(self, objective, x, values, steps, entries) -> np.ndarray:
        """Failing entries measured again at three times their step: the complex step has no
        truncation to speak of, but its rounding is ``eps`` times the sum of the *magnitudes* of
        what adds up to ``Im f``, with a large batch whose terms cancel (a float32 sum over 2,000
        samples) far above ``eps |f'|``.  The rounding at ``3h`` is another draw (at ``2h`` every
        imaginary part would scale exactly, and round the same), so four times the two values'
        difference bounds it.  An entry whose imaginary part is exactly 0 at both steps is looked at
        with far larger steps too: a derivative that appears there widens its bound to its size."""
        default = self.default_step(x.reshape(-1))
        out = np.empty(len(entries))
        for row, i in enumerate(np.asarray(entries).tolist()):
            s = steps[i] if steps[i] > 0 else default[i]
            three = np.zeros(x.size)
            three[i] = 3 * s
            again = complex_values(objective, x, three, i, i + 1)[1][0] / (3 * s)
            out[row] = 4 * abs(again - values[i])
            if again == 0 and values[i] == 0:
                out[row] = max(out[row], 4 * abs(_vanished(objective, x, i, s)))
        return out

    def at_entries(self, objective, x, entries, *, eps_f) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``entries`` measured alone at the default step: ``(values, bounds, steps)``.  The step is
        imaginary, so it never crosses a kink of ``f``: the value is the derivative on ``x``'s piece."""
        steps = self.default_step(x.reshape(-1))
        idx = np.asarray(entries).tolist()
        values = np.array([complex_values(objective, x, steps, i, i + 1)[1][0] / steps[i] for i in idx])
        return values, ROUNDING * eps_f * np.abs(values), steps[idx]

    def along(self, objective, x, v) -> float:
        """``<grad f, v>`` from one complex evaluation, ``Im f(x + i t v) / t`` with ``t`` the
        default step of the largest entry (exact to rounding; a ``TypeError`` where ``f`` cannot
        take complex input)."""
        t = STEP * max(1.0, float(np.abs(x.reshape(-1).astype(np.float64)).max()))
        return objective.complex(stencil.along(x, v, 1j * t)).imag / t

    def _underflowed(self, objective, x, steps, real, imag, g) -> None:
        """Entries whose ``h f'`` underflowed, measured again in place (rule 2 of the module
        docstring): Richardson over ``h`` and ``h/2`` with ``h`` balancing its ``h^4`` term
        against the spacing of subnormal numbers; again with ``|f'|`` for ``|f|`` where the
        first pass shows ``|f'|`` well below ``|f|``.

        For an array-valued ``f`` (``real``, ``imag`` and ``g`` of shape ``(n,) + out``) each
        output of an entry is rescued on its own, as the gradient of that output would be; the
        entry's ``steps[i]`` then reports the step of its last rescued output."""
        info = np.finfo(x.dtype)
        tiny, eps = float(info.tiny), float(info.eps)
        flat = x.reshape(-1)
        per_entry = steps.reshape(-1, *(1,) * (imag.ndim - 1))
        lost = (imag != 0) & (np.abs(imag) < tiny)  # subnormal: digits visibly lost
        zero = (imag == 0) & (np.abs(real) * eps * per_entry < tiny)  # 0, and f small enough that f' may be too
        for cell in np.argwhere(lost | zero).tolist():
            i, j = cell[0], tuple(cell)  # the entry, and the cell of the output (the entry itself for a scalar f)
            cap = 1e-2 * max(1.0, abs(float(flat[i])))  # beyond it the h^4 term is no longer small
            exact = False
            if real[j] != 0:
                size = abs(float(real[j]))  # |f'| ~ |f| on a scale of 1, until measured
            elif 0 < abs(float(flat[i])) < TINY_X:
                # f(x) underflowed to 0 too, at an x_i so tiny that the step rule shrank the step to
                # 1e-8 |x_i| (x * x at 1e-200: f(x) = 1e-400 = 0, h = 1e-208, Im f = 2e-408 = 0): nothing
                # sizes the step but Im f itself, at steps growing until it appears
                size = _size_of_vanished(objective, x, steps[i], i, j, cap)
                if size is None:
                    continue  # 0 at every step: the derivative may well be 0
                exact = True
            else:
                continue  # f(x) = 0 exactly: nothing says its derivative is not 0 too
            old_step, old_g = steps[i], g[j]
            for _ in range(2):
                # h^4 / 480 (truncation) = 2 tiny eps / (h size) (subnormal spacing over h/2 size)
                hi = min((240 * tiny * eps / size) ** 0.2, cap)
                s = steps.copy()
                s[i] = hi
                d1 = float(complex_values(objective, x, s, i, i + 1)[1][(0, *j[1:])]) / hi
                s[i] = hi / 2
                d2 = float(complex_values(objective, x, s, i, i + 1)[1][(0, *j[1:])]) / (hi / 2)
                steps[i], g[j] = hi, (4 * d2 - d1) / 3
                if exact and not abs(d1 - d2) <= 64 * eps * abs(d2):
                    # such a step lies far above x_i, on a scale f may vary on (x^3 at 1e-200, whose
                    # derivative underflows, shows only -h^2): only levels that agree to rounding,
                    # where the h^2 term vanishes, are a measurement; else the entry stays as it was
                    steps[i], g[j] = old_step, old_g
                    break
                if g[j] == 0 or abs(g[j]) > size / 16 or hi == cap:
                    break
                size = abs(float(g[j]))


def _size_of_vanished(objective: Counted, x: np.ndarray, step: float, i: int, j: tuple, cap: float) -> float | None:
    """``|Im f / h|`` of output cell ``j`` of entry ``i`` at the first step, growing by ``1e16`` from
    ``step`` up to ``cap``, at which ``Im f`` no longer underflows to 0 (``None``: at none): a size for
    ``|f'|`` where ``f(x)`` itself underflowed, so that the rescue can choose its step."""
    h = step
    while h < cap:
        h = min(h * 1e16, cap)
        steps = np.zeros(x.size)
        steps[i] = h
        imag = float(complex_values(objective, x, steps, i, i + 1)[1][(0, *j[1:])])
        if imag != 0:
            return abs(imag) / h
    return None


def _vanished(objective: Counted, x: np.ndarray, i: int, step: float) -> float:
    """Entry ``i``'s complex step at steps growing by ``1e16`` from ``step`` up to ``1e-2 max(1, |x_i|)``,
    the first nonzero one (0 if none): a derivative whose ``h f'`` underflowed where ``f`` is 0 too
    (``x * x`` at 1e-200, where the rescue has no ``|f|`` to size its step by).  Such a step is no
    longer negligible, so the value only says that the derivative is not 0, not what it is."""
    cap = 1e-2 * max(1.0, abs(float(x.reshape(-1)[i])))
    h = step
    while h < cap:
        h = min(h * 1e16, cap)
        steps = np.zeros(x.size)
        steps[i] = h
        imag = float(np.ravel(complex_values(objective, x, steps, i, i + 1)[1][0])[0])
        if imag != 0:
            return imag / h
    return 0.0


class ComplexStepDisagrees(ValueError):
    """A real difference contradicts the complex step: ``f`` is not analytic on the way."""


#: real evaluations of the cross-check (central differences along v at t and t/2)
CROSS_CHECK_EVALUATIONS = 4


def real_cross_check(
    objective: Counted, x: np.ndarray, g: np.ndarray, seed: int = 0, *, noise: float = 0.0
) -> tuple[bool, float, float]:
    """Does a real central difference along a seeded random direction ``v`` agree with ``<g, v>``?

    Central differences at ``t`` and ``t/2``, Richardson-extrapolated; they agree when the
    difference is within the extrapolation's own error estimate plus rounding.  A step too
    large for ``f``'s curvature (``sin`` at 1e6) is not a broken ``f``: on disagreement the
    check is repeated at ``t/100`` and ``t/10^4`` (and at ``eps^(1/3)`` times the smallest nonzero
    ``|x_i|`` where that is smaller still: a pole at 0), and only a disagreement at every scale
    counts (a dropped or conjugated imaginary part disagrees at any step).  Returns
    ``(agrees, real directional derivative, <g, v>)``; costs 4 real evaluations, 8, 12 or 16 on
    a disagreement.  ``noise`` is the absolute noise of ``f``'s values where a checker measured it.

    For an array-valued ``f`` (``g`` of shape ``(n,) + out``) every output is judged on its
    own, from the same evaluations: an output agrees once it agrees at some scale, and the
    values returned are those of the first output that never agreed.
    """
    flat = x.reshape(-1).astype(np.float64)
    v = np.random.default_rng(seed + 7919).standard_normal(flat.size)
    v /= np.linalg.norm(v)
    eps = float(np.finfo(x.dtype).eps)
    largest = np.array([np.abs(flat).max(initial=0.0)])
    t0 = float(CENTRAL.default_step(largest, eps=eps)[0]) * (1 if x.dtype == np.float64 else 2)
    g64 = g.reshape(flat.size, -1).astype(np.float64)
    along = g64.reshape(-1) @ v if g64.shape[1] == 1 else v @ g64  # <g, v> per output
    along = np.atleast_1d(along)
    if not along.size:
        return True, math.nan, math.nan  # an f with no outputs: nothing to contradict
    real = np.full(along.shape, math.nan)
    agreed = np.zeros(along.shape, dtype=bool)
    scales = [t0, t0 / 1e2, t0 / 1e4]
    # a step above the smallest nonzero |x_i| may cross a pole or a branch at 0 (1/x, log(x^2) at
    # 1e-100): the finest scale is then the step relative to that entry
    nonzero = np.abs(flat[flat != 0])
    if nonzero.size:
        relative = float(nonzero.min()) * eps ** (1 / 3) * (1 if x.dtype == np.float64 else 2)
        if relative < scales[-1]:
            scales.append(relative)
    for t in scales:
        d, f_abs = [], 0.0
        for s in (t, t / 2):
            xp, xm = stencil.along(x, v, s), stencil.along(x, v, -s)
            span = float((xp.reshape(-1).astype(np.float64) - xm.reshape(-1)) @ v)
            if span <= 0:
                return True, math.nan, float(along[0])  # steps below the spacing of x: nothing to compare
            try:
                fp, fm = objective(xp), objective(xm)
            except (ValueError, ArithmeticError):
                # f is undefined that far from x (log near 0): no real difference can speak for or
                # against the complex step here, which evaluates at x itself
                return True, math.nan, float(along[0])
            fp, fm = np.ravel(fp), np.ravel(fm)
            f_abs = np.maximum(f_abs, np.maximum(np.abs(fp), np.abs(fm)))
            d.append((fp - fm) / span)
        real = (4 * d[1] - d[0]) / 3
        bound = 2 * np.abs(d[1] - d[0]) + 12 * (eps * f_abs + noise) / (t / 2)
        agreed |= np.abs(real - along) <= bound + 1e-6 * np.maximum(np.abs(real), np.abs(along))
        if agreed.all():
            return True, float(real[0]), float(along[0])
    k = int(np.flatnonzero(~agreed)[0])
    return False, float(real[k]), float(along[k])


#: ``(Re, Im) f(x + i h_i e_i)`` for a range of entries: the kernel's, under the name the
#: scheduler and the checker know
complex_values = stencil.complex_values


COMPLEX_STEP = ComplexStep()
