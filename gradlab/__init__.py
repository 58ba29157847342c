"""gradlab: finite differences and backpropagation side by side."""

from .check import GradcheckError, GradcheckResult, assert_gradcheck, gradcheck
from .methods import GradientResult, differentiate, gradient
from .methods import names as backends
from .nn import MLP

__version__ = "0.1.0"

__all__ = [
    "MLP",
    "GradcheckError",
    "GradcheckResult",
    "GradientResult",
    "assert_gradcheck",
    "backends",
    "differentiate",
    "gradcheck",
    "gradient",
]
