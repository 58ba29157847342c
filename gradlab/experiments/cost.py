"""Cost against size: every registered backend over a ladder of network widths, timed
(interleaved repeats, one BLAS thread, every sample kept) and counted (objective evaluations,
backward passes, and the JVPs of forward-mode AD).

:func:`run` returns one row per (backend, width, repeat); :func:`cost_table` reduces
the repeats to a robust value with its band (:func:`gradlab.stats.low_quantile`);
:func:`scaling_summary` fits the exponents (:func:`gradlab.stats.exponent_of_samples`: the one
log-log fit, with its uncertainty from the repeats).  The chart and the page both read
:func:`scaling_summary`, so they print the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..backends import all_backends, baseline, differentiate, get
from ..nn import MLP, MLPObjective
from ..stats import exponent_of_samples, low_quantile
from ..timing import blas_info, blas_threads, interleaved

#: the pseudo-backend timed beside the others: one evaluation of J, the unit of difference cost
OBJECTIVE = "objective"
#: the suffix of a series timed with batched perturbations (``"central batched"``): the same
#: evaluations, handed to the network K points per call (:mod:`gradlab.backends.stencil`)
BATCHED = " batched"


def batched_name(backend: str) -> str:
    """The series name of ``backend`` timed batched."""
    return backend + BATCHED


def unbatched(series: str) -> str:
    """The backend a series times: ``"central"`` for ``"central batched"``, the name itself otherwise."""
    return series[: -len(BATCHED)] if series.endswith(BATCHED) else series


def ladder_network(
    width: int,
    *,
    depth: int = 2,
    n_in: int | None = None,
    n_out: int = 10,
    activation: str = "tanh",
    dtype: object = np.float64,
) -> MLP:
    """The benchmark network ``[width] * (depth + 1) + [n_out]``: ``width`` inputs (unless
    ``n_in`` is given), ``depth`` tanh layers of ``width`` units, a softmax classifier.

    ``N = depth * width^2 + ... `` grows as ``width^2``: 90 parameters at width 4,
    4,992 at 47, about 10^6 at 700 (depth 2).
    """
    n_in = width if n_in is None else n_in
    return MLP(
        [n_in, *([width] * depth), n_out], activation=activation, output="softmax", loss="cross_entropy", dtype=dtype
    )


def ladder_problem(width: int, *, batch: int = 64, seed: int = 0, **net_kw) -> tuple[MLPObjective, np.ndarray]:
    """An objective and a point for the cost ladder: random inputs, one-hot labels."""
    net = ladder_network(width, **net_kw)
    X, Y = net.random_batch(batch, seed=seed)
    return net.objective(X, Y), net.init(seed=seed)


@dataclass(frozen=True)
class CostParams:
    """The cost ladder: networks :func:`ladder_network` (``[w] * (depth + 1) + [n_out]``) for
    ``w`` in ``widths``; backends that pay a pass per entry (:attr:`Backend.per_entry`: those that
    take a step, forward-mode AD) stop above ``fd_max_params`` (their cost grows as N^2);
    ``repeats`` interleaved rounds, each call looped to last ``min_seconds``; BLAS on ``threads``
    threads.  Reduced with the ``q``-quantile of the rounds, exponents fitted over each backend's
    ``last`` largest sizes.

    The backends that take a step are timed as the textbook loop (``batch=1``: one evaluation
    per call, ``N + 1`` or ``2N`` passes, what the seeds count); those in ``batched`` are timed
    a second time with their perturbations handed to the network in batches (``batch="auto"``),
    as the series ``"<backend> batched"``: the same evaluations, fewer and larger calls.  The
    batched series is still ``N`` points, each an ``N``-vector written and compared (``O(N)``),
    with only the layers above the perturbed one recomputed: ``O(N^2)`` in all, cheaper per
    point -- a constant factor at the sizes measured, never backprop's ``O(N)``."""

    widths: tuple[int, ...] = (2, 4, 8, 12, 16, 24, 32, 64, 128, 256)
    fd_max_params: int = 1_500
    repeats: int = 5
    batch: int = 64
    depth: int = 2
    seed: int = 0
    threads: int | None = 1
    min_seconds: float = 2e-3
    #: None: every registered backend
    backends: tuple[str, ...] | None = None
    #: backends that take a step timed batched too (the series "<backend> batched")
    batched: tuple[str, ...] = ("central", "complex_step")
    n_out: int = 10
    #: the quantile of the rounds that stands for a size's time (:func:`cost_table`)
    q: float = 0.2
    #: exponents are fitted over this many largest sizes (:func:`scaling_summary`)
    last: int = 4

    @property
    def shape(self) -> str:
        """The ladder's networks, as a list with ``w`` for the width: ``[w, w, w, 10]``."""
        return "[" + ", ".join(["w"] * (self.depth + 1) + [str(self.n_out)]) + "]"

    def describe(self) -> str:
        """What ran, in one sentence of the report (the networks, the timer, the reduction)."""
        if self.threads is None:
            threads = "BLAS's own number of threads"
        else:
            threads = "one BLAS thread" if self.threads == 1 else f"{self.threads} BLAS threads"
        return (
            f"Networks {self.shape} for w in {', '.join(map(str, self.widths))} (tanh, softmax, batch {self.batch}, "
            f"seed {self.seed}), float64, {threads}; backends that take a step stop above N = "
            f"{self.fd_max_params:,}. Timing: built-in timer, {self.repeats} interleaved rounds per size, each "
            f"call looped to at least {self.min_seconds * 1e3:g} ms; the value is the fastest rounds' "
            f"({self.q:.0%} quantile), the band runs to the median round."
        )

    def chosen(self) -> list[str]:
        return [b.name for b in all_backends()] if self.backends is None else list(self.backends)

    def work(self, width: int) -> float:
        """Predicted relative cost of one width (passes x N, for the progress estimate):
        N^2 for the backends that pay a pass per entry, N for the others."""
        n = ladder_network(width, depth=self.depth, n_out=self.n_out).n_params
        total = 2.0 * n  # the objective and the analytic baseline
        for name in self.chosen():
            b = get(name)
            if b.per_entry and n <= self.fd_max_params:
                # a batched series does the same evaluations, in about half the time
                again = 0.5 if name in self.batched else 0.0
                total += (1 + again) * (b.evaluations(n) + b.jvps(n)) * n
        return self.repeats * total


