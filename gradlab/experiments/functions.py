"""Hard functions with known derivatives, and every method's accuracy and cost on them.

:data:`CASES` are scalar functions of one to four variables, each at one point, written
from the mathematics with its derivative in closed form.  They are hard in the ways a
difference quotient is hard: large and tiny ``x`` (``exp`` at +-700, ``log`` at 1e20 and
1e-5), badly scaled variables (``sin(x0 x1) log x0`` at (100, -0.5)), large higher
derivatives (``x^99`` at 7), points near the edge of the domain or near a singularity
(``log`` and ``sqrt`` near 0, ``tan`` near pi/2, ``sinh`` where ``x + 1`` overflows), and
``|f| >> |f'|`` (rounding dominates).  A family of plain smooth cases is the control.

Each function is written once against a small math namespace, so the same expression
runs in numpy (real or complex ``x``: the complex step can use it) and in mpmath, where
the closed-form derivative is evaluated at the exact binary value of the point with 50
significant digits: the reference is exact to double precision.  No derivative is 0.

:func:`run` (also called :func:`accuracy`, its arguments spelled out) runs every method on
every case of :class:`FunctionsParams` and returns one row per (case, method, entry);
:func:`summary` reduces it to the table of the issue (median and 90th percentile of the
relative error, failures, evaluations per entry, how often the method's own error estimate
bounds its true error).  ``python -m gradlab.experiments.functions`` prints it.

Peers are optional: ``numdifftools`` (``Derivative`` for one variable, ``Gradient``
otherwise) and ``scipy.differentiate.derivative`` (one coordinate at a time) run when
importable and are skipped otherwise; mpmath is needed for the exact derivatives.
"""

from __future__ import annotations

import functools
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd

from ..backends import differentiate, references

#: significant decimal digits of the exact derivatives
DIGITS = 50


class OutsideDomain(ValueError):
    """Raised by the functions that refuse points outside their domain (instead of nan)."""


def _require(ok) -> None:
    if not bool(np.all(np.real(ok))):
        raise OutsideDomain("outside the domain of f")


def numpy_namespace() -> SimpleNamespace:
    return SimpleNamespace(
        exp=np.exp, log=np.log, sqrt=np.sqrt, sin=np.sin, cos=np.cos, tan=np.tan, sinh=np.sinh, cosh=np.cosh,
        tanh=np.tanh, atan=np.arctan, asin=np.arcsin, atanh=np.arctanh, expm1=np.expm1, log1p=np.log1p,
        require=_require, real=np.real,
    )  # fmt: skip


def mpmath_namespace() -> SimpleNamespace:
    import mpmath

    return SimpleNamespace(
        exp=mpmath.exp, log=mpmath.log, sqrt=mpmath.sqrt, sin=mpmath.sin, cos=mpmath.cos, tan=mpmath.tan,
        sinh=mpmath.sinh, cosh=mpmath.cosh, tanh=mpmath.tanh, atan=mpmath.atan, asin=mpmath.asin,
        atanh=mpmath.atanh, expm1=mpmath.expm1, log1p=mpmath.log1p, require=lambda ok: None, real=lambda t: t,
    )  # fmt: skip


NP = numpy_namespace()


@dataclass(frozen=True)
class Case:
    """One function at one point.

    ``f(x, m)`` and ``df(x, m)`` (the gradient, a tuple) use the math namespace ``m``:
    numpy for evaluation, mpmath for the exact derivative.  ``smooth``: analytic on a
    neighbourhood of the point much wider than any default step, with no domain edge,
    overflow or singularity in reach (the cases on which an error estimate must hold).
    """

    name: str
    family: str
    x: tuple[float, ...]
    f: Callable
    df: Callable
    smooth: bool = False

    def function(self) -> Callable[[np.ndarray], object]:
        """``f(x)`` on a numpy vector (float or complex)."""
        f = self.f
        return lambda x: f(x, NP)

    @property
    def point(self) -> np.ndarray:
        return np.array(self.x, dtype=np.float64)

    def exact(self) -> np.ndarray:
        """The gradient from its closed form in ``DIGITS``-digit arithmetic, rounded to float64
        (computed once per case)."""
        return _exact(self).copy()


