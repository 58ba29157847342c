"""``RNN(d_in, d_h)`` and ``LSTM(d_in, d_h)``: recurrences over ``(N, T, d_in)``, the last
hidden state ``(N, d_h)`` out, backward by backpropagation through time (BPTT).

Weights follow torch's layout (``W_ih`` as ``Wx``, ``W_hh`` as ``Wh``, one bias ``b``),
samples as rows, ``h_0 = 0`` (and ``c_0 = 0``).

RNN::

    z_t = x_t Wx^T + h_{t-1} Wh^T + b,       h_t = tanh(z_t),        output h_T

BPTT.  ``dh_T = dJ/dh_T``; for ``t = T .. 1``: ``dz_t = dh_t (1 - h_t^2)``; then
``dWx += dz_t^T x_t``, ``dWh += dz_t^T h_{t-1}``, ``db += sum dz_t``, ``dx_t = dz_t Wx``
and the gradient flows to the previous step, ``dh_{t-1} = dz_t Wh``.  Every step,
the first included, contributes: a loop that stops one step short misses ``t = 1``.

LSTM (gate order i, f, g, o as in torch)::

    a_t = x_t Wx^T + h_{t-1} Wh^T + b                                   (N, 4 d_h)
    i = sigma(a_i), f = sigma(a_f), g = tanh(a_g), o = sigma(a_o)
    c_t = f c_{t-1} + i g,         h_t = o tanh(c_t)

BPTT carries ``dh`` and ``dc``: at step t, ``dc += dh o (1 - tanh(c_t)^2)``;
``do = dh tanh(c_t)``, ``di = dc g``, ``dg = dc i``, ``df = dc c_{t-1}``; through the
gates' derivatives ``sigma' = s (1 - s)`` and ``tanh' = 1 - g^2``,
``da = [di i(1-i), df f(1-f), dg (1-g^2), do o(1-o)]``; then the weight sums as for
the RNN, ``dx_t = da Wx``, ``dh_{t-1} = da Wh`` and ``dc_{t-1} = dc f``.

sigmoid and tanh are analytic: the complex step applies.  The loops run over time
steps; every step is vectorised over the batch.
"""

from __future__ import annotations

import numpy as np

from ..activations import ACTIVATIONS
from .base import Layer, expect, glorot_or_he, positive

_sigmoid = ACTIVATIONS["sigmoid"].f


class _Recurrent(Layer):
    gates = 1

    def __init__(self, d_in: int, d_hidden: int, *, name: str | None = None):
        super().__init__(name=name)
        self.d_in = positive("d_in", d_in, type(self).__name__)
        self.d_hidden = positive("d_hidden", d_hidden, type(self).__name__)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.d_in}, {self.d_hidden})"

    def out_shape(self, in_shape):
        expect(len(in_shape) == 2 and in_shape[1] == self.d_in, self, f"sequences of shape (T, {self.d_in})", in_shape)
        return (self.d_hidden,)

    def param_shapes(self):
        g, h = self.gates * self.d_hidden, self.d_hidden
        return {"Wx": (g, self.d_in), "Wh": (g, h), "b": (g,)}

    def init(self, rng, p, init):
        h = self.d_hidden
        p["Wx"][...] = rng.standard_normal(p["Wx"].shape) * glorot_or_he("glorot", self.d_in, h)
        p["Wh"][...] = rng.standard_normal(p["Wh"].shape) * glorot_or_he("glorot", h, h)

    # local rule: which time steps BPTT visits, last first
    def steps(self, T: int) -> range:
        return range(T - 1, -1, -1)


