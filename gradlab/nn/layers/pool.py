"""``MaxPool2d(k)`` and ``AvgPool2d(k)``: non-overlapping ``k x k`` windows (stride ``k``).

Both crop ``(N, C, H, W)`` to ``(H // k) k`` rows and ``(W // k) k`` columns (the rest
is not read, as in torch, and gets gradient 0) and view the batch as windows::

    win[n, c, u, v, (i, j)] = x[n, c, k u + i, k v + j]                 (N, C, Ho, Wo, k k)

Average: ``y = mean over the window = (1 / k^2) sum_(i, j) win``, so every entry of a
window receives ``dJ/dx = dy / k^2``.  Linear: the complex step applies.

Max: ``y = win[..., a]`` with ``a = argmax`` of the window.  Away from ties ``y`` is
locally the single entry ``a``, so ``dJ/dx`` is ``dy`` at the argmax and 0 elsewhere.  At
a tie (two entries equal to the maximum) ``max`` has a kink: we send the gradient to the
**first** maximal entry in row-major order within the window (``np.argmax``, as torch's
CPU kernel), one valid subgradient.  :meth:`MaxPool2d.pieces` returns the argmax and the
tie flag of every window, so a step that changes either is seen by the checker as crossing
a kink (it treats those entries as unverifiable instead of comparing across the kink).
For complex input the maximum is taken on the real parts and the complex value at the
argmax is passed on: the analytic continuation of the active piece, for the complex step.
At an exact tie that piece is the one this forward pass chose, and gradcheck measures an
entry whose real stencil would cross a kink again with the complex step on it: a backward
that sends a tied window's gradient elsewhere than the forward's argmax (the last maximum,
say) fails there, one that follows it passes.
"""

from __future__ import annotations

import numpy as np

from .base import Layer, expect, positive, re


class _Pool(Layer):
    kind = "pool"

    def __init__(self, k: int, *, name: str | None = None):
        super().__init__(name=name)
        self.k = positive("k", k, type(self).__name__)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.k})"

    def out_shape(self, in_shape):
        expect(
            len(in_shape) == 3 and min(in_shape[1:]) >= self.k,
            self,
            f"images of shape (C, H, W) with H, W >= {self.k}",
            in_shape,
        )
        c, h, w = in_shape
        return (c, h // self.k, w // self.k)

    def windows(self, x: np.ndarray) -> np.ndarray:
        """``(N, C, H, W) -> (N, C, Ho, Wo, k k)`` (a copy: the transpose is not contiguous)."""
        n, c, h, w = x.shape
        k, ho, wo = self.k, h // self.k, w // self.k
        win = x[:, :, : ho * k, : wo * k].reshape(n, c, ho, k, wo, k)
        return win.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, ho, wo, k * k)

    def unwindow(self, dwin: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """The adjoint of :meth:`windows`: window gradients back in place, 0 in the cropped margin."""
        n, c, h, w = shape
        k, ho, wo = self.k, h // self.k, w // self.k
        dx = np.zeros(shape, dtype=dwin.dtype)
        dx[:, :, : ho * k, : wo * k] = (
            dwin.reshape(n, c, ho, wo, k, k).transpose(0, 1, 2, 4, 3, 5).reshape(n, c, ho * k, wo * k)
        )
        return dx


class MaxPool2d(_Pool):
    """Max over non-overlapping ``k x k`` windows; at ties the gradient goes to the first maximum."""

    kinked = True

    def forward(self, p, x):
        win = self.windows(x)
        wr = re(win)
        a = np.argmax(wr, axis=-1)  # (N, C, Ho, Wo): the first maximum in row-major order
        y = np.take_along_axis(win, a[..., None], axis=-1)[..., 0]
        ties = (wr == re(y)[..., None]).sum(axis=-1) > 1
        return y, (x.shape, win, a, ties)

    def backward(self, p, cache, dy, g):
        shape, win, a, _ = cache
        return self.unwindow(self.route(win, a, dy), shape)

    def pieces(self, cache):
        _, _, a, ties = cache
        return np.stack([a.astype(np.int16), ties.astype(np.int16)])

    # local rule
    def route(self, win: np.ndarray, a: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """Each window's ``dy`` to its argmax entry, 0 to the others: ``(N, C, Ho, Wo, k k)``."""
        dwin = np.zeros(win.shape, dtype=dy.dtype)
        np.put_along_axis(dwin, a[..., None], dy[..., None], axis=-1)
        return dwin


class AvgPool2d(_Pool):
    """Mean over non-overlapping ``k x k`` windows."""

    def forward(self, p, x):
        win = self.windows(x)
        return win.mean(axis=-1), (x.shape, win.shape)

    def backward(self, p, cache, dy, g):
        shape, wshape = cache
        return self.unwindow(np.broadcast_to(self.spread(dy)[..., None], wshape), shape)

    # local rule
    def spread(self, dy: np.ndarray) -> np.ndarray:
        """What each of a window's ``k^2`` entries receives: ``dy / k^2``."""
        return dy / (self.k * self.k)