@functools.cache
def _exact(case: Case) -> np.ndarray:
    import mpmath

    with mpmath.workdps(DIGITS):
        xs = [mpmath.mpf(v) for v in case.x]  # the exact binary value of the point
        return np.array([float(d) for d in case.df(xs, mpmath_namespace())], dtype=np.float64)


def _c(name, family, x, f, df, smooth=False) -> Case:
    return Case(name, family, tuple(float(v) for v in np.atleast_1d(x)), f, df, smooth)


L, S, H, D, M, C = "large and tiny", "badly scaled", "high derivatives", "limited domain", "multivariate", "smooth"

CASES: tuple[Case, ...] = (
    # -- large and tiny x, large and tiny f --------------------------------------------------------
    _c("exp at 700", L, 700.0, lambda x, m: m.exp(x[0]), lambda x, m: (m.exp(x[0]),)),
    _c("exp at -700", L, -700.0, lambda x, m: m.exp(x[0]), lambda x, m: (m.exp(x[0]),)),
    _c("exp at -708", L, -708.0, lambda x, m: m.exp(x[0]), lambda x, m: (m.exp(x[0]),)),
    _c("exp(x - 700) at 0", L, 0.0, lambda x, m: m.exp(x[0] - 700), lambda x, m: (m.exp(x[0] - 700),)),
    _c("x exp(-x) at 700", L, 700.0, lambda x, m: x[0] * m.exp(-x[0]), lambda x, m: ((1 - x[0]) * m.exp(-x[0]),)),
    _c("log at 1e20", L, 1e20, lambda x, m: m.log(x[0]), lambda x, m: (1 / x[0],)),
    _c("log at 1e300", L, 1e300, lambda x, m: m.log(x[0]), lambda x, m: (1 / x[0],)),
    _c("log at 1e-5", L, 1e-5, lambda x, m: m.log(x[0]), lambda x, m: (1 / x[0],)),
    _c("log at 1e-300", L, 1e-300, lambda x, m: m.log(x[0]), lambda x, m: (1 / x[0],)),
    _c("sqrt at 1e10", L, 1e10, lambda x, m: m.sqrt(x[0]), lambda x, m: (1 / (2 * m.sqrt(x[0])),)),
    _c("sqrt at 1e-10", L, 1e-10, lambda x, m: m.sqrt(x[0]), lambda x, m: (1 / (2 * m.sqrt(x[0])),)),
    _c("1/x at 1e-8", L, 1e-8, lambda x, m: 1 / x[0], lambda x, m: (-1 / x[0] ** 2,)),
    _c("1/x at 1e150", L, 1e150, lambda x, m: 1 / x[0], lambda x, m: (-1 / x[0] ** 2,)),
    _c("sin at 1e6", L, 1e6, lambda x, m: m.sin(x[0]), lambda x, m: (m.cos(x[0]),)),
    _c("sin at 1e-8", L, 1e-8, lambda x, m: m.sin(x[0]), lambda x, m: (m.cos(x[0]),)),
    _c("atan at 1e10", L, 1e10, lambda x, m: m.atan(x[0]), lambda x, m: (1 / (1 + x[0] ** 2),)),
    _c("tanh at 20", L, 20.0, lambda x, m: m.tanh(x[0]), lambda x, m: (1 / m.cosh(x[0]) ** 2,)),
    _c("sinh at 710", L, 710.0, lambda x, m: m.sinh(x[0]), lambda x, m: (m.cosh(x[0]),)),
    _c("cosh at -710", L, -710.0, lambda x, m: m.cosh(x[0]), lambda x, m: (m.sinh(x[0]),)),
    _c("expm1 at 1e-10", L, 1e-10, lambda x, m: m.expm1(x[0]), lambda x, m: (m.exp(x[0]),)),
    _c("log1p at 1e-12", L, 1e-12, lambda x, m: m.log1p(x[0]), lambda x, m: (1 / (1 + x[0]),)),
    # -- badly scaled: the variable's own size says nothing of the scale on which f varies ----------
    _c("sin(1e6 x) at 1e-3", S, 1e-3, lambda x, m: m.sin(1e6 * x[0]), lambda x, m: (1e6 * m.cos(1e6 * x[0]),)),
    _c("exp(1e4 x) at 0.05", S, 0.05, lambda x, m: m.exp(1e4 * x[0]), lambda x, m: (1e4 * m.exp(1e4 * x[0]),)),
    _c("cos(x / 1e6) at 1", S, 1.0, lambda x, m: m.cos(x[0] / 1e6), lambda x, m: (-m.sin(x[0] / 1e6) / 1e6,)),
    _c("1e10 + x^2 at 0.01", S, 0.01, lambda x, m: 1e10 + x[0] ** 2, lambda x, m: (2 * x[0],)),
    _c("1e6 + sin at 1", S, 1.0, lambda x, m: 1e6 + m.sin(x[0]), lambda x, m: (m.cos(x[0]),)),
    _c(
        "sin(x0 x1) log x0 at (100, -0.5)",
        S,
        (100.0, -0.5),
        lambda x, m: m.sin(x[0] * x[1]) * m.log(x[0]),
        lambda x, m: (
            x[1] * m.cos(x[0] * x[1]) * m.log(x[0]) + m.sin(x[0] * x[1]) / x[0],
            x[0] * m.cos(x[0] * x[1]) * m.log(x[0]),
        ),
    ),
    _c(
        "1e6 x0^2 + 1e-6 x1^2 at (1, 1)",
        S,
        (1.0, 1.0),
        lambda x, m: 1e6 * x[0] ** 2 + 1e-6 * x[1] ** 2,
        lambda x, m: (2e6 * x[0], 2e-6 * x[1]),
    ),
    _c("x0 x1 at (1e10, 1e-10)", S, (1e10, 1e-10), lambda x, m: x[0] * x[1], lambda x, m: (x[1], x[0])),
    _c(
        "exp(x0) x1^2 at (700, 1e-3)",
        S,
        (700.0, 1e-3),
        lambda x, m: m.exp(x[0]) * x[1] ** 2,
        lambda x, m: (m.exp(x[0]) * x[1] ** 2, 2 * x[1] * m.exp(x[0])),
    ),
    _c(
        "log x0 + x1^2 at (1e-5, 1e5)",
        S,
        (1e-5, 1e5),
        lambda x, m: m.log(x[0]) + x[1] ** 2,
        lambda x, m: (1 / x[0], 2 * x[1]),
    ),
    _c(
        "sin(1e8 x0) + 1e-8 x1^2 at (1e-9, 3)",
        S,
        (1e-9, 3.0),
        lambda x, m: m.sin(1e8 * x[0]) + 1e-8 * x[1] ** 2,
        lambda x, m: (1e8 * m.cos(1e8 * x[0]), 2e-8 * x[1]),
    ),
    _c(
        "sum exp(10^k x_k), k = -2..1, at 0.3",
        S,
        (0.3, 0.3, 0.3, 0.3),
        lambda x, m: sum(m.exp(10.0**k * x[k + 2]) for k in range(-2, 2)),
        lambda x, m: tuple(10.0**k * m.exp(10.0**k * x[k + 2]) for k in range(-2, 2)),
    ),
    # -- large higher derivatives ------------------------------------------------------------------
    _c("x^99 at 7", H, 7.0, lambda x, m: x[0] ** 99, lambda x, m: (99 * x[0] ** 98,)),
    _c("x^50 at 2", H, 2.0, lambda x, m: x[0] ** 50, lambda x, m: (50 * x[0] ** 49,)),
    _c("x^-10 at 0.5", H, 0.5, lambda x, m: x[0] ** -10, lambda x, m: (-10 * x[0] ** -11,)),
    _c("exp(50 x) at 0.1", H, 0.1, lambda x, m: m.exp(50 * x[0]), lambda x, m: (50 * m.exp(50 * x[0]),)),
    _c("sin(100 x) at 1", H, 1.0, lambda x, m: m.sin(100 * x[0]), lambda x, m: (100 * m.cos(100 * x[0]),)),
    _c("cos(1000 x) at 0.5", H, 0.5, lambda x, m: m.cos(1000 * x[0]), lambda x, m: (-1000 * m.sin(1000 * x[0]),)),
    _c(
        "1/(1 + 25 x^2) at 0.3",
        H,
        0.3,
        lambda x, m: 1 / (1 + 25 * x[0] ** 2),
        lambda x, m: (-50 * x[0] / (1 + 25 * x[0] ** 2) ** 2,),
    ),
    _c(
        "exp(-x^2 / 1e-6) at 1e-3",
        H,
        1e-3,
        lambda x, m: m.exp(-(x[0] ** 2) / 1e-6),
        lambda x, m: (-2 * x[0] / 1e-6 * m.exp(-(x[0] ** 2) / 1e-6),),
    ),
    _c("tan at 1.5707963", H, 1.5707963, lambda x, m: m.tan(x[0]), lambda x, m: (1 / m.cos(x[0]) ** 2,)),
    _c("1/(x - 1) at 1.001", H, 1.001, lambda x, m: 1 / (x[0] - 1), lambda x, m: (-1 / (x[0] - 1) ** 2,)),
    _c(
        "x^10 log x at 3",
        H,
        3.0,
        lambda x, m: x[0] ** 10 * m.log(x[0]),
        lambda x, m: (x[0] ** 9 * (1 + 10 * m.log(x[0])),),
    ),
    _c(
        "exp(sin(10 x)) at 0.5",
        H,
        0.5,
        lambda x, m: m.exp(m.sin(10 * x[0])),
        lambda x, m: (10 * m.cos(10 * x[0]) * m.exp(m.sin(10 * x[0])),),
    ),
    _c("exp(exp x) at 3", H, 3.0, lambda x, m: m.exp(m.exp(x[0])), lambda x, m: (m.exp(x[0] + m.exp(x[0])),)),
    _c("sin(x^2) at 30", H, 30.0, lambda x, m: m.sin(x[0] ** 2), lambda x, m: (2 * x[0] * m.cos(x[0] ** 2),)),
    _c("sin^10 at 1", H, 1.0, lambda x, m: m.sin(x[0]) ** 10, lambda x, m: (10 * m.sin(x[0]) ** 9 * m.cos(x[0]),)),
    # -- limited domain: a step may leave it on one side -------------------------------------------
    _c("log at 1e-3", D, 1e-3, lambda x, m: m.log(x[0]), lambda x, m: (1 / x[0],)),
    _c("sqrt at 1e-12", D, 1e-12, lambda x, m: m.sqrt(x[0]), lambda x, m: (1 / (2 * m.sqrt(x[0])),)),
    _c("1/sqrt at 1e-6", D, 1e-6, lambda x, m: 1 / m.sqrt(x[0]), lambda x, m: (-1 / (2 * x[0] * m.sqrt(x[0])),)),
    _c("x log x at 1e-8", D, 1e-8, lambda x, m: x[0] * m.log(x[0]), lambda x, m: (m.log(x[0]) + 1,)),
    _c("x^1.5 at 1e-9", D, 1e-9, lambda x, m: x[0] ** 1.5, lambda x, m: (1.5 * m.sqrt(x[0]),)),
    _c("asin at 1 - 1e-6", D, 1 - 1e-6, lambda x, m: m.asin(x[0]), lambda x, m: (1 / m.sqrt(1 - x[0] ** 2),)),
    _c(
        "sqrt(1 - x^2) at 0.9999999",
        D,
        0.9999999,
        lambda x, m: m.sqrt(1 - x[0] ** 2),
        lambda x, m: (-x[0] / m.sqrt(1 - x[0] ** 2),),
    ),
    _c("log(1 - x) at 1 - 1e-8", D, 1 - 1e-8, lambda x, m: m.log(1 - x[0]), lambda x, m: (-1 / (1 - x[0]),)),
    _c("atanh at 1 - 1e-9", D, 1 - 1e-9, lambda x, m: m.atanh(x[0]), lambda x, m: (1 / (1 - x[0] ** 2),)),
    _c(
        "log log x at 1.0001",
        D,
        1.0001,
        lambda x, m: m.log(m.log(x[0])),
        lambda x, m: (1 / (x[0] * m.log(x[0])),),
    ),
    _c(
        "x^3 + x, nan below 0, at 1e-9",
        D,
        1e-9,
        lambda x, m: (x[0] ** 3 + x[0]) * m.sqrt(x[0]) / m.sqrt(x[0]),
        lambda x, m: (3 * x[0] ** 2 + 1,),
    ),
    _c(
        "exp, raising below 0, at 0",
        D,
        0.0,
        lambda x, m: (m.require(m.real(x[0]) >= 0), m.exp(x[0]))[1],
        lambda x, m: (m.exp(x[0]),),
    ),
    _c(
        "log, raising below 1e-7, at 1e-6",
        D,
        1e-6,
        lambda x, m: (m.require(m.real(x[0]) >= 1e-7), m.log(x[0]))[1],
        lambda x, m: (1 / x[0],),
    ),
    _c(
        "sqrt(x0) + log(x1) at (1e-10, 1e-4)",
        D,
        (1e-10, 1e-4),
        lambda x, m: m.sqrt(x[0]) + m.log(x[1]),
        lambda x, m: (1 / (2 * m.sqrt(x[0])), 1 / x[1]),
    ),
    # -- multivariate, classic test functions --------------------------------------------------------
    _c(
        "Rosenbrock at (-1.2, 1)",
        M,
        (-1.2, 1.0),
        lambda x, m: (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2,
        lambda x, m: (-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2), 200 * (x[1] - x[0] ** 2)),
        True,
    ),
    _c(
        "Beale at (3.1, 0.4)",
        M,
        (3.1, 0.4),
        lambda x, m: sum((c - x[0] + x[0] * x[1] ** k) ** 2 for k, c in ((1, 1.5), (2, 2.25), (3, 2.625))),
        lambda x, m: (
            sum(2 * (c - x[0] + x[0] * x[1] ** k) * (x[1] ** k - 1) for k, c in ((1, 1.5), (2, 2.25), (3, 2.625))),
            sum(
                2 * (c - x[0] + x[0] * x[1] ** k) * k * x[0] * x[1] ** (k - 1)
                for k, c in ((1, 1.5), (2, 2.25), (3, 2.625))
            ),
        ),
        True,
    ),
    _c(
        "x0^2 x1 + x0 sin x2 at (1, 2, 3)",
        M,
        (1.0, 2.0, 3.0),
        lambda x, m: x[0] ** 2 * x[1] + x[0] * m.sin(x[2]),
        lambda x, m: (2 * x[0] * x[1] + m.sin(x[2]), x[0] ** 2, x[0] * m.cos(x[2])),
        True,
    ),
    _c(
        "exp(x0) sin(x1) at (0.5, 1.2)",
        M,
        (0.5, 1.2),
        lambda x, m: m.exp(x[0]) * m.sin(x[1]),
        lambda x, m: (m.exp(x[0]) * m.sin(x[1]), m.exp(x[0]) * m.cos(x[1])),
        True,
    ),
    _c(
        "log(1 + x0^2 + x1^2) at (0.3, -0.7)",
        M,
        (0.3, -0.7),
        lambda x, m: m.log(1 + x[0] ** 2 + x[1] ** 2),
        lambda x, m: (2 * x[0] / (1 + x[0] ** 2 + x[1] ** 2), 2 * x[1] / (1 + x[0] ** 2 + x[1] ** 2)),
        True,
    ),
    _c(
        "exp(-(x0^2 + x1^2 + x2^2)) at (0.2, 0.4, -0.3)",
        M,
        (0.2, 0.4, -0.3),
        lambda x, m: m.exp(-(x[0] ** 2 + x[1] ** 2 + x[2] ** 2)),
        lambda x, m: tuple(-2 * x[k] * m.exp(-(x[0] ** 2 + x[1] ** 2 + x[2] ** 2)) for k in range(3)),
        True,
    ),
    _c(
        "tanh(x0 + 2 x1) at (0.1, 0.2)",
        M,
        (0.1, 0.2),
        lambda x, m: m.tanh(x[0] + 2 * x[1]),
        lambda x, m: (1 / m.cosh(x[0] + 2 * x[1]) ** 2, 2 / m.cosh(x[0] + 2 * x[1]) ** 2),
        True,
    ),
    # -- smooth, well scaled: the control ----------------------------------------------------------
    _c("sin at 1", C, 1.0, lambda x, m: m.sin(x[0]), lambda x, m: (m.cos(x[0]),), True),
    _c("cos at 2", C, 2.0, lambda x, m: m.cos(x[0]), lambda x, m: (-m.sin(x[0]),), True),
    _c("cos at 0.1", C, 0.1, lambda x, m: m.cos(x[0]), lambda x, m: (-m.sin(x[0]),), True),
    _c("exp at 1", C, 1.0, lambda x, m: m.exp(x[0]), lambda x, m: (m.exp(x[0]),), True),
    _c("exp at -3", C, -3.0, lambda x, m: m.exp(x[0]), lambda x, m: (m.exp(x[0]),), True),
    _c("log at 2", C, 2.0, lambda x, m: m.log(x[0]), lambda x, m: (1 / x[0],), True),
    _c("sqrt at 4", C, 4.0, lambda x, m: m.sqrt(x[0]), lambda x, m: (1 / (2 * m.sqrt(x[0])),), True),
    _c("atan at 0.5", C, 0.5, lambda x, m: m.atan(x[0]), lambda x, m: (1 / (1 + x[0] ** 2),), True),
    _c("tanh at 0.3", C, 0.3, lambda x, m: m.tanh(x[0]), lambda x, m: (1 / m.cosh(x[0]) ** 2,), True),
    _c("x^3 at 2", C, 2.0, lambda x, m: x[0] ** 3, lambda x, m: (3 * x[0] ** 2,), True),
    _c("1/(1 + x) at 1", C, 1.0, lambda x, m: 1 / (1 + x[0]), lambda x, m: (-1 / (1 + x[0]) ** 2,), True),
    _c("x exp(-x) at 3", C, 3.0, lambda x, m: x[0] * m.exp(-x[0]), lambda x, m: ((1 - x[0]) * m.exp(-x[0]),), True),
    _c(
        "sin x cos x at 0.7",
        C,
        0.7,
        lambda x, m: m.sin(x[0]) * m.cos(x[0]),
        lambda x, m: (m.cos(x[0]) ** 2 - m.sin(x[0]) ** 2,),
        True,
    ),
    _c(
        "exp(-x^2) at 0.8",
        C,
        0.8,
        lambda x, m: m.exp(-(x[0] ** 2)),
        lambda x, m: (-2 * x[0] * m.exp(-(x[0] ** 2)),),
        True,
    ),
    _c("sinh at -1.5", C, -1.5, lambda x, m: m.sinh(x[0]), lambda x, m: (m.cosh(x[0]),), True),
    _c("x^5 - 3 x at -1.3", C, -1.3, lambda x, m: x[0] ** 5 - 3 * x[0], lambda x, m: (5 * x[0] ** 4 - 3,), True),
    _c(
        "sin(3 x) + x^2 at 0.4",
        C,
        0.4,
        lambda x, m: m.sin(3 * x[0]) + x[0] ** 2,
        lambda x, m: (3 * m.cos(3 * x[0]) + 2 * x[0],),
        True,
    ),
    _c(
        "sqrt(1 + x^2) at 2.5",
        C,
        2.5,
        lambda x, m: m.sqrt(1 + x[0] ** 2),
        lambda x, m: (x[0] / m.sqrt(1 + x[0] ** 2),),
        True,
    ),
    _c(
        "log(2 + sin x) at 5",
        C,
        5.0,
        lambda x, m: m.log(2 + m.sin(x[0])),
        lambda x, m: (m.cos(x[0]) / (2 + m.sin(x[0])),),
        True,
    ),
    _c("exp at 10", C, 10.0, lambda x, m: m.exp(x[0]), lambda x, m: (m.exp(x[0]),), True),
    _c("atan at -20", C, -20.0, lambda x, m: m.atan(x[0]), lambda x, m: (1 / (1 + x[0] ** 2),), True),
)


