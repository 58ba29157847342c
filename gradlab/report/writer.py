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
from ..check import TOLERANCES, gradcheck
from ..nn.activations import ACTIVATIONS
from ..nn.mlp import MLP
from .figures import TOOL_STEPS, accuracy_figure, cost_figure, gradcheck_figure

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
    full: bool = False
    widths: tuple[int, ...] = field(default=())
    fd_max_params: int = 0
    repeats: int = 0
    benchmark_json: Path | None = None
    progress: bool | None = None

    @classmethod
    def make(cls, *, full: bool = False, **kw) -> Config:
        if full:
            base = dict(widths=(2, 4, 8, 16, 32, 47, 64, 128, 256, 512, 700), fd_max_params=9_000, repeats=5)
        else:
            base = dict(widths=(2, 4, 8, 16, 32, 47, 64, 128, 256), fd_max_params=5_000, repeats=3)
        return cls(full=full, **(base | kw))


# -- the data ---------------------------------------------------------------------------------


def accuracy_data(seed: int) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """The accuracy sweep on a small network, tools' default steps included in the grid."""
    net = MLP([4, 8, 8, 3], activation="tanh", output="softmax", loss="cross_entropy")
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(32, 4))
    Y = np.eye(3)[rng.integers(0, 3, 32)]
    theta = net.init(seed=seed)
    # the grid plus the tools' default steps (a tool step replaces a grid point it equals)
    tool_hs = [h for _, _, h in TOOL_STEPS]
    steps = [h for h in sweeps.DEFAULT_STEPS if not np.isclose(tool_hs, h, rtol=1e-9, atol=0).any()]
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
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(16, 5))
        Y = np.eye(3)[rng.integers(0, 3, 16)] if loss == "cross_entropy" else rng.normal(size=(16, 3))
        if out == "sigmoid" and loss == "cross_entropy":
            Y = rng.integers(0, 2, size=(16, 3)).astype(float)
        theta = net.init(seed=seed) + 0.1 * rng.normal(size=net.n_params)
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


def build(out: Path, config: Config) -> dict[str, Path]:
    """Run every sweep and write the report into ``out``; return the files written."""
    from threadpoolctl import threadpool_limits

    out = check_writable(out)
    with threadpool_limits(limits=1):  # one thread: timings steadier, reductions bit-reproducible
        accuracy, acc_summary, acc_label = accuracy_data(config.seed)
        zoo = gradcheck_zoo(config.seed, config.progress)
        if config.benchmark_json is not None:
            cost, cost_source = (
                cost_from_benchmark_json(config.benchmark_json),
                f"pytest-benchmark JSON `{config.benchmark_json.name}`",
            )
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
    scaling = sweeps.scaling_summary(cost)

    files = {
        name: out / name
        for name in (
            "accuracy.png",
            "cost.png",
            "gradcheck.png",
            "accuracy.csv",
            "cost.csv",
            "gradcheck.csv",
            "index.md",
        )
    }
    _save_csv(accuracy, files["accuracy.csv"])
    _save_csv(cost, files["cost.csv"])
    _save_csv(zoo, files["gradcheck.csv"])
    _save_figure(accuracy_figure(accuracy, acc_summary), files["accuracy.png"])
    _save_figure(cost_figure(cost), files["cost.png"])
    _save_figure(gradcheck_figure(zoo, TOLERANCES[("float64", "central")][0]), files["gradcheck.png"])
    text = index_markdown(accuracy, acc_summary, acc_label, cost, cost_source, scaling, zoo, config)
    write_atomic(files["index.md"], lambda fh: fh.write(text.encode()))
    return files


# -- the page ------------------------------------------------------------------------------------


def _fmt(x: float, digits: int = 2) -> str:
    return f"{x:.{digits}g}" if np.isfinite(x) else "—"


