"""``Attention(d)``: one head of scaled dot-product self-attention over ``(N, T, d)``.

Forward, per sample (every product batched over N)::

    Q = X Wq^T,  K = X Wk^T,  V = X Wv^T                 (T, d) each; W*: (d, d)
    S = Q K^T / sqrt(d)                                  (T, T) scores
    P = softmax(S) over the last axis                    each row: attention of one query
    A = P V,     Y = A Wo^T                              (T, d)

Backward, with ``dY``::

    dWo = dY^T A,   dA = dY Wo
    dP = dA V^T,    dV = P^T dA
    dS = P (dP - rowsum(dP P))                            softmax's Jacobian, row by row
    dQ = dS K / sqrt(d),   dK = dS^T Q / sqrt(d)
    dWq = dQ^T X,   dWk = dK^T X,   dWv = dV^T X          (summed over the batch)
    dX = dQ Wq + dK Wk + dV Wv

The softmax row ``p`` has Jacobian ``diag(p) - p p^T``; applied to ``dP`` it gives the
``dS`` line, whose sum runs over the *keys* (the last axis), the axis ``P`` was
normalised over.  No biases, no mask.  Softmax is shifted by the real part of the row
maximum, so the complex step applies.
"""

from __future__ import annotations

import math

import numpy as np

from .base import Layer, expect, glorot_or_he, positive, re


def softmax_last(s: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, shifted by the (real) row maximum so no exponent overflows."""
    e = np.exp(s - re(s).max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class Attention(Layer):
    """Single-head scaled dot-product self-attention with projections Wq, Wk, Wv, Wo of shape (d, d)."""

    kind = "attn"

    def __init__(self, d: int, *, name: str | None = None):
        super().__init__(name=name)
        self.d = positive("d", d, "Attention")

    def __repr__(self) -> str:
        return f"Attention({self.d})"

    def out_shape(self, in_shape):
        expect(len(in_shape) == 2 and in_shape[1] == self.d, self, f"sequences of shape (T, {self.d})", in_shape)
        return in_shape

    def param_shapes(self):
        return {k: (self.d, self.d) for k in ("Wq", "Wk", "Wv", "Wo")}

    def init(self, rng, p, init):
        for k in ("Wq", "Wk", "Wv", "Wo"):
            p[k][...] = rng.standard_normal((self.d, self.d)) * glorot_or_he("glorot", self.d, self.d)

    def forward(self, p, X):
        Q, K, V = X @ p["Wq"].T, X @ p["Wk"].T, X @ p["Wv"].T  # (N, T, d) @ (d, d) -> (N, T, d)
        S = (Q @ K.transpose(0, 2, 1)) / math.sqrt(self.d)  # (N, T, d) @ (N, d, T) -> (N, T, T)
        P = softmax_last(S)
        A = P @ V  # (N, T, T) @ (N, T, d) -> (N, T, d)
        return A @ p["Wo"].T, (X, Q, K, V, P, A)

    def backward(self, p, cache, dY, g):
        X, Q, K, V, P, A = cache
        d2 = self.d
        g["Wo"][...] = dY.reshape(-1, d2).T @ A.reshape(-1, d2)  # (d, N T) @ (N T, d) -> (d, d)
        dA = dY @ p["Wo"]  # (N, T, d) @ (d, d) -> (N, T, d)
        dP = dA @ V.transpose(0, 2, 1)  # (N, T, d) @ (N, d, T) -> (N, T, T)
        dV = P.transpose(0, 2, 1) @ dA  # (N, T, T) @ (N, T, d) -> (N, T, d)
        dS = self.softmax_backward(P, dP)
        c = self.backward_scale()
        dQ = (dS @ K) * c  # (N, T, T) @ (N, T, d) -> (N, T, d)
        dK = (dS.transpose(0, 2, 1) @ Q) * c  # (N, T, T) @ (N, T, d) -> (N, T, d)
        Xf = X.reshape(-1, d2)
        for name, dZ in (("Wq", dQ), ("Wk", dK), ("Wv", dV)):
            g[name][...] = dZ.reshape(-1, d2).T @ Xf  # (d, N T) @ (N T, d) -> (d, d)
        return dQ @ p["Wq"] + dK @ p["Wk"] + dV @ p["Wv"]  # (N, T, d) @ (d, d) -> (N, T, d)

    # local rules
    def softmax_backward(self, P: np.ndarray, dP: np.ndarray) -> np.ndarray:
        """``dS = P (dP - sum_keys dP P)``: the row softmax's Jacobian applied to ``dP``."""
        return P * (dP - (dP * P).sum(axis=-1, keepdims=True))

    def backward_scale(self) -> float:
        """The score scale ``1 / sqrt(d)`` as it enters ``dQ`` and ``dK``."""
        return 1.0 / math.sqrt(self.d)