def run(params: CostParams = CostParams(), *, progress: Callable[[float, float], None] | None = None):
    """Time and count every backend over the ladder of :class:`CostParams`.

    For each width all measurements are interleaved (round 1 of every backend, then round
    2, ...) so that a change of machine speed hits all of them alike; every round is kept.
    ``backend == "objective"`` is one evaluation of J.  ``progress(done, total)`` is called
    after each width with the work done so far (see :meth:`CostParams.work`).

    Returns
    -------
    pandas.DataFrame
        One row per (backend, width, repeat): ``backend, width, n_params, repeat, seconds,
        evaluations, backward_passes, jvps, batch, depth, dtype, threads, blas``; a batched
        series (``"central batched"``) has the loop's evaluation count (the same evaluations).
    """
    p = params
    rows = []
    total = sum(p.work(w) for w in p.widths)
    done = 0.0
    with blas_threads(p.threads):
        info = blas_info()
        for width in p.widths:
            obj, theta = ladder_problem(width, batch=p.batch, depth=p.depth, n_out=p.n_out, seed=p.seed)
            n = obj.n_params
            calls: dict[str, Callable[[], object]] = {OBJECTIVE: lambda obj=obj, theta=theta: obj(theta)}
            counts = {OBJECTIVE: (1, 0, 0)}
            for name in p.chosen():
                if get(name).per_entry and n > p.fd_max_params:
                    continue
                # the textbook loop, one evaluation per call (batch=1), and where asked the batched kernel
                series = [(name, 1)] + ([(batched_name(name), "auto")] if name in p.batched else [])
                for label, batch in series:
                    r = differentiate(obj, theta, backend=name, batch=batch)
                    counts[label] = (r.evaluations, r.backward_passes, r.jvps)
                    calls[label] = lambda obj=obj, theta=theta, b=name, k=batch: differentiate(
                        obj, theta, backend=b, batch=k
                    )
            samples = interleaved(calls, repeats=p.repeats, min_seconds=p.min_seconds)
            for name, ts in samples.items():
                for k, t in enumerate(ts):
                    rows.append(
                        {
                            "backend": name,
                            "width": width,
                            "n_params": n,
                            "repeat": k,
                            "seconds": float(t),
                            "evaluations": counts[name][0],
                            "backward_passes": counts[name][1],
                            "jvps": counts[name][2],
                            "batch": p.batch,
                            "depth": p.depth,
                            "dtype": "float64",
                            **info,
                        }
                    )
            done += p.work(width)
            if progress is not None:
                progress(done, total)
    return pd.DataFrame(rows)


