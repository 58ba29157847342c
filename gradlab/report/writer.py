"""Run the sweeps and write the report: charts, tidy CSVs and ``index.md``.

Every file is written beside its target under a temporary name and renamed into
place, so a reader never sees half a file and a failure leaves the old one.
"""

from __future__ import annotations

import io
import json
import os
import platform
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .. import sweeps
from ..backends import get
from ..bugs import BUGS
from ..check import gradcheck
from ..nn.activations import ACTIVATIONS
from ..nn.mlp import MLP
from .figures import TOOL_STEPS, accuracy_figure, cost_figure, gradcheck_figure, training_figure

HEADS = (
    ("sigmoid", "cross_entropy"),
    ("softmax", "cross_entropy"),
    ("identity", "mse"),
    ("sigmoid", "mse"),
    ("softmax", "mse"),
    ("tanh", "mse"),
)


@dataclass(frozen=True)
class Config:
    """What one report run measures."""

    seed: int = 0
    mode: str = "quick"
    widths: tuple[int, ...] = field(default=())
    fd_max_params: int = 0
    repeats: int = 0
    bug_seeds: int = 0
    clean_seeds: int = 0
    epochs: int = 0
    steps_per_decade: int = 4
    bug_activations: tuple[str, ...] = ("tanh", "relu")
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
    benchmark_json: Path | None = None
    progress: bool | None = None

    #: mode -> settings: "quick" (the default, a minute or two), "full" (N up to 10^6),
    #: "smoke" (seconds: every file and section, from tiny sweeps)
    MODES = {
        "quick": dict(
            widths=(2, 4, 8, 16, 32, 47, 64, 128, 256),
            fd_max_params=5_000,
            repeats=3,
            bug_seeds=2,
            clean_seeds=3,
            epochs=40,
        ),
        "full": dict(
            widths=(2, 4, 8, 16, 32, 47, 64, 128, 256, 512, 700),
            fd_max_params=9_000,
            repeats=5,
            bug_seeds=4,
            clean_seeds=6,
            epochs=60,
        ),
        "smoke": dict(
            widths=(2, 3, 4),
            fd_max_params=5_000,
            repeats=1,
            bug_seeds=1,
            clean_seeds=1,
            epochs=3,
            steps_per_decade=1,
            bug_activations=("tanh",),
            clean_activations=("relu",),
        ),
    }

    @classmethod
    def make(cls, mode: str = "quick", **kw) -> Config:
        return cls(mode=mode, **(cls.MODES[mode] | kw))


# -- the data ---------------------------------------------------------------------------------


def accuracy_data(seed: int, steps_per_decade: int = 4) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """The accuracy sweep on a small network, tools' default steps included in the grid."""
    net = MLP([4, 8, 8, 3], activation="tanh", output="softmax", loss="cross_entropy")
    X, Y = net.random_batch(32, seed=seed)
    theta = net.init(seed=seed)
    # the grid plus the tools' default steps (a tool step replaces a grid point it equals)
    tool_hs = [h for _, _, h in TOOL_STEPS]
    grid = np.logspace(0, -16, 16 * steps_per_decade + 1)
    steps = [float(h) for h in grid if not np.isclose(tool_hs, h, rtol=1e-9, atol=0).any()]
    steps = sorted({*steps, *tool_hs}, reverse=True)
    label = "MLP [4, 8, 8, 3] tanh/softmax, batch 32"
    df = sweeps.accuracy_sweep(net.objective(X, Y), theta, steps=steps, label=label)
    summary = sweeps.accuracy_summary(df)
    return df, summary, label