# -- methods: gradlab backends and optional peers -----------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one method returned for one case: the gradient, its cost, its own error estimate."""

    gradient: np.ndarray
    evaluations: int
    estimate: np.ndarray | None = None
    #: of ``evaluations``, those spent looking at f's scale (GradientResult.looks)
    looks: int = 0


class _Counting:
    """``f`` with a call counter (independent of gradlab's own count)."""

    def __init__(self, f: Callable):
        self.f, self.calls = f, 0

    def __call__(self, x):
        self.calls += 1
        return self.f(x)


def backend_method(name: str) -> Callable[[Case], Outcome]:
    def run(case: Case) -> Outcome:
        f = _Counting(case.function())
        r = differentiate(f, case.point, backend=name)
        return Outcome(np.asarray(r.gradient, dtype=np.float64), f.calls, r.error, r.looks)

    return run


def _numdifftools(case: Case) -> Outcome:
    import numdifftools as nd

    f = case.function()
    calls = 0

    if len(case.x) == 1:

        def g(t):
            nonlocal calls
            t = np.asarray(t, dtype=np.float64)
            calls += t.size
            return np.vectorize(lambda s: float(f(np.array([s]))))(t) if t.ndim else f(t.reshape(1))

        r = nd.Derivative(g, full_output=True)(case.x[0])
        grad, est = np.atleast_1d(np.asarray(r.estimate, dtype=np.float64)), np.atleast_1d(r.error_estimate)
    else:

        def g(x):
            nonlocal calls
            calls += 1
            return f(np.asarray(x, dtype=np.float64))

        r = nd.Gradient(g, full_output=True)(case.point)
        grad, est = np.asarray(r.estimate, dtype=np.float64).reshape(-1), np.asarray(r.error_estimate).reshape(-1)
    return Outcome(grad, calls, est.astype(np.float64))


