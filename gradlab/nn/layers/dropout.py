"""``Dropout(p, seed)``: inverted dropout with a mask fixed by its seed.

Forward ``y = x * m / (1 - p)`` with ``m`` a 0/1 mask, each entry 1 with probability
``1 - p``.  The mask is drawn from ``seed`` for the batch's shape and is the same at every
evaluation, so the objective is a deterministic function of theta that differences and
backprop agree on (a fresh mask per call would make ``f`` random and every difference
quotient noise).  Backward: the same mask, ``dx = dy * m / (1 - p)``.  Linear in ``x``:
the complex step applies.
"""

from __future__ import annotations

import numpy as np

from ... import _validate as v
from .base import Layer


class Dropout(Layer):
    """Inverted dropout, keeping each unit with probability ``1 - p``, its mask fixed by ``seed``."""

    kind = "dropout"

    def __init__(self, p: float = 0.5, seed: int = 0, *, name: str | None = None):
        super().__init__(name=name)
        if isinstance(p, bool) or not isinstance(p, int | float | np.floating) or not 0 <= p < 1:
            raise (TypeError if isinstance(p, bool) or not isinstance(p, int | float | np.floating) else ValueError)(
                f"`p` of Dropout must be a probability in [0, 1); got {p!r}"
            )
        self.p = float(p)
        self.seed = v.seed("seed", seed)
        self._masks: dict[tuple[int, ...], np.ndarray] = {}

    def __repr__(self) -> str:
        return f"Dropout({self.p:g}, seed={self.seed})"

    def mask(self, shape: tuple[int, ...]) -> np.ndarray:
        """The 0/1 mask scaled by ``1 / (1 - p)`` for a batch of ``shape`` (drawn once per shape)."""
        if shape not in self._masks:
            keep = np.random.default_rng(self.seed).random(shape) >= self.p
            self._masks[shape] = keep / (1.0 - self.p)
        return self._masks[shape]

    def forward(self, p, x):
        m = self.mask(x.shape).astype(x.real.dtype, copy=False)
        return x * m, m

    def backward(self, p, m, dy, g):
        return dy * self.dmask(m)

    # local rule
    def dmask(self, m: np.ndarray) -> np.ndarray:
        return m
