"""Reverse mode for the MLP: the four backpropagation equations over a cached forward pass.

With samples as rows, ``delta[l]`` of shape ``(m, n[l])`` holds ``dJ/dz[l]`` for each
sample, already divided by the batch size ``m`` (J is a mean):

    BP1  delta[L] = grad_a L (.) f_L'(z[L])            (head.delta; a - y for the paired losses)
    BP2  delta[l] = (delta[l+1] @ W[l+1]) (.) f_l'(z[l])
    BP3  dJ/db[l] = sum over samples of delta[l]
    BP4  dJ/dW[l] = delta[l]^T @ a[l-1]   (+ l2 * W[l])

One forward pass and one backward pass, whatever the number of parameters.  The
gradient is written straight into a flat vector laid out like theta.

Each local rule is a field of :class:`Rules`; the defaults are the correct rules, and
the bug zoo (:mod:`gradlab.experiments.bugzoo`) plants a mistake by replacing one of
them: there is one backprop, not a correct one and a copy to break.  Bugs that are not a
local rule (a wrong constant on a finished block, a lost entry) change the gradient after
backprop, in the zoo, not here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._workspace import Workspace, ones, workspace
from .losses import Head


def _bp1(head: Head, z: np.ndarray, a: np.ndarray, Y: np.ndarray) -> np.ndarray:
    delta = head.delta(z, a, Y)
    delta /= Y.shape[0]  # J is a mean over the m samples; delta is a fresh array: divide in place
    return delta


def _bp2(delta: np.ndarray, W: np.ndarray, fprime: np.ndarray) -> np.ndarray:
    out = delta @ W  # (m, n[l+1]) @ (n[l+1], n[l]) -> (m, n[l])
    out *= fprime  # in place: out is fresh, fprime may be anyone's
    return out


def _fprime(net, zs: list[np.ndarray], acts: list[np.ndarray], k: int) -> np.ndarray:
    return net.hidden[k - 1].df(zs[k - 1], acts[k])  # f_k'(z[k]), reusing a[k] = f_k(z[k])


def _bp3(delta: np.ndarray, out: np.ndarray) -> None:
    # the sum over samples as ones(m) @ delta: (m,) @ (m, n[l]) -> (n[l],), one BLAS product
    # (cheaper than np.sum(delta, axis=0) on a batch; the same sum in another order)
    np.matmul(ones(delta.shape[0], out.dtype), delta, out=out)


def _bp4(delta: np.ndarray, acts: list[np.ndarray], l: int, out: np.ndarray) -> None:
    np.matmul(delta.T, acts[l - 1], out=out)  # (n[l], m) @ (m, n[l-1]) -> (n[l], n[l-1])


@dataclass(frozen=True)
class Rules:
    """The local rules of backprop (samples as rows; ``l`` counts layers from 1).

    Rules that produce a parameter block's gradient write into ``out`` (a view into
    the flat gradient); the others return arrays.
    """

    #: BP1: delta[L] = dJ/dz[L] per sample, divided by m (J is a mean), from the head, z[L],
    #: a[L] and the targets
    bp1: Callable[[Head, np.ndarray, np.ndarray, np.ndarray], np.ndarray] = _bp1
    #: BP2: delta[l] from delta[l+1], W[l+1] and f'(z[l])      (m, n[l+1]) @ (n[l+1], n[l]) -> (m, n[l])
    bp2: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] = _bp2
    #: f'(z[k]) of hidden layer k, from the network and the cached zs = [z1..zL], acts = [a0..aL]
    fprime: Callable[[object, list[np.ndarray], list[np.ndarray], int], np.ndarray] = _fprime
    #: BP3: dJ/db[l] into out
    bp3: Callable[[np.ndarray, np.ndarray], None] = _bp3
    #: BP4: dJ/dW[l] into out, from delta[l] and the cached activations (a[l-1] is acts[l-1])
    bp4: Callable[[np.ndarray, list[np.ndarray], int, np.ndarray], None] = _bp4
    #: the L2 terms added to dJ/dW[l] and dJ/db[l]
    l2_w: Callable[[float, np.ndarray], object] = lambda lam, W: lam * W
    l2_b: Callable[[float, np.ndarray], object] = lambda lam, b: 0.0


RULES = Rules()


def forward(net, ws: Workspace, layers, X: np.ndarray, dtype: np.dtype):
    """The forward pass into ``ws``: ``zs = [z1..zL]`` and ``acts = [a0..aL]`` (``a0`` is ``X``,
    ``aL`` the head's output), the arrays of :meth:`MLP.forward_cache` but owned by ``ws``: they
    must not leave the call.  ``dtype``: the arithmetic's (complex for a complex theta)."""
    m, L = X.shape[0], len(layers)
    zs, acts, a = [], [X], X
    for l, (W, b) in enumerate(layers, start=1):
        z = np.matmul(a, W.T, out=ws.array(("z", l), (m, W.shape[0]), dtype))  # (m, n[l-1]) @ (n[l-1], n[l])
        z += b
        zs.append(z)
        if l < L:
            act = net.hidden[l - 1]
            a = act.f(z) if act.f_out is None else act.f_out(z, ws.array(("a", l), z.shape, dtype))
            acts.append(a)
    acts.append(net.head.output(z))
    return zs, acts


def backprop(net, theta: np.ndarray, X: np.ndarray, Y: np.ndarray, rules: Rules = RULES) -> np.ndarray:
    """``dJ/dtheta`` by BP1-BP4 for ``net`` (an :class:`~gradlab.nn.MLP`) on ``(X, Y)``.

    ``theta``, ``X`` and ``Y`` must be validated (the network's dtype, flat theta).
    """
    dtype = np.result_type(theta.dtype, X.dtype)
    grad = np.empty_like(theta)
    layers = net.layers(theta)
    grads = net.layers(grad)
    with workspace(("backprop", net.sizes, X.shape[0], dtype)) as ws:
        zs, acts = forward(net, ws, layers, X, dtype)
        delta = rules.bp1(net.head, zs[-1], acts[-1], Y)  # BP1: (m, n[L])
        for l in range(net.n_layers, 0, -1):  # l = L .. 1; python lists are 0-based: index l-1
            W, b = layers[l - 1]
            gW, gb = grads[l - 1]
            rules.bp4(delta, acts, l, gW)  # BP4
            rules.bp3(delta, gb)  # BP3
            if net.l2:
                gW += rules.l2_w(net.l2, W)
                gb += rules.l2_b(net.l2, b)
            if l > 1:
                delta = rules.bp2(delta, W, rules.fprime(net, zs, acts, l - 1))  # BP2: (m, n[l]) -> (m, n[l-1])
    return grad
