"""Forward against reverse mode: the Jacobian of a layer map, timed both ways, and the crossover."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from ...experiments import modes as exp
from ..style import style_of
from . import Data, Section, fmt

#: how each mode is drawn (forward_ad: the registered backend's own style)
LOOKS = {
    "forward": ("forward mode (hand-written tangents)", "#e41a1c", "^"),
    "reverse": ("reverse mode", "#7570b3", "D"),
}


def params(config) -> exp.ModesParams:
    if config.mode == "smoke":
        return exp.ModesParams(n_ins=(4, 64, 512), n_out=64, repeats=config.repeats, min_seconds=config.min_seconds)
    return exp.ModesParams(repeats=config.repeats, min_seconds=config.min_seconds, seed=config.seed)


def modes_figure(samples, table, config) -> Figure:
    """Seconds per Jacobian against ``n_in`` for every mode (fastest rounds; bar to the median), the
    line ``n_in = n_out`` and the measured crossover; beside it the ratio forward ÷ reverse."""
    fig = Figure(figsize=(12, 5), layout="constrained")
    ax_t, ax_r = fig.subplots(1, 2)
    for mode, g in samples.groupby("mode", sort=False):
        label, color, marker = LOOKS.get(mode) or (style_of(mode).label, style_of(mode).color, style_of(mode).marker)
        by = g.groupby("n_in")["seconds"]
        lo, med = by.min(), by.median()
        ax_t.errorbar(
            lo.index, lo, yerr=np.vstack([0 * lo, med - lo]), fmt=marker + "-", color=color, ms=5, capsize=2,
            lw=1, label=f"{label}: {'⌈n_out/K⌉' if mode == 'reverse' else '⌈n_in/K⌉'} passes", gid=f"modes-{mode}",
        )  # fmt: skip
    n_out = int(samples["n_out"].iloc[0])
    for ax in (ax_t, ax_r):
        ax.axvline(n_out, color="#666666", ls=":", lw=1, gid="n-out")
    t = table.sort_values("n_in")
    ax_r.errorbar(
        t["n_in"], t["ratio"], yerr=np.vstack([t["ratio"] - t["ratio_low"], t["ratio_high"] - t["ratio"]]),
        fmt="o-", color="#333333", ms=5, capsize=2, lw=1, label="forward ÷ reverse (median of rounds, min–max)",
        gid="modes-ratio",
    )  # fmt: skip
    ax_r.axhline(1.0, color="#999999", lw=1)
    cross = exp.crossover(table)
    if math.isfinite(cross):
        ax_r.axvline(cross, color="#e41a1c", ls="--", lw=1, label=f"measured crossover n_in ≈ {cross:.0f}", gid="cross")
    for ax in (ax_t, ax_r):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"inputs n_in (outputs n_out = {n_out}, dotted)")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    ax_t.set_ylabel("seconds per Jacobian (fastest round; bar to the median)")
    ax_t.set_title("Forward mode costs n_in passes, reverse mode n_out")
    ax_r.set_ylabel("time of forward mode ÷ time of reverse mode")
    ax_r.set_title("Forward wins below 1: few inputs, many outputs")
    return fig


class Modes(Section):
    name = "modes"
    title = "Forward against reverse mode"
    order = 25
    csvs = ("modes",)
    timed = True

    def run(self, config, progress) -> Data:
        samples = exp.run(params(config))
        progress(1.0, 1.0)
        return {"modes": samples, "modes_table": exp.summary(samples)}

    def figure(self, data: Data, config) -> Figure:
        return modes_figure(data["modes"], data["modes_table"], config)

    def findings(self, data: Data, config) -> list[str]:
        t = data["modes_table"].sort_values("n_in")
        n_out = int(t["n_out"].iloc[0])
        cross = exp.crossover(t)
        small, large = t.iloc[0], t.iloc[-1]
        where = (
            f"the measured ratio crosses 1 at n_in ≈ {cross:.0f} (theory: n_in = n_out = {n_out}, where both "
            f"take the same number of passes)"
            if math.isfinite(cross)
            else f"the measured ratio never crossed 1 over n_in = {int(small.n_in)}–{int(large.n_in)}"
        )
        return [
            f"**Forward against reverse mode** on a Jacobian with {n_out} outputs: forward mode takes "
            f"{fmt(small.ratio)}× reverse mode's time at n_in = {int(small.n_in)} and {fmt(large.ratio)}× at "
            f"n_in = {int(large.n_in)}; {where}. A scalar loss (n_out = 1) is reverse mode's case at every N, "
            f"which the cost section shows: forward-mode AD there costs N JVPs, exact, against backprop's 1 + 1."
        ]

    def text(self, data: Data, config) -> str:
        t = data["modes_table"].sort_values("n_in")
        return "\n".join(
            [
                params(config).describe(),
                "Forward mode pushes the n_in unit tangents through the layers, reverse mode pulls the n_out unit "
                "cotangents back; a pass of either costs about the same, so the ratio of their times follows "
                "n_in / n_out. forward_ad is the same Jacobian from the registered backend by dual numbers.",
                "",
                "![modes](modes.png)",
                "",
                t.to_markdown(index=False, floatfmt=".3g"),
            ]
        )


SECTION = Modes()
