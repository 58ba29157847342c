"""A zoo of realistic backprop bugs, and which gradient checker catches which.

Each bug is the backprop of :mod:`gradlab.nn.backprop` with one rule written
the way people get it wrong (the seeds' derivations show where: BP1-BP4, the batch
mean, the L2 term).  :func:`run` runs every checker on every bug over a few
random networks, and on the correct gradient for the false-alarm rate; :func:`summary`
reduces it to detection rates.

Each bug is one override of the local rules of the one backprop (:class:`gradlab.nn.Rules`),
or, for a mistake made after the backward pass, one touch on the finished gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..backends import references
from ..check import GradcheckResult, gradcheck
from ..check.directional import FULL_FALLBACK_MAX
from ..nn import MLP, RULES, MLPObjective, Rules, softmax


def _bp4_off_by_one(delta, acts, l, out):
    # a[l] instead of a[l-1]: only shape-compatible where the layer is square
    out[...] = delta.T @ (acts[l] if acts[l].shape[1] == acts[l - 1].shape[1] else acts[l - 1])


def _softmax_wrong_axis(head, z, a, Y):
    p = softmax(z.T).T if head.output_name == "softmax" else a  # normalised over the batch, not the classes
    delta = p * Y.sum(axis=1, keepdims=True) - Y
    delta /= Y.shape[0]  # the batch mean, as the correct BP1 takes it
    return delta


def _bias_first_sample(delta, out):
    out[...] = delta[0]


def _relu_prime_one(net, zs, acts, k):
    return np.ones_like(zs[k - 1]) if net.hidden[k - 1].name == "relu" else RULES.fprime(net, zs, acts, k)


def _tanh_prime_unsquared(net, zs, acts, k):
    return 1 - acts[k] if net.hidden[k - 1].name == "tanh" else RULES.fprime(net, zs, acts, k)


def _fprime_next_layer(net, zs, acts, k):
    return RULES.fprime(net, zs, acts, min(k + 1, net.n_layers - 1))  # the last hidden layer has no next


def _scale_last(factor):
    def after(net, grad):
        net.params(grad)[f"W{net.n_layers}"][...] *= factor
        return grad

    return after


def _one_entry_slip(net, grad):
    net.params(grad)["W2"][0, 0] = 0.0  # one index written to the wrong place, the entry left at 0
    return grad


@dataclass(frozen=True)
class Bug:
    """One realistic mistake: a name, what it is, and how it is made: local rules of backprop
    that are wrong, or a touch on the finished gradient (``after(net, grad)``: a wrong
    constant on a block, an entry lost), or both."""

    name: str
    description: str
    rules: Rules = RULES
    applies: Callable[[MLP], bool] = field(default=lambda net: True)
    #: a resolution probe (an error too small to be a real bug), not part of the zoo's goal
    probe: bool = False
    after: Callable[[MLP, np.ndarray], np.ndarray] | None = None

    def gradient(self, objective: MLPObjective, theta: np.ndarray) -> np.ndarray:
        """The buggy gradient of ``objective`` at ``theta``."""
        grad = objective.gradient(theta, self.rules)
        return grad if self.after is None else self.after(objective.net, grad)


BUGS: dict[str, Bug] = {
    b.name: b
    for b in [
        Bug("bp2_missing_fprime", "BP2 without f'(z): delta[l] = W^T delta[l+1]", Rules(bp2=lambda d, W, fp: d @ W)),
        Bug(
            "bp2_w_not_transposed",
            "W where W^T belongs in BP2 (shape-valid for square layers)",
            Rules(bp2=lambda d, W, fp: (d @ W.T) * fp if W.shape[0] == W.shape[1] else (d @ W) * fp),
            lambda net: net.n_layers >= 3 and len(set(net.sizes[1:-1])) == 1 and net.sizes[1] == net.sizes[2],
        ),
        Bug(
            "missing_batch_mean",
            "the 1/m of the batch mean forgotten",
            Rules(bp1=lambda head, z, a, Y: head.delta(z, a, Y)),
        ),
        Bug("l2_missing", "the L2 term missing from dW", Rules(l2_w=lambda lam, W: 0.0), lambda net: net.l2 > 0),
        Bug(
            "l2_on_biases",
            "the biases regularized too (the seeds regularize weights only)",
            Rules(l2_b=lambda lam, b: lam * b),
            lambda net: net.l2 > 0,
        ),
        Bug(
            "bias_first_sample",
            "db[l] from the first sample only, not summed over the batch",
            Rules(bp3=_bias_first_sample),
        ),
        Bug(
            "wrong_sign_bp1",
            "BP1 with the sign flipped: y - a instead of a - y",
            Rules(bp1=lambda head, z, a, Y: -RULES.bp1(head, z, a, Y)),
        ),
        Bug(
            "softmax_wrong_axis",
            "softmax normalised over the batch axis in BP1",
            Rules(bp1=_softmax_wrong_axis),
            lambda net: net.output == "softmax",
        ),
        Bug(
            "fprime_next_layer",
            "BP2 uses f'(z[l+1]) instead of f'(z[l]) (off by one layer)",
            Rules(fprime=_fprime_next_layer),
            lambda net: net.n_layers >= 3 and len(set(net.sizes[1:-1])) == 1,
        ),
        Bug(
            "bp4_off_by_one",
            "BP4 with a[l] instead of a[l-1] (off by one in the cache)",
            Rules(bp4=_bp4_off_by_one),
            lambda net: len(set(net.sizes[:-1])) == 1,
        ),
        Bug(
            "tanh_prime_unsquared",
            "tanh' written as 1 - a instead of 1 - a^2",
            Rules(fprime=_tanh_prime_unsquared),
            lambda net: "tanh" in net.activations,
        ),
        Bug(
            "relu_prime_one",
            "relu' taken as 1 everywhere (the unit treated as linear)",
            Rules(fprime=_relu_prime_one),
            lambda net: "relu" in net.activations,
        ),
        Bug("last_layer_0.1pct", "dW[L] off by 0.1% (a wrong constant)", after=_scale_last(1.001)),
        Bug(
            "one_entry_slip",
            "one entry of dW2 lost to an indexing slip",
            applies=lambda net: net.n_layers >= 2,
            after=_one_entry_slip,
        ),
        Bug(
            "probe: dW[L] x (1 + 1e-5)",
            "resolution probe: an error of 1e-5",
            probe=True,
            after=_scale_last(1 + 1e-5),
        ),
        Bug(
            "probe: dW[L] x (1 + 1e-7)",
            "resolution probe: an error of 1e-7",
            probe=True,
            after=_scale_last(1 + 1e-7),
        ),
    ]
}


#: the name of gradcheck at its defaults among :func:`checkers`
DEFAULT_CHECKER = "default"
#: numbers of random directions per block of the fast checkers
FAST_DIRECTIONS = (1, 2, 4)

#: the summary rows of :func:`summary` below the per-bug rows
ALL_BUGS = "ALL BUGS (probes aside)"
FALSE_ALARMS = "FALSE ALARMS (correct gradient)"
CORRECT_INCONCLUSIVE = "CORRECT: INCONCLUSIVE (correct gradient)"
EVALUATIONS = "evaluations (correct gradient)"


def fast_checker(directions: int) -> str:
    """The name of the fast checker with ``directions`` random directions per block."""
    return f"fast, {directions} direction{'s' if directions > 1 else ''}"


def checkers() -> dict[str, dict]:
    """Checker name -> keyword arguments of gradcheck; the first is the default check.

    The default reference at two other steps, every registered reference backend at its
    default step (so a backend registered by a user is judged too), and the fast mode.
    """
    out: dict[str, dict] = {DEFAULT_CHECKER: {}, "default, h=1e-3": {"h": 1e-3}, "default, h=1e-8": {"h": 1e-8}}
    for name in references():
        out[f"{name} reference"] = {"reference": name}
    for k in FAST_DIRECTIONS:
        out[fast_checker(k)] = {"fast": True, "directions": k}
    return out


def jittered_problem(net, batch: int, seed: int, jitter: float) -> tuple[object, np.ndarray]:
    """A zoo's objective and point: ``net`` on its seeded random batch, at its seeded init plus
    ``jitter`` times standard normal noise (seed + 1), so that no entry sits at the init's special
    values (zero biases hide bugs that scale with them).  Drawn in float64, then rounded to the
    network's precision.  Every zoo (MLP, HVP, layers) draws its points here."""
    X, Y = net.random_batch(batch, seed=seed)
    noise = np.random.default_rng(seed + 1).normal(size=net.n_params)
    theta = net.init(seed=seed).astype(np.float64) + jitter * noise
    return net.objective(X, Y), theta.astype(net.dtype)