def gradcheck_zoo(seed: int, progress: bool | None = None) -> pd.DataFrame:
    """gradcheck of backprop for every hidden activation under every output/loss pair."""
    from tqdm.auto import tqdm

    rows = []
    cases = [(act, out, loss) for act in ACTIVATIONS for out, loss in HEADS]
    for act, out, loss in tqdm(
        cases, desc="gradcheck zoo", unit="net", disable=None if progress is None else not progress
    ):
        net = MLP([5, 6, 4, 3], activation=act, output=out, loss=loss, l2=0.01)
        X, Y = net.random_batch(16, seed=seed)
        theta = net.init(seed=seed) + 0.1 * np.random.default_rng(seed + 1).normal(size=net.n_params)
        r = gradcheck(net.objective(X, Y), theta)
        for b in r.table.itertuples():
            rows.append(
                {
                    "network": f"{act} → {out}/{loss}",
                    "activation": act,
                    "output": out,
                    "loss": loss,
                    "block": b.block,
                    "block_kind": b.block[0] + " (" + ("weights" if b.block[0] == "W" else "biases") + ")",
                    "max_rel_error": b.max_rel_error,
                    "max_abs_error": b.max_abs_error,
                    "worst_index": b.worst_index,
                    "passed": b.passed,
                    "network_passed": r.passed,
                    "norm_rel_error": r.norm_rel_error,
                }
            )
    return pd.DataFrame(rows)


def cost_from_benchmark_json(path: Path) -> pd.DataFrame:
    """The cost table from a ``pytest --benchmark-json`` file (cost benchmarks only)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"`--benchmark-json` must be a readable pytest-benchmark JSON file; got {str(path)!r} ({exc})"
        ) from exc
    rows = []
    for b in data.get("benchmarks", []):
        info = b.get("extra_info", {})
        if "n_params" not in info or "backend" not in info or "h" in info:
            continue
        rows.append(
            {
                "backend": info["backend"],
                "n_params": int(info["n_params"]),
                "seconds": float(b["stats"]["median"]),
                "evaluations": int(info.get("evaluations", 1)),
                "backward_passes": int(info.get("backward_passes", 0)),
                "peak_bytes": info.get("peak_bytes"),
                "threads": info.get("threads"),
                "blas": info.get("blas"),
                "batch": info.get("batch"),
            }
        )
    if not rows:
        raise ValueError(f"`--benchmark-json` must hold gradlab cost benchmarks; found none in {str(path)!r}")
    return pd.DataFrame(rows).sort_values(["backend", "n_params"], kind="stable").reset_index(drop=True)


# -- writing ----------------------------------------------------------------------------------


def check_writable(out: Path) -> Path:
    """Create ``out`` if needed and prove it writable, before any work is done."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".tmp-probe-"):
            pass
    except OSError as exc:
        raise PermissionError(f"cannot write the report to {str(out)!r}: {exc.strerror or exc}") from exc
    return out


