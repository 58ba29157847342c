"""The report's figures, drawn from tidy DataFrames with matplotlib's object API.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot, no GUI
backend, nothing global to close), so they work on a headless machine and leave no
state behind.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..sweeps import STEP_BACKENDS, fit_exponent

COLORS = {
    "forward": "#d95f02",
    "central": "#1b9e77",
    "richardson": "#1f78b4",
    "complex_step": "#b8860b",
    "backprop": "#7570b3",
    "objective": "#666666",
    "torch": "#e7298a",
}
MARKERS = {
    "forward": "o",
    "central": "s",
    "richardson": "p",
    "complex_step": "h",
    "backprop": "D",
    "objective": "x",
    "torch": "^",
}
#: The error model of each scheme, as printed in the legend.
MODELS = {
    "forward": "C_t·h + C_r·ε/h",
    "central": "C_t·h² + C_r·ε/h",
    "richardson": "C_t·h⁴ + C_r·ε/h",
    "complex_step": "C_t·h² + ε·|g|",
}

#: Default steps of well-known gradient checkers: (label, scheme, h).
TOOL_STEPS = (
    ("torch gradcheck", "central", 1e-6),
    ("jax check_grads", "central", 1e-4),
    ("TensorFlow / Chainer", "central", 1e-3),
    ("CS231n notes", "central", 1e-5),
    ("deep-learning course", "central", 1e-7),
    ("scipy check_grad", "forward", 1.49e-8),
)


TOOL_MARKERS = ("v", "^", "<", ">", "P", "X")


def accuracy_figure(sweep: pd.DataFrame, summary: pd.DataFrame) -> Figure:
    """Relative error against h, one panel per precision: measured points, the error
    model over them, the optimal step marked, and other tools' default steps."""
    dtypes = list(dict.fromkeys(sweep["dtype"]))
    fig = Figure(figsize=(7 * len(dtypes), 7.6), layout="constrained")
    axes = fig.subplots(1, len(dtypes), sharey=True, squeeze=False)[0]
    for ax, dtype in zip(axes, dtypes):
        part = sweep[sweep["dtype"] == dtype]
        for backend, g in part.groupby("backend", sort=False):
            g = g.sort_values("h")
            c = COLORS[backend]
            ax.loglog(
                g["h"],
                g["rel_error"],
                MARKERS[backend],
                color=c,
                ms=4,
                label=f"{backend}: measured",
                gid=f"measured-{backend}-{dtype}",
            )
            ax.loglog(
                g["h"],
                g["predicted_rel_error"],
                "--",
                color=c,
                lw=1.2,
                label=f"{backend}: theory {MODELS.get(backend, '')}",
                gid=f"theory-{backend}-{dtype}",
            )
            s = summary[(summary["backend"] == backend) & (summary["dtype"] == dtype)].iloc[0]
            ax.axvline(s["predicted_h"], color=c, lw=0.8, ls=":")
            ax.plot(
                [s["best_h"]],
                [s["best_rel_error"]],
                "*",
                color=c,
                ms=15,
                mec="k",
                zorder=5,
            )
            under = g[g["underflow"]]
            if len(under):
                ax.axvspan(
                    g["h"].min() / 1.5,
                    under["h"].max() * 1.2,
                    color="#bbbbbb",
                    alpha=0.3,
                    lw=0,
                    label="x + h == x in this precision: no quotient" if backend == "forward" else None,
                )
        for (label, backend, h), marker in zip(TOOL_STEPS, TOOL_MARKERS):
            hit = part[(part["backend"] == backend) & np.isclose(part["h"], h)]
            if len(hit) and np.isfinite(hit["rel_error"].iloc[0]):
                ax.plot(
                    [h],
                    [float(hit["rel_error"].iloc[0])],
                    marker,
                    color="k",
                    mfc="w",
                    ms=8,
                    mew=1.3,
                    zorder=6,
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
        title="★ measured best step of each scheme; white markers: other gradient checkers' default steps",
        title_fontsize=8.5,
    )
    axes[0].set_ylabel("relative error of the gradient  ‖g − g_backprop‖ / ‖g_backprop‖")
    fig.suptitle(
        "Error of a finite-difference gradient against the step h: the V.  Right of each dotted line (the "
        "predicted best h)\ntruncation dominates (slope +p: forward 1, central 2, Richardson 4); left of it "
        "rounding (slope −1). The complex step has no rounding side.",
        fontsize=10.5,
    )
    return fig


