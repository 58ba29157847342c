"""Losses, paired with the output nonlinearity into a *head*.

A head knows everything about the last layer, all batched (samples as rows):

- ``output(z)``: the network's prediction ``a[L] = f_L(z[L])``;
- ``total(z, y)``: the per-sample loss ``L(a[L], y)`` summed over the batch,
  computed from the pre-activation ``z[L]`` where that is more stable;
- ``delta(z, a, y)``: ``dL/dz[L]`` per sample, i.e. BP1 ``delta[L] = grad_a L * f'(z[L])``
  (or its closed form, such as ``a - y`` for sigmoid + cross-entropy);
- ``targets(rng, m, n)``: random targets the loss accepts, for tests and experiments;
- ``check_targets(Y)``: refuses, naming ``Y``, targets the loss is not defined for;
- ``curvature(z, a, y, r)``: the second-order term, ``(d^2 L / dz[L]^2) r`` per sample for a
  tangent ``r`` of ``z[L]``: the derivative of ``delta`` along ``r``, which the exact
  Hessian-vector product (:mod:`gradlab.nn.rop`) starts its backward pass of tangents from.

Losses are paired with outputs because the stable forms belong to the pair:
binary cross-entropy is computed from the logits as ``softplus(z) - y z``
(never ``log(0)`` for saturated sigmoids), categorical cross-entropy by
log-sum-exp, and their derivatives collapse to ``a - y`` (seed notes ``000``, ``002``).

:data:`LOSSES` is the table: each :class:`Loss` names the outputs it pairs with and builds
the head for one of them; :data:`HEADS`, every valid (output, loss) pair, is read from it.
A new loss is one row here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._workspace import ones
from .activations import ACTIVATIONS, OUTPUT_ONLY, log_softmax, softmax


@dataclass(frozen=True)
class Head:
    """The last layer's nonlinearity together with the loss on it."""

    output_name: str
    loss_name: str
    output: Callable[[np.ndarray], np.ndarray]
    total: Callable[[np.ndarray, np.ndarray], object]
    delta: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    #: ``(rng, m, n) -> Y``: ``m`` random targets of ``n`` units the loss accepts (float64)
    targets: Callable[[np.random.Generator, int, int], np.ndarray]
    #: raises ``ValueError`` naming ``Y`` where the loss is not defined for the targets
    check_targets: Callable[[np.ndarray], None] = lambda Y: None
    #: (d^2 L / dz^2) r per sample, from z, a, y and the tangent r of z (None: no second order)
    curvature: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None


def _softmax_tangent(a: np.ndarray, r: np.ndarray) -> np.ndarray:
    """The tangent of ``a = softmax(z)`` along ``r``: ``J r = a * (r - <a, r>)`` row by row
    (``J = diag(a) - a a^T``, symmetric, so it is also the vjp)."""
    ar = a * r
    if ar.ndim == 2:  # <a, r> per row as one BLAS product, ar @ ones
        dot = np.matmul(ar, ones(ar.shape[1], _real_dtype(ar)))[:, None]
    else:
        dot = np.sum(ar, axis=1, keepdims=True)
    out = r - dot
    out *= a
    return out


