"""Losses, paired with the output nonlinearity into a *head*.

A head knows three things about the last layer, all batched (samples as rows):

- ``output(z)``: the network's prediction ``a[L] = f_L(z[L])``;
- ``total(z, y)``: the per-sample loss ``L(a[L], y)`` summed over the batch,
  computed from the pre-activation ``z[L]`` where that is more stable;
- ``delta(z, a, y)``: ``dL/dz[L]`` per sample, i.e. BP1 ``delta[L] = grad_a L * f'(z[L])``
  (or its closed form, such as ``a - y`` for sigmoid + cross-entropy);
- ``curvature(z, a, y, r)``: the second-order term, ``(d^2 L / dz[L]^2) r`` per sample for a
  tangent ``r`` of ``z[L]``: the derivative of ``delta`` along ``r``, which the exact
  Hessian-vector product (:mod:`gradlab.nn.rop`) starts its backward pass of tangents from.

Losses are paired with outputs because the stable forms belong to the pair:
binary cross-entropy is computed from the logits as ``softplus(z) - y z``
(never ``log(0)`` for saturated sigmoids), categorical cross-entropy by
log-sum-exp, and their derivatives collapse to ``a - y`` (seed notes ``000``, ``002``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .activations import ACTIVATIONS, _softplus, log_softmax, softmax


@dataclass(frozen=True)
class Head:
    """The last layer's nonlinearity together with the loss on it."""

    output_name: str
    loss_name: str
    output: Callable[[np.ndarray], np.ndarray]
    total: Callable[[np.ndarray, np.ndarray], object]
    delta: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    #: (d^2 L / dz^2) r per sample, from z, a, y and the tangent r of z (None: no second order)
    curvature: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None


def _softmax_tangent(a: np.ndarray, r: np.ndarray) -> np.ndarray:
    """The tangent of ``a = softmax(z)`` along ``r``: ``J r = a * (r - <a, r>)`` row by row
    (``J = diag(a) - a a^T``, symmetric, so it is also the vjp)."""
    return a * (r - np.sum(a * r, axis=1, keepdims=True))


def _cross_entropy(output: str) -> Head:
    if output == "sigmoid":
        # -(y log s(z) + (1-y) log(1 - s(z))) = softplus(z) - y z, summed over output units.
        return Head(
            output,
            "cross_entropy",
            ACTIVATIONS["sigmoid"].f,
            lambda z, y: np.sum(_softplus(z) - y * z),
            lambda z, a, y: a - y,
            # d(a - y) = sigma'(z) r = a (1 - a) r
            lambda z, a, y, r: a * (1.0 - a) * r,
        )
    if output == "softmax":
        # -sum_j y_j log softmax(z)_j; d/dz = softmax(z) * sum(y) - y  (= a - y for one-hot y)
        return Head(
            output,
            "cross_entropy",
            softmax,
            lambda z, y: -np.sum(y * log_softmax(z)),
            lambda z, a, y: a * y.sum(axis=1, keepdims=True) - y,
            # d(a sum(y) - y) = sum(y) J r: the softmax Jacobian, scaled by the targets' mass
            lambda z, a, y, r: y.sum(axis=1, keepdims=True) * _softmax_tangent(a, r),
        )
    raise ValueError(f"`loss` 'cross_entropy' needs output 'sigmoid' or 'softmax'; got output {output!r}")


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

    return Head(output, "mse", f, total, delta, curvature)


#: name -> factory building the head for a given output nonlinearity.
LOSSES: dict[str, Callable[[str], Head]] = {
    "cross_entropy": _cross_entropy,
    "mse": _mse,
}
