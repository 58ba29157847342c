"""Closing figures of issue 18, items 1, 5, 6 and 9 and the options zoo.

Run against any checkout (the one first on the path is measured)::

    PYTHONPATH=<checkout> python tools/trust_steps_figures.py costs   # a default check's evaluations
    PYTHONPATH=<checkout> python tools/trust_steps_figures.py steps   # the issue's repro of item 1
    PYTHONPATH=<checkout> python tools/trust_steps_figures.py zoo     # the options zoo (this branch only)

``costs`` prints, for a float64 MLP, a float32 callable and a layer's vjp, the verdict and the
evaluations of a default check (correct gradient, then a planted 1% bug).
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

import gradlab

warnings.simplefilter("ignore")


def costs() -> None:
    net = gradlab.MLP([4, 16, 3], activation="tanh", output="sigmoid", loss="cross_entropy")
    X, Y = net.random_batch(32, seed=0)
    obj, theta = net.objective(X, Y), net.init(seed=0)
    v = np.random.default_rng(0).normal(size=40).astype(np.float32)
    g = np.random.default_rng(1)
    x, w, b = g.normal(size=(4, 5)), g.normal(size=(5, 5)), g.normal(size=5)

    def vjp(x, w, b, u):
        return u @ w.T, x.T @ u, u.sum(0)

    def bad_vjp(x, w, b, u):
        return u @ w.T, 1.01 * (x.T @ u), u.sum(0)

    cases = {
        "float64 MLP [4, 16, 3], batch 32": (
            lambda: gradlab.gradcheck(obj, theta),
            lambda: gradlab.gradcheck(obj, theta, grad=lambda t: 1.01 * obj.gradient(t)),
        ),
        "float32 callable sum(sin(v) v), n = 40": (
            lambda: gradlab.gradcheck(lambda v: np.sum(np.sin(v) * v), v, grad=lambda v: np.sin(v) + v * np.cos(v)),
            lambda: gradlab.gradcheck(
                lambda v: np.sum(np.sin(v) * v), v, grad=lambda v: 1.01 * (np.sin(v) + v * np.cos(v))
            ),
        ),
        "layer vjp x @ w + b (4x5, 5x5, 5)": (
            lambda: gradlab.gradcheck(lambda x, w, b: x @ w + b, (x, w, b), vjp=vjp),
            lambda: gradlab.gradcheck(lambda x, w, b: x @ w + b, (x, w, b), vjp=bad_vjp),
        ),
    }
    for name, (ok, bad) in cases.items():
        r, q = ok(), bad()
        print(f"{name:<42} correct: {r.status:<12} {r.evaluations:>5} evaluations", end=" | ")
        print(f"1% bug: {q.status:<12} {q.evaluations:>5}")


def steps() -> None:
    f, x = (lambda x: 0.5 * np.sum(x**2)), np.array([1.0, 2.0, -3.0])
    for h in (1e-4, 1e-3, 1e-2, 0.3, 1.0):
        for ref in ("central", "forward"):
            ok = gradlab.gradcheck(f, x, grad=lambda x: x, h=h, reference=ref).status
            bad = gradlab.gradcheck(f, x, grad=lambda x: 2 * x, h=h, reference=ref).status
            acc = gradlab.gradcheck(f, x, grad=lambda x: 2 * x, h=h, reference=ref, accept_unverified=True).status
            print(f"h={h:<6g} {ref:<8} correct {ok:<12} grad=2x {bad:<12} grad=2x, accept_unverified {acc}")


def zoo() -> None:
    import pandas as pd

    from gradlab.experiments.trustzoo import OptionsZoo, options_summary

    pd.set_option("display.width", 200)
    z = OptionsZoo().run()
    print(options_summary(z, by=("dtype",)).to_markdown(index=False, floatfmt=".3g"))
    print()
    print(options_summary(z).to_markdown(index=False, floatfmt=".3g"))
    print()
    print(options_summary(z, by=("problem",)).to_markdown(index=False, floatfmt=".3g"))
    print()
    print(options_summary(z, by=("dtype", "reference")).to_markdown(index=False, floatfmt=".3g"))


if __name__ == "__main__":
    {"costs": costs, "steps": steps, "zoo": zoo}[sys.argv[1] if len(sys.argv) > 1 else "costs"]()