def cost_figure(cost: pd.DataFrame, *, last: int = 4) -> Figure:
    """Seconds per gradient against N for every backend (fitted exponents in the legend),
    and objective evaluations per gradient against N beside it."""
    fig = Figure(figsize=(17, 6.6), layout="constrained")
    ax_t, ax_r, ax_n = fig.subplots(1, 3)
    for backend, g in cost.groupby("backend", sort=False):
        g = g.sort_values("n_params")
        c, m = COLORS.get(backend, "k"), MARKERS.get(backend, ".")
        fit = fit_exponent(g["n_params"], g["seconds"], last=min(last, len(g))) if len(g) >= 2 else None
        what = "one evaluation of J" if backend == "objective" else f"{backend} gradient"
        label = f"{what}: ∝ N^{fit.exponent:.2f} (largest {fit.n_points} sizes)" if fit else what
        ax_t.loglog(g["n_params"], g["seconds"], m + "-", color=c, label=label, gid=f"time-{backend}")
        if backend != "objective":
            ax_n.loglog(
                g["n_params"],
                g["evaluations"],
                m + "-",
                color=c,
                gid=f"evals-{backend}",
                label={
                    "forward": "forward: n + 1",
                    "central": "central: 2n",
                    "richardson": "richardson: 4n",
                    "complex_step": "complex step: n (complex arithmetic)",
                    "backprop": "backprop: 1 forward + 1 backward",
                }.get(backend, backend),
            )
    times = cost.pivot_table(index="n_params", columns="backend", values="seconds")
    if "backprop" in times.columns:
        for backend in STEP_BACKENDS:
            if backend not in times.columns:
                continue
            ratio = (times[backend] / times["backprop"]).dropna()
            if len(ratio) < 2:
                continue
            fit = fit_exponent(ratio.index, ratio.to_numpy())
            ax_r.loglog(
                ratio.index,
                ratio.to_numpy(),
                MARKERS[backend] + "-",
                color=COLORS[backend],
                gid=f"ratio-{backend}",
                label=f"{backend} ÷ backprop ∝ N^{fit.exponent:.2f}",
            )
        shared = times.drop(columns=["objective"], errors="ignore").dropna().index
        if len(shared) >= 2:
            ax_r.loglog(shared, 10 * shared / shared.min(), ":", color="0.5", label="slope 1 (O(N²) ÷ O(N))")
    ax_r.set_xlabel("number of parameters N")
    ax_r.set_ylabel("time of a finite-difference gradient ÷ time of backprop")
    ax_r.set_title("How many times faster backprop is: grows linearly in N")
    ax_t.set_xlabel("number of parameters N")
    ax_t.set_ylabel("seconds per gradient (median)")
    ax_t.set_title("Time: finite differences grow a power of N faster than backprop")
    ax_n.set_xlabel("number of parameters N")
    ax_n.set_ylabel("objective evaluations per gradient")
    ax_n.set_title("Cost counted in evaluations of J (exact)")
    for ax in (ax_t, ax_r, ax_n):
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), frameon=False)
    return fig


def gradcheck_figure(zoo: pd.DataFrame, rtol: float) -> Figure:
    """Per-block relative error of backprop against central differences for a zoo of networks."""
    nets = list(dict.fromkeys(zoo["network"]))
    fig = Figure(figsize=(max(8.0, 0.32 * len(nets) + 2), 5.5), layout="constrained")
    ax = fig.subplots()
    x = {name: i for i, name in enumerate(nets)}
    for block, g in zoo.groupby("block_kind", sort=False):
        ax.semilogy(
            [x[n] for n in g["network"]],
            g["max_rel_error"].clip(lower=1e-17),
            "o",
            ms=4,
            alpha=0.75,
            label=block,
            gid=f"zoo-{block}",
        )
    ax.axhline(rtol, color="crimson", lw=1, label=f"rtol = {rtol:g} (fail above)")
    ax.set_xticks(range(len(nets)), nets, rotation=90, fontsize=7)
    ax.set_ylabel("max relative error in the block")
    ax.set_title("gradcheck of backprop against central differences, every activation × every head")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def training_figure(history: pd.DataFrame) -> Figure:
    """Training cost against epochs (one trajectory for all) and against wall time (not one cost)."""
    fig = Figure(figsize=(12.5, 4.8), layout="constrained")
    ax_e, ax_t = fig.subplots(1, 2, sharey=True)
    for backend, g in history.groupby("backend", sort=False):
        c, m = COLORS.get(backend, "k"), MARKERS.get(backend, ".")
        ax_e.plot(
            g["epoch"],
            g["cost"],
            "-",
            color=c,
            lw=2.5 if backend == "backprop" else 1.2,
            label=backend,
            gid=f"train-epoch-{backend}",
        )
        t = g[g["seconds"] > 0]
        ax_t.semilogx(
            t["seconds"],
            t["cost"],
            m + "-",
            color=c,
            ms=3,
            gid=f"train-time-{backend}",
            label=f"{backend}: {t['seconds'].iloc[-1]:.3g} s, {int(t['evaluations'].iloc[-1]):,} evaluations",
        )
    ax_e.set_xlabel("epoch")
    ax_e.set_ylabel("training cost J (full batch)")
    ax_e.set_title("Per epoch: every backend follows the same trajectory")
    ax_t.set_xlabel("wall-clock seconds spent on gradients (log scale)")
    ax_t.set_title("Per second: reverse mode gets there orders of magnitude sooner")
    for ax in (ax_e, ax_t):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    return fig
