"""Cost against the number of parameters N: time (robust, with its band) and evaluations.

The chart and the page read the same :func:`~gradlab.experiments.cost.scaling_summary`; an
exponent or a speed-up is stated only when its uncertainty is within the tolerances of the
run's configuration, otherwise the page says the machine was too noisy and how to rerun.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ...backends import Style, baseline
from ...experiments import cost as exp
from ..style import evaluations_label, style_of
from . import Data, Section, fmt


def series_style(series: str) -> Style:
    """A series' style: its backend's, and for the batched series of a backend the same colour
    with a hollow marker and its own label, so that the two curves read as one backend timed two ways."""
    if not series.endswith(exp.BATCHED):
        return style_of(series)
    st = style_of(exp.unbatched(series))
    return Style(f"{st.label}, batched", st.color, st.marker)


def params(config) -> exp.CostParams:
    return exp.CostParams(
        widths=config.widths,
        fd_max_params=config.fd_max_params,
        repeats=config.repeats,
        seed=config.seed,
        min_seconds=config.min_seconds,
    )


def _rerun(config) -> str:
    return (
        "the machine was too noisy to state it; rerun on a quieter machine, or with more repeats "
        f"(`gradlab report --repeats {max(2 * config.repeats, 9)}`)"
    )


def exponent_text(value: float, uncertainty: float, config) -> str | None:
    """``"1.23 ± 0.04"`` when the uncertainty allows, else None."""
    if np.isfinite(value) and np.isfinite(uncertainty) and uncertainty <= config.exponent_tolerance:
        return f"{value:.2f} ± {uncertainty:.2f}"
    return None


def _fit_line(ax, row: pd.Series, prefix: str, lo: float, hi: float, color: str, gid: str) -> None:
    k, c = row.get(f"{prefix}exponent", np.nan), row.get(f"{prefix}intercept", np.nan)
    if np.isfinite(k) and np.isfinite(c):
        n = np.array([lo, hi], dtype=float)
        ax.loglog(n, 10 ** (c + k * np.log10(n)), "--", color=color, lw=1.0, alpha=0.8, gid=gid)


def _exp_label(row: pd.Series, prefix: str, config) -> str:
    text = exponent_text(row.get(f"{prefix}exponent", np.nan), row.get(f"{prefix}uncertainty", np.nan), config)
    return f"∝ N^{text}" if text else "exponent: too noisy to state"


def cost_figure(table: pd.DataFrame, scaling: pd.DataFrame, samples: pd.DataFrame, config) -> Figure:
    """Seconds per gradient against N for every backend (robust value, band from fastest to
    median repeat, fitted exponent from ``scaling``), the speed-up of the analytic baseline, and objective
    evaluations per gradient."""
    fig = Figure(figsize=(17, 6.8), layout="constrained")
    ax_t, ax_r, ax_n = fig.subplots(1, 3)
    s = scaling.set_index("backend")
    base, last = baseline(), params(config).last
    for i, (backend, g) in enumerate(table.groupby("backend", sort=False)):
        g = g.sort_values("n_params")
        st = series_style(backend)
        batched = backend.endswith(exp.BATCHED)
        n, t = g["n_params"].to_numpy(), g["seconds"].to_numpy()
        err = np.vstack([t - g["seconds_low"].to_numpy(), g["seconds_high"].to_numpy() - t])
        row = s.loc[backend]
        # a batched series: hollow markers on a dotted line, beside its loop's solid one
        line, face = (":", "none") if batched else ("-", st.color)
        ax_t.errorbar(
            n, t, yerr=err, fmt=st.marker + line, color=st.color, mfc=face, ms=5, capsize=2, lw=1,
            label=f"{st.label}: {_exp_label(row, '', config)}", gid=f"time-{backend}",
        )  # fmt: skip
        _fit_line(ax_t, row, "", row["fit_from_n"], row["largest_n"], st.color, f"fit-{backend}")
        if backend != exp.OBJECTIVE and not batched:  # a batched series counts its loop's evaluations
            # hollow markers, larger for earlier series: coinciding counts (n + 1 and n) stay visible
            passes = g["evaluations"] + (g["jvps"] if "jvps" in g else 0)  # forward mode counts JVPs
            ax_n.loglog(
                n, passes, st.marker + "-", color=st.color, mfc="none", ms=11 - 1.2 * (i % 6), mew=1.4,
                lw=1, label=evaluations_label(backend), gid=f"evals-{backend}",
            )  # fmt: skip
        if "ratio_to_backprop_exponent" in s.columns and np.isfinite(row.get("ratio_n", np.nan)):
            r = exp.ratio_samples(samples, backend)
            med = r.groupby("n_params")["ratio"].agg(["median", "min", "max"])
            ax_r.errorbar(
                med.index, med["median"], yerr=np.vstack([med["median"] - med["min"], med["max"] - med["median"]]),
                fmt=st.marker + line, color=st.color, mfc=face, ms=5, capsize=2, lw=1, gid=f"ratio-{backend}",
                label=f"{st.label} ÷ {base}: {_exp_label(row, 'ratio_to_backprop_', config)}",
            )  # fmt: skip
            _fit_line(ax_r, row, "ratio_to_backprop_", med.index[-min(last, len(med))], med.index[-1], st.color,
                      f"ratio-fit-{backend}")  # fmt: skip
    ax_r.set_xlabel("number of parameters N")
    ax_r.set_ylabel(f"time of a finite-difference gradient ÷ time of {base} (median of rounds, min–max)")
    ax_r.set_title(f"How many times faster {base} is: grows linearly in N")
    ax_t.set_xlabel("number of parameters N")
    ax_t.set_ylabel("seconds per gradient (fastest rounds; bar: fastest to median)")
    ax_t.set_title(f"Time: finite differences grow a power of N faster than {base}")
    ax_n.set_xlabel("number of parameters N")
    ax_n.set_ylabel("passes per gradient: evaluations of J, or JVPs (forward-mode AD)")
    ax_n.set_title("Cost counted in passes (exact; batched: the same)")
    for ax in (ax_t, ax_r, ax_n):
        ax.grid(True, which="major", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), frameon=False)
    fig.suptitle(
        "Dashed: the fitted power law over the largest sizes (the exponents of the page); dotted, hollow: the "
        "same backend with its perturbations in batches",
        fontsize=9,
    )
    return fig


def batching_findings(samples: pd.DataFrame, s: pd.DataFrame, config) -> list[str]:
    """What batching bought, measured: each batched series' time ÷ its loop's at the sizes both
    ran, and both exponents, so that a constant factor is never read as a better exponent."""
    gain = exp.batching_gain(samples)
    out = []
    for series, g in gain.groupby("series", sort=False):
        backend = exp.unbatched(series)
        g = g.sort_values("n_params")
        steady = g[(g["ratio_high"] / g["ratio_low"]) <= config.ratio_tolerance]
        if steady.empty:
            measured = f"its time ÷ the loop's: {_rerun(config)}"
        else:
            pairs = ", ".join(f"{r.ratio:.2f}× at N = {r.n_params:,}" for r in steady.itertuples())
            measured = f"its time ÷ the loop's, round by round (median): {pairs}"
        mine, loop = s.loc[series] if series in s.index else None, s.loc[backend] if backend in s.index else None
        exps = [exponent_text(r["exponent"], r["uncertainty"], config) if r is not None else None for r in (mine, loop)]
        if all(exps):
            growth = f"time ∝ N^{exps[0]} batched against N^{exps[1]} in the loop"
        else:
            growth = f"the exponents: {_rerun(config)}"
        out.append(
            f"**{series}**: the same evaluations as {backend}'s loop (the count the seeds give), handed to the "
            f"network many points per call; {measured}; {growth}. What batching buys is each point's cost, not "
            f"the number of points: fewer Python calls, one stacked GEMM per layer, only the layers above the "
            f"perturbed one recomputed. Every point is still an N-vector written and compared, O(N) each, so "
            f"the total stays O(N²) against backprop's O(N): a constant factor at these sizes, never the lesson."
        )
    return out


class Cost(Section):
    name = "cost"
    title = "Cost against the number of parameters N"
    order = 20
    csvs = ("cost",)
    timed = True

    def check(self, config) -> None:
        if config.benchmark_json is not None:
            exp.from_benchmark_json(config.benchmark_json)

    def run(self, config, progress) -> Data:
        if config.benchmark_json is not None:
            samples = exp.from_benchmark_json(config.benchmark_json)
        else:
            samples = exp.run(params(config), progress=progress)
        p = params(config)
        return {
            "cost": samples,
            "cost_table": exp.cost_table(samples, q=p.q),
            "scaling": exp.scaling_summary(samples, last=p.last, q=p.q),
        }

    def figure(self, data: Data, config) -> Figure:
        return cost_figure(data["cost_table"], data["scaling"], data["cost"], config)

    def findings(self, data: Data, config) -> list[str]:
        s = data["scaling"].set_index("backend")
        out = []
        base = baseline()
        if base in s.index:
            bp = s.loc[base]
            a = exponent_text(bp["exponent"], bp["uncertainty"], config)
            b = exponent_text(bp["objective_exponent"], bp["objective_uncertainty"], config)
            units = bp["in_objective_units"]
            if np.isfinite(units) and units < 1:
                out.append(
                    f"**{base}** was measured faster than one evaluation of J at N = {bp.largest_n:,} "
                    f"({units:.2f}×), which it cannot be: {_rerun(config)}."
                )
            else:
                scaling = (
                    f"time ∝ N^{a} over N = {bp.sizes}; one evaluation of J ∝ N^{b}"
                    if a and b
                    else f"its exponent over N = {bp.sizes}: {_rerun(config)}"
                )
                out.append(
                    f"**{base}** costs {fmt(units, 3)}× one evaluation of J at N = {bp.largest_n:,} ({scaling})."
                )
        for backend, b in s.iterrows():
            if "ratio_to_backprop_exponent" not in s.columns or not np.isfinite(b.get("ratio_n", np.nan)):
                continue
            rows = data["cost_table"]
            rows = rows[(rows["backend"] == backend) & (rows["n_params"] == b.largest_n)]
            evals = int(rows["evaluations"].iloc[0])
            jvps = int(rows["jvps"].iloc[0]) if "jvps" in rows else 0
            # forward-mode AD evaluates nothing on its own: its passes are JVPs
            count = f"{evals:,} evaluations" if evals or not jvps else f"{jvps:,} JVPs"
            t, o = (
                exponent_text(b["exponent"], b["uncertainty"], config),
                exponent_text(b["objective_exponent"], b["objective_uncertainty"], config),
            )
            if t and o:
                growth = (
                    f"time ∝ N^{t} over N = {b.sizes}, where one evaluation of J ∝ N^{o} "
                    f"(difference {b.exponent - b.objective_exponent:.2f}; theory 1)"
                )
            else:
                growth = f"its exponent over N = {b.sizes}: {_rerun(config)}"
            r = exponent_text(b["ratio_to_backprop_exponent"], b["ratio_to_backprop_uncertainty"], config)
            ratio = (
                f"Its time ÷ {base}'s ∝ N^{r} (theory 1: O(N²) against O(N))"
                if r
                else f"The exponent of its time ÷ {base}'s: {_rerun(config)}"
            )
            n = int(b["ratio_n"])
            band = b["ratio_high"] / b["ratio_low"]
            if np.isfinite(band) and band <= config.ratio_tolerance:
                speed = (
                    f"{base} is **{b.ratio_at_largest:,.0f}× faster** at N = {n:,} "
                    f"(rounds: {b.ratio_low:,.0f}–{b.ratio_high:,.0f}×)"
                )
            else:
                speed = f"how much faster {base} is at N = {n:,}: {_rerun(config)}"
            out.append(
                f"**{backend}** takes {fmt(b.in_objective_units, 4)} objective evaluations' worth of time for its "
                f"{count} at N = {b.largest_n:,}; {growth}. {ratio}; {speed}."
            )
        out.extend(batching_findings(data["cost"], s, config))
        return out

    def text(self, data: Data, config) -> str:
        table = data["cost_table"].pivot_table(index="n_params", columns="backend", values="seconds").sort_index()
        p = params(config)
        if config.benchmark_json is not None:
            about = (
                "Networks as in benchmarks/test_bench_cost.py. Timing: pytest-benchmark JSON "
                f"`{config.benchmark_json.name}` (each benchmark's rounds or quantiles; the value is their "
                f"{p.q:.0%} quantile)."
            )
        else:
            about = p.describe()
        return "\n".join(
            [
                about,
                f"Exponents are fitted over each backend's {p.last} largest sizes, ± their uncertainty (bootstrap "
                f"over the rounds, and the fit's standard error); one is stated only within ± "
                f"{config.exponent_tolerance:g}, a speed-up only when its rounds agree within a factor "
                f"{config.ratio_tolerance:g}.",
                "",
                "![cost](cost.png)",
                "",
                "The backends that take a step are timed as the textbook loop, one evaluation of J per call "
                "(what the seeds count: N + 1 or 2N passes); a series named `<backend> batched` is the same "
                'evaluations handed to the network many perturbed points per call (`batch="auto"`, the '
                "default of `gradlab.gradient`). Both are N points of O(N) each, O(N²); batching makes each "
                "point cheaper.",
                "",
                data["scaling"]
                .drop(columns=[c for c in data["scaling"].columns if c.endswith("intercept")])
                .to_markdown(index=False, floatfmt=".3g"),
                "",
                "Seconds per gradient:",
                "",
                table.to_markdown(floatfmt=".3g"),
            ]
        )


SECTION = Cost()
