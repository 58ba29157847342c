"""``Flatten()``: every axis but the batch one into one, ``(N, C, H, W) -> (N, C*H*W)``.

A reshape moves no value, so its backward is the reshape back: ``dx = dy.reshape(x.shape)``.
"""

from __future__ import annotations

import math

from .base import Layer


class Flatten(Layer):
    """Samples of any shape into vectors (row-major, as ``torch.flatten(x, 1)``)."""

    kind = "flatten"

    def out_shape(self, in_shape):
        return (math.prod(in_shape),)

    def forward(self, p, x):
        return x.reshape(x.shape[0], -1), x.shape

    def backward(self, p, shape, dy, g):
        return dy.reshape(shape)
