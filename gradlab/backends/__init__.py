"""Gradient backends behind one interface, in one open registry.

:class:`~.base.Backend` is the interface; :class:`~.difference.DifferenceScheme`
declares a finite-difference scheme by its stencil; :func:`register` adds a backend
(installed packages: the entry-point group ``gradlab.backends``).
"""

from .adaptive import ADAPTIVE, Adaptive
from .analytic import BACKPROP, Analytic
from .base import (
    Backend,
    GradientResult,
    Style,
    all_backends,
    baseline,
    get,
    names,
    references,
    register,
    unregister,
)
from .complex_step import COMPLEX_STEP, ComplexStep
from .difference import (
    CENTRAL,
    FORWARD,
    RICHARDSON,
    DifferenceScheme,
    Richardson,
    StepTooSmallError,
    StepUnresolvedError,
    StepWarning,
)
from .front import differentiate, gradient

for _backend in (FORWARD, CENTRAL, BACKPROP, RICHARDSON, COMPLEX_STEP, ADAPTIVE):
    register(_backend)

__all__ = [
    "Adaptive",
    "Analytic",
    "Backend",
    "ComplexStep",
    "DifferenceScheme",
    "GradientResult",
    "Richardson",
    "StepTooSmallError",
    "StepUnresolvedError",
    "StepWarning",
    "Style",
    "all_backends",
    "baseline",
    "differentiate",
    "get",
    "gradient",
    "names",
    "references",
    "register",
    "unregister",
]
