"""``BatchNorm(d)`` (train mode) and ``LayerNorm(d)``: normalise, then scale and shift.

Both compute, over a set of ``M`` entries that share a mean (the batch for batch norm,
the last axis for layer norm)::

    mu = mean(x),   var = mean((x - mu)^2),   r = 1 / sqrt(var + eps)
    xhat = (x - mu) r,         y = gamma xhat + beta

Backward.  ``dJ/dgamma = sum dy xhat`` and ``dJ/dbeta = sum dy`` over everything but the
feature axis.  With ``dxhat = dy gamma``, ``x`` reaches ``xhat`` directly and through
``mu`` and ``var``; using ``d mu / dx_i = 1 / M`` and ``d var / dx_i = 2 (x_i - mu) / M``
(the ``x_i - mu`` terms sum to zero), the three paths collapse to

    dx = (r / M) (M dxhat - sum(dxhat) - xhat sum(dxhat xhat))

The two sums are the *mean terms*: dropping them (``dx = r dxhat``) treats the
statistics as constants, the classic batch-norm backward bug.

Batch norm normalises each feature over the batch (axis 0, and the spatial axes of an
image batch ``(N, C, H, W)``: one statistic per channel), so its gradient couples the
samples.  Layer norm normalises each sample over its last axis.  ``sqrt`` of the complex
``var + eps`` (near the positive reals) is analytic: the complex step applies.
"""

from __future__ import annotations

import numpy as np

from .base import Layer, expect, positive

EPS = 1e-5


class _Norm(Layer):
    def __init__(self, d: int, *, eps: float = EPS, name: str | None = None):
        super().__init__(name=name)
        self.d = positive("d", d, type(self).__name__)
        if isinstance(eps, bool) or not isinstance(eps, int | float) or not eps > 0:
            raise ValueError(f"`eps` of {type(self).__name__} must be a positive float; got {eps!r}")
        self.eps = float(eps)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.d})"

    def param_shapes(self):
        return {"gamma": (self.d,), "beta": (self.d,)}

    def init(self, rng, p, init):
        p["gamma"][...] = 1.0

    def normalise(self, x: np.ndarray, axes: tuple[int, ...]):
        mu = x.mean(axis=axes, keepdims=True)
        xc = x - mu
        r = 1.0 / np.sqrt((xc * xc).mean(axis=axes, keepdims=True) + self.eps)
        return xc * r, r


class BatchNorm(_Norm):
    """Batch normalisation in train mode: statistics of the batch, one per feature (axis 1)."""

    kind = "bn"

    def out_shape(self, in_shape):
        expect(len(in_shape) in (1, 3) and in_shape[0] == self.d, self, f"({self.d},) or ({self.d}, H, W)", in_shape)
        return in_shape

    def _axes(self, x):
        return (0, *range(2, x.ndim))

    def _shape(self, x):
        return (1, self.d) + (1,) * (x.ndim - 2)

    def forward(self, p, x):
        axes = self._axes(x)
        xhat, r = self.normalise(x, axes)
        y = xhat * p["gamma"].reshape(self._shape(x)) + p["beta"].reshape(self._shape(x))
        return y, (xhat, r, axes)

    def backward(self, p, cache, dy, g):
        xhat, r, axes = cache
        g["gamma"][...] = (dy * xhat).sum(axis=axes)
        g["beta"][...] = dy.sum(axis=axes)
        return self.dx(xhat, dy * p["gamma"].reshape(self._shape(dy)), r, axes)

    # local rule
    def dx(self, xhat, dxhat, r, axes):
        """``(r / M) (M dxhat - sum dxhat - xhat sum(dxhat xhat))``, sums over the normalised ``axes``."""
        m = np.prod([xhat.shape[a] for a in axes])
        s1 = dxhat.sum(axis=axes, keepdims=True)
        s2 = (dxhat * xhat).sum(axis=axes, keepdims=True)
        return (r / m) * (m * dxhat - s1 - xhat * s2)


class LayerNorm(_Norm):
    """Layer normalisation over the last axis, of size ``d``."""

    kind = "ln"

    def out_shape(self, in_shape):
        expect(len(in_shape) >= 1 and in_shape[-1] == self.d, self, f"{self.d} features on the last axis", in_shape)
        return in_shape

    def forward(self, p, x):
        xhat, r = self.normalise(x, (-1,))
        return xhat * p["gamma"] + p["beta"], (xhat, r)

    def backward(self, p, cache, dy, g):
        xhat, r = cache
        lead = tuple(range(dy.ndim - 1))
        g["gamma"][...] = (dy * xhat).sum(axis=lead)
        g["beta"][...] = dy.sum(axis=lead)
        return self.dx(xhat, dy * p["gamma"], r)

    # local rule
    def dx(self, xhat, dxhat, r, axis: int = -1):
        """``(r / d) (d dxhat - sum dxhat - xhat sum(dxhat xhat))``, sums over the last axis."""
        d = xhat.shape[axis]
        s1 = dxhat.sum(axis=axis, keepdims=True)
        s2 = (dxhat * xhat).sum(axis=axis, keepdims=True)
        return (r / d) * (d * dxhat - s1 - xhat * s2)
