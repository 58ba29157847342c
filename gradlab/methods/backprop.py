"""Reverse mode for the MLP: the four backpropagation equations over a cached forward pass.

With samples as rows, ``delta[l]`` of shape ``(m, n[l])`` holds ``dJ/dz[l]`` for each
sample, already divided by the batch size ``m`` (J is a mean):

    BP1  delta[L] = grad_a L (.) f_L'(z[L])            (head.delta; a - y for the paired losses)
    BP2  delta[l] = (delta[l+1] @ W[l+1]) (.) f_l'(z[l])
    BP3  dJ/db[l] = sum over samples of delta[l]
    BP4  dJ/dW[l] = delta[l]^T @ a[l-1]   (+ l2 * W[l])

One forward pass and one backward pass, whatever the number of parameters.
The gradient is written straight into a flat vector laid out like theta.
"""

from __future__ import annotations

import numpy as np

from ..nn.mlp import MLPObjective
from ..objective import Objective
from .base import GradientResult, register


def backprop(objective: MLPObjective, theta: np.ndarray) -> np.ndarray:
    """``dJ/dtheta`` by BP1-BP4; ``theta`` must be validated (flat, the network's dtype)."""
    net, X, Y = objective.net, objective.X, objective.Y
    zs, acts = net.forward_cache(theta, X)
    grad = np.empty_like(theta)
    layers = net.layers(theta)
    grads = net.layers(grad)
    derivs = [a.df for a in net.hidden]

    delta = net.head.delta(zs[-1], acts[-1], Y)  # BP1: (m, n[L])
    delta /= X.shape[0]
    for l in range(net.n_layers, 0, -1):  # l = L .. 1; python lists are 0-based: index l-1
        W, _ = layers[l - 1]
        gW, gb = grads[l - 1]
        np.matmul(delta.T, acts[l - 1], out=gW)  # BP4: (n[l], m) @ (m, n[l-1]) -> (n[l], n[l-1])
        if net.l2:
            gW += net.l2 * W
        np.sum(delta, axis=0, out=gb)  # BP3: (m, n[l]) -> (n[l],)
        if l > 1:
            delta = delta @ W  # BP2: (m, n[l]) @ (n[l], n[l-1]) -> (m, n[l-1])
            delta *= derivs[l - 2](zs[l - 2], acts[l - 1])
    return grad


class Backprop:
    """Analytic gradient of an MLP objective: 1 forward + 1 backward pass."""

    name = "backprop"

    def compute(self, objective: Objective, x: np.ndarray, *, h: float | None) -> GradientResult:
        if objective.mlp is None:
            raise TypeError(
                f"backend 'backprop' needs an MLP objective (net.objective(X, Y)); `f` is a plain "
                f"callable ({objective.f!r}) with no analytic gradient: use backend='central' or "
                f"'forward', or pass your gradient to gradcheck(f, x, grad=...)"
            )
        objective.evaluations += 1
        g = backprop(objective.mlp, x)
        return GradientResult(g, self.name, None, 1, backward_passes=1)


register(Backprop())
