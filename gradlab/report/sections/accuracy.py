"""Accuracy against the step h: the V of every step-taking backend, with its error model."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ...backends import get, names
from ...experiments import accuracy as exp
from ..style import style_of
from . import Data, Section, fmt

TOOL_MARKERS = ("v", "^", "<", ">", "P", "X")


def _params(config) -> exp.AccuracyParams:
    return exp.AccuracyParams(
        sizes=config.accuracy_sizes,
        batch=config.accuracy_batch,
        seed=config.seed,
        steps_per_decade=config.steps_per_decade,
        dtypes=config.dtypes,
    )


def _model_text(backend: str) -> str:
    """The backend's error model as printed in the legend: its own :meth:`~gradlab.Backend.legend`."""
    return get(backend).legend() if backend in names() else ""


def accuracy_figure(sweep: pd.DataFrame, summary: pd.DataFrame) -> Figure:
    """Relative error against h, one panel per precision: measured points, the error model
    over them, the optimal step marked, and other tools' default steps."""
    dtypes = list(dict.fromkeys(sweep["dtype"]))
    fig = Figure(figsize=(7 * len(dtypes), 7.6), layout="constrained")
    axes = fig.subplots(1, len(dtypes), sharey=True, squeeze=False)[0]
    for ax, dtype in zip(axes, dtypes):
        part = sweep[sweep["dtype"] == dtype]
        # one band per panel: the steps where some scheme has no quotient (x + h == x)
        under = part[part["underflow"]]
        if len(under):
            ax.axvspan(
                part["h"].min() / 1.5,
                under["h"].max() * 1.2,
                color="#bbbbbb",
                alpha=0.35,
                lw=0,
                label="x + h == x in this precision: no quotient",
                gid=f"underflow-{dtype}",
            )
        own = part["own_steps"].fillna(False).astype(bool) if "own_steps" in part else np.zeros(len(part), bool)
        for r in part[own].itertuples():  # backends that choose their own steps: one mark each
            st = style_of(r.backend)
            model = _model_text(r.backend)
            ax.plot(
                [r.h],
                [r.rel_error],
                st.marker,
                color=st.color,
                ms=12,
                mec="k",
                zorder=6,
                label=f"{st.label}: its own steps{f', error {model}' if model else ''} (one mark, its evaluation count "
                "beside it)",
                gid=f"own-{r.backend}-{dtype}",
            )
            ax.annotate(
                f"{r.evaluations} evals", (r.h, r.rel_error), textcoords="offset points", xytext=(8, -12), fontsize=7
            )
        part = part[~own]
        for backend, g in part.groupby("backend", sort=False):
            g = g.sort_values("h")
            st = style_of(backend)
            ax.loglog(
                g["h"],
                g["rel_error"],
                st.marker,
                color=st.color,
                ms=4,
                label=f"{st.label}: measured",
                gid=f"measured-{backend}-{dtype}",
            )
            if g["predicted_rel_error"].notna().all():
                ax.loglog(
                    g["h"],
                    g["predicted_rel_error"],
                    "--",
                    color=st.color,
                    lw=1.2,
                    label=f"{st.label}: theory {_model_text(backend)}",
                    gid=f"theory-{backend}-{dtype}",
                )
            s = summary[(summary["backend"] == backend) & (summary["dtype"] == dtype)].iloc[0]
            if np.isfinite(s["predicted_h"]):
                ax.axvline(s["predicted_h"], color=st.color, lw=0.8, ls=":")
            ax.plot([s["best_h"]], [s["best_rel_error"]], "*", color=st.color, ms=13, mec="k", mew=0.6, zorder=4)
        for (label, backend, h), marker in zip(exp.TOOL_STEPS, TOOL_MARKERS):
            hit = part[(part["backend"] == backend) & np.isclose(part["h"], h)]
            if len(hit) and np.isfinite(hit["rel_error"].iloc[0]):
                # hollow and on top: a star under it stays visible, and it stays visible over a star
                ax.plot(
                    [h],
                    [float(hit["rel_error"].iloc[0])],
                    marker,
                    color="k",
                    mfc="none",
                    ms=10,
                    mew=1.6,
                    zorder=7,
                    label=f"{label}: {backend}, h = {h:g}",
                    gid=f"tool-{label}-{dtype}",
                )
        ax.set_xlabel("step h  (log scale)")
        ax.set_ylim(1e-17, 30)
        ax.set_title(f"{dtype}")
        ax.grid(True, which="major", alpha=0.3)
    # one legend for both panels: the same schemes, tools and shading appear in each
    entries = {lb: hd for ax in axes for hd, lb in zip(*ax.get_legend_handles_labels())}
    fig.legend(
        entries.values(),
        entries.keys(),
        loc="outside lower center",
        ncol=4,
        fontsize=8,
        frameon=False,
        title="★ measured best step of each scheme; hollow black markers: other gradient checkers' default steps",
        title_fontsize=8.5,
    )
    axes[0].set_ylabel("relative error of the gradient  ‖g − g_backprop‖ / ‖g_backprop‖")
    fig.suptitle(
        "Error of a finite-difference gradient against the step h: the V.  Right of each dotted line (the "
        "predicted best h)\ntruncation dominates (slope +p, the scheme's order); left of it rounding "
        "(slope −1). The complex step has no rounding side.",
        fontsize=10.5,
    )
    return fig