#: the name :func:`run` had before every experiment took the shape ``run(params) -> DataFrame``
cost_sweep = run


def cost_table(samples: pd.DataFrame, *, q: float = 0.2) -> pd.DataFrame:
    """One row per (backend, n_params): ``seconds`` (the ``q``-quantile of the repeats),
    ``seconds_low`` (minimum), ``seconds_high`` (median), ``spread`` and ``repeats``."""
    rows = []
    for (backend, n), g in samples.groupby(["backend", "n_params"], sort=False):
        e = low_quantile(g["seconds"].to_numpy(), q)
        rows.append(
            {
                "backend": backend,
                "n_params": int(n),
                "seconds": e.value,
                "seconds_low": e.low,
                "seconds_high": e.high,
                "spread": e.spread,
                "repeats": e.n,
                "evaluations": int(g["evaluations"].iloc[0]),
                "backward_passes": int(g["backward_passes"].iloc[0]),
                "jvps": int(g["jvps"].iloc[0]) if "jvps" in g else 0,
            }
        )
    return pd.DataFrame(rows)


def _by_size(samples: pd.DataFrame, backend: str) -> dict[int, np.ndarray]:
    g = samples[samples["backend"] == backend].sort_values(["n_params", "repeat"])
    return {int(n): s["seconds"].to_numpy() for n, s in g.groupby("n_params")}


def _exponent(by_size: dict[int, np.ndarray], sizes: Sequence[int], q: float):
    return exponent_of_samples(sizes, [by_size[n] for n in sizes], q=q)


