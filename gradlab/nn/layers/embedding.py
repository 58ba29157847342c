"""``Embedding(vocab, d)``: integer ids ``(N, T)`` to their rows of a table, ``(N, T, d)``.

Forward ``y[n, t] = W[x[n, t]]``, a gather.  Backward: each row ``W[v]`` was read once
per occurrence of ``v`` in the batch, so its gradient is the sum of the upstream
gradients at those positions::

    dJ/dW[v] = sum over (n, t) with x[n, t] = v of dy[n, t]

``np.add.at(dW, x, dy)`` accumulates repeated ids; the fancy-index assignment
``dW[x] = dy`` (or ``dW[x] += dy``, which is buffered) keeps only one occurrence per
id -- the classic embedding bug, invisible in a batch without repeated ids.  The ids
are not differentiable: an embedding is the first layer of a network.  The gather is
linear in ``W``: the complex step applies.
"""

from __future__ import annotations

import numpy as np

from .base import Layer, expect, positive


class Embedding(Layer):
    """A lookup table of ``vocab`` rows of ``d`` numbers, indexed by integer ids."""

    kind = "emb"
    takes_ids = True

    def __init__(self, vocab: int, d: int, *, name: str | None = None):
        super().__init__(name=name)
        self.vocab = positive("vocab", vocab, "Embedding")
        self.d = positive("d", d, "Embedding")

    def __repr__(self) -> str:
        return f"Embedding({self.vocab}, {self.d})"

    def out_shape(self, in_shape):
        expect(len(in_shape) == 1, self, "sequences of integer ids, (T,) per sample", in_shape)
        return (*in_shape, self.d)

    def param_shapes(self):
        return {"W": (self.vocab, self.d)}

    def init(self, rng, p, init):
        p["W"][...] = rng.standard_normal(p["W"].shape)

    def check_ids(self, ids: np.ndarray) -> np.ndarray:
        """``ids`` as an int array with every id in ``[0, vocab)``, or a ``ValueError`` naming the bad one."""
        if ids.dtype.kind not in "iu":
            if ids.dtype.kind == "f" and np.isfinite(ids).all() and (ids == np.round(ids)).all():
                ids = ids.astype(np.int64)
            else:
                raise TypeError(f"`X` must hold integer ids for {self!r}; got an array of dtype {ids.dtype}")
        bad = (ids < 0) | (ids >= self.vocab)
        if bad.any():
            i = np.unravel_index(int(np.argmax(bad)), ids.shape)
            raise ValueError(
                f"`X` must hold ids in [0, {self.vocab}) for {self!r}; got {ids[i]} at index {tuple(int(k) for k in i)}"
            )
        return ids

    def forward(self, p, ids):
        return p["W"][ids], ids  # (N, T) ids -> (N, T, d)

    def backward(self, p, ids, dy, g):
        g["W"][...] = 0.0
        self.scatter(g["W"], ids, dy)
        return None

    # local rule
    def scatter(self, dW: np.ndarray, ids: np.ndarray, dy: np.ndarray) -> None:
        """``dW[v] += dy[n, t]`` for every position, repeated ids accumulating."""
        np.add.at(dW, ids, dy)
