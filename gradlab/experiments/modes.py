"""Forward against reverse mode on a Jacobian: which one wins is decided by its shape, measured.

The map is a small network from ``n_in`` inputs to ``n_out`` outputs,

    y = tanh(W2 tanh(W1 x + b1) + b2),        W1: (hidden, n_in),  W2: (n_out, hidden),

and its Jacobian ``dy/dx`` (``n_out x n_in``) is built both ways, each by the same kind of
hand-written local rules, ``K`` directions per pass:

- **forward mode** pushes the ``n_in`` unit tangents through the layers,
  ``dz1 = W1 V``, ``da1 = s1' (.) dz1``, ``dy = s2' (.) (W2 da1)``: ``ceil(n_in / K)`` passes;
- **reverse mode** pulls the ``n_out`` unit cotangents back,
  ``g2 = s2' (.) U``, ``g1 = s1' (.) (W2^T g2)``, ``dx = W1^T g1``: ``ceil(n_out / K)`` passes.

One pass of either costs about the same (two matrix products of ``hidden x (n_in + n_out)``
numbers per direction), so forward mode should win while ``n_in < n_out`` and lose beyond:
a Jacobian of a layer with few inputs and many outputs is forward mode's case, a scalar loss
of many parameters (``n_out = 1``) reverse mode's.  :func:`run` measures it (interleaved
rounds, one BLAS thread) and :func:`crossover` finds where the measured ratio crosses 1.
Beside them, ``forward_ad``: the same forward-mode Jacobian from the registered backend, by dual
numbers on the plain numpy map (what the library ships for any callable; its overhead is the
price of not writing the rules by hand).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..backends import FORWARD_AD, jacobian
from ..stats import low_quantile
from ..timing import blas_info, blas_threads, interleaved

#: the three ways of building the Jacobian that :func:`run` times
MODES = ("forward", "reverse", "forward_ad")


@dataclass(frozen=True)
class LayerMap:
    """``y = tanh(W2 tanh(W1 x + b1) + b2)`` with its Jacobian in both modes."""

    W1: np.ndarray
    b1: np.ndarray
    W2: np.ndarray
    b2: np.ndarray

    @classmethod
    def random(cls, n_in: int, n_out: int, hidden: int, seed: int = 0) -> LayerMap:
        rng = np.random.default_rng(seed)
        return cls(
            rng.standard_normal((hidden, n_in)) / math.sqrt(n_in),
            0.1 * rng.standard_normal(hidden),
            rng.standard_normal((n_out, hidden)) / math.sqrt(hidden),
            0.1 * rng.standard_normal(n_out),
        )

    @property
    def n_in(self) -> int:
        return self.W1.shape[1]

    @property
    def n_out(self) -> int:
        return self.W2.shape[0]

    def __call__(self, x):
        return np.tanh(self.W2 @ np.tanh(self.W1 @ x + self.b1) + self.b2)

    def _slopes(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a1 = np.tanh(self.W1 @ x + self.b1)
        y = np.tanh(self.W2 @ a1 + self.b2)
        return 1 - a1 * a1, 1 - y * y  # tanh' = 1 - tanh^2, at each layer

    def forward_jacobian(self, x: np.ndarray, k: int) -> np.ndarray:
        """``dy/dx`` by forward mode: the unit tangents ``K`` at a time, ``ceil(n_in / K)`` passes."""
        s1, s2 = self._slopes(x)
        J = np.empty((self.n_out, self.n_in))
        for start in range(0, self.n_in, k):
            V = np.eye(self.n_in, min(k, self.n_in - start), -start)  # (n_in, K): e_start ..
            da1 = s1[:, None] * (self.W1 @ V)  # (hidden, n_in) @ (n_in, K) -> (hidden, K)
            J[:, start : start + V.shape[1]] = s2[:, None] * (self.W2 @ da1)  # (n_out, hidden) @ (hidden, K)
        return J

    def reverse_jacobian(self, x: np.ndarray, k: int) -> np.ndarray:
        """``dy/dx`` by reverse mode: the unit cotangents ``K`` at a time, ``ceil(n_out / K)`` passes."""
        s1, s2 = self._slopes(x)
        J = np.empty((self.n_out, self.n_in))
        for start in range(0, self.n_out, k):
            U = np.eye(self.n_out, min(k, self.n_out - start), -start)  # (n_out, K)
            g1 = s1[:, None] * (self.W2.T @ (s2[:, None] * U))  # (hidden, n_out) @ (n_out, K) -> (hidden, K)
            J[start : start + U.shape[1], :] = (self.W1.T @ g1).T  # (n_in, hidden) @ (hidden, K), transposed
        return J


def passes(mode: str, n_in: int, n_out: int, k: int) -> int:
    """Passes of one Jacobian: ``ceil(n_in / K)`` forward, ``ceil(n_out / K)`` reverse."""
    return math.ceil((n_out if mode == "reverse" else n_in) / k)


@dataclass(frozen=True)
class ModesParams:
    """Jacobians of :class:`LayerMap` ``n_in -> hidden -> n_out`` for each ``n_in`` of ``n_ins``,
    ``K = tangents_per_pass`` directions a pass, ``repeats`` interleaved rounds of calls looped to
    ``min_seconds``, BLAS on ``threads`` threads."""

    n_ins: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256, 512, 1024)
    n_out: int = 128
    hidden: int = 64
    tangents_per_pass: int = FORWARD_AD.tangents_per_pass
    repeats: int = 5
    min_seconds: float = 2e-3
    seed: int = 0
    threads: int | None = 1

    def describe(self) -> str:
        return (
            f"The Jacobian of y = tanh(W2 tanh(W1 x + b1) + b2), {self.hidden} hidden units, n_out = {self.n_out} "
            f"outputs, n_in = {', '.join(map(str, self.n_ins))} inputs; K = {self.tangents_per_pass} directions a "
            f"pass; {self.repeats} interleaved rounds, each call looped to {self.min_seconds:g} s, "
            f"{self.threads} BLAS thread(s)."
        )


def run(params: ModesParams = ModesParams()) -> pd.DataFrame:
    """Time the Jacobian in every mode of :data:`MODES` at every ``n_in``.

    Returns
    -------
    pandas.DataFrame
        One row per (mode, n_in, repeat): ``mode, n_in, n_out, hidden, repeat, seconds, passes``
        (forward and ``forward_ad``: ``ceil(n_in / K)``, reverse: ``ceil(n_out / K)``), and BLAS.
    """
    p, k = params, params.tangents_per_pass
    rows = []
    with blas_threads(p.threads):
        info = blas_info()
        for n_in in p.n_ins:
            f = LayerMap.random(n_in, p.n_out, p.hidden, seed=p.seed)
            x = np.random.default_rng(p.seed + 1).standard_normal(n_in)
            calls = {
                "forward": lambda f=f, x=x: f.forward_jacobian(x, k),
                "reverse": lambda f=f, x=x: f.reverse_jacobian(x, k),
                "forward_ad": lambda f=f, x=x: jacobian(f, x, backend="forward_ad"),
            }
            for mode, ts in interleaved(calls, repeats=p.repeats, min_seconds=p.min_seconds).items():
                for r, t in enumerate(ts):
                    rows.append(
                        {
                            "mode": mode,
                            "n_in": n_in,
                            "n_out": p.n_out,
                            "hidden": p.hidden,
                            "repeat": r,
                            "seconds": float(t),
                            "passes": passes(mode, n_in, p.n_out, k),
                            **info,
                        }
                    )
    return pd.DataFrame(rows)


def summary(samples: pd.DataFrame, *, q: float = 0.2) -> pd.DataFrame:
    """One row per ``n_in``: each mode's time (the ``q``-quantile of its rounds) and the ratio
    forward ÷ reverse, round by round (the rounds are interleaved): its median, min and max."""
    rows = []
    for n_in, g in samples.groupby("n_in"):
        row: dict[str, object] = {"n_in": int(n_in), "n_out": int(g["n_out"].iloc[0])}
        for mode, m in g.groupby("mode"):
            row[f"{mode}_seconds"] = low_quantile(m["seconds"].to_numpy(), q).value
        fw = g[g["mode"] == "forward"].set_index("repeat")["seconds"]
        rv = g[g["mode"] == "reverse"].set_index("repeat")["seconds"]
        ratio = (fw / rv).dropna()
        row |= {"ratio": float(ratio.median()), "ratio_low": float(ratio.min()), "ratio_high": float(ratio.max())}
        rows.append(row)
    return pd.DataFrame(rows)


def crossover(table: pd.DataFrame) -> float:
    """The ``n_in`` at which the median ratio forward ÷ reverse crosses 1, interpolated in
    ``log n_in`` and ``log ratio`` between the two sizes around it (NaN when it never does)."""
    t = table.sort_values("n_in")
    n, r = t["n_in"].to_numpy(dtype=float), np.log(t["ratio"].to_numpy(dtype=float))
    for i in range(len(n) - 1):
        if r[i] <= 0 < r[i + 1] or r[i] >= 0 > r[i + 1]:
            w = r[i] / (r[i] - r[i + 1])
            return float(math.exp(math.log(n[i]) + w * (math.log(n[i + 1]) - math.log(n[i]))))
    return math.nan