def _scipy(case: Case) -> Outcome:
    from scipy.differentiate import derivative

    f = case.function()
    x = case.point
    calls = 0
    grad, est = np.empty(x.size), np.empty(x.size)
    for i in range(x.size):

        def along(t, i=i):
            nonlocal calls
            t = np.asarray(t, dtype=np.float64)
            out = np.empty(t.shape)
            for k, ti in np.ndenumerate(t):
                calls += 1
                xi = x.copy()
                xi[i] = ti
                try:
                    out[k] = f(xi)
                except (ValueError, ArithmeticError):
                    out[k] = np.nan
            return out

        res = derivative(along, x[i])
        grad[i], est[i] = float(res.df), float(res.error)
    return Outcome(grad, calls, est)


def peer_methods() -> dict[str, Callable[[Case], Outcome]]:
    out = {}
    try:
        import scipy.differentiate  # noqa: F401

        out["scipy.differentiate"] = _scipy
    except ImportError:
        pass
    try:
        import numdifftools  # noqa: F401

        out["numdifftools"] = _numdifftools
    except ImportError:
        pass
    return out


def methods(*, peers: bool = True) -> dict[str, Callable[[Case], Outcome]]:
    """Every gradlab backend that takes a step (from the registry), then the installed peers."""
    out = {name: backend_method(name) for name in references()}
    if peers:
        out.update(peer_methods())
    return out