@dataclass(frozen=True)
class BugZooParams:
    """What the bug zoo runs: bugs on ``activations`` x ``seeds``; correct gradients (for the
    false-alarm rate) on ``clean_activations`` x ``clean_seeds``; each network
    ``[width] * 3 + [classes]``, softmax + cross-entropy with penalty ``l2`` on a random batch
    of ``batch``, its parameters jittered by ``jitter`` (nonzero biases)."""

    activations: tuple[str, ...] = ("tanh", "relu")
    seeds: tuple[int, ...] = (0, 1, 2, 3)
    clean_activations: tuple[str, ...] = (
        "tanh",
        "sigmoid",
        "relu",
        "leaky_relu",
        "hard_tanh",
        "hard_sigmoid",
        "elu",
        "softplus",
    )
    clean_seeds: tuple[int, ...] = tuple(range(10, 16))
    width: int = 6
    batch: int = 16
    #: None: every bug of :data:`BUGS`
    bugs: tuple[str, ...] | None = None
    classes: int = 3
    l2: float = 0.01
    jitter: float = 0.05

    @property
    def sizes(self) -> list[int]:
        """The layer widths of every network of the zoo (three square layers: some bugs need them)."""
        return [self.width] * 3 + [self.classes]

    def network(self, activation: str, seed: int) -> tuple[MLPObjective, np.ndarray]:
        """The zoo's objective and point for one activation and seed."""
        net = MLP(self.sizes, activation=activation, output="softmax", loss="cross_entropy", l2=self.l2)
        return jittered_problem(net, self.batch, seed, self.jitter)

    def describe(self) -> str:
        """What ran, in one sentence of the report."""
        return (
            f"Bugs planted in seeded {self.sizes} networks ({' and '.join(self.activations)}; seeds "
            f"{', '.join(map(str, self.seeds))}; softmax + cross-entropy, l2 = {self.l2:g}, batch {self.batch}, "
            f"parameters jittered by {self.jitter:g}); the false-alarm rate measured on correct backprop over "
            f"networks of {len(self.clean_activations)} activations × {len(self.clean_seeds)} seeds."
        )


