"""The adversarial zoo: is the verdict right away from small, smooth, well-scaled networks?

Every condition (input scale, weight scale, precision, batch size, activation, the user's
step) is run on a correct gradient -- which must pass, or be *inconclusive* where the
reference cannot judge, never fail -- and on planted bugs, which must never pass.  A bug
"detected" means the check failed; "inconclusive" is reported apart, never counted as a pass.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..check import gradcheck
from ..nn import MLP
from .bugzoo import BUGS, Bug


@dataclass(frozen=True)
class Condition:
    """One way a user might run the check."""

    activation: str = "tanh"
    input_scale: float = 1.0
    weight_scale: float = 1.0
    dtype: str = "float64"
    batch: int = 16
    h: float | None = None

    @property
    def label(self) -> str:
        step = "default h" if self.h is None else f"h={self.h:g}"
        return (
            f"{self.activation}, x×{self.input_scale:g}, W×{self.weight_scale:g}, {self.dtype}, "
            f"batch {self.batch}, {step}"
        )


def _scale_first_layer(factor: float) -> Callable:
    def after(net, grad):
        net.params(grad)["W1"][...] *= factor
        return grad

    return after


def _one_bias(factor: float) -> Callable:
    def after(net, grad):
        net.params(grad)["b1"][0] *= factor
        return grad

    return after


#: bugs beyond the bug zoo's: a 10% error in layer 1, and a 50% error on one bias
EXTRA_BUGS: dict[str, Bug] = {
    b.name: b
    for b in [
        Bug("W1 off by 10%", "dW1 scaled by 1.1", after=_scale_first_layer(1.1)),
        Bug("b1[0] off by 50%", "db1[0] scaled by 1.5", after=_one_bias(1.5)),
    ]
}


#: the zoo's network: [inputs, hidden, hidden, classes]
SIZES = (5, 8, 8, 3)
#: its L2 penalty, and the jitter added to the initial parameters (nonzero biases)
L2 = 0.01
JITTER = 0.05


def _problem(c: Condition, seed: int, *, sizes: Sequence[int] = SIZES, l2: float = L2, jitter: float = JITTER):
    net = MLP(list(sizes), activation=c.activation, output="softmax", loss="cross_entropy", l2=l2, dtype=c.dtype)
    X, Y = net.random_batch(c.batch, seed=seed)
    rng = np.random.default_rng(seed + 1)
    theta = net.init(seed=seed).astype(np.float64) * c.weight_scale + jitter * rng.standard_normal(net.n_params)
    return net.objective(X * c.input_scale, Y), theta.astype(c.dtype)


def conditions_grid(
    activations: Sequence[str] = ("tanh", "relu", "leaky_relu", "hard_tanh", "hard_sigmoid"),
    input_scales: Sequence[float] = (1e-3, 1.0, 1e3),
    weight_scales: Sequence[float] = (1.0, 10.0),
    dtypes: Sequence[str] = ("float64", "float32"),
    batches: Sequence[int] = (16, 2000),
    steps: Sequence[float | None] = (None, 0.3),
) -> list[Condition]:
    return [Condition(*c) for c in itertools.product(activations, input_scales, weight_scales, dtypes, batches, steps)]


@dataclass(frozen=True)
class TrustZooParams:
    """Parameters of the adversarial zoo, held as data (:func:`run` runs them)."""

    conditions: tuple[Condition, ...] = field(default_factory=lambda: tuple(conditions_grid()))
    bugs: tuple[str, ...] = (
        "bp2_missing_fprime",
        "missing_batch_mean",
        "wrong_sign_bp1",
        "relu_prime_one",
        "tanh_prime_unsquared",
        "last_layer_0.1pct",
        "W1 off by 10%",
        "b1[0] off by 50%",
    )
    checks: tuple[tuple[str, dict], ...] = (("default", {}), ("fast", {"fast": True}))
    seed: int = 0
    sizes: tuple[int, ...] = SIZES
    l2: float = L2
    jitter: float = JITTER

    def describe(self) -> str:
        """What ran, in one sentence of the report."""
        checks = " and ".join(f"the {name} check" for name, _ in self.checks)
        return (
            f"Networks {list(self.sizes)} (softmax + cross-entropy, l2 = {self.l2:g}, parameters jittered by "
            f"{self.jitter:g}, seed {self.seed}) under {len(self.conditions)} conditions: activation, input scale, "
            "weight scale, precision, batch size and the user's step. Each runs the correct gradient and the "
            f"planted bugs that apply to it (of {len(self.bugs)}: {', '.join(self.bugs)}) with {checks}, at "
            "default settings."
        )

    def run(self) -> pd.DataFrame:
        """One row per (condition, gradient, check): the status and the evaluations (:func:`run`)."""
        return run(self)

    def _run(self, progress: Callable[[float, float], None] | None = None) -> pd.DataFrame:
        rows = []
        for i, c in enumerate(self.conditions):
            objective, theta = _problem(c, self.seed, sizes=self.sizes, l2=self.l2, jitter=self.jitter)
            cases = [("none", None)]
            for name in self.bugs:
                bug = EXTRA_BUGS.get(name) or BUGS[name]
                if not bug.applies(objective.net):  # e.g. relu' bugs on tanh networks
                    continue
                cases.append((name, bug))
            right = objective.gradient(theta).astype(np.float64)
            for name, bug in cases:
                grad = None if bug is None else (lambda th, b=bug, o=objective: b.gradient(o, th))
                if bug is not None:
                    effect = np.abs(grad(theta).astype(np.float64) - right).max() / np.abs(right).max()
                    if effect < 1e-6:  # the bug changes nothing measurable at this point
                        continue
                for check, kw in self.checks:
                    r = gradcheck(objective, theta, grad=grad, h=c.h, seed=self.seed, **kw)
                    rows.append(
                        {
                            "condition": c.label,
                            **{k: getattr(c, k) for k in ("activation", "input_scale", "weight_scale", "dtype")},
                            "batch": c.batch,
                            "h": c.h,
                            "bug": name,
                            "check": check,
                            "status": r.status,
                            "evaluations": r.evaluations,
                            "reference": r.reference,
                        }
                    )
            if progress is not None:
                progress(i + 1, len(self.conditions))
        return pd.DataFrame(rows)


#: the name of :class:`TrustZooParams` before every experiment's parameters were called ``*Params``
TrustZoo = TrustZooParams


def run(params: TrustZooParams = TrustZooParams(), *, progress: Callable[[float, float], None] | None = None):
    """The adversarial zoo of ``params``: one row per (condition, gradient, check) with ``status``,
    ``evaluations`` and ``reference``; ``progress(done, total)`` after each condition."""
    return params._run(progress)


def summary(zoo: pd.DataFrame) -> pd.DataFrame:
    """Per check: false alarms and inconclusive rate on correct gradients; silent passes,
    detection and inconclusive rate on bugs."""
    out = []
    for check, g in zoo.groupby("check", sort=False):
        clean, bugs = g[g["bug"] == "none"], g[g["bug"] != "none"]
        out.append(
            {
                "check": check,
                "correct gradients": len(clean),
                "false alarms": int((clean["status"] == "failed").sum()),
                "correct: inconclusive": float((clean["status"] == "inconclusive").mean()),
                "bugs": len(bugs),
                "silent passes": int((bugs["status"] == "passed").sum()),
                "detected": float((bugs["status"] == "failed").mean()),
                "bugs: inconclusive": float((bugs["status"] == "inconclusive").mean()),
                "median evaluations (correct)": float(clean["evaluations"].median()),
            }
        )
    return pd.DataFrame(out)
