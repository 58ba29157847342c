"""``Activation(name)``: a row of gradlab.nn's activation table applied elementwise.

Forward ``a = f(z)``; backward ``dz = da * f'(z)`` with the table's ``f'(z, a)``, which may
reuse the forward output (``tanh' = 1 - a^2``).  Piecewise rows (``relu``, ``leaky_relu``,
``hard_*``) choose their branch on the real part, so the complex step sees the analytic
continuation of the active piece; at a kink the derivative is the table's (``relu'(0) = 0``),
and :meth:`Activation.pieces` tells the checker which side of every kink each ``z`` is on.
"""

from __future__ import annotations

import numpy as np

from ... import _validate as v
from ..activations import ACTIVATIONS
from .base import Layer, re


class Activation(Layer):
    """An elementwise nonlinearity from :data:`gradlab.nn.ACTIVATIONS` (``"relu"``, ``"tanh"``, ...)."""

    kind = "act"

    def __init__(self, name: str):
        super().__init__()  # no parameters, so no block name: ``name`` is the table's row
        self.fn = name
        self.row = ACTIVATIONS[v.choice("activation", name, ACTIVATIONS)]
        self.kinked = bool(self.row.kinks)

    def __repr__(self) -> str:
        return f"Activation({self.fn!r})"

    def forward(self, p, z):
        a = self.row.f(z)
        return a, (z, a)

    def backward(self, p, cache, da, g):
        z, a = cache
        return da * self.fprime(z, a)

    def fprime(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        return self.row.df(z, a)

    def pieces(self, cache):
        if not self.kinked:
            return None
        z, _ = cache
        return np.searchsorted(np.asarray(self.row.kinks), re(z), side="left").astype(np.int8)
