"""The complex-step derivative: ``g_i = Im f(x + i h e_i) / h``.

Taylor in the imaginary direction, ``f(x + i h) = f(x) + i h f'(x) - h^2 f''(x)/2 - i h^3 f'''(x)/6 + ...``,
so ``Im f(x + i h) / h = f'(x) - h^2 f'''(x) / 6 + ...``.  No difference is taken, hence no
cancellation: the rounding error is about ``eps |f'|`` whatever ``h``, and a tiny step
gives the derivative to the last bits, for ``n`` evaluations in complex arithmetic.
``f`` must be analytic in ``x`` on the way: no ``abs``, no ``float()``, no ``.real``.

The step must be small enough that the ``h^2`` term vanishes and large enough that
``h |f'|`` (the imaginary part ``f`` returns) stays a normal float: where it underflows,
the imaginary part is 0 or subnormal and the derivative is lost.  The default is
``1e-20 * max(1, |x_i|)``, and an entry whose imaginary part comes back below the
smallest normal float is measured again with a step raised by 1e10 at a time (still
far below any scale on which ``f`` varies for an ``f'`` that small).

Reference: J. R. R. A. Martins, P. Sturdza, J. J. Alonso, "The complex-step derivative
approximation", ACM Trans. Math. Software 29 (2003) 245-262.
"""

from __future__ import annotations

import numpy as np

from .. import parallel
from ..objective import Counted
from .base import Backend, GradientResult, Style


class ComplexStep(Backend):
    """``g_i = Im f(x + i h e_i) / h``: ``n`` complex evaluations, exact to rounding."""

    name = "complex_step"
    kind = "complex"
    order = 2
    offsets = ()  # no real displacement: the step is imaginary and never crosses a kink
    tolerances = {"float64": (1e-9, 1e-12), "float32": (1e-3, 1e-5)}
    style = Style("complex step", "#b8860b", "h")

    def evaluations(self, n: int) -> int:
        return n

    def default_step(self, x: np.ndarray) -> np.ndarray:
        return 1e-20 * np.maximum(1.0, np.abs(x.astype(np.float64)))

    def error_terms(self, h, *, f0, grad, derivs, eps):
        if 3 not in derivs:
            return None
        h = np.asarray(h, dtype=np.float64)[:, None]
        trunc = np.abs(np.asarray(derivs[3]))[None, :] * h**2 / 6
        return trunc, np.broadcast_to(eps * np.abs(grad)[None, :], trunc.shape)

    def compute(
        self, objective: Counted, x: np.ndarray, *, h: float | None, scheduler: object = None
    ) -> GradientResult:
        start = objective.evaluations
        flat = x.reshape(-1)
        steps = self.default_step(flat) if h is None else np.full(flat.size, float(h))
        real, imag = parallel.map_entries(complex_values, objective, x, steps, per_entry=1, scheduler=scheduler)
        g = imag / steps
        if h is None:
            self._underflowed(objective, x, steps, real, imag, g)
        return GradientResult(
            g.astype(x.dtype).reshape(x.shape), self.name, h, objective.evaluations - start, step=steps.reshape(x.shape)
        )

    def _underflowed(self, objective, x, steps, real, imag, g) -> None:
        """Entries whose ``h f'`` underflowed, measured again in place.

        An imaginary part below the normal range has lost its digits.  That matters only
        where ``f`` itself is that small (``|f'| ~ |f|`` on a scale of 1: ``exp(x - 700)``);
        there the step is raised until ``h |f|`` is 16 times the smallest normal number, and
        the ``h^2`` term this brings back is cancelled by Richardson extrapolation over
        ``h`` and ``h/2`` (``(4 D(h/2) - D(h)) / 3``, error ``O(h^4)``): two evaluations more
        for each such entry, none for any other.
        """
        info = np.finfo(x.dtype)
        flat = x.reshape(-1)
        low = np.flatnonzero((np.abs(imag) < info.tiny) & (np.abs(real) < info.tiny / (info.eps * steps)))
        for i in low.tolist():
            if real[i] == 0:
                continue  # f(x) = 0 exactly: nothing says its derivative is not 0 too
            scale = max(1.0, abs(float(flat[i])))
            hi = min(16 * float(info.tiny) / abs(real[i]), 1e-2 * scale)
            steps[i] = hi
            s = steps.copy()
            d1 = complex_values(objective, x, s, i, i + 1)[1][0] / hi
            s[i] = hi / 2
            d2 = complex_values(objective, x, s, i, i + 1)[1][0] / (hi / 2)
            g[i] = (4 * d2 - d1) / 3


def complex_values(objective: Counted, x: np.ndarray, steps: np.ndarray, start: int = 0, stop: int | None = None):
    """``(Re, Im) f(x + i h_i e_i)`` for entries ``start <= i < stop`` (float64), on a private complex copy."""
    ctype = np.complex64 if x.dtype == np.float32 else np.complex128
    xc = x.astype(ctype)  # the working copy, complex
    xf = xc.reshape(-1)
    stop = xf.size if stop is None else stop
    real = np.empty(stop - start, dtype=np.float64)
    imag = np.empty(stop - start, dtype=np.float64)
    for row, i in enumerate(range(start, stop)):
        xi = xf[i]
        xf[i] = complex(xi.real, steps[i])
        y = objective.complex(xc, (i, 1))
        real[row], imag[row] = y.real, y.imag
        xf[i] = xi
    return real, imag


COMPLEX_STEP = ComplexStep()