def write_atomic(path: Path, write: Callable[[io.BufferedWriter], None]) -> None:
    """Write ``path`` whole or not at all: into a temporary file beside it, then rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name}-")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a report is for reading
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _save_csv(df: pd.DataFrame, path: Path) -> None:
    write_atomic(path, lambda fh: fh.write(df.to_csv(index=False).encode()))


def _save_figure(fig, path: Path) -> None:
    write_atomic(path, lambda fh: fig.savefig(fh, format="png", dpi=110, metadata={"Software": None}))


def machine() -> dict[str, str]:
    info = sweeps.blas_info()
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cores": str(os.cpu_count()),
        "BLAS": str(info["blas"]),
        "BLAS threads while timing": "1",
    }


@dataclass(frozen=True)
class Results:
    """Everything one report run measured, as DataFrames."""

    accuracy: pd.DataFrame
    accuracy_summary: pd.DataFrame
    accuracy_label: str
    cost: pd.DataFrame
    cost_source: str
    scaling: pd.DataFrame
    zoo: pd.DataFrame
    bugs: pd.DataFrame
    bug_summary: pd.DataFrame
    training: pd.DataFrame


def measure(config: Config) -> Results:
    """Run every sweep of the report (BLAS on one thread: steadier timings, bit-reproducible sums)."""
    from threadpoolctl import threadpool_limits

    from ..bugs import bug_zoo, zoo_summary
    from ..train import compare_backends

    with threadpool_limits(limits=1):
        accuracy, acc_summary, acc_label = accuracy_data(config.seed, config.steps_per_decade)
        zoo = gradcheck_zoo(config.seed, config.progress)
        seeds = tuple(range(config.seed, config.seed + config.bug_seeds))
        clean = tuple(range(config.seed + 100, config.seed + 100 + config.clean_seeds))
        bugs = bug_zoo(
            activations=config.bug_activations,
            seeds=seeds,
            clean_activations=config.clean_activations,
            clean_seeds=clean,
            progress=config.progress,
        )
        training = compare_backends(epochs=config.epochs, seed=config.seed)
        if config.benchmark_json is not None:
            cost = cost_from_benchmark_json(config.benchmark_json)
            cost_source = f"pytest-benchmark JSON `{config.benchmark_json.name}`"
        else:
            cost = sweeps.cost_sweep(
                config.widths,
                fd_max_params=config.fd_max_params,
                repeats=config.repeats,
                seed=config.seed,
                threads=1,
                progress=config.progress,
            )
            cost_source = f"built-in timer, median of {config.repeats} interleaved repeats"
    return Results(
        accuracy,
        acc_summary,
        acc_label,
        cost,
        cost_source,
        sweeps.scaling_summary(cost),
        zoo,
        bugs,
        zoo_summary(bugs),
        training,
    )


FILES = (
    "accuracy.png",
    "cost.png",
    "gradcheck.png",
    "training.png",
    "accuracy.csv",
    "cost.csv",
    "gradcheck.csv",
    "bugzoo.csv",
    "training.csv",
    "index.md",
)


def build(out: Path, config: Config) -> dict[str, Path]:
    """Run every sweep and write the report into ``out``; return the files written."""
    out = check_writable(out)
    r = measure(config)
    files = {name: out / name for name in FILES}
    _save_csv(r.accuracy, files["accuracy.csv"])
    _save_csv(r.cost, files["cost.csv"])
    _save_csv(r.zoo, files["gradcheck.csv"])
    _save_csv(r.bugs, files["bugzoo.csv"])
    _save_csv(r.training, files["training.csv"])
    _save_figure(accuracy_figure(r.accuracy, r.accuracy_summary), files["accuracy.png"])
    _save_figure(cost_figure(r.cost), files["cost.png"])
    _save_figure(gradcheck_figure(r.zoo, get("central").tolerance("float64")[0]), files["gradcheck.png"])
    _save_figure(training_figure(r.training), files["training.png"])
    text = index_markdown(r, config)
    write_atomic(files["index.md"], lambda fh: fh.write(text.encode()))
    return files


# -- the page ------------------------------------------------------------------------------------


def _fmt(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}g}" if np.isfinite(x) else "—"


def findings(r: Results) -> list[str]:
    """The report's findings, each computed from the data."""
    out = []
    for a in r.accuracy_summary.itertuples():
        out.append(
            f"**{a.backend}, {a.dtype}**: best relative error {_fmt(a.best_rel_error)} at h = {_fmt(a.best_h)} "
            f"(theory: {_fmt(a.predicted_rel_error)} at h* = {_fmt(a.predicted_h)}); slopes "
            f"{_fmt(a.truncation_slope, 3)} on the truncation side (theory {a.expected_truncation_slope:+d}) and "
            f"{_fmt(a.rounding_slope, 3)} on the rounding side (theory {a.expected_rounding_slope:+d})."
        )
    s = r.scaling.set_index("backend")
    if "backprop" in s.index:
        bp = s.loc["backprop"]
        out.append(
            f"**backprop** costs {_fmt(bp.in_objective_units, 3)}× one evaluation of J at N = {bp.largest_n:,} "
            f"(time ∝ N^{bp.exponent:.2f} over N = {bp.sizes}; one evaluation of J ∝ N^{bp.objective_exponent:.2f})."
        )
    for backend in sweeps.STEP_BACKENDS:
        if backend not in s.index:
            continue
        b = s.loc[backend]
        rows = r.cost[(r.cost["backend"] == backend) & (r.cost["n_params"] == b.largest_n)]
        evals = int(rows["evaluations"].iloc[0])
        out.append(
            f"**{backend}** takes {_fmt(b.in_objective_units, 4)} objective evaluations' worth of time for its "
            f"{evals:,} evaluations at N = {b.largest_n:,}; time ∝ N^{b.exponent:.2f} over N = {b.sizes}, where "
            f"one evaluation of J ∝ N^{b.objective_exponent:.2f} (difference {b.exponent - b.objective_exponent:.2f}; "
            f"theory 1). Its time ÷ backprop's ∝ N^{b.ratio_to_backprop_exponent:.2f} ± "
            f"{b.ratio_to_backprop_stderr:.2f} (theory 1: O(N²) against O(N)); backprop is "
            f"**{b.ratio_to_backprop_at_largest:,.0f}× faster** at N = {b.largest_n:,}."
            + (
                f" Each of its evaluations costs {b.in_objective_units / evals:.2g}× a real one "
                "(complex arithmetic), a share that grows with N as matrix products come to dominate."
                if backend == "complex_step"
                else ""
            )
        )
    times = r.cost.pivot_table(index="n_params", columns="backend", values="seconds")
    if {"torch", "backprop"} <= set(times.columns):
        ratio = (times["backprop"] / times["torch"]).dropna()
        out.append(
            "**backprop ÷ torch autograd** (same network, float64, one thread): "
            + ", ".join(f"{v:.2f} at N = {n:,}" for n, v in ratio.items())
            + "."
        )
    nets = r.zoo.groupby("network")["network_passed"].first()
    out.append(
        f"**gradcheck across activations and heads**: {int(nets.sum())} of {len(nets)} networks pass at the "
        f"default tolerance (worst per-block relative error {_fmt(r.zoo['max_rel_error'].max())})."
    )
    bs = r.bug_summary
    default = bs.columns[0]
    out.append(
        f"**bug zoo**: the default check catches {bs.loc['ALL BUGS (probes aside)', default]:.0%} of "
        f"{len([b for b in bs.index if not b.startswith(('probe', 'ALL', 'FALSE', 'evaluations'))])} realistic bugs "
        f"with {bs.loc['FALSE ALARMS (correct gradient)', default]:.0%} false alarms on correct gradients; the fast "
        f"check with 1 direction per block catches {bs.loc['ALL BUGS (probes aside)', 'fast, 1 direction']:.0%} for "
        f"{bs.loc['evaluations (correct gradient)', 'fast, 1 direction']:.0f} evaluations instead of "
        f"{bs.loc['evaluations (correct gradient)', default]:.0f}."
    )
    last = r.training.groupby("backend", sort=False).tail(1).set_index("backend")
    if "backprop" in last.index:
        slowest = last["seconds"].idxmax()
        out.append(
            f"**training**: after {int(last['epoch'].iloc[0])} epochs every backend reaches the same cost "
            f"(spread {last['cost'].max() - last['cost'].min():.1g}); "
            f"backprop needs {last.loc['backprop', 'seconds']:.3g} s "
            f"of gradient time, {slowest} {last.loc[slowest, 'seconds']:.3g} s "
            f"({last.loc[slowest, 'seconds'] / last.loc['backprop', 'seconds']:,.0f}×)."
        )
    return out


