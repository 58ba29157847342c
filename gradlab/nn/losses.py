"""Losses, paired with the output nonlinearity into a *head*.

A head knows three things about the last layer, all batched (samples as rows):

- ``output(z)``: the network's prediction ``a[L] = f_L(z[L])``;
- ``total(z, y)``: the per-sample loss ``L(a[L], y)`` summed over the batch,
  computed from the pre-activation ``z[L]`` where that is more stable;
- ``delta(z, a, y)``: ``dL/dz[L]`` per sample, i.e. BP1 ``delta[L] = grad_a L * f'(z[L])``
  (or its closed form, such as ``a - y`` for sigmoid + cross-entropy).

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


def _cross_entropy(output: str) -> Head:
    if output == "sigmoid":
        # -(y log s(z) + (1-y) log(1 - s(z))) = softplus(z) - y z, summed over output units.
        return Head(
            output,
            "cross_entropy",
            ACTIVATIONS["sigmoid"].f,
            lambda z, y: np.sum(_softplus(z) - y * z),
            lambda z, a, y: a - y,
        )
    if output == "softmax":
        # -sum_j y_j log softmax(z)_j; d/dz = softmax(z) * sum(y) - y  (= a - y for one-hot y)
        return Head(
            output,
            "cross_entropy",
            softmax,
            lambda z, y: -np.sum(y * log_softmax(z)),
            lambda z, a, y: a * y.sum(axis=1, keepdims=True) - y,
        )
    raise ValueError(f"`loss` 'cross_entropy' needs output 'sigmoid' or 'softmax'; got output {output!r}")


def _mse(output: str) -> Head:
    if output == "softmax":
        # Softmax is not elementwise: dz = J^T g with J = diag(a) - a a^T, i.e. a * (g - <g, a>).
        def delta(z, a, y):
            g = a - y
            return a * (g - np.sum(g * a, axis=1, keepdims=True))

        f = softmax
    else:
        act = ACTIVATIONS[output]

        def delta(z, a, y):
            return (a - y) * act.df(z, a)

        f = act.f

    def total(z, y):
        r = f(z) - y
        return 0.5 * np.sum(r * r)

    return Head(output, "mse", f, total, delta)


#: name -> factory building the head for a given output nonlinearity.
LOSSES: dict[str, Callable[[str], Head]] = {
    "cross_entropy": _cross_entropy,
    "mse": _mse,
}
