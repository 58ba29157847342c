"""The error model of finite differences in closed form: truncation against rounding.

For a difference scheme of order ``p`` with step ``h`` the error of one
derivative is, to leading order,

    E(h) ~= C_t * h**p + C_r * eps / h

- *truncation* (Taylor's theorem): forward ``(f(x+h) - f(x))/h - f' = h f''/2 + ...``,
  so ``C_t = |f''| / 2``, ``p = 1``; central ``(f(x+h) - f(x-h))/2h - f' = h^2 f'''/6 + ...``,
  so ``C_t = |f'''| / 6``, ``p = 2``;
- *rounding*: each evaluation of ``f`` carries an error of about ``eps |f|``; the forward
  quotient divides two such errors by ``h`` (``C_r = 2 |f|``), the central one by ``2h``
  (``C_r = |f|``).

Setting ``dE/dh = 0`` gives the optimal step and the smallest error:

    h* = (C_r eps / (p C_t)) ** (1 / (p + 1)),     E* = E(h*) = (1 + 1/p) * C_r eps / h*

so ``h* ~ sqrt(eps)`` and ``E* ~ sqrt(eps)`` for forward differences,
``h* ~ eps^(1/3)`` and ``E* ~ eps^(2/3)`` for central ones.  Below ``h*`` the error
grows as ``1/h`` (log-log slope -1), above it as ``h^p`` (slope +p).

Richardson extrapolation of central differences, ``(4 D(h/2) - D(h)) / 3``, leaves
``h^4 f^(5) / 480`` and rounds off about ``3 eps |f| / h`` (``p = 4``, ``C_r = 3 |f|``).
The complex step has the truncation of central differences with the opposite sign
and *no* ``1/h`` term: its rounding error is about ``eps |f'|``, whatever ``h``.

Each backend carries its own model (:meth:`gradlab.Backend.error_terms`: a difference scheme
derives it from its stencil, the complex step has its own), and the accuracy chart draws it.
This module holds what is not per-backend: the closed forms above (:class:`ErrorModel`),
whose constants are read *from* a backend's own model (:func:`error_model`), so the closed
forms tested are those of the curve drawn; and the numerical derivatives that set the
constants (:func:`higher_derivatives`).

References
----------
W. H. Press et al., *Numerical Recipes*, 3rd ed., section 5.7;
N. J. Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., section 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import _validate as v
from .backends import get, schemes


@dataclass(frozen=True)
class ErrorModel:
    """``E(h) = c_trunc * h**order + c_round * eps / h`` for one scheme and precision."""

    scheme: str
    order: int
    c_trunc: float
    c_round: float
    eps: float

    def error(self, h: object) -> np.ndarray:
        """Predicted absolute error at step(s) ``h``."""
        h = np.asarray(h, dtype=np.float64)
        return self.c_trunc * h**self.order + self.c_round * self.eps / h

    @property
    def h_opt(self) -> float:
        """The step that minimizes :meth:`error`."""
        if self.c_trunc == 0:
            return float("inf")
        return float((self.c_round * self.eps / (self.order * self.c_trunc)) ** (1.0 / (self.order + 1)))

    @property
    def min_error(self) -> float:
        """The error at :attr:`h_opt`."""
        if self.c_trunc == 0:
            return 0.0
        return float((1.0 + 1.0 / self.order) * self.c_round * self.eps / self.h_opt)


def error_model(scheme: str, *, f0: float, derivative: float, dtype: object = np.float64) -> ErrorModel:
    """The error model of the registered scheme ``scheme`` for a function of magnitude
    ``|f0|``, in closed form: its constants are read from the scheme's own model
    (:meth:`gradlab.Backend.error_terms`, the curve the accuracy chart draws) at ``h = 1``.

    Parameters
    ----------
    scheme : str
        A registered backend whose model has the form ``C_t h^p + C_r eps / h`` (every
        :class:`~gradlab.DifferenceScheme`: "forward", "central", "richardson", ...; not the
        complex step, whose rounding error does not fall with h).
    f0 : float
        The function value (its size sets the rounding error).
    derivative : float
        ``f^(p+1)`` at the point, ``p`` the scheme's order: ``f''`` for forward differences,
        ``f'''`` for central ones, ``f^(5)`` for Richardson.
    dtype : float64 or float32
        The precision whose machine epsilon enters the rounding term.

    Examples
    --------
    >>> m = error_model("central", f0=1.0, derivative=1.0)
    >>> f"{m.h_opt:.2e}, {m.min_error:.1e}"
    '8.73e-06, 3.8e-11'
    """
    b = get(v.choice("scheme", scheme, schemes()))
    eps = float(np.finfo(v.float_dtype("dtype", dtype)).eps)
    form = "a scheme whose error model is C_t h^p + C_r eps / h (a difference scheme)"

    def terms(h: list[float], f: float, d: float) -> tuple[np.ndarray, np.ndarray] | None:
        # one coordinate; grad = 1, so a rounding term that scales with |f'| (not |f| / h) shows
        out = b.error_terms(np.array(h), f0=f, grad=np.ones(1), derivs={b.order + 1: np.array([d])}, eps=eps)
        return None if out is None else tuple(np.asarray(t, dtype=np.float64)[:, 0] for t in out)

    probe = terms([1.0, 2.0], 1.0, 1.0)  # the form: truncation grows 2^p-fold from h = 1 to 2, rounding halves
    if probe is None or not (
        math.isclose(probe[0][1], probe[0][0] * 2.0**b.order, rel_tol=1e-9)
        and math.isclose(probe[1][1], probe[1][0] / 2, rel_tol=1e-9)
        and probe[1][0] > 0
    ):
        raise v.fail("scheme", form, scheme)
    trunc, rnd = terms([1.0], max(abs(float(f0)), np.finfo(float).tiny), abs(float(derivative)))
    return ErrorModel(b.name, b.order, float(trunc[0]), float(rnd[0] / eps), eps)


def higher_derivatives(f: Callable[[float], float], x: float, *, h: float = 2e-2) -> dict[int, float]:
    """``{k: f^(k)(x)}`` for ``k = 1 ... 5`` of a scalar function by wide central stencils:
    enough for the error model of any scheme up to order 4.

    The steps are deliberately large: these constants only scale the model, a few
    correct digits suffice, and a large step keeps rounding away (``eps |f| / h^5``
    is about 7e-8 at ``h = 2e-2``).  Truncation is ``O(h^2)`` for all of them.
    Costs 7 evaluations of ``f``.
    """
    fm3, fm2, fm1, f0, fp1, fp2, fp3 = (float(f(x + k * h)) for k in (-3, -2, -1, 0, 1, 2, 3))
    return {
        1: (fp1 - fm1) / (2 * h),
        2: (fp1 - 2 * f0 + fm1) / h**2,
        3: (fp2 - 2 * fp1 + 2 * fm1 - fm2) / (2 * h**3),
        4: (fp2 - 4 * fp1 + 6 * f0 - 4 * fm1 + fm2) / h**4,
        5: (fp3 - 4 * fp2 + 5 * fp1 - 5 * fm1 + 4 * fm2 - fm3) / (2 * h**5),
    }


def model_for_function(f: Callable[[float], float], x: float, scheme: str, *, dtype: object = np.float64) -> ErrorModel:
    """The error model of ``scheme`` for a scalar function at ``x``, constants estimated numerically."""
    d = higher_derivatives(f, x)
    order = get(v.choice("scheme", scheme, schemes())).order
    if order + 1 not in d:
        raise v.fail("scheme", f"a scheme of order at most {max(d) - 1}", scheme)
    return error_model(scheme, f0=float(f(x)), derivative=d[order + 1], dtype=dtype)
