"""The layer bug zoo: realistic mistakes in the backward passes of gradlab.nn's layers, and
which gradient checker catches which.

Each bug replaces one local rule of one layer (a method of the layer, see
:mod:`gradlab.nn.layers.base`) on a copy of a small network built for that layer: the
off-by-one crop in a convolution's backward, the stride forgotten in ``dW``, batch norm
without its mean terms, ``dW[x] = dy`` for an embedding, BPTT stopping one step short...
The correct gradient of every network gives the false-alarm rate.  Like the MLP's zoo
(:mod:`gradlab.experiments.bugzoo`), :func:`layer_zoo` runs every checker of
:func:`~gradlab.experiments.bugzoo.checkers` on every case and returns a tidy table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import nn
from ..check import gradcheck
from ..nn.layers import im2col
from .bugzoo import ALL_BUGS, DEFAULT_CHECKER, EVALUATIONS, FALSE_ALARMS, checkers, fast_checker, jittered_problem

#: network name -> a builder of the small network on which its layers' bugs are planted
NETWORKS: dict[str, Callable[[], nn.Network]] = {
    # two convolutions, so that the second one's input gradient (its crop) reaches conv1's blocks
    "cnn": lambda: nn.Network(
        [
            nn.Conv2d(1, 2, 3, padding=1),
            nn.Activation("relu"),
            nn.Conv2d(2, 3, 3, stride=2, padding=1),
            nn.Activation("tanh"),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Dense(12, 3),
        ],
        input_shape=(1, 7, 7),
    ),
    "avgpool": lambda: nn.Network(
        [nn.Conv2d(1, 2, 3), nn.Activation("tanh"), nn.AvgPool2d(2), nn.Flatten(), nn.Dense(8, 3)],
        input_shape=(1, 6, 6),
    ),
    "batchnorm": lambda: nn.Network(
        [nn.Dense(4, 5), nn.BatchNorm(5), nn.Activation("tanh"), nn.Dense(5, 3)], input_shape=(4,)
    ),
    "layernorm": lambda: nn.Network(
        [nn.Dense(4, 5), nn.LayerNorm(5), nn.Activation("tanh"), nn.Dense(5, 3)], input_shape=(4,)
    ),
    # a small vocabulary: every batch repeats ids
    "embedding": lambda: nn.Network([nn.Embedding(5, 3), nn.Flatten(), nn.Dense(12, 3)], input_shape=(4,)),
    "rnn": lambda: nn.Network([nn.RNN(3, 4), nn.Dense(4, 3)], input_shape=(4, 3)),
    "lstm": lambda: nn.Network([nn.LSTM(3, 3), nn.Dense(3, 3)], input_shape=(4, 3)),
    "attention": lambda: nn.Network(
        [nn.Dense(3, 4), nn.Attention(4), nn.Flatten(), nn.Dense(12, 3)], input_shape=(3, 3)
    ),
    "dropout": lambda: nn.Network(
        [nn.Dense(4, 6), nn.Activation("tanh"), nn.Dropout(0.5, seed=1), nn.Dense(6, 3)], input_shape=(4,)
    ),
}


# -- the mistakes, each a replacement of one local rule ----------------------------------------


def _crop_off_by_one(self, dxp, shape):
    q, (_, _, h, w) = self.padding, shape
    return dxp[:, :, q + 1 : q + 1 + h, q + 1 : q + 1 + w]  # one row and column too far in


def _stride_ignored_in_dW(self, cache, dy2):
    shape, xp, _, ho, wo = cache
    cols = im2col(xp, self.k, 1, ho, wo).reshape(shape[0], -1, ho * wo)  # stride 1 where it was s
    return np.tensordot(dy2, cols, axes=([0, 2], [0, 2]))


def _route_to_all(self, win, a, dy):
    return np.broadcast_to(dy[..., None], win.shape).copy()  # the argmax mask forgotten


def _no_one_over_k2(self, dy):
    return dy  # the 1/k^2 of the mean forgotten


def _bn_without_mean_terms(self, xhat, dxhat, r, axes):
    return dxhat * r  # the statistics treated as constants


def _ln_wrong_axis(self, xhat, dxhat, r, axis=-1):
    m = xhat.shape[0]
    s1 = dxhat.sum(axis=0, keepdims=True)  # summed over the batch, not the features
    s2 = (dxhat * xhat).sum(axis=0, keepdims=True)
    return (r / m) * (m * dxhat - s1 - xhat * s2)


def _assign_not_accumulate(self, dW, ids, dy):
    dW[ids] = dy  # repeated ids: the last write wins


def _bptt_one_short(self, T):
    return range(T - 1, 0, -1)  # t = 1 never visited


def _forget_gate_tanh_prime(self, i, f, g, o):
    return i * (1.0 - i), 1.0 - f * f, 1.0 - g * g, o * (1.0 - o)  # tanh' on the sigmoid forget gate


def _no_scale_backward(self):
    return 1.0  # the 1/sqrt(d) of the scores forgotten in dQ and dK


def _softmax_wrong_axis(self, P, dP):
    return P * (dP - (dP * P).sum(axis=-2, keepdims=True))  # summed over the queries, not the keys


def _mask_not_applied(self, m):
    return np.ones_like(m) / (1.0 - self.p)  # the scale kept, the mask dropped


def _bias_mean(self, dy2):
    return dy2.mean(axis=0)  # a batch mean taken twice


@dataclass(frozen=True)
class LayerBug:
    """A realistic mistake: the network it is planted in, the layer (by label), the local rule
    it replaces, and the blocks whose gradient it corrupts (those a check must name)."""

    name: str
    description: str
    network: str
    layer: str
    rule: str
    fn: Callable
    blocks: tuple[str, ...]

    def plant(self, objective: nn.NetworkObjective) -> nn.NetworkObjective:
        """The same batch on a copy of the network with the mistake planted."""
        net = objective.net
        i = net.labels.index(self.layer)
        return objective.with_network(net.with_layer(i, net.layers[i].with_rule(self.rule, self.fn)))


LAYER_BUGS: dict[str, LayerBug] = {
    b.name: b
    for b in [
        LayerBug(
            "conv_crop_off_by_one",
            "conv backward: the padded gradient cropped one pixel off",
            "cnn",
            "conv2",
            "crop",
            _crop_off_by_one,
            ("conv1.W", "conv1.b"),
        ),
        LayerBug(
            "conv_stride_ignored_in_dW",
            "conv dW from stride-1 patches in a stride-2 layer",
            "cnn",
            "conv2",
            "dW",
            _stride_ignored_in_dW,
            ("conv2.W",),
        ),
        LayerBug(
            "maxpool_to_all_entries",
            "max-pool gradient sent to every entry of the window",
            "cnn",
            "pool1",
            "route",
            _route_to_all,
            ("conv1.W", "conv1.b", "conv2.W", "conv2.b"),
        ),
        LayerBug(
            "avgpool_missing_1/k2",
            "avg-pool backward without the 1/k^2",
            "avgpool",
            "pool1",
            "spread",
            _no_one_over_k2,
            ("conv1.W", "conv1.b"),
        ),
        LayerBug(
            "batchnorm_missing_mean_terms",
            "batch-norm backward without the mean and variance terms",
            "batchnorm",
            "bn1",
            "dx",
            _bn_without_mean_terms,
            ("dense1.W", "dense1.b"),
        ),
        LayerBug(
            "layernorm_wrong_axis",
            "layer-norm backward summing over the batch axis",
            "layernorm",
            "ln1",
            "dx",
            _ln_wrong_axis,
            ("dense1.W", "dense1.b"),
        ),
        LayerBug(
            "embedding_assign",
            "embedding dW[x] = dy: repeated ids overwrite instead of adding",
            "embedding",
            "emb1",
            "scatter",
            _assign_not_accumulate,
            ("emb1.W",),
        ),
        LayerBug(
            "rnn_bptt_one_step_short",
            "RNN BPTT loop stopping before the first step",
            "rnn",
            "rnn1",
            "steps",
            _bptt_one_short,
            ("rnn1.Wx", "rnn1.Wh", "rnn1.b"),
        ),
        LayerBug(
            "lstm_forget_gate_derivative",
            "LSTM forget gate differentiated as a tanh (1 - f^2)",
            "lstm",
            "lstm1",
            "gate_derivatives",
            _forget_gate_tanh_prime,
            ("lstm1.Wx", "lstm1.Wh", "lstm1.b"),
        ),
        LayerBug(
            "attention_missing_scale",
            "attention backward without the 1/sqrt(d) in dQ, dK",
            "attention",
            "attn1",
            "backward_scale",
            _no_scale_backward,
            ("dense1.W", "dense1.b", "attn1.Wq", "attn1.Wk"),
        ),
        LayerBug(
            "attention_softmax_transposed",
            "attention softmax Jacobian applied over the wrong axis (transposed)",
            "attention",
            "attn1",
            "softmax_backward",
            _softmax_wrong_axis,
            ("dense1.W", "dense1.b", "attn1.Wq", "attn1.Wk"),
        ),
        LayerBug(
            "dropout_mask_not_applied",
            "dropout backward without the mask",
            "dropout",
            "dropout1",
            "dmask",
            _mask_not_applied,
            ("dense1.W", "dense1.b"),
        ),
        LayerBug(
            "dense_bias_mean",
            "dense db as the batch mean of dy (the 1/N taken twice)",
            "dropout",
            "dense2",
            "db",
            _bias_mean,
            ("dense2.b",),
        ),
    ]
}


@dataclass(frozen=True)
class LayerZooParams:
    """What the layer zoo runs: every bug of ``bugs`` on ``seeds``; every network's correct
    gradient on ``clean_seeds``; a batch of ``batch``, parameters jittered by ``jitter``;
    ``checkers`` (names of :func:`~gradlab.experiments.bugzoo.checkers`; None: :func:`default_checkers`)."""

    seeds: tuple[int, ...] = (0, 1)
    clean_seeds: tuple[int, ...] = (10, 11, 12)
    batch: int = 6
    jitter: float = 0.1
    bugs: tuple[str, ...] | None = None
    checkers: tuple[str, ...] | None = None
    #: the precision of the networks (parameters, data and arithmetic)
    dtype: str = "float64"

    def problem(self, network: str, seed: int) -> tuple[nn.NetworkObjective, np.ndarray]:
        """The zoo's objective and point for one network and seed (drawn in float64, then rounded)."""
        net = NETWORKS[network]().astype(self.dtype)
        return jittered_problem(net, self.batch, seed, self.jitter)

    def describe(self) -> str:
        return (
            f"Each bug planted in one layer of a small {self.dtype} network built for it ({len(NETWORKS)} networks; "
            f"seeds "
            f"{', '.join(map(str, self.seeds))}; softmax + cross-entropy, batch {self.batch}, parameters jittered "
            f"by {self.jitter:g}); false alarms counted on the correct gradient of every network over "
            f"{len(self.clean_seeds)} seed{'s' if len(self.clean_seeds) != 1 else ''}."
        )


