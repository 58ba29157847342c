"""Training as in the seeds: mini-batch gradient descent, with any gradient backend.

Every backend follows (almost) the same trajectory -- they compute the same
gradient -- but at very different cost: the point of reverse mode, seen in a loss
curve against wall-clock time.  :func:`run` trains with every registered backend,
``repeats`` times each (interleaved), and keeps per epoch the fastest repeat's time, so
one slow epoch on a busy machine does not draw a false step into the curve.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import _validate as v
from ..backends import all_backends, baseline, differentiate, get
from ..nn import MLP
from ..timing import blas_threads


def planar_data(m: int = 400, *, seed: int = 0, noise: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """A two-class "flower" in the plane, the kind of toy set the seeds' course trains on.

    Class k fills the petals ``r = 4 sin(4 t)`` for ``t`` in its half of the circle, with
    Gaussian noise on both angle and radius: not linearly separable, easy for a small MLP.

    Returns ``X`` of shape ``(m, 2)`` and labels ``Y`` of shape ``(m, 1)`` in {0, 1}.
    """
    m = v.integer_at_least("m", m, 2)
    noise = v.nonnegative_float("noise", noise)
    rng = np.random.default_rng(v.seed("seed", seed))
    half = m // 2
    X, Y = np.empty((m, 2)), np.empty((m, 1))
    for k, (lo, n) in enumerate(((0, half), (half, m - half))):
        t = np.linspace(k * np.pi, (k + 1) * np.pi, n) + rng.normal(scale=noise, size=n)
        r = 4 * np.sin(4 * t) + rng.normal(scale=noise, size=n)
        X[lo : lo + n] = np.column_stack([r * np.sin(t), r * np.cos(t)])
        Y[lo : lo + n] = k
    return X, Y


def train(
    net: MLP,
    X: object,
    Y: object,
    *,
    backend: str | None = None,
    epochs: int = 50,
    batch_size: int = 64,
    learning_rate: float = 0.5,
    seed: int = 0,
    theta: np.ndarray | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Mini-batch gradient descent ``theta := theta - learning_rate * grad J_batch(theta)``.

    ``backend`` is a registered backend's name (None: the registry's analytic baseline,
    backprop as built in).  Each epoch shuffles the samples (seeded) and takes one step per batch.  The
    clock runs only while gradients are computed and applied, not while the
    full-batch cost is measured for the record.

    Returns
    -------
    theta : numpy.ndarray
        The trained parameters.
    history : pandas.DataFrame
        One row per epoch (plus epoch 0, before training): ``epoch, steps, cost``
        (full-batch J), ``seconds`` (cumulative), ``evaluations`` (cumulative objective
        evaluations), ``jvps`` (cumulative Jacobian-vector products: forward-mode AD), ``backend``.
    """
    backend = baseline() if backend is None else backend
    get(backend)
    epochs = v.positive_int("epochs", epochs)
    batch_size = v.positive_int("batch_size", batch_size)
    seed = v.seed("seed", seed)
    learning_rate = v.positive_float("learning_rate", learning_rate)
    full = net.objective(X, Y)
    theta = (
        net.init(seed=seed) if theta is None else net.check_theta(theta, copy=True)
    )  # a new array: training never writes into the caller's
    rng = np.random.default_rng(seed)
    m = full.X.shape[0]
    seconds, evaluations, jvps, steps = 0.0, 0, 0, 0
    history = [{"epoch": 0, "steps": 0, "cost": full(theta), "seconds": 0.0, "evaluations": 0, "jvps": 0}]
    for epoch in range(1, epochs + 1):
        order = rng.permutation(m)
        for start in range(0, m, batch_size):
            idx = order[start : start + batch_size]
            batch = net.objective(full.X[idx], full.Y[idx])
            t0 = time.perf_counter()
            r = differentiate(batch, theta, backend=backend)
            theta -= learning_rate * r.gradient
            seconds += time.perf_counter() - t0
            evaluations += r.evaluations
            jvps += r.jvps
            steps += 1
        history.append(
            {
                "epoch": epoch,
                "steps": steps,
                "cost": full(theta),
                "seconds": seconds,
                "evaluations": evaluations,
                "jvps": jvps,
            }
        )
    out = pd.DataFrame(history)
    out.insert(0, "backend", backend)
    return theta, out


@dataclass(frozen=True)
class TrainingParams:
    """Mini-batch descent of an MLP ``sizes`` (``activation``, ``output`` + ``loss``) on ``m``
    points of the planar flower, ``epochs`` epochs of batches of ``batch_size`` at
    ``learning_rate``, from the same start with each backend (None: every registered backend),
    ``repeats`` interleaved runs each for the timing."""

    sizes: tuple[int, ...] = (2, 8, 8, 1)
    m: int = 400
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 0.2
    seed: int = 0
    repeats: int = 3
    backends: tuple[str, ...] | None = None
    threads: int | None = 1
    activation: str = "tanh"
    output: str = "sigmoid"
    loss: str = "cross_entropy"

    def chosen(self) -> list[str]:
        return [b.name for b in all_backends()] if self.backends is None else list(self.backends)

    def network(self) -> MLP:
        """The network trained."""
        return MLP(list(self.sizes), activation=self.activation, output=self.output, loss=self.loss)

    def describe(self) -> str:
        """What ran, in one sentence of the report."""
        which = "every registered backend" if self.backends is None else "each of " + ", ".join(self.backends)
        return (
            f"Mini-batch gradient descent (batch {self.batch_size}, rate {self.learning_rate:g}, {self.epochs} "
            f"epochs) of an MLP {list(self.sizes)} ({self.activation}, {self.output} + "
            f'{self.loss.replace("_", "-")}) on a two-class planar "flower" of {self.m} points, from the same '
            f"start with {which}, {self.repeats} interleaved runs each: the time per epoch is the fastest run's."
        )


def run(params: TrainingParams = TrainingParams(), *, progress: Callable[[float, float], None] | None = None):
    """Train with every backend of ``params``, ``repeats`` times, interleaved.

    Returns
    -------
    pandas.DataFrame
        One row per (backend, epoch): ``cost`` (full batch; the runs are deterministic, so
        every repeat gives the same), ``steps``, ``evaluations`` (cumulative), and the
        cumulative gradient time three ways -- ``seconds`` (the sum over epochs of each
        epoch's fastest repeat), ``seconds_high`` (of each epoch's median) -- and ``repeats``.
    """
    p = params
    v.positive_int("repeats", p.repeats)
    X, Y = planar_data(p.m, seed=p.seed)
    net = p.network()
    runs: dict[str, list[pd.DataFrame]] = {b: [] for b in p.chosen()}
    total, done = p.repeats * len(runs), 0
    with blas_threads(p.threads):
        for _ in range(p.repeats):
            for backend in runs:
                kw = dict(epochs=p.epochs, batch_size=p.batch_size, learning_rate=p.learning_rate, seed=p.seed)
                runs[backend].append(train(net, X, Y, backend=backend, **kw)[1])
                done += 1
                if progress is not None:
                    progress(done, total)
    out = []
    for histories in runs.values():
        h = histories[0].copy()
        per_epoch = np.stack([np.diff(r["seconds"].to_numpy(), prepend=0.0) for r in histories])
        h["seconds"] = np.cumsum(per_epoch.min(axis=0))
        h["seconds_high"] = np.cumsum(np.median(per_epoch, axis=0))
        h["repeats"] = len(histories)
        out.append(h)
    return pd.concat(out, ignore_index=True)
