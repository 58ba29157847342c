"""The complex-step derivative (see :mod:`.finite` for the error model)."""

from __future__ import annotations

import numpy as np

from .base import register
from .finite import DifferenceScheme


class ComplexStep(DifferenceScheme):
    """``g_i = Im f(x + i h e_i) / h``: ``n`` complex evaluations, no cancellation."""

    name = "complex_step"
    order = 2

    def default_step(self, x: np.ndarray) -> float:
        # Far below any spacing of x: the h^2 term vanishes, and with no subtraction
        # nothing is lost to rounding.  1e-20 keeps h * f' clear of float32's underflow.
        return 1e-20

    def estimate(self, objective, x, step):
        ctype = np.complex64 if x.dtype == np.float32 else np.complex128
        xc = x.astype(ctype)  # the working copy, complex
        xf = xc.reshape(-1)
        h = np.broadcast_to(np.asarray(step, dtype=np.float64), xf.shape)
        imag = np.empty(xf.size, dtype=np.float64)
        for i, (xi, hi) in enumerate(zip(xf.tolist(), h.tolist())):
            xf[i] = complex(xi.real, hi)
            imag[i] = objective.complex(xc, (i, 1)).imag
            xf[i] = xi
        return imag / h, np.array(h)


register(ComplexStep())