# -- the experiment ---------------------------------------------------------------------------------


def accuracy(
    cases: Sequence[Case] = CASES, methods_: dict[str, Callable[[Case], Outcome]] | None = None
) -> pd.DataFrame:
    """Every method on every case: one row per (function, method, entry).

    Columns: ``function, family, smooth, method, entry, exact, estimate_value, rel_error``
    (``inf`` where the method failed: it raised or returned a non-finite number),
    ``abs_error``, ``estimate`` (the method's own error estimate; nan where it gives none),
    ``bounded`` (estimate >= true error; ``<NA>`` without an estimate), ``evaluations_per_entry``,
    ``look_evaluations`` (of the case's evaluations, those a large default step spent looking at f's scale),
    ``seconds`` (wall time of the whole case), ``failed`` and ``message``.
    """
    chosen = methods() if methods_ is None else methods_
    rows = []
    for case in cases:
        exact = case.exact()
        n = exact.size
        for name, run in chosen.items():
            t0 = time.perf_counter()
            message = ""
            try:
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    out = run(case)
                grad = np.asarray(out.gradient, dtype=np.float64).reshape(-1)
                est = None if out.estimate is None else np.asarray(out.estimate, dtype=np.float64).reshape(-1)
                evals, looks = out.evaluations / n, out.looks
            except Exception as exc:  # a method that raises has failed on this case; say how
                grad, est, evals, message = np.full(n, np.nan), None, math.nan, f"{type(exc).__name__}: {exc}"
                looks = 0
            seconds = time.perf_counter() - t0
            for i in range(n):
                failed = not math.isfinite(grad[i])
                abs_err = math.inf if failed else abs(grad[i] - exact[i])
                e = math.nan if est is None else float(est[i])
                rows.append(
                    {
                        "function": case.name,
                        "family": case.family,
                        "smooth": case.smooth,
                        "method": name,
                        "entry": i,
                        "exact": exact[i],
                        "value": grad[i],
                        "rel_error": abs_err / abs(exact[i]),
                        "abs_error": abs_err,
                        "estimate": e,
                        "bounded": pd.NA if failed or math.isnan(e) else bool(e >= abs_err),
                        "evaluations_per_entry": evals,
                        "look_evaluations": looks,
                        "seconds": seconds,
                        "failed": failed,
                        "message": message or ("" if not failed else "non-finite result"),
                    }
                )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class FunctionsParams:
    """The experiment of this module: every method of :func:`methods` (the installed peers too,
    when ``peers``) on every case of ``cases``."""

    cases: tuple[Case, ...] = CASES
    peers: bool = True

    def describe(self) -> str:
        """What ran, in one sentence."""
        entries = sum(len(c.x) for c in self.cases)
        return (
            f"{len(self.cases)} functions ({entries} gradient entries) against their exact derivatives to "
            f"{DIGITS} digits; methods: {', '.join(methods(peers=self.peers))}."
        )


