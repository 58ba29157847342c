"""``Dense(n_in, n_out)``: an affine map on the last axis, ``y = x W^T + b``.

Forward, for ``x`` of shape ``(..., n_in)`` (a batch of vectors, or of sequences)::

    y = x @ W.T + b          W: (n_out, n_in), b: (n_out,)

Backward.  With ``dy = dJ/dy`` and every leading axis flattened into ``M`` rows,
``y[r, i] = sum_j x[r, j] W[i, j] + b[i]`` gives

    dJ/dW[i, j] = sum_r dy[r, i] x[r, j]      i.e.  dW = dy^T @ x
    dJ/db[i]    = sum_r dy[r, i]
    dJ/dx[r, j] = sum_i dy[r, i] W[i, j]      i.e.  dx = dy @ W

(the MLP's BP3 and BP4, and BP2 before the activation's derivative).  Linear, so the
complex step applies.
"""

from __future__ import annotations

import numpy as np

from .base import Layer, expect, glorot_or_he, positive


class Dense(Layer):
    """A fully connected layer ``y = x W^T + b`` on the last axis (the convention of ``torch.nn.Linear``)."""

    kind = "dense"
    feeds_activation = True

    def __init__(self, n_in: int, n_out: int, *, name: str | None = None):
        super().__init__(name=name)
        self.n_in = positive("n_in", n_in, "Dense")
        self.n_out = positive("n_out", n_out, "Dense")

    def __repr__(self) -> str:
        return f"Dense({self.n_in}, {self.n_out})"

    def out_shape(self, in_shape):
        expect(
            len(in_shape) >= 1 and in_shape[-1] == self.n_in, self, f"{self.n_in} features on the last axis", in_shape
        )
        return (*in_shape[:-1], self.n_out)

    def param_shapes(self):
        return {"W": (self.n_out, self.n_in), "b": (self.n_out,)}

    def init(self, rng, p, init):
        p["W"][...] = rng.standard_normal(p["W"].shape) * glorot_or_he(init, self.n_in, self.n_out)

    def forward(self, p, x):
        y = x @ p["W"].T  # (..., n_in) @ (n_in, n_out) -> (..., n_out)
        y += p["b"]
        return y, x

    def backward(self, p, x, dy, g):
        dy2 = dy.reshape(-1, self.n_out)  # every leading axis is a row: (M, n_out)
        x2 = x.reshape(-1, self.n_in)  # (M, n_in)
        g["W"][...] = self.dW(dy2, x2)
        g["b"][...] = self.db(dy2)
        return dy @ p["W"]  # (..., n_out) @ (n_out, n_in) -> (..., n_in)

    # local rules
    def dW(self, dy2: np.ndarray, x2: np.ndarray) -> np.ndarray:
        return dy2.T @ x2  # (n_out, M) @ (M, n_in) -> (n_out, n_in)

    def db(self, dy2: np.ndarray) -> np.ndarray:
        return dy2.sum(axis=0)
