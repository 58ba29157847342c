"""Gradient backends behind one interface (see :mod:`gradlab.methods.base`).

Importing this package registers the built-in backends.
"""

from . import finite, backprop, richardson, complex_step  # noqa: F401, I001  (registers the backends, in this order)
from .base import Backend, GradientResult, differentiate, get, gradient, names, register

__all__ = ["Backend", "GradientResult", "differentiate", "get", "gradient", "names", "register"]