def default_checkers(dtype: str = "float64") -> list[str]:
    """Every checker of :func:`~gradlab.experiments.bugzoo.checkers`; in float32 those that choose
    their own step (a step forced to 1e-8 lies below float32's spacing and 1e-3 is too small for
    f to resolve there: gradlab refuses those with an error that names the step, not a verdict)."""
    table = checkers()
    return [name for name, kw in table.items() if dtype == "float64" or "h" not in kw]


def failing_blocks(result) -> list[str]:
    """The blocks a gradcheck result names as failing."""
    return result.table.loc[result.table["n_failed"] > 0, "block"].tolist()


def layer_zoo(params: LayerZooParams = LayerZooParams(), *, progress: object = None) -> pd.DataFrame:
    """Every checker on every layer bug and on every network's correct gradient.

    One row per (network, seed, bug, checker): ``detected`` (the check failed), ``named``
    (the blocks it names as failing lie among the bug's blocks, at least one), ``status``,
    ``evaluations``; ``bug == "none"`` rows give the false-alarm rate.
    """
    p = params
    table = checkers()
    names = list(p.checkers) if p.checkers is not None else default_checkers(p.dtype)
    bugs = list(LAYER_BUGS) if p.bugs is None else list(p.bugs)
    cases = [(LAYER_BUGS[b].network, seed, b) for b in bugs for seed in p.seeds]
    cases += [(net, seed, "none") for net in NETWORKS for seed in p.clean_seeds]
    rows = []
    for k, (network, seed, bug) in enumerate(cases):
        objective, theta = p.problem(network, seed)
        grad = None if bug == "none" else LAYER_BUGS[bug].plant(objective).gradient
        for checker in names:
            r = gradcheck(objective, theta, grad=grad, **table[checker])
            named = failing_blocks(r)
            rows.append(
                {
                    "network": network,
                    "seed": seed,
                    "bug": bug,
                    "checker": checker,
                    "detected": r.status == "failed",
                    "named": bool(named) and bug != "none" and set(named) <= set(LAYER_BUGS[bug].blocks),
                    "status": r.status,
                    "evaluations": r.evaluations,
                    "n_params": objective.n_params,
                    "dtype": p.dtype,
                }
            )
        if progress is not None:
            progress(k + 1, len(cases))
    return pd.DataFrame(rows)


def layer_zoo_summary(zoo: pd.DataFrame) -> pd.DataFrame:
    """Detection rate per bug and checker, the rate over all bugs, the false-alarm rate on
    correct gradients, and each checker's median cost on a correct gradient."""
    bugs = zoo[zoo["bug"] != "none"]
    table = bugs.pivot_table(index="bug", columns="checker", values="detected", aggfunc="mean", sort=False)
    clean = zoo[zoo["bug"] == "none"].groupby("checker", sort=False)
    table.loc[ALL_BUGS.replace(" (probes aside)", "")] = bugs.groupby("checker", sort=False)["detected"].mean()
    table.loc[FALSE_ALARMS] = clean["detected"].mean()
    table.loc[EVALUATIONS] = clean["evaluations"].median()
    return table[list(dict.fromkeys(zoo["checker"]))]


#: the two checkers of a quick run: the default and the cheapest fast one
QUICK_CHECKERS = (DEFAULT_CHECKER, fast_checker(1))

__all__ = [
    "LAYER_BUGS",
    "NETWORKS",
    "QUICK_CHECKERS",
    "LayerBug",
    "LayerZooParams",
    "default_checkers",
    "failing_blocks",
    "layer_zoo",
    "layer_zoo_summary",
]
