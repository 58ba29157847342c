"""``Conv2d(c_in, c_out, k, stride, padding)``: 2-D cross-correlation, forward by im2col.

Forward, for ``x`` of shape ``(N, C, H, W)``, zero padding ``p``, stride ``s`` and a
``k x k`` kernel ``W`` of shape ``(F, C, k, k)``::

    xp = x padded by p zeros on each side of H and W           (N, C, H + 2p, W + 2p)
    y[n, f, u, v] = b[f] + sum_{c, i, j} W[f, c, i, j] xp[n, c, s u + i, s v + j]

with ``Ho = (H + 2p - k) // s + 1`` (and ``Wo`` alike) output positions.  *im2col*
gathers, for each kernel offset ``(i, j)``, the strided view ``xp[:, :, i::s, j::s]``
into ``cols[n, (c, i, j), (u, v)]``, so the whole layer is one matmul
``y = W.reshape(F, C k k) @ cols`` (a loop over the k*k offsets, none over samples).

Backward.  ``y`` is linear in ``W``, ``b`` and ``xp``; with ``dy = dJ/dy``:

    dJ/dW[f, (c, i, j)] = sum_{n, (u, v)} dy[n, f, (u, v)] cols[n, (c, i, j), (u, v)]
    dJ/db[f]            = sum_{n, u, v} dy[n, f, u, v]
    dJ/dcols            = W.reshape(F, C k k)^T @ dy
    dJ/dxp[n, c, s u + i, s v + j] += dJ/dcols[n, (c, i, j), (u, v)]      (col2im: overlaps add)
    dJ/dx = dJ/dxp cropped back to [p : p + H, p : p + W]

(the padding zeros are not parameters: their gradient is dropped by the crop).  Linear,
so the complex step applies.  :func:`conv2d_naive` is the six-loop definition above,
used by the tests as the reference of the im2col forward.
"""

from __future__ import annotations

import numpy as np

from .base import Layer, expect, glorot_or_he, nonnegative, positive


def output_size(n: int, k: int, stride: int, padding: int) -> int:
    """Output positions along an axis of ``n`` inputs: ``(n + 2 p - k) // s + 1``."""
    return (n + 2 * padding - k) // stride + 1


def im2col(xp: np.ndarray, k: int, stride: int, ho: int, wo: int) -> np.ndarray:
    """``(N, C, Hp, Wp) -> (N, C, k, k, Ho, Wo)``: the input under each kernel offset."""
    n, c = xp.shape[:2]
    cols = np.empty((n, c, k, k, ho, wo), dtype=xp.dtype)
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = xp[:, :, i : i + stride * ho : stride, j : j + stride * wo : stride]
    return cols


def col2im(dcols: np.ndarray, shape: tuple[int, ...], k: int, stride: int) -> np.ndarray:
    """The adjoint of :func:`im2col`: each offset's gradient added back where it was read."""
    n, c, _, _, ho, wo = dcols.shape
    dxp = np.zeros(shape, dtype=dcols.dtype)
    for i in range(k):
        for j in range(k):
            dxp[:, :, i : i + stride * ho : stride, j : j + stride * wo : stride] += dcols[:, :, i, j]
    return dxp


def conv2d_naive(x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int = 1, padding: int = 0) -> np.ndarray:
    """The definition, one output entry at a time (slow: tests only)."""
    n, c, h, w = x.shape
    f, _, k, _ = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho, wo = output_size(h, k, stride, padding), output_size(w, k, stride, padding)
    y = np.zeros((n, f, ho, wo), dtype=np.result_type(x, W))
    for s in range(n):
        for o in range(f):
            for u in range(ho):
                for v in range(wo):
                    patch = xp[s, :, stride * u : stride * u + k, stride * v : stride * v + k]
                    y[s, o, u, v] = np.sum(W[o] * patch) + b[o]
    return y


class Conv2d(Layer):
    """A 2-D convolution (cross-correlation, as ``torch.nn.Conv2d``) of square kernels."""

    kind = "conv"
    feeds_activation = True

    def __init__(self, c_in: int, c_out: int, k: int, stride: int = 1, padding: int = 0, *, name: str | None = None):
        super().__init__(name=name)
        self.c_in = positive("c_in", c_in, "Conv2d")
        self.c_out = positive("c_out", c_out, "Conv2d")
        self.k = positive("k", k, "Conv2d")
        self.stride = positive("stride", stride, "Conv2d")
        self.padding = nonnegative("padding", padding, "Conv2d")

    def __repr__(self) -> str:
        return f"Conv2d({self.c_in}, {self.c_out}, {self.k}, stride={self.stride}, padding={self.padding})"

    def out_shape(self, in_shape):
        expect(len(in_shape) == 3 and in_shape[0] == self.c_in, self, f"images of shape ({self.c_in}, H, W)", in_shape)
        _, h, w = in_shape
        expect(
            min(h, w) + 2 * self.padding >= self.k,
            self,
            f"images at least {self.k - 2 * self.padding} pixels on a side (kernel {self.k}, padding {self.padding})",
            in_shape,
        )
        ho = output_size(h, self.k, self.stride, self.padding)
        wo = output_size(w, self.k, self.stride, self.padding)
        return (self.c_out, ho, wo)

    def param_shapes(self):
        return {"W": (self.c_out, self.c_in, self.k, self.k), "b": (self.c_out,)}

    def init(self, rng, p, init):
        kk = self.k * self.k
        p["W"][...] = rng.standard_normal(p["W"].shape) * glorot_or_he(init, self.c_in * kk, self.c_out * kk)

    def forward(self, p, x):
        n, _, h, w = x.shape
        s, q, k = self.stride, self.padding, self.k
        ho, wo = output_size(h, k, s, q), output_size(w, k, s, q)
        xp = np.pad(x, ((0, 0), (0, 0), (q, q), (q, q))) if q else x
        cols = im2col(xp, k, s, ho, wo).reshape(n, self.c_in * k * k, ho * wo)
        Wm = p["W"].reshape(self.c_out, -1)
        y = Wm @ cols  # (F, C k k) @ (N, C k k, Ho Wo) -> (N, F, Ho Wo)
        y += p["b"][:, None]
        return y.reshape(n, self.c_out, ho, wo), (x.shape, xp, cols, ho, wo)

    def backward(self, p, cache, dy, g):
        shape, xp, cols, ho, wo = cache
        n = shape[0]
        dy2 = dy.reshape(n, self.c_out, ho * wo)  # (N, F, Ho Wo)
        g["W"][...] = self.dW(cache, dy2).reshape(g["W"].shape)
        g["b"][...] = dy2.sum(axis=(0, 2))
        Wm = p["W"].reshape(self.c_out, -1)
        dcols = Wm.T @ dy2  # (C k k, F) @ (N, F, Ho Wo) -> (N, C k k, Ho Wo)
        dcols = dcols.reshape(n, self.c_in, self.k, self.k, ho, wo)
        dxp = col2im(dcols, xp.shape, self.k, self.stride)
        return self.crop(dxp, shape)

    # local rules
    def dW(self, cache, dy2: np.ndarray) -> np.ndarray:
        """``sum_n dy[n] @ cols[n]^T``: (N, F, Ho Wo) x (N, C k k, Ho Wo) -> (F, C k k)."""
        _, _, cols, _, _ = cache
        return np.tensordot(dy2, cols, axes=([0, 2], [0, 2]))

    def crop(self, dxp: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """The padded input's gradient cropped back to the input: rows and columns ``p .. p + H - 1``."""
        q, (_, _, h, w) = self.padding, shape
        return dxp[:, :, q : q + h, q : q + w]