def _softmax_cross_entropy_delta(z: np.ndarray, a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``a sum(y) - y`` per sample (``a - y`` for one-hot ``y``), in one fresh array."""
    mass = np.matmul(y, ones(y.shape[1], y.dtype))  # the row sums, one BLAS product: (m, n) @ (n,) -> (m,)
    out = a * mass[:, None]
    out -= y
    return out


def _real_dtype(x: np.ndarray) -> np.dtype:
    return x.real.dtype if np.iscomplexobj(x) else x.dtype


def _normal_targets(rng: np.random.Generator, m: int, n: int) -> np.ndarray:
    return rng.normal(size=(m, n))


def _one_hot_targets(rng: np.random.Generator, m: int, n: int) -> np.ndarray:
    return np.eye(n)[rng.integers(0, n, m)]


def _binary_targets(rng: np.random.Generator, m: int, n: int) -> np.ndarray:
    return rng.integers(0, 2, size=(m, n)).astype(np.float64)


def _probabilities(Y: np.ndarray) -> None:
    """Cross-entropy targets are probabilities in [0, 1]."""
    if Y.min() < 0 or Y.max() > 1:
        i = np.unravel_index(int(np.argmax((Y < 0) | (Y > 1))), Y.shape)
        raise ValueError(
            f"`Y` must hold probabilities in [0, 1] for a cross-entropy loss; got {Y[i]} at index "
            f"{tuple(int(k) for k in i)}"
        )


def _class_probabilities(Y: np.ndarray) -> None:
    """Softmax + cross-entropy targets are probabilities whose rows sum to 1."""
    _probabilities(Y)
    sums = Y.astype(np.float64).sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1) > 1e3 * np.finfo(Y.dtype).eps * Y.shape[1])
    if bad.size:
        raise ValueError(
            f"`Y` must have rows that sum to 1 for softmax + cross-entropy (one-hot or class "
            f"probabilities); got row {int(bad[0])} summing to {sums[bad[0]]:g}"
        )


def _cross_entropy(output: str) -> Head:
    if output == "sigmoid":
        # -(y log s(z) + (1-y) log(1 - s(z))) = softplus(z) - y z, summed over output units.
        softplus = ACTIVATIONS["softplus"].f
        return Head(
            output,
            "cross_entropy",
            ACTIVATIONS["sigmoid"].f,
            lambda z, y: np.sum(softplus(z) - y * z),
            lambda z, a, y: a - y,
            _binary_targets,
            _probabilities,
            # d(a - y) = sigma'(z) r = a (1 - a) r
            curvature=lambda z, a, y, r: a * (1.0 - a) * r,
        )
    # softmax: -sum_j y_j log softmax(z)_j; d/dz = softmax(z) * sum(y) - y  (= a - y for one-hot y)
    return Head(
        output,
        "cross_entropy",
        softmax,
        lambda z, y: -np.sum(y * log_softmax(z)),
        _softmax_cross_entropy_delta,
        _one_hot_targets,
        _class_probabilities,
        # d(a sum(y) - y) = sum(y) J r: the softmax Jacobian, scaled by the targets' mass
        curvature=lambda z, a, y, r: _softmax_tangent(a, r) * np.matmul(y, ones(y.shape[1], y.dtype))[:, None],
    )


def _mse(output: str) -> Head:
    if output == "softmax":
        # Softmax is not elementwise: dz = J^T g with J = diag(a) - a a^T, i.e. a * (g - <g, a>).
        def delta(z, a, y):
            g = a - y
            return a * (g - np.sum(g * a, axis=1, keepdims=True))

        def curvature(z, a, y, r):
            # delta = J(a) g with g = a - y; along r: da = J r, and the product rule gives
            # d(J g) = da * (g - <g, a>) + a * (dg - <dg, a> - <g, da>), with dg = da
            g = a - y
            da = _softmax_tangent(a, r)
            return da * (g - np.sum(g * a, axis=1, keepdims=True)) + a * (
                da - np.sum(da * a, axis=1, keepdims=True) - np.sum(g * da, axis=1, keepdims=True)
            )

        f = softmax
    else:
        act = ACTIVATIONS[output]

        def delta(z, a, y):
            return (a - y) * act.df(z, a)

        def curvature(z, a, y, r):
            # d((a - y) f'(z)) = (f'(z)^2 + (a - y) f''(z)) r
            fp = act.df(z, a)
            return (fp * fp + (a - y) * act.d2f(z, a)) * r

        f = act.f

    def total(z, y):
        r = f(z) - y
        return 0.5 * np.sum(r * r)

    return Head(output, "mse", f, total, delta, _normal_targets, curvature=curvature)


@dataclass(frozen=True)
class Loss:
    """One row of the loss table: a name, the output nonlinearities it pairs with, and the
    head it makes for one of them (``LOSSES[name](output)``)."""

    name: str
    #: the output nonlinearities this loss is defined on, in the order experiments list them
    outputs: tuple[str, ...]
    make: Callable[[str], Head]

    def __call__(self, output: str) -> Head:
        """The head of this loss on ``output``; ``ValueError`` for an output it does not pair with."""
        if output not in self.outputs:
            allowed = " or ".join(map(repr, self.outputs)) if len(self.outputs) <= 3 else "one of its outputs"
            raise ValueError(f"`loss` {self.name!r} needs output {allowed}; got output {output!r}")
        return self.make(output)


#: name -> the loss; mse pairs with every output (softmax included), cross-entropy with the
#: two outputs whose values are probabilities
LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in [
        Loss("cross_entropy", ("sigmoid", "softmax"), _cross_entropy),
        Loss("mse", (*ACTIVATIONS, *OUTPUT_ONLY), _mse),
    ]
}

#: every valid (output, loss) pair of the table, loss by loss
HEADS: tuple[tuple[str, str], ...] = tuple((out, loss.name) for loss in LOSSES.values() for out in loss.outputs)