def run(params: FunctionsParams = FunctionsParams()) -> pd.DataFrame:
    """:func:`accuracy` of ``params``: one row per (function, method, entry); the shape every
    experiment's entry point has (``run(params) -> DataFrame``, then ``summary``)."""
    return accuracy(params.cases, methods(peers=params.peers))


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per method: ``median`` and ``p90`` relative error over all entries (a failure counts
    as an infinite error), ``fails`` (entries), ``evaluations_per_entry`` (all evaluations
    over all entries), ``bounds`` (fraction of entries with an estimate whose estimate is at
    least the true error) and ``bounds_smooth`` (the same on the smooth cases)."""
    out = []
    for method, g in df.groupby("method", sort=False):
        rel = g["rel_error"].to_numpy(dtype=np.float64)
        per_case = g.groupby("function", sort=False).agg(n=("entry", "size"), e=("evaluations_per_entry", "first"))
        ok = per_case["e"].notna()
        evals = float((per_case["e"][ok] * per_case["n"][ok]).sum() / per_case["n"][ok].sum()) if ok.any() else math.nan
        b = g["bounded"].dropna()
        bs = g.loc[g["smooth"], "bounded"].dropna()
        out.append(
            {
                "method": method,
                "median": float(np.quantile(rel, 0.5, method="inverted_cdf")),
                "p90": float(np.quantile(rel, 0.9, method="inverted_cdf")),
                "fails": int(g["failed"].sum()),
                "evaluations_per_entry": evals,
                "bounds": float(b.astype(bool).mean()) if len(b) else math.nan,
                "bounds_smooth": float(bs.astype(bool).mean()) if len(bs) else math.nan,
                "entries": len(g),
            }
        )
    return pd.DataFrame(out)


def markdown(table: pd.DataFrame) -> str:
    """The summary as the issue's markdown table."""

    def num(v: float) -> str:
        return "fail" if math.isinf(v) else "-" if math.isnan(v) else f"{v:.1e}"

    lines = [
        "| method | median rel. error | p90 | fails | evaluations per entry | estimate bounds error (all / smooth) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in table.itertuples():
        bounds = "-" if math.isnan(r.bounds) else f"{r.bounds:.0%} / {r.bounds_smooth:.0%}"
        lines.append(
            f"| {r.method} | {num(r.median)} | {num(r.p90)} | {r.fails} | {r.evaluations_per_entry:.1f} | {bounds} |"
        )
    return "\n".join(lines)


def main() -> None:  # pragma: no cover - the printed table
    params = FunctionsParams()
    print(params.describe() + "\n")
    print(markdown(summary(run(params))))


if __name__ == "__main__":  # pragma: no cover
    main()
