"""Gradient backends behind one interface, in one open registry.

:class:`~.base.Backend` is the interface; :class:`~.difference.DifferenceScheme`
declares a finite-difference scheme by its stencil; :func:`register` adds a backend
(installed packages: the entry-point group ``gradlab.backends``).
"""

from .adaptive import ADAPTIVE, Adaptive
from .analytic import BACKPROP, Analytic
from .base import (
    PALETTE,
    Backend,
    Estimate,
    GradientResult,
    Style,
    all_backends,
    baseline,
    check_references,
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
    schemes,
)
from .forward_ad import FORWARD_AD, ForwardAD
from .front import differentiate, gradient, jacobian
from .second import HessianResult, HVPResult, hessian, hvp

for _backend in (FORWARD, CENTRAL, BACKPROP, RICHARDSON, COMPLEX_STEP, ADAPTIVE, FORWARD_AD):
    register(_backend)

__all__ = [
    "PALETTE",
    "Adaptive",
    "Analytic",
    "Backend",
    "ComplexStep",
    "DifferenceScheme",
    "ForwardAD",
    "Estimate",
    "GradientResult",
    "HVPResult",
    "HessianResult",
    "Richardson",
    "StepTooSmallError",
    "StepUnresolvedError",
    "StepWarning",
    "Style",
    "all_backends",
    "check_references",
    "baseline",
    "differentiate",
    "get",
    "gradient",
    "hessian",
    "hvp",
    "jacobian",
    "names",
    "references",
    "register",
    "schemes",
    "unregister",
]
