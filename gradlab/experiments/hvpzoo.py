"""A zoo of Hessian-vector-product bugs beside the gradient's, and whether the second-order check
catches them and names the block pair.

Each bug is the R-operator of :mod:`gradlab.nn.rop` with one local rule written the way people
get it wrong when they derive a double backward by hand: a second-derivative term forgotten,
the head's tangent dropped, the L2 term's Hessian put on the biases, a factor 2, a block read
transposed, a product-rule term lost.  :func:`hvp_zoo` runs ``gradcheck(obj, theta, hvp=bug)``
(full: every block pair; fast: projections) on every bug over a few random networks and heads,
and on the correct HVP over every activation (ReLU included) and head for the false-alarm rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..check import GradcheckResult, gradcheck
from ..nn import HVP_RULES, MLP, HvpRules, MLPObjective
from .bugzoo import jittered_problem


def _zero_fsecond(act, z, a):
    return np.zeros_like(z)


def _fprime_for_fsecond(act, z, a):
    return act.df(z, a)


def _diagonal_softmax(head, z, a, Y, rz):
    # the softmax Jacobian taken as diag(a): the -a <a, r> term of J r dropped
    if head.output_name == "softmax" and head.loss_name == "cross_entropy":
        return Y.sum(axis=1, keepdims=True) * a * rz
    return head.curvature(z, a, Y, rz)


def _rbp4_first_term(rdelta, delta, a_prev, ra_prev, out):
    np.matmul(rdelta.T, a_prev, out=out)  # the delta^T R{a[l-1]} term of the product rule lost


def _rbp2_first_term(rdelta, delta, W, dW):
    return rdelta @ W  # the delta[l+1] dW[l+1] term lost: the direction's weights carry nothing back


def _rz_no_bias(a_prev, ra_prev, W, dW, db):
    return HVP_RULES.rz(a_prev, ra_prev, W, dW, np.zeros_like(db))


def _transposed_tangent(l, dW):
    # the direction's block read with its axes swapped (a (n_in, n_out) buffer taken as (n_out, n_in))
    return dW.reshape(dW.shape[1], dW.shape[0]).T


def _one_entry_slip(net, hv):
    net.params(hv)["W2"][0, 0] = 0.0
    return hv


def _smooth_hidden(net: MLP) -> bool:
    """Some hidden unit has a nonzero second derivative (a ReLU-like net's f'' is 0 everywhere)."""
    return any(name in ("tanh", "sigmoid", "softplus", "elu") for name in net.activations)


@dataclass(frozen=True)
class HvpBug:
    """One realistic mistake in a hand-written HVP, and the networks where it is a mistake at all."""

    name: str
    description: str
    rules: HvpRules
    applies: Callable[[MLP], bool] = field(default=lambda net: True)

    def hvp(self, objective: MLPObjective) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        """The buggy ``hvp(theta, v)`` of ``objective``, named after the bug."""

        def hvp(theta, v):
            return objective.hvp(theta, v, self.rules)

        hvp.__name__ = self.name
        return hvp


HVP_BUGS: dict[str, HvpBug] = {
    b.name: b
    for b in [
        HvpBug(
            "missing_fsecond",
            "R of BP2 without the f''(z) term (the Gauss-Newton part only)",
            HvpRules(fsecond=_zero_fsecond),
            _smooth_hidden,
        ),
        HvpBug("fprime_for_fsecond", "f'(z) where f''(z) belongs", HvpRules(fsecond=_fprime_for_fsecond)),
        HvpBug(
            "head_tangent_dropped",
            "R{delta[L]} = 0: the loss head's second-order term dropped",
            HvpRules(head=lambda head, z, a, Y, rz: np.zeros_like(rz)),
        ),
        HvpBug(
            "softmax_tangent_diagonal",
            "the softmax tangent J r taken as a * r (the -a <a, r> term dropped)",
            HvpRules(head=_diagonal_softmax),
            lambda net: net.output == "softmax" and net.loss == "cross_entropy",
        ),
        HvpBug(
            "l2_on_biases",
            "the L2 term's Hessian put on the biases too",
            HvpRules(l2_b=lambda lam, db: lam * db),
            lambda net: net.l2 > 0,
        ),
        HvpBug(
            "l2_factor_2",
            "the L2 term's Hessian as 2 l2 (a factor 2 from d/dW of l2 ||W||^2)",
            HvpRules(l2_w=lambda lam, dW: 2 * lam * dW),
            lambda net: net.l2 > 0,
        ),
        HvpBug("rbp4_product_term", "R of BP4 without delta^T R{a[l-1]}", HvpRules(rbp4=_rbp4_first_term)),
        HvpBug("rbp2_direction_term", "R of BP2 without delta[l+1] dW[l+1]", HvpRules(rbp2=_rbp2_first_term)),
        HvpBug("rz_bias_tangent", "R{z} without the bias tangent db", HvpRules(rz=_rz_no_bias)),
        HvpBug(
            "missing_batch_mean",
            "R{delta[L]} not divided by the batch size",
            HvpRules(head=lambda head, z, a, Y, rz: head.curvature(z, a, Y, rz) * z.shape[0]),
        ),
        HvpBug(
            "transposed_tangent",
            "the direction's weight block read transposed",
            HvpRules(tangent_w=_transposed_tangent),
        ),
        HvpBug(
            "one_entry_slip",
            "one entry of (H v)[W2] lost to an indexing slip",
            HvpRules(finish=_one_entry_slip),
        ),
    ]
}

#: (output, loss) heads the zoo plants bugs under
ZOO_HEADS = (("softmax", "cross_entropy"), ("sigmoid", "cross_entropy"), ("tanh", "mse"))


@dataclass(frozen=True)
class HvpZooParams:
    """What the HVP zoo runs: every bug on ``activations`` x ``heads`` x ``seeds``; the correct HVP on
    ``clean_activations`` x ``heads`` x ``clean_seeds`` (false alarms); networks ``sizes`` with ``l2``,
    a batch of ``batch``, parameters jittered by ``jitter`` (nonzero biases); checks full, or fast
    (projections) too."""

    activations: tuple[str, ...] = ("tanh", "softplus", "relu")
    heads: tuple[tuple[str, str], ...] = ZOO_HEADS
    seeds: tuple[int, ...] = (0, 1)
    clean_activations: tuple[str, ...] = ("tanh", "sigmoid", "relu", "leaky_relu", "elu", "softplus", "hard_tanh")
    clean_seeds: tuple[int, ...] = (10, 11)
    sizes: tuple[int, ...] = (3, 4, 4, 3)
    l2: float = 0.05
    batch: int = 8
    jitter: float = 0.1
    modes: tuple[str, ...] = ("full", "fast")
    bugs: tuple[str, ...] | None = None

    @classmethod
    def quick(cls) -> HvpZooParams:
        """A few seconds' worth: every bug on tanh networks under every head, full checks only;
        false alarms over tanh, ReLU and softplus."""
        return cls(
            activations=("tanh",),
            seeds=(0,),
            clean_activations=("tanh", "relu", "softplus"),
            clean_seeds=(10,),
            modes=("full",),
        )

    def network(self, activation: str, head: tuple[str, str], seed: int) -> tuple[MLPObjective, np.ndarray]:
        output, loss = head
        net = MLP(list(self.sizes), activation=activation, output=output, loss=loss, l2=self.l2)
        return jittered_problem(net, self.batch, seed, self.jitter)

    def describe(self) -> str:
        return (
            f"HVP bugs planted in seeded {list(self.sizes)} networks ({', '.join(self.activations)}; heads "
            f"{', '.join(f'{o}+{l}' for o, l in self.heads)}; seeds {', '.join(map(str, self.seeds))}; l2 = "
            f"{self.l2:g}, batch {self.batch}); false alarms on the correct R-operator over "
            f"{len(self.clean_activations)} activations × {len(self.heads)} heads × {len(self.clean_seeds)} seeds."
        )


CORRECT = "correct (R-operator)"


def _failing_pairs(result: GradcheckResult) -> str:
    return "; ".join(result.table.loc[result.table["n_failed"] > 0, "block"])


def hvp_zoo(params: HvpZooParams = HvpZooParams()) -> pd.DataFrame:
    """One row per (bug or correct HVP, activation, head, seed, mode): the verdict, the failing block
    pairs (``"H[W1, b1]; H[b1, b1]"``), the evaluations (of f for the gradient plus of the gradient
    for the Hessian)."""
    rows = []
    bugs = [HVP_BUGS[b] for b in (params.bugs or HVP_BUGS)]
    jobs = [(bug, a, s) for bug in bugs for a in params.activations for s in params.seeds]
    jobs += [(None, a, s) for a in params.clean_activations for s in params.clean_seeds]
    for bug, activation, seed in jobs:
        for head in params.heads:
            obj, theta = params.network(activation, head, seed)
            if bug is not None and not bug.applies(obj.net):
                continue
            for mode in params.modes:
                r = gradcheck(obj, theta, hvp=None if bug is None else bug.hvp(obj), order=2, fast=mode == "fast")
                rows.append(
                    {
                        "bug": CORRECT if bug is None else bug.name,
                        "activation": activation,
                        "head": f"{head[0]}+{head[1]}",
                        "seed": seed,
                        "mode": mode,
                        "status": r.status,
                        "caught": r.status == "failed",
                        "pairs": _failing_pairs(r),
                        "evaluations": r.evaluations,
                    }
                )
    return pd.DataFrame(rows)


def detection_table(samples: pd.DataFrame) -> pd.DataFrame:
    """Per bug and mode: how often the check failed it (for the correct HVP: the false-alarm rate),
    how often it was inconclusive, the networks tried, and the block pairs named most often."""
    out = []
    for (bug, mode), g in samples.groupby(["bug", "mode"], sort=False):
        named = g.loc[g["caught"], "pairs"].str.split("; ").explode()
        top = "; ".join(named.value_counts().index[:3]) if len(named) else ""
        out.append(
            {
                "bug": bug,
                "mode": mode,
                "networks": len(g),
                "failed": float(g["caught"].mean()),
                "inconclusive": float((g["status"] == "inconclusive").mean()),
                "pairs named most": top,
                "median evaluations": float(g["evaluations"].median()),
            }
        )
    return pd.DataFrame(out)