def zoo_network(activation: str, seed: int, *, width: int = 6, batch: int = 16) -> tuple[MLPObjective, np.ndarray]:
    """The zoo's network (:meth:`BugZooParams.network`) at the default settings but ``width`` and ``batch``."""
    return BugZooParams(width=width, batch=batch).network(activation, seed)


def _bound(objective: MLPObjective, bug: Bug) -> Callable[[np.ndarray], np.ndarray]:
    """The buggy gradient of ``objective`` as a function of theta, named after the bug."""

    def grad(theta: np.ndarray) -> np.ndarray:
        return bug.gradient(objective, theta)

    grad.__name__ = bug.name
    return grad


def run_checker(objective: MLPObjective, theta: np.ndarray, grad: Callable | None, checker: str) -> GradcheckResult:
    """One gradcheck of ``grad`` (backprop when None) with a checker of :func:`checkers`."""
    return gradcheck(objective, theta, grad=grad, **checkers()[checker])


def run(params: BugZooParams = BugZooParams(), *, progress: object = None) -> pd.DataFrame:
    """Every checker against every bug (and the correct gradient), over seeded networks.

    Returns one row per (network, bug, checker): ``detected`` (the check failed),
    ``evaluations``, ``unverified`` (entries no reference could measure), and ``bug == "none"``
    rows for the false-alarm rate (correct backprop on ``clean_activations`` x ``clean_seeds``).
    ``progress(i, total)`` is called after each case, when given.
    """
    p = params
    bugs = list(BUGS) if p.bugs is None else list(p.bugs)
    cases = [(act, seed, name) for act in p.activations for seed in p.seeds for name in bugs]
    cases += [(act, seed, "none") for act in p.clean_activations for seed in p.clean_seeds]
    table = checkers()
    rows = []
    for i, (act, seed, name) in enumerate(cases):
        objective, theta = p.network(act, seed)
        bug = None if name == "none" else BUGS[name]
        if bug is None or bug.applies(objective.net):
            grad = None if bug is None else _bound(objective, bug)
            same: dict[tuple, GradcheckResult] = {}
            for checker, kw in table.items():
                key = _same_fast_check(kw, objective.n_params)
                r = same.get(key) if key is not None else None
                if r is None:
                    r = gradcheck(objective, theta, grad=grad, **kw)
                    if key is not None:
                        same[key] = r
                rows.append(
                    {
                        "activation": act,
                        "seed": seed,
                        "bug": name,
                        "checker": checker,
                        "detected": r.status == "failed",
                        "status": r.status,
                        "evaluations": r.evaluations,
                        "unverified": r.n_unverified,
                        "taylor_rate": r.taylor.rate if r.taylor is not None else float("nan"),
                        "n_params": objective.n_params,
                    }
                )
        if progress is not None:
            progress(i + 1, len(cases))
    return pd.DataFrame(rows)


