"""Closing figures of issue 18, items 2, 3, 4 and 7: verdicts and evaluation counts on the issue's cases.

Run against any checkout (the one first on the path is measured)::

    PYTHONPATH=<checkout> python tools/trust_kinks_figures.py

Prints one line per case: the verdict of a correct gradient and of a planted bug, and the
evaluations of each check; then the adaptive backend on the issue's smooth functions.
"""

from __future__ import annotations

import warnings

import numpy as np

import gradlab

warnings.simplefilter("ignore")


def affine(x, w, b):
    return x @ w + b


def _softmax_case():
    n = 2000
    z = np.random.default_rng(0).normal(size=n).astype(np.float32)
    t = np.random.default_rng(1).dirichlet(np.ones(n)).astype(np.float32)

    def loss(z):
        e = np.exp(z - z.max())
        return -np.sum(t * np.log(e / e.sum()))

    def grad(z):
        e = np.exp(z - z.max())
        return e / e.sum() * t.sum() - t

    return loss, z, grad


def _layer_norm(x):
    m = x.mean(-1, keepdims=True)
    return (x - m) / np.sqrt(((x - m) ** 2).mean(-1, keepdims=True) + 1e-5)


def _layer_norm_vjp(x, u):
    m = x.mean(-1, keepdims=True)
    s = np.sqrt(((x - m) ** 2).mean(-1, keepdims=True) + 1e-5)
    xh = (x - m) / s
    return (u - u.mean(-1, keepdims=True) - xh * (u * xh).mean(-1, keepdims=True)) / s


def _torch_logistic():
    import torch

    rng = np.random.default_rng(0)
    X = torch.tensor(rng.normal(size=(50, 4)), dtype=torch.float32)
    y = torch.tensor(rng.integers(0, 2, 50), dtype=torch.float32)
    w0, b0 = torch.tensor(rng.normal(size=4), dtype=torch.float32), torch.tensor(0.1, dtype=torch.float32)

    def loss(w, b):
        return torch.nn.functional.binary_cross_entropy_with_logits(X @ w + b, y)

    def grad(w, b):
        w, b = w.detach().requires_grad_(), b.detach().requires_grad_()
        loss(w, b).backward()
        return w.grad, b.grad

    return loss, (w0, b0), grad


def checks():
    """(name, f, x, correct kwargs, buggy kwargs, extra kwargs) for every case."""
    v = np.linspace(-1, 1, 7).astype(np.float32)
    sin_v = lambda v: np.sum(np.sin(v) * v)  # noqa: E731
    sin_g = lambda v: np.cos(v) * v + np.sin(v)  # noqa: E731
    loss, z, grad = _softmax_case()
    xl = np.random.default_rng(2).normal(size=(3, 8)).astype(np.float32)
    g = np.random.default_rng(1)
    x, w, b = g.normal(size=(4, 5)), g.normal(size=(5, 5)), g.normal(size=5)
    on_kink = np.array([[0.0, 1.0, -2.0, 0.5]])
    relu = lambda x: np.maximum(0, x)  # noqa: E731
    tl, tp, tg = _torch_logistic()
    return [
        ("f32 sum(sin(v) v)", sin_v, v, dict(grad=sin_g), dict(grad=lambda v: 1.01 * sin_g(v)), {}),
        ("f32 softmax N=2000 (fast)", loss, z, dict(grad=grad), dict(grad=lambda z: 1.01 * grad(z)), dict(fast=True)),
        ("f32 softmax N=2000 (full)", loss, z, dict(grad=grad), dict(grad=lambda z: 1.01 * grad(z)), {}),
        (
            "f32 layer norm vjp",
            _layer_norm,
            xl,
            dict(vjp=_layer_norm_vjp),
            dict(vjp=lambda x, u: 1.01 * _layer_norm_vjp(x, u)),
            {},
        ),
        (
            "f32 torch logistic (leaves)",
            tl,
            tp,
            dict(grad=tg),
            dict(grad=lambda w, b: (1.01 * tg(w, b)[0], tg(w, b)[1])),
            {},
        ),
        (
            "transposed w, fast",
            affine,
            (x, w, b),
            dict(vjp=lambda x, w, b, u: (u @ w.T, x.T @ u, u.sum(0))),
            dict(vjp=lambda x, w, b, u: (u @ w, x.T @ u, u.sum(0))),
            dict(fast=True),
        ),
        (
            "ReLU at 0 (x>0 convention)",
            relu,
            on_kink,
            dict(vjp=lambda x, u: u * (x > 0)),
            dict(vjp=lambda x, u: u * np.where(x == 0, 1.5, x > 0)),
            {},
        ),
    ]


ADAPTIVE = [
    ("exp(-(x/1e-6)^2) at 1e-6", lambda x: np.exp(-((x[0] / 1e-6) ** 2)), 1e-6, -2e6 * np.exp(-1.0)),
    ("log(x*x) at 1e-100", lambda x: np.log(x[0] * x[0]), 1e-100, 2e100),
    ("tanh(1e4 x) at 0", lambda x: np.tanh(1e4 * x[0]), 0.0, 1e4),
    ("sin at 1e6", lambda x: np.sin(x[0]), 1e6, np.cos(1e6)),
    ("sin(x^2) at 1e3", lambda x: np.sin(x[0] ** 2), 1e3, 2e3 * np.cos(1e6)),
    ("log(cosh x) at 1e-9", lambda x: np.log(np.cosh(x[0])), 1e-9, np.tanh(1e-9)),
    ("exp(x-700) at 0", lambda x: np.exp(x[0] - 700), 0.0, np.exp(-700.0)),
]


def main() -> None:
    print(f"{'case':30s} {'correct':>13s} {'evals':>6s} {'1% / 50% bug':>13s} {'evals':>6s}")
    for name, f, x, good, bad, extra in checks():
        r1 = gradlab.gradcheck(f, x, **good, **extra)
        r2 = gradlab.gradcheck(f, x, **bad, **extra)
        print(f"{name:30s} {r1.status:>13s} {r1.evaluations:6d} {r2.status:>13s} {r2.evaluations:6d}")
    print()
    print(
        f"{'adaptive':28s} {'value':>12s} {'error est.':>10s} {'exact':>12s} {'rel. error':>10s} "
        f"{'honest':>6s} {'evals':>5s}"
    )
    for name, f, x0, exact in ADAPTIVE:
        r = gradlab.differentiate(f, np.array([x0]), backend="adaptive")
        g, e = float(r.gradient[0]), float(r.error[0])
        rel = abs(g - exact) / abs(exact)
        print(
            f"{name:28s} {g:12.5g} {e:10.3g} {exact:12.5g} {rel:10.2g} "
            f"{str(e >= abs(g - exact)):>6s} {r.evaluations:5d}"
        )


if __name__ == "__main__":
    main()