def _tools_table(r: Results) -> pd.DataFrame:
    rows = []
    acc, summ = r.accuracy, r.accuracy_summary
    for label, backend, h in TOOL_STEPS:
        for dtype in ("float64", "float32"):
            hit = acc[(acc["backend"] == backend) & (acc["dtype"] == dtype) & np.isclose(acc["h"], h)]
            if not len(hit):
                continue
            s = summ[(summ["backend"] == backend) & (summ["dtype"] == dtype)].iloc[0]
            err = float(hit["rel_error"].iloc[0])
            rows.append(
                {
                    "tool": label,
                    "scheme": backend,
                    "h": h,
                    "dtype": dtype,
                    "relative error": "x + h == x" if not np.isfinite(err) else f"{err:.2g}",
                    "side of the V": "rounding side" if h < s["predicted_h"] else "truncation side",
                    "× the best error": f"{err / s['best_rel_error']:.3g}" if np.isfinite(err) else "—",
                }
            )
    return pd.DataFrame(rows)


def index_markdown(r: Results, config: Config) -> str:
    cost_table = r.cost.pivot_table(index="n_params", columns="backend", values="seconds").sort_index()
    per_net = (
        r.zoo.groupby(["network"], sort=False)
        .agg(
            worst_rel_error=("max_rel_error", "max"),
            norm_rel_error=("norm_rel_error", "first"),
            passed=("network_passed", "first"),
        )
        .reset_index()
    )
    bug_rows = r.bug_summary.copy()
    described = {name: b.description for name, b in BUGS.items()}
    bug_rows.insert(0, "what", [described.get(i, "") for i in bug_rows.index])
    training_last = r.training.groupby("backend", sort=False).tail(1).drop(columns=["steps"])
    command = f"gradlab report{'' if config.mode == 'quick' else ' --' + config.mode} --seed {config.seed}"
    if config.benchmark_json:
        command += f" --benchmark-json {config.benchmark_json}"
    lines = [
        "# gradlab report",
        "",
        f"Generated by `{command}`.",
        "",
        "## Findings",
        "",
        *[f"- {f}" for f in findings(r)],
        "",
        "## Accuracy against the step h",
        "",
        f"Function: {r.accuracy_label}. Reference: backprop in float64. Error: ‖g − g_ref‖ / ‖g_ref‖.",
        "Dashed: the error model (truncation C_t·h^p from the derivatives of J along each coordinate, rounding",
        "C_r·ε·|J|/h, or ε·|g| for the complex step); dotted verticals: the optimal step it predicts.",
        "",
        "![accuracy](accuracy.png)",
        "",
        r.accuracy_summary.drop(columns=["function"]).to_markdown(index=False, floatfmt=".3g"),
        "",
        "Where the default steps of other tools fall:",
        "",
        _tools_table(r).to_markdown(index=False, floatfmt=".3g"),
        "",
        "## Cost against the number of parameters N",
        "",
        f"Networks [w, w, w, 10] (tanh, softmax, batch 64), float64, one BLAS thread; timing: {r.cost_source}.",
        "",
        "![cost](cost.png)",
        "",
        r.scaling.to_markdown(index=False, floatfmt=".3g"),
        "",
        "Seconds per gradient:",
        "",
        cost_table.to_markdown(floatfmt=".3g"),
        "",
        "## gradcheck across activations and heads",
        "",
        "Networks [5, 6, 4, 3], l2 = 0.01, batch 16; backprop against central differences at the default step.",
        "",
        "![gradcheck](gradcheck.png)",
        "",
        per_net.to_markdown(index=False, floatfmt=".2g"),
        "",
        "## Bug zoo: which checker catches which bug",
        "",
        "Detection rate of each checker (columns) for each planted bug (rows), over seeded [6, 6, 6, 3] networks",
        "(tanh and relu, softmax + cross-entropy, l2 = 0.01, batch 16); the false-alarm rate is measured on",
        "correct backprop over networks of eight activations. Every checker runs at its default tolerance.",
        "Probes are errors too small to be real bugs: they show each reference's resolution. Read each",
        'detection rate beside the false-alarm row: a checker that fails correct gradients "detects" everything.',
        "",
        bug_rows.to_markdown(floatfmt=".2g"),
        "",
        "## Training: the same descent, very different cost",
        "",
        "Mini-batch gradient descent (batch 64, rate 0.2) of an MLP [2, 8, 8, 1] (tanh, sigmoid + cross-entropy)",
        'on a two-class planar "flower" of 400 points, from the same start with each backend.',
        "",
        "![training](training.png)",
        "",
        training_last.to_markdown(index=False, floatfmt=".4g"),
        "",
        "## Machine",
        "",
        pd.DataFrame(list(machine().items()), columns=["", ""]).to_markdown(index=False),
        "",
    ]
    return "\n".join(lines)