def scaling_summary(samples: pd.DataFrame, *, last: int = 4, q: float = 0.2) -> pd.DataFrame:
    """Exponents of time against N per backend over its ``last`` largest sizes, each with its
    uncertainty; beside it the exponent of one objective evaluation over the same sizes; the
    cost at the largest N in units of one evaluation; and for each backend that takes a step,
    its time divided by the baseline's (:func:`gradlab.backends.baseline`, backprop as built
    in; round by round: the rounds are interleaved) -- the exponent of that ratio and its
    value at the largest shared N with its band, in the ``ratio_to_backprop_*`` columns.

    Exponents are NaN where fewer than 2 sizes exist; uncertainties are NaN with one repeat.
    """
    rows = []
    objective = _by_size(samples, OBJECTIVE)
    base = baseline()
    backprop = _by_size(samples, base)
    # a peer from a benchmark file, unregistered, has no ratio row; a batched series has its backend's
    stepping = {b.name for b in all_backends() if b.per_entry}
    stepping |= {batched_name(name) for name in stepping}
    for backend in dict.fromkeys(samples["backend"]):
        mine = _by_size(samples, backend)
        sizes = sorted(mine)[-last:]
        row: dict[str, object] = {
            "backend": backend,
            "sizes": f"{sizes[0]:,}–{sizes[-1]:,}",
            "fit_from_n": sizes[0],
            "largest_n": sizes[-1],
        }
        row |= _fit_columns("", mine, sizes, q)
        obj_sizes = [n for n in sizes if n in objective]
        row |= _fit_columns("objective_", objective, obj_sizes, q)
        top = low_quantile(mine[sizes[-1]], q).value
        row["seconds_at_largest"] = top
        row["in_objective_units"] = (
            top / low_quantile(objective[sizes[-1]], q).value if sizes[-1] in objective else math.nan
        )
        if backend not in (OBJECTIVE, base) and backprop and backend in stepping:
            shared = [n for n in sorted(mine) if n in backprop and len(mine[n]) == len(backprop[n])][-last:]
            ratios = ratio_samples(samples, backend).set_index("n_params")
            ratios = {n: ratios.loc[[n], "ratio"].to_numpy() for n in shared}
            # a ratio of interleaved rounds is noisy either way: its median, not a low quantile
            row |= _fit_columns("ratio_to_backprop_", ratios, shared, 0.5)
            if shared:
                r = ratios[shared[-1]]
                row |= {
                    "ratio_n": shared[-1],
                    "ratio_at_largest": float(np.median(r)),
                    "ratio_low": float(r.min()),
                    "ratio_high": float(r.max()),
                }
        rows.append(row)
    return pd.DataFrame(rows)


def batching_gain(samples: pd.DataFrame) -> pd.DataFrame:
    """What batching bought, per batched series and size: its time divided by its loop's, round
    by round (median, min, max), and the exponents of both over the sizes they share.

    Columns ``series, backend, n_params, ratio, ratio_low, ratio_high``; one row per size."""
    rows = []
    for series in dict.fromkeys(samples["backend"]):
        if not series.endswith(BATCHED):
            continue
        backend = unbatched(series)
        r = ratio_samples(samples, series, over=backend)
        for n, g in r.groupby("n_params"):
            x = g["ratio"].to_numpy()
            rows.append(
                {
                    "series": series,
                    "backend": backend,
                    "n_params": int(n),
                    "ratio": float(np.median(x)),
                    "ratio_low": float(x.min()),
                    "ratio_high": float(x.max()),
                }
            )
    return pd.DataFrame(rows, columns=["series", "backend", "n_params", "ratio", "ratio_low", "ratio_high"])


def ratio_samples(samples: pd.DataFrame, backend: str, over: str | None = None) -> pd.DataFrame:
    """``backend``'s time divided by ``over``'s (default: the registry's analytic baseline),
    round by round (the rounds are interleaved, so both saw the same machine): columns
    ``n_params, repeat, ratio``."""
    over = baseline() if over is None else over
    a = samples[samples["backend"] == backend].set_index(["n_params", "repeat"])["seconds"]
    b = samples[samples["backend"] == over].set_index(["n_params", "repeat"])["seconds"]
    both = pd.concat({"a": a, "b": b}, axis=1).dropna()
    return (both["a"] / both["b"]).rename("ratio").reset_index().sort_values(["n_params", "repeat"])


def _fit_columns(prefix: str, by_size: dict[int, np.ndarray], sizes: Sequence[int], q: float) -> dict[str, float]:
    if len(sizes) < 2:
        return {f"{prefix}exponent": math.nan, f"{prefix}uncertainty": math.nan, f"{prefix}intercept": math.nan}
    e = _exponent(by_size, sizes, q)
    return {
        f"{prefix}exponent": e.exponent,
        f"{prefix}uncertainty": e.uncertainty,
        f"{prefix}intercept": e.fit.intercept,
    }


#: the values that stand for a benchmark's rounds (pytest-benchmark's stats of these names): its
#: fastest half, the part the report reads (a value from the fastest rounds, a band up to the
#: median).  Not q3 and max: over hundreds of rounds of a microsecond call the slowest are
#: preempted ones, and a ratio of two such would say only how busy the machine was
BENCHMARK_QUANTILES = ("min", "q1", "median")


