"""The exact Hessian-vector product of the MLP: Pearlmutter's R-operator over BP1-BP4.

For a direction ``v`` (laid out like theta: ``dW[l], db[l]``) write ``R{q}`` for the
derivative of a quantity ``q`` of backprop along ``v``, ``d/dt q(theta + t v)`` at
``t = 0``.  Then ``R{dJ/dtheta} = H v``, and applying ``R`` to every line of the forward
pass and of BP1-BP4 (product rule, nothing else) gives it in one forward and one
backward pass of tangents (samples as rows, ``(.)`` elementwise):

forward, ``l = 1..L`` (``R{a[0]} = 0``: the data do not move)::

    R{z[l]} = R{a[l-1]} W[l]^T + a[l-1] dW[l]^T + db[l]
    R{a[l]} = f_l'(z[l]) (.) R{z[l]}

backward (``delta[l] = dJ/dz[l]``, already divided by the batch size ``m``)::

    R{delta[L]} = (d^2 L / dz[L]^2) R{z[L]} / m                              (head.curvature)
    R{delta[l]} = (R{delta[l+1]} W[l+1] + delta[l+1] dW[l+1]) (.) f_l'(z[l])
                  + (delta[l+1] W[l+1]) (.) f_l''(z[l]) (.) R{z[l]}          (R of BP2)
    R{dJ/db[l]} = sum over samples of R{delta[l]}                          (R of BP3)
    R{dJ/dW[l]} = R{delta[l]}^T a[l-1] + delta[l]^T R{a[l-1]} + l2 dW[l]     (R of BP4)

Cost: per layer of ``m x n[l-1] x n[l]`` multiply-adds, backprop does 3 such matrix
products (forward, BP2, BP4) and this does 8 (forward, 2 for ``R{z}``, BP2, 2 for
``R{delta}``, 2 for ``R{dW}``); the first layer needs 3 against backprop's 2 (no BP2 below
it, and ``R{a[0]} = 0``).  So an HVP costs between 1.5 and 2.7 gradients, whatever N.

Memory: the forward and backward arrays (``z[l]``, ``a[l]``, ``R{a[l]}``, ``delta[l]``,
``R{delta[l]}``) live in a per-thread workspace (:mod:`._workspace`) that the next call of the same
shape reuses; only ``H v`` is a fresh array.  Each ``a[l]`` sits above ``R{a[l]}`` in one
``(2m, n[l])`` array, and each ``R{delta[l]}`` above ``delta[l]``, so that the two products of R of
BP4 are one: ``R{delta}^T a + delta^T R{a} = [R{delta}; delta]^T [a; R{a}]``, a single matrix
product over ``2m`` samples straight into the result (no temporary, no sum of two).

Exactness: the result is the derivative of backprop's gradient along ``v``, computed in
the network's precision; the only error is rounding.  On a piecewise network (ReLU,
hard-*) ``f'' = 0`` on every piece and the result is the Hessian of the piece that
contains ``theta`` (a kink at ``z = 0`` contributes a Dirac term that no finite
difference of the gradient across it measures either: checks measure on one piece).

Each local rule is a field of :class:`HvpRules`, as for backprop's :class:`~.backprop.Rules`:
the HVP bug zoo plants a mistake by replacing one.

References
----------
B. A. Pearlmutter, "Fast exact multiplication by the Hessian", Neural Computation 6 (1994) 147-160.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._workspace import fprime_of, ones, whole, workspace
from .activations import Activation
from .losses import Head


def _rbp4(rdelta: np.ndarray, delta: np.ndarray, a_prev: np.ndarray, ra_prev: np.ndarray | None, out) -> None:
    if ra_prev is None:  # R{a[0]} = 0: the first layer has no second term
        np.matmul(rdelta.T, a_prev, out=out)  # R{delta}^T a[l-1]: (n[l], m) @ (m, n[l-1]) -> (n[l], n[l-1])
        return
    D, A = whole(rdelta, delta), whole(a_prev, ra_prev)
    if D is not None and A is not None:  # both products in one: (n[l], 2m) @ (2m, n[l-1])
        np.matmul(D.T, A, out=out)
    else:
        np.matmul(rdelta.T, a_prev, out=out)
        out += delta.T @ ra_prev  # delta^T R{a[l-1]}: (n[l], m) @ (m, n[l-1])


def _rbp2(rdelta: np.ndarray, delta: np.ndarray, W: np.ndarray, dW: np.ndarray) -> np.ndarray:
    out = rdelta @ W  # (m, n[l+1]) @ (n[l+1], n[l]) -> (m, n[l])
    out += delta @ dW  # the same shapes: the direction's own weights carry delta back too
    return out


def _rz(a_prev, ra_prev, W, dW, db):
    rz = a_prev @ dW.T  # (m, n[l-1]) @ (n[l-1], n[l]) -> (m, n[l])
    if ra_prev is not None:  # R{a[0]} = 0
        rz += ra_prev @ W.T  # (m, n[l-1]) @ (n[l-1], n[l])
    rz += db
    return rz


def _fsecond(act: Activation, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    # f''(z): from the f'(z) the forward pass computed for this z when it noted one (the same bits as
    # act.d2f(z, a), without computing f' a second time), else from the table's d2f
    fp = fprime_of(z) if act.d2f_fp is not None else None
    return act.d2f(z, a) if fp is None else act.d2f_fp(z, a, fp)


@dataclass(frozen=True)
class HvpRules:
    """The local rules of the R-operator (samples as rows; ``l`` counts layers from 1).

    The defaults are the correct rules; :mod:`gradlab.experiments.hvpzoo` replaces one at a time.
    """

    #: the direction's weight block as the tangent pass reads it (layer l, the view dW[l])
    tangent_w: Callable[[int, np.ndarray], np.ndarray] = lambda l, dW: dW
    #: R{z[l]} from a[l-1], R{a[l-1]} (None for l = 1), W[l] and the tangents dW[l], db[l]
    rz: Callable = _rz
    #: R{delta[L]} per sample (before the batch mean): the head's second-order term
    head: Callable[[Head, np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray] = lambda head, z, a, Y, rz: (
        head.curvature(z, a, Y, rz)
    )
    #: f''(z, a) of a hidden activation
    fsecond: Callable[[Activation, np.ndarray, np.ndarray], np.ndarray] = _fsecond
    #: R{delta[l+1]} W[l+1] + delta[l+1] dW[l+1]
    rbp2: Callable = _rbp2
    #: R{dJ/dW[l]} into out, from R{delta[l]}, delta[l], a[l-1] and R{a[l-1]}
    rbp4: Callable = _rbp4
    #: R of the L2 terms: l2 dW on the weights, nothing on the biases
    l2_w: Callable[[float, np.ndarray], object] = lambda lam, dW: lam * dW
    l2_b: Callable[[float, np.ndarray], object] = lambda lam, db: 0.0
    #: a last touch on the flat product (the network and H v; identity)
    finish: Callable[[object, np.ndarray], np.ndarray] = lambda net, hv: hv


HVP_RULES = HvpRules()


def hvp(net, theta: np.ndarray, v: np.ndarray, X: np.ndarray, Y: np.ndarray, rules: HvpRules = HVP_RULES):
    """``H v = d^2 J / dtheta^2 @ v`` for ``net`` (an :class:`~gradlab.nn.MLP`) on ``(X, Y)``.

    ``theta``, ``v``, ``X`` and ``Y`` must be validated (the network's dtype, flat ``theta``
    and ``v``).  One forward pass with tangents, one backward pass with tangents.
    """
    head = net.head
    for act in net.hidden:
        if act.d2f is None:
            raise ValueError(f"activation {act.name!r} has no second derivative in the table: no exact HVP")
    if head.curvature is None:
        raise ValueError(f"head {head.output_name} + {head.loss_name} has no second-order term: no exact HVP")
    m, L = X.shape[0], net.n_layers
    dtype = np.result_type(theta.dtype, v.dtype, X.dtype)
    layers, tangents = net.layers(theta), net.layers(v)
    out = np.empty(theta.shape, dtype)
    outs = net.layers(out)
    dWs = [rules.tangent_w(l, dW) for l, (dW, _) in enumerate(tangents, start=1)]

    with workspace(("hvp", net.sizes, m, dtype)) as ws:
        # forward pass with tangents: a[l], R{a[l]}, and what the backward pass reuses
        acts, racts, zs, rzs, fps = [X], [None], [], [], []
        for l in range(1, L + 1):
            W, b = layers[l - 1]
            n = W.shape[0]
            z = np.matmul(acts[-1], W.T, out=ws.array(("z", l), (m, n), dtype))  # (m, n[l-1]) @ (n[l-1], n[l])
            z += b
            rz = rules.rz(acts[-1], racts[-1], W, dWs[l - 1], tangents[l - 1][1])  # (m, n[l])
            zs.append(z)
            rzs.append(rz)
            if l < L:
                act = net.hidden[l - 1]
                a, ra = ws.halves(("a", l), m, n, dtype)  # [a[l]; R{a[l]}]: R of BP4 reads them as one
                if act.f_out is None:
                    a[...] = act.f(z)
                else:
                    act.f_out(z, a)
                fp = act.df(z, a)
                ws.note_fprime(z, fp)  # for f''(z) in the backward pass (see _fsecond)
                np.multiply(fp, rz, out=ra)
                fps.append(fp)
                acts.append(a)
                racts.append(ra)
            else:
                acts.append(head.output(z))

        # backward pass with tangents; [R{delta[l]}; delta[l]] one array (see _rbp4)
        rdelta, delta = ws.halves(("d", L), m, zs[-1].shape[1], dtype)
        np.divide(rules.head(head, zs[-1], acts[-1], Y, rzs[-1]), m, out=rdelta)  # R of BP1: (m, n[L])
        np.divide(head.delta(zs[-1], acts[-1], Y), m, out=delta)  # BP1: (m, n[L])
        for l in range(L, 0, -1):  # l = L .. 1; python lists are 0-based: index l-1
            W, _ = layers[l - 1]
            dW, db = dWs[l - 1], tangents[l - 1][1]
            rgW, rgb = outs[l - 1]
            rules.rbp4(rdelta, delta, acts[l - 1], racts[l - 1], rgW)  # R of BP4: (n[l], n[l-1])
            np.matmul(ones(m, dtype), rdelta, out=rgb)  # R of BP3, the sum over samples: (n[l],)
            if net.l2:
                rgW += rules.l2_w(net.l2, dW)
                rgb += rules.l2_b(net.l2, db)
            if l > 1:
                act, shape = net.hidden[l - 2], (m, W.shape[1])
                # BP2 before f': (m, n[l]) @ (n[l], n[l-1]) -> (m, n[l-1])
                back = np.matmul(delta, W, out=ws.array(("back", l - 1), shape, dtype))
                rback = rules.rbp2(rdelta, delta, W, dW)  # (m, n[l-1])
                fp = fps[l - 2]
                # R{delta} = rback f' + back f'' R{z};  delta = back f'
                curv = np.multiply(back, rzs[l - 2], out=ws.array(("curv", l - 1), shape, dtype))
                curv *= rules.fsecond(act, zs[l - 2], acts[l - 1])
                rdelta, delta = ws.halves(("d", l - 1), m, shape[1], dtype)
                np.multiply(rback, fp, out=rdelta)
                rdelta += curv
                np.multiply(back, fp, out=delta)
    return rules.finish(net, out)
