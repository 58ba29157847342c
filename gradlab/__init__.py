"""gradlab: finite differences and backpropagation side by side."""

from .backends import (
    Backend,
    DifferenceScheme,
    GradientResult,
    HessianResult,
    HVPResult,
    StepTooSmallError,
    StepWarning,
    Style,
    differentiate,
    gradient,
    hessian,
    hvp,
    jacobian,
    register,
    unregister,
)
from .backends import names as backends
from .check import (
    AdjointResult,
    GradcheckError,
    GradcheckResult,
    adjoint_test,
    assert_gradcheck,
    gradcheck,
    taylor_test,
)
from .nn import MLP
from .structure import Structure, flatten

__version__ = "0.3.0"

__all__ = [
    "MLP",
    "AdjointResult",
    "Structure",
    "Backend",
    "DifferenceScheme",
    "GradcheckError",
    "GradcheckResult",
    "GradientResult",
    "HVPResult",
    "HessianResult",
    "StepTooSmallError",
    "StepWarning",
    "Style",
    "adjoint_test",
    "assert_gradcheck",
    "backends",
    "differentiate",
    "flatten",
    "gradcheck",
    "gradient",
    "hessian",
    "hvp",
    "jacobian",
    "register",
    "taylor_test",
    "unregister",
]


def __getattr__(name: str):
    # gradlab.plot imports matplotlib (pyplot): loaded on first use, so `import gradlab` stays light
    if name == "plot":
        import importlib

        return importlib.import_module(f"{__name__}.plot")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