def from_benchmark_json(path: object) -> pd.DataFrame:
    """The cost samples from a ``pytest --benchmark-json`` file (cost benchmarks only), in
    :func:`cost_sweep`'s shape.

    Every benchmark gives three samples, quantiles 0, 0.25 and 0.5 of its rounds (min, q1,
    median: :data:`BENCHMARK_QUANTILES`, computed from the rounds where the file keeps them,
    ``--benchmark-save-data``), numbered ``repeat`` 0-2.  The benchmarks ran one after another,
    not in interleaved rounds, so sample ``k`` of one backend is paired with sample ``k`` of
    backprop (quantile with quantile) for the ratios of :func:`scaling_summary`, which need the
    same number of samples on both sides.  Raises ``ValueError`` naming the file and what is
    wrong with it.
    """
    import json
    from pathlib import Path

    where = f"`--benchmark-json` {str(path)!r}"
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except RecursionError:
        raise ValueError(f"{where} is nested too deeply to be a pytest-benchmark JSON file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{where} must be a readable pytest-benchmark JSON file ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise ValueError(f"{where} must be a pytest-benchmark JSON object with a 'benchmarks' list")
    rows = []
    for i, b in enumerate(data["benchmarks"]):
        info = b.get("extra_info") if isinstance(b, dict) else None
        if not isinstance(info, dict) or "n_params" not in info or "backend" not in info or "h" in info:
            continue  # not a cost benchmark
        stats = b.get("stats")
        if not isinstance(stats, dict):
            raise ValueError(f"{where}: benchmark {i} ({b.get('name', '?')!r}) has no 'stats'")
        raw = stats.get("data")
        try:
            if isinstance(raw, list) and raw:
                rounds = np.array([float(t) for t in raw])
                seconds = [float(q) for q in np.quantile(rounds, [0.0, 0.25, 0.5])]
            else:
                missing = [k for k in BENCHMARK_QUANTILES if k not in stats]
                if missing:
                    raise ValueError(
                        f"{where}: benchmark {i} ({b.get('name', '?')!r}) has no {', '.join(missing)} in its 'stats'"
                    )
                seconds = [float(stats[k]) for k in BENCHMARK_QUANTILES]
            n = int(info["n_params"])
            evaluations = int(info.get("evaluations", 1))
            backward = int(info.get("backward_passes", 0))
            jvps = int(info.get("jvps", 0))
        except (TypeError, ValueError) as exc:
            if str(exc).startswith(where):
                raise
            raise ValueError(f"{where}: benchmark {i} ({b.get('name', '?')!r}) holds non-numeric stats") from None
        if not seconds or not all(t > 0 and math.isfinite(t) for t in seconds) or n < 1:
            raise ValueError(f"{where}: benchmark {i} ({b.get('name', '?')!r}) holds no positive timings")
        for k, t in enumerate(seconds):
            rows.append(
                {
                    "backend": str(info["backend"]),
                    "width": info.get("width"),
                    "n_params": n,
                    "repeat": k,
                    "seconds": t,
                    "evaluations": evaluations,
                    "backward_passes": backward,
                    "jvps": jvps,
                    "batch": info.get("batch"),
                    "depth": info.get("depth"),
                    "dtype": info.get("dtype"),
                    "threads": info.get("threads"),
                    "blas": info.get("blas"),
                }
            )
    if not rows:
        raise ValueError(
            f"{where} must hold gradlab cost benchmarks (pytest benchmarks/test_bench_cost.py); found none"
        )
    df = pd.DataFrame(rows)
    order = {b: k for k, b in enumerate(dict.fromkeys(df["backend"]))}  # the file's order, as a sweep's
    return (
        df.assign(_order=df["backend"].map(order))
        .sort_values(["_order", "n_params", "repeat"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )
