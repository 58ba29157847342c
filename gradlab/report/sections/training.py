"""Training: the same descent with every backend, per epoch and per second of gradient time."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ...backends import baseline
from ...experiments import training as exp
from ..style import style_of
from . import Data, Section


def _params(config) -> exp.TrainingParams:
    return exp.TrainingParams(
        m=config.training_points, epochs=config.epochs, seed=config.seed, repeats=config.training_repeats
    )


def training_figure(history: pd.DataFrame) -> Figure:
    """Training cost against epochs (one trajectory for all) and against gradient time
    (fastest repeat per epoch; the band runs to the median repeat)."""
    fig = Figure(figsize=(12.5, 5.2), layout="constrained")
    ax_e, ax_t = fig.subplots(1, 2, sharey=True)
    base = baseline()
    for backend, g in history.groupby("backend", sort=False):
        st = style_of(backend)
        ax_e.plot(
            g["epoch"],
            g["cost"],
            "-",
            color=st.color,
            lw=2.5 if backend == base else 1.2,
            label=st.label,
            gid=f"train-epoch-{backend}",
        )
        t = g[g["seconds"] > 0]
        ax_t.semilogx(
            t["seconds"],
            t["cost"],
            st.marker + "-",
            color=st.color,
            ms=3,
            gid=f"train-time-{backend}",
            label=f"{st.label}: {t['seconds'].iloc[-1]:.3g} s, {_passes(t)}",
        )
        if "seconds_high" in t:
            ax_t.fill_betweenx(t["cost"], t["seconds"], t["seconds_high"], color=st.color, alpha=0.15, lw=0)
    ax_e.set_xlabel("epoch")
    ax_e.set_ylabel("training cost J (full batch)")
    ax_e.set_title("Per epoch: every backend follows the same trajectory")
    ax_t.set_xlabel("seconds spent on gradients (log scale; fastest repeat per epoch, band to the median)")
    ax_t.set_title("Per second: reverse mode gets there orders of magnitude sooner")
    for ax in (ax_e, ax_t):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    return fig


class Training(Section):
    name = "training"
    title = "Training: the same descent, very different cost"
    order = 50
    csvs = ("training",)
    timed = True

    def run(self, config, progress) -> Data:
        return {"training": exp.run(_params(config), progress=progress)}

    def figure(self, data: Data, config) -> Figure:
        return training_figure(data["training"])

    def findings(self, data: Data, config) -> list[str]:
        last = data["training"].groupby("backend", sort=False).tail(1).set_index("backend")
        base = baseline()
        if base not in last.index:
            return []
        slowest = last["seconds"].idxmax()
        spread = last["cost"].max() - last["cost"].min()
        ratio = last.loc[slowest, "seconds"] / last.loc[base, "seconds"]
        # the band of each total: fastest repeats against median repeats
        low = last.loc[slowest, "seconds"] / last.loc[base, "seconds_high"]
        high = last.loc[slowest, "seconds_high"] / last.loc[base, "seconds"]
        times = (
            f"{base} needs {last.loc[base, 'seconds']:.3g} s of gradient time, {slowest} "
            f"{last.loc[slowest, 'seconds']:.3g} s ({ratio:,.0f}×)"
            if np.isfinite(high / low) and high / low <= config.ratio_tolerance**2
            else "the machine was too noisy to compare their gradient times; rerun on a quieter machine"
        )
        return [
            f"**training**: after {int(last['epoch'].iloc[0])} epochs all {len(last)} backends reach the same cost "
            f"(spread {spread:.1g}); {times}."
        ]

    def text(self, data: Data, config) -> str:
        p = _params(config)
        last = data["training"].groupby("backend", sort=False).tail(1).drop(columns=["steps"])
        return "\n".join(
            [
                p.describe(),
                "",
                "![training](training.png)",
                "",
                last.to_markdown(index=False, floatfmt=".4g"),
            ]
        )


SECTION = Training()


def _passes(t) -> str:
    """The cost a legend states: evaluations of J, or the JVPs of forward mode (which evaluates nothing else)."""
    evaluations = int(t["evaluations"].iloc[-1])
    jvps = int(t["jvps"].iloc[-1]) if "jvps" in t else 0
    return f"{jvps:,} JVPs" if jvps and not evaluations else f"{evaluations:,} evaluations"