def findings(acc_summary: pd.DataFrame, cost: pd.DataFrame, scaling: pd.DataFrame, zoo: pd.DataFrame) -> list[str]:
    """The report's findings, each computed from the data."""
    out = []
    for r in acc_summary.itertuples():
        out.append(
            f"**{r.backend}, {r.dtype}**: best relative error {_fmt(r.best_rel_error)} at h = {_fmt(r.best_h)} "
            f"(theory: {_fmt(r.predicted_rel_error)} at h* = {_fmt(r.predicted_h)}); slopes "
            f"{_fmt(r.truncation_slope, 3)} on the truncation side (theory {r.expected_truncation_slope:+d}) and "
            f"{_fmt(r.rounding_slope, 3)} on the rounding side (theory {r.expected_rounding_slope:+d})."
        )
    s = scaling.set_index("backend")
    if "backprop" in s.index:
        bp = s.loc["backprop"]
        out.append(
            f"**backprop** costs {_fmt(bp.in_objective_units, 3)}× one evaluation of J at N = {bp.largest_n:,} "
            f"(time ∝ N^{bp.exponent:.2f} over N = {bp.sizes})."
        )
    for backend in ("forward", "central"):
        if backend in s.index:
            r = s.loc[backend]
            evals = int(cost[(cost["backend"] == backend) & (cost["n_params"] == r.largest_n)]["evaluations"].iloc[0])
            out.append(
                f"**{backend} differences** take {_fmt(r.in_objective_units, 4)} objective evaluations' worth of time "
                f"for their {evals:,} evaluations at N = {r.largest_n:,}. "
                f"Time ∝ N^{r.exponent:.2f} over N = {r.sizes}, "
                f"where one evaluation of J ∝ N^{r.objective_exponent:.2f}: the exponent grows by "
                f"{r.exponent - r.objective_exponent:.2f} (theory: 1, the n evaluations). "
                f"Their time divided by backprop's grows as N^{r.ratio_to_backprop_exponent:.2f} "
                f"± {r.ratio_to_backprop_stderr:.2f} — linear in N, as O(N²) against O(N) predicts — and backprop is "
                f"**{r.ratio_to_backprop_at_largest:,.0f}× faster** at N = {r.largest_n:,}."
            )
    nets = zoo.groupby("network")["network_passed"].first()
    out.append(
        f"**gradcheck zoo**: {int(nets.sum())} of {len(nets)} networks pass at the default tolerance "
        f"(worst per-block relative error {_fmt(zoo['max_rel_error'].max())})."
    )
    return out


def index_markdown(accuracy, acc_summary, acc_label, cost, cost_source, scaling, zoo, config) -> str:
    tools = []
    for label, backend, h in TOOL_STEPS:
        for dtype in ("float64", "float32"):
            hit = accuracy[
                (accuracy["backend"] == backend) & (accuracy["dtype"] == dtype) & np.isclose(accuracy["h"], h)
            ]
            if not len(hit):
                continue
            s = acc_summary[(acc_summary["backend"] == backend) & (acc_summary["dtype"] == dtype)].iloc[0]
            err = float(hit["rel_error"].iloc[0])
            side = "rounding side" if h < s["predicted_h"] else "truncation side"
            tools.append(
                {
                    "tool": label,
                    "scheme": backend,
                    "h": h,
                    "dtype": dtype,
                    "relative error": "x + h == x" if not np.isfinite(err) else f"{err:.2g}",
                    "side of the V": side,
                    "× the best error": f"{err / s['best_rel_error']:.3g}" if np.isfinite(err) else "—",
                }
            )
    tools = pd.DataFrame(tools)
    cost_table = cost.pivot_table(index="n_params", columns="backend", values="seconds").sort_index()
    lines = [
        "# gradlab report",
        "",
        f"Generated by `gradlab report{' --full' if config.full else ''} --seed {config.seed}`"
        + (f" `--benchmark-json {config.benchmark_json}`" if config.benchmark_json else "")
        + ".",
        "",
        "## Findings",
        "",
        *[f"- {f}" for f in findings(acc_summary, cost, scaling, zoo)],
        "",
        "## Accuracy against the step h",
        "",
        f"Function: {acc_label}. Reference: backprop in float64. Error: ‖g − g_ref‖ / ‖g_ref‖.",
        "Dashed: the error model C_t·h^p + C_r·ε/h with constants from |J| and the third (central) or second",
        "(forward) derivative along each coordinate; vertical lines: its optimal step h*.",
        "",
        "![accuracy](accuracy.png)",
        "",
        acc_summary.drop(columns=["function"]).to_markdown(index=False, floatfmt=".3g"),
        "",
        "Where the default steps of other tools fall:",
        "",
        tools.to_markdown(index=False, floatfmt=".3g") if len(tools) else "",
        "",
        "## Cost against the number of parameters N",
        "",
        f"Networks [w, w, w, 10] (tanh, softmax, batch 64), float64; timing: {cost_source}.",
        "",
        "![cost](cost.png)",
        "",
        scaling.to_markdown(index=False, floatfmt=".3g"),
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
        zoo.groupby(["network"], sort=False)
        .agg(
            worst_rel_error=("max_rel_error", "max"),
            norm_rel_error=("norm_rel_error", "first"),
            passed=("network_passed", "first"),
        )
        .reset_index()
        .to_markdown(index=False, floatfmt=".2g"),
        "",
        "## Machine",
        "",
        pd.DataFrame(list(machine().items()), columns=["", ""]).to_markdown(index=False),
        "",
    ]
    return "\n".join(lines)
