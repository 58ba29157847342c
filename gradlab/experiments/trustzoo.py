"""The adversarial zoo: is the verdict right away from small, smooth, well-scaled networks?

Every condition (input scale, weight scale, precision, batch size, activation, the user's
step) is run on a correct gradient -- which must pass, or be *inconclusive* where the
reference cannot judge, never fail -- and on planted bugs, which must never pass.  A bug
"detected" means the check failed; "inconclusive" is reported apart, never counted as a pass.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..backends import references as registered
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


# -- the options zoo: every way to call the check, on problems that are cheap to check -----------------

#: the user steps of the options zoo (jax's 1e-4, TensorFlow's 1e-3, ...)
USER_STEPS = (1e-8, 1e-6, 1e-4, 1e-3, 1e-2, 0.3, 1.0)


@dataclass(frozen=True)
class Problem:
    """A function with its correct gradient and planted bugs (name -> a wrong gradient)."""

    name: str
    f: Callable = field(repr=False)
    x: object = field(repr=False)
    grad: Callable = field(repr=False)
    bugs: dict[str, Callable] = field(repr=False, default_factory=dict)
    #: smooth at x (no kink within reach of any step)
    smooth: bool = True

    @property
    def dtype(self) -> str:
        leaves = self.x.values() if isinstance(self.x, dict) else [self.x]
        return np.result_type(*[np.asarray(v) for v in leaves]).name


def _scaled(grad: Callable, index, factor: float) -> Callable:
    """``grad`` with the entry (or, for a dict, the block) at ``index`` multiplied by ``factor``."""

    def wrong(x):
        g = grad(x)
        g = {k: np.array(v, copy=True) for k, v in g.items()} if isinstance(g, dict) else np.array(g, copy=True)
        g[index] = g[index] * factor
        return g

    return wrong


def problems() -> list[Problem]:
    """The options zoo's problems: smooth code in float64 and float32, a block and an entry far
    below the largest gradient, inputs exactly on kinks."""
    rng = np.random.default_rng(0)
    out = []
    for dtype in ("float64", "float32"):
        x = rng.standard_normal(6).astype(dtype)
        f = lambda v: np.sum(np.sin(v) * v + 0.25 * v**3)  # noqa: E731
        g = lambda v: np.sin(v) + v * np.cos(v) + 0.75 * v**2  # noqa: E731
        bugs = {"one entry 1%": _scaled(g, 2, 1.01), "all 10%": lambda v, g=g: 1.1 * g(v), "sign": _scaled(g, 0, -1.0)}
        out.append(Problem(f"smooth {dtype}", f, x, g, bugs))

    def fd(d):
        return np.sum(np.sin(d["big"])) + 1e-8 * np.sum(np.sin(d["small"]))

    def gd(d):
        return {"big": np.cos(d["big"]), "small": 1e-8 * np.cos(d["small"])}

    xd = {"big": np.array([0.3, 1.2, -0.7]), "small": np.array([0.5, 0.7])}
    out.append(Problem("a block at 1e-8 of max|g|", fd, xd, gd, {"small block 1%": _scaled(gd, "small", 1.01)}))
    scale = np.array([1.0, 0.8, 1.3, 1e-17])

    def fe(v):
        return np.sum(scale * np.sin(v))

    def ge(v):
        return scale * np.cos(v)

    xe = np.array([0.4, -1.1, 0.9, 0.6])
    out.append(Problem("an entry at 1e-17 of max|g|", fe, xe, ge, {"small entry 1%": _scaled(ge, 3, 1.01)}))
    c = np.array([1.5, -0.5, 2.0, 0.7])

    def fk(v):
        return np.sum(c * np.maximum(0.0, v)) + 0.5 * np.sum(v**2)

    def gk(v):
        return c * (v > 0) + v

    xk = np.array([0.0, 1.0, -2.0, 0.0])  # two inputs exactly on the ReLU's kink
    out.append(Problem("inputs on a ReLU kink", fk, xk, gk, {"kink entry 50%": _scaled(gk, 1, 1.5)}, smooth=False))
    return out


def check_grid(
    steps: Sequence[float | None] = (None, *USER_STEPS),
    references: Sequence[str] | None = None,
    modes: Sequence[bool] = (False, True),
    accept: Sequence[bool] = (False, True),
) -> tuple[tuple[str, dict], ...]:
    """Every combination of the user's step, the reference (default: "auto" and every registered
    one that takes a step), fast or full, and accept_unverified, as ``(name, gradcheck keywords)``."""
    refs = ("auto", *registered()) if references is None else tuple(references)
    out = []
    for h, ref, fast, acc in itertools.product(steps, refs, modes, accept):
        step = "default h" if h is None else f"h={h:g}"
        name = f"{ref}, {step}, {'fast' if fast else 'full'}" + (", accept_unverified" if acc else "")
        out.append((name, {"reference": ref, "h": h, "fast": fast, "accept_unverified": acc}))
    return tuple(out)


@dataclass(frozen=True)
class OptionsZoo:
    """Every option of the check (:func:`check_grid`) on every :func:`problems` entry, correct and buggy."""

    checks: tuple[tuple[str, dict], ...] = field(default_factory=check_grid)
    problems: tuple[str, ...] | None = None
    seed: int = 0

    def run(self) -> pd.DataFrame:
        """One row per (problem, gradient, check): the status and the evaluations."""
        rows = []
        for p in problems():
            if self.problems is not None and p.name not in self.problems:
                continue
            for bug, grad in [("none", p.grad), *p.bugs.items()]:
                for check, kw in self.checks:
                    with warnings.catch_warnings(), np.errstate(all="ignore"):
                        warnings.simplefilter("ignore")
                        r = gradcheck(p.f, p.x, grad=grad, seed=self.seed, **kw)
                    rows.append(
                        {
                            "problem": p.name,
                            "dtype": p.dtype,
                            "smooth": p.smooth,
                            "bug": bug,
                            "check": check,
                            **{k: kw.get(k) for k in ("reference", "h", "fast", "accept_unverified")},
                            "status": r.status,
                            # a pass that lists entries it could not judge (accept_unverified, or
                            # entries below the analytic side's rounding) is not a silent one
                            "listed": r.n_unverified > 0 or any(UNJUDGED in n for n in r.notes),
                            "evaluations": r.evaluations,
                        }
                    )
        return pd.DataFrame(rows)


#: the words of the note on entries below the analytic side's own rounding
UNJUDGED = "below the analytic side's own rounding"


def options_summary(zoo: pd.DataFrame, by: Sequence[str] = ("dtype", "h")) -> pd.DataFrame:
    """Per group (default: precision and step, every reference and mode together): silent passes and
    detections on bugs; false alarms and the inconclusive share on correct gradients, all problems
    and smooth ones apart."""
    zoo = zoo.assign(h=zoo["h"].map(lambda h: "default" if h is None or h != h else f"{h:g}"))
    out = []
    for key, g in zoo.groupby(list(by), sort=False):
        clean, bugs = g[g["bug"] == "none"], g[g["bug"] != "none"]
        smooth = clean[clean["smooth"]]
        out.append(
            {
                **dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)),
                "checks": len(g),
                "silent passes": int(((bugs["status"] == "passed") & ~bugs["listed"]).sum()),
                "passes listing unjudged entries": int(((bugs["status"] == "passed") & bugs["listed"]).sum()),
                "bugs caught": float((bugs["status"] == "failed").mean()),
                "false alarms": int((clean["status"] == "failed").sum()),
                "correct: inconclusive": float((clean["status"] == "inconclusive").mean()),
                "smooth correct: inconclusive": float((smooth["status"] == "inconclusive").mean()),
            }
        )
    return pd.DataFrame(out)