class RNN(_Recurrent):
    """The Elman recurrence ``h_t = tanh(x_t Wx^T + h_{t-1} Wh^T + b)``; the last ``h`` out."""

    kind = "rnn"

    def forward(self, p, x):
        n, T, _ = x.shape
        hs = [np.zeros((n, self.d_hidden), dtype=np.result_type(x, p["Wx"]))]
        for t in range(T):
            z = x[:, t] @ p["Wx"].T + hs[-1] @ p["Wh"].T  # (N, d_in) @ (d_in, H) + (N, H) @ (H, H) -> (N, H)
            z += p["b"]
            hs.append(np.tanh(z))
        return hs[-1], (x, hs)

    def backward(self, p, cache, dh, g):
        x, hs = cache
        dx = np.zeros(x.shape, dtype=dh.dtype)
        dWx, dWh, db = (np.zeros_like(g[k]) for k in ("Wx", "Wh", "b"))
        for t in self.steps(x.shape[1]):
            dz = dh * (1.0 - hs[t + 1] ** 2)  # tanh' = 1 - h_t^2             (N, H)
            dWx += dz.T @ x[:, t]  # (H, N) @ (N, d_in) -> (H, d_in)
            dWh += dz.T @ hs[t]  # (H, N) @ (N, H) -> (H, H): h_{t-1} is hs[t]
            db += dz.sum(axis=0)
            dx[:, t] = dz @ p["Wx"]  # (N, H) @ (H, d_in) -> (N, d_in)
            dh = dz @ p["Wh"]  # (N, H) @ (H, H) -> (N, H): to step t - 1
        g["Wx"][...], g["Wh"][...], g["b"][...] = dWx, dWh, db
        return dx


class LSTM(_Recurrent):
    """A long short-term memory layer (gates i, f, g, o); the last hidden state out."""

    kind = "lstm"
    gates = 4

    def forward(self, p, x):
        n, T, _ = x.shape
        H = self.d_hidden
        dtype = np.result_type(x, p["Wx"])
        h, c = np.zeros((n, H), dtype=dtype), np.zeros((n, H), dtype=dtype)
        steps = []
        for t in range(T):
            a = x[:, t] @ p["Wx"].T + h @ p["Wh"].T  # (N, d_in) @ (d_in, 4H) + (N, H) @ (H, 4H) -> (N, 4H)
            a += p["b"]
            i, f, o = _sigmoid(a[:, :H]), _sigmoid(a[:, H : 2 * H]), _sigmoid(a[:, 3 * H :])
            gg = np.tanh(a[:, 2 * H : 3 * H])
            c_prev, h_prev = c, h
            c = f * c_prev + i * gg
            tc = np.tanh(c)
            h = o * tc
            steps.append((h_prev, c_prev, i, f, gg, o, tc))
        return h, (x, steps)

    def backward(self, p, cache, dh, g):
        x, steps = cache
        dx = np.zeros(x.shape, dtype=dh.dtype)
        dWx, dWh, db = (np.zeros_like(g[k]) for k in ("Wx", "Wh", "b"))
        dc = np.zeros_like(dh)
        for t in self.steps(x.shape[1]):
            h_prev, c_prev, i, f, gg, o, tc = steps[t]
            dc = dc + dh * o * (1.0 - tc * tc)  # through h_t = o tanh(c_t)
            do, di, dg, df = dh * tc, dc * gg, dc * i, dc * c_prev
            si, sf, sg, so = self.gate_derivatives(i, f, gg, o)
            da = np.concatenate([di * si, df * sf, dg * sg, do * so], axis=1)  # (N, 4H)
            dWx += da.T @ x[:, t]  # (4H, N) @ (N, d_in) -> (4H, d_in)
            dWh += da.T @ h_prev  # (4H, N) @ (N, H) -> (4H, H)
            db += da.sum(axis=0)
            dx[:, t] = da @ p["Wx"]  # (N, 4H) @ (4H, d_in) -> (N, d_in)
            dh = da @ p["Wh"]  # (N, 4H) @ (4H, H) -> (N, H)
            dc = dc * f  # c_{t-1} reaches c_t through the forget gate
        g["Wx"][...], g["Wh"][...], g["b"][...] = dWx, dWh, db
        return dx

    # local rule
    def gate_derivatives(self, i, f, g, o):
        """The gates' derivatives from their values: sigma' = s (1 - s), tanh' = 1 - g^2."""
        return i * (1.0 - i), f * (1.0 - f), 1.0 - g * g, o * (1.0 - o)