def _same_fast_check(kw: dict, n: int) -> tuple | None:
    """What identifies a fast checker's check apart from its ``directions``, where those cannot
    matter: a fast check reads ``directions`` only when it localises a disagreement by itself,
    above :data:`~gradlab.check.directional.FULL_FALLBACK_MAX` entries (below, the full check
    localises), so on the zoo's small networks "fast, 1/2/4 directions" are one check, run once."""
    if not kw.get("fast") or n > FULL_FALLBACK_MAX:
        return None
    return tuple(sorted((k, v) for k, v in kw.items() if k != "directions"))


def summary(zoo: pd.DataFrame) -> pd.DataFrame:
    """Detection rate per bug and checker, then the rate over all real bugs, the false-alarm
    rate and the inconclusive rate on correct gradients, and each checker's cost on a correct
    gradient (evaluations)."""
    bugs = zoo[zoo["bug"] != "none"]
    table = bugs.pivot_table(index="bug", columns="checker", values="detected", aggfunc="mean", sort=False)
    real = bugs[~bugs["bug"].map(lambda b: BUGS[b].probe)]
    clean = zoo[zoo["bug"] == "none"].groupby("checker", sort=False)
    table.loc[ALL_BUGS] = real.groupby("checker", sort=False)["detected"].mean()
    table.loc[FALSE_ALARMS] = clean["detected"].mean()
    # a correct gradient the checker could not judge is no false alarm, and no pass either
    table.loc[CORRECT_INCONCLUSIVE] = clean["status"].agg(lambda s: (s == "inconclusive").mean())
    table.loc[EVALUATIONS] = clean["evaluations"].median()
    return table[list(dict.fromkeys(zoo["checker"]))]


#: the names this module's entry points had before every experiment took the shape
#: ``run(params) -> DataFrame`` and ``summary(df)``
bug_zoo, zoo_summary = run, summary

__all__ = [
    "ALL_BUGS",
    "BUGS",
    "Bug",
    "BugZooParams",
    "EVALUATIONS",
    "FALSE_ALARMS",
    "Rules",
    "bug_zoo",
    "checkers",
    "run",
    "summary",
    "zoo_summary",
]
