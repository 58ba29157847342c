"""Cost and accuracy of gradients beyond the MLP: a small CNN and an LSTM.

The cost story of the MLP (:mod:`gradlab.experiments.cost`) holds for any network: a
difference gradient takes ``2N`` evaluations of ``J`` (central differences), each costing
about as much as a forward pass, so its time grows as ``N x cost(J)``; backprop takes one
forward and one backward pass.  Here the ladders are

- ``cnn``: ``Conv2d(1, w, 3, padding=1) -> relu -> MaxPool2d(2) -> Flatten -> Dense(16 w, 10)``
  on 8x8 images, ``N = 170 w + 10``; ``cost(J)`` grows as ``w``, i.e. as N;
- ``lstm``: ``LSTM(4, w) -> Dense(w, 10)`` on sequences of 6 steps, ``N = 4 w^2 + 30 w + 10``;
  ``cost(J)`` grows as ``w^2`` once the matmuls dominate the Python loop over time steps.

so central differences should approach an exponent of 2 in N and backprop 1, with smaller
measured exponents where fixed per-call overheads still dominate (the fit says which).
:func:`layer_accuracy` sweeps the step h for both networks as the MLP's accuracy experiment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import nn
from ..backends import baseline, differentiate, get
from ..stats import exponent_of_samples
from ..timing import blas_threads, interleaved
from .accuracy import accuracy_sweep

#: the shape of one sample of each model
INPUTS = {"cnn": (1, 8, 8), "lstm": (6, 4), "mlp": (8,)}


def model(name: str, width: int, *, dtype: object = np.float64) -> nn.Network:
    """The ladder network ``name`` (``cnn``, ``lstm`` or ``mlp``) at ``width``, softmax + cross-entropy, 10 classes."""
    if name == "cnn":
        layers = [
            nn.Conv2d(1, width, 3, padding=1),
            nn.Activation("relu"),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Dense(16 * width, 10),
        ]
    elif name == "lstm":
        layers = [nn.LSTM(4, width), nn.Dense(width, 10)]
    elif name == "mlp":
        layers = [nn.Dense(8, width), nn.Activation("tanh"), nn.Dense(width, 10)]
    else:
        raise ValueError(f"`model` must be one of 'cnn', 'lstm', 'mlp'; got {name!r}")
    return nn.Network(layers, loss="cross_entropy", input_shape=INPUTS[name], dtype=dtype)


def model_problem(name: str, width: int, *, batch: int = 16, seed: int = 0) -> tuple[nn.NetworkObjective, np.ndarray]:
    """An objective (random batch) and a point (the network's init) for a ladder model."""
    net = model(name, width)
    X, Y = net.random_batch(batch, seed=seed)
    return net.objective(X, Y), net.init(seed=seed)


@dataclass(frozen=True)
class LayerCostParams:
    """The CNN and LSTM cost ladders: widths per model, timed backends (central differences and
    the analytic baseline, backprop), ``repeats`` interleaved rounds each call looped to
    ``min_seconds``, one BLAS thread; exponents fitted over the ``last`` largest sizes."""

    cnn_widths: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    lstm_widths: tuple[int, ...] = (2, 4, 8, 16, 32)
    batch: int = 16
    repeats: int = 5
    min_seconds: float = 2e-3
    backends: tuple[str, ...] = ("central",)
    #: backends that pay a pass per entry (a step's, forward mode's) stop above this N (cost ~ N^2)
    fd_max_params: int = 6_000
    last: int = 4
    seed: int = 0

    def widths(self) -> dict[str, tuple[int, ...]]:
        return {"cnn": self.cnn_widths, "lstm": self.lstm_widths}

    def describe(self) -> str:
        return (
            f"CNN Conv2d(1, w, 3, padding=1) → relu → MaxPool2d(2) → Dense(16w, 10) on 8×8 images for w in "
            f"{', '.join(map(str, self.cnn_widths))}; LSTM(4, w) → Dense(w, 10) over 6 steps for w in "
            f"{', '.join(map(str, self.lstm_widths))}; batch {self.batch}, float64, one BLAS thread, "
            f"{self.repeats} interleaved rounds per size; backends that take a step stop above N = "
            f"{self.fd_max_params:,}; exponents fitted over each backend's {self.last} largest sizes (or all)."
        )


def layer_cost_sweep(
    params: LayerCostParams = LayerCostParams(), *, progress: Callable[[int, int], None] | None = None
) -> pd.DataFrame:
    """Time one gradient of each backend (and one evaluation of J) over both ladders.

    One row per (model, backend, width, repeat): ``n_params, seconds, evaluations``.
    """
    p = params
    ladders = [(m, w) for m, ws in p.widths().items() for w in ws]
    names = [*p.backends, baseline()]
    rows = []
    with blas_threads(1):
        for k, (name, width) in enumerate(ladders):
            obj, theta = model_problem(name, width, batch=p.batch, seed=p.seed)
            calls = {"objective": lambda obj=obj, theta=theta: obj(theta)}
            counts = {"objective": 1}
            for b in names:
                if get(b).per_entry and obj.n_params > p.fd_max_params:
                    continue
                counts[b] = get(b).evaluations(obj.n_params)
                calls[b] = lambda obj=obj, theta=theta, b=b: differentiate(obj, theta, backend=b)
            for b, ts in interleaved(calls, repeats=p.repeats, min_seconds=p.min_seconds).items():
                for r, t in enumerate(ts):
                    rows.append(
                        {
                            "model": name,
                            "width": width,
                            "n_params": obj.n_params,
                            "backend": b,
                            "repeat": r,
                            "seconds": float(t),
                            "evaluations": counts[b],
                        }
                    )
            if progress is not None:
                progress(k + 1, len(ladders))
    return pd.DataFrame(rows)


def layer_cost_summary(samples: pd.DataFrame, *, last: int = 4) -> pd.DataFrame:
    """Per (model, backend): the fitted exponent of time against N (± its uncertainty), over
    the backend's ``last`` largest sizes, and the time ratio to the analytic baseline at the
    backend's largest N."""
    base = baseline()
    rows = []
    for (name, backend), g in samples.groupby(["model", "backend"], sort=False):
        by = {int(n): s["seconds"].to_numpy() for n, s in g.groupby("n_params")}
        sizes = sorted(by)
        est = exponent_of_samples(sizes, [by[n] for n in sizes], last=min(last, len(sizes)))
        top = sizes[-1]
        ref = samples[(samples["model"] == name) & (samples["backend"] == base) & (samples["n_params"] == top)]
        ratio = float(np.median(by[top]) / np.median(ref["seconds"])) if len(ref) else np.nan
        rows.append(
            {
                "model": name,
                "backend": backend,
                "exponent": est.exponent,
                "uncertainty": est.uncertainty,
                "sizes": f"{sizes[-min(last, len(sizes))]:,}..{top:,}",
                "largest_N": top,
                "evaluations_at_largest_N": int(g.loc[g["n_params"] == top, "evaluations"].iloc[0]),
                "ratio_to_baseline_at_largest_N": ratio,
            }
        )
    return pd.DataFrame(rows)


#: the accuracy experiment's networks: the ladders' layers, small (the error model needs
#: derivatives of orders 1-5 along every coordinate, about 40 evaluations each)
ACCURACY_MODELS: dict[str, Callable[[], nn.Network]] = {
    "cnn": lambda: nn.Network(
        [nn.Conv2d(1, 2, 3, padding=1), nn.Activation("relu"), nn.MaxPool2d(2), nn.Flatten(), nn.Dense(8, 3)],
        input_shape=(1, 4, 4),
    ),
    "lstm": lambda: nn.Network([nn.LSTM(2, 2), nn.Dense(2, 3)], input_shape=(4, 2)),
}


def layer_accuracy(
    steps: tuple[float, ...] = tuple(10.0 ** -np.arange(1, 13)),
    *,
    dtypes: tuple[str, ...] = ("float64", "float32"),
    backends: tuple[str, ...] = ("forward", "central", "complex_step"),
    models: tuple[str, ...] = tuple(ACCURACY_MODELS),
    seed: int = 0,
) -> pd.DataFrame:
    """Error of step-based gradients against backprop over ``steps`` for a small CNN and LSTM
    (:data:`ACCURACY_MODELS`; the rows of :func:`gradlab.experiments.accuracy.accuracy_sweep`,
    ``function`` naming the model)."""
    frames = []
    for name in models:
        net = ACCURACY_MODELS[name]()
        X, Y = net.random_batch(8, seed=seed)
        obj = net.objective(X, Y)
        theta = net.init(seed=seed) + 0.05 * np.random.default_rng(seed + 1).normal(size=net.n_params)
        frames.append(
            accuracy_sweep(
                obj, theta, backends=backends, dtypes=dtypes, steps=steps, label=f"{name} (N = {theta.size})"
            )
        )
    return pd.concat(frames, ignore_index=True)


__all__ = [
    "ACCURACY_MODELS",
    "INPUTS",
    "LayerCostParams",
    "layer_accuracy",
    "layer_cost_summary",
    "layer_cost_sweep",
    "model",
    "model_problem",
]