def _tools_table(sweep: pd.DataFrame, summary: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for label, backend, h in exp.TOOL_STEPS:
        for dtype in dict.fromkeys(sweep["dtype"]):
            hit = sweep[(sweep["backend"] == backend) & (sweep["dtype"] == dtype) & np.isclose(sweep["h"], h)]
            if not len(hit):
                continue
            s = summary[(summary["backend"] == backend) & (summary["dtype"] == dtype)].iloc[0]
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


def _slope(measured: float, expected: float) -> str:
    return f"{fmt(measured, 3)} (theory {expected:+g})" if np.isfinite(expected) else fmt(measured, 3)


class Accuracy(Section):
    name = "accuracy"
    title = "Accuracy against the step h"
    order = 10
    csvs = ("accuracy",)

    def run(self, config, progress) -> Data:
        sweep, summary = exp.run(_params(config))
        return {"accuracy": sweep, "accuracy_summary": summary}

    def figure(self, data: Data, config) -> Figure:
        return accuracy_figure(data["accuracy"], data["accuracy_summary"])

    def findings(self, data: Data, config) -> list[str]:
        out = []
        for a in data["accuracy_summary"].itertuples():
            theory = (
                f" (theory: {fmt(a.predicted_rel_error)} at h* = {fmt(a.predicted_h)})"
                if np.isfinite(a.predicted_h)
                else " (no error model)"
            )
            out.append(
                f"**{a.backend}, {a.dtype}**: best relative error {fmt(a.best_rel_error)} at h = {fmt(a.best_h)}"
                f"{theory}; slopes {_slope(a.truncation_slope, a.expected_truncation_slope)} on the truncation "
                f"side and {_slope(a.rounding_slope, a.expected_rounding_slope)} on the rounding side."
            )
        sweep = data["accuracy"]
        if "own_steps" in sweep:
            for r in sweep[sweep["own_steps"].fillna(False).astype(bool)].itertuples():
                out.append(
                    f"**{r.backend}, {r.dtype}** (its own steps, {r.evaluations} evaluations): relative error "
                    f"{fmt(r.rel_error)}; its per-entry error estimate bounds the true error on "
                    f"{r.estimate_bounds_error:.0%} of the entries."
                )
        if "estimate_bounds_error" in sweep:
            for (backend, dtype), g in sweep[~sweep["own_steps"].fillna(False).astype(bool)].groupby(
                ["backend", "dtype"], sort=False
            ):
                share = g["estimate_bounds_error"].dropna()
                if len(share):
                    out.append(
                        f"**{backend}, {dtype}**: its error estimate bounds the true error on {share.mean():.0%} "
                        f"of the entries over the grid of h."
                    )
        return out

    def text(self, data: Data, config) -> str:
        p = _params(config)
        return "\n".join(
            [
                p.describe(),
                "Dashed: each backend's own error model (truncation C_t·h^p from the derivatives of J along each "
                "coordinate, rounding C_r·ε·|J|/h, or ε·|g| for the complex step); dotted verticals: the optimal "
                "step it predicts.",
                "",
                "![accuracy](accuracy.png)",
                "",
                data["accuracy_summary"].drop(columns=["function"]).to_markdown(index=False, floatfmt=".3g"),
                "",
                "Where the default steps of other tools fall:",
                "",
                _tools_table(data["accuracy"], data["accuracy_summary"]).to_markdown(index=False, floatfmt=".3g"),
            ]
        )


SECTION = Accuracy()
