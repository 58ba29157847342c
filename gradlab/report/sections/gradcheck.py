"""gradcheck of backprop across every activation and head: per-block errors against the tolerance."""

from __future__ import annotations

import pandas as pd
from matplotlib import colormaps
from matplotlib.figure import Figure

from ...experiments import gradcheck_zoo as exp
from . import Data, Section, fmt


def _params(config) -> exp.GradcheckZooParams:
    return exp.GradcheckZooParams(seed=config.seed, activations=config.zoo_activations)


def gradcheck_figure(zoo: pd.DataFrame) -> Figure:
    """Per-block relative error of backprop against the reference for a zoo of networks: a
    colour per block (weights in blues, biases in oranges), the tolerance and the fail
    region above it, the legend outside the axes."""
    nets = list(dict.fromkeys(zoo["network"]))
    rtol = float(zoo["rtol"].max())
    fig = Figure(figsize=(max(9.0, 0.24 * len(nets) + 3.5), 5.8), layout="constrained")  # 7-pt labels fit
    ax = fig.subplots()
    x = {name: i for i, name in enumerate(nets)}
    blocks = list(dict.fromkeys(zoo["block"]))
    weights = [b for b in blocks if b.startswith("W")]
    biases = [b for b in blocks if not b.startswith("W")]
    colors = {b: colormaps["Blues"](0.45 + 0.55 * k / max(1, len(weights) - 1)) for k, b in enumerate(weights)}
    colors |= {b: colormaps["Oranges"](0.4 + 0.5 * k / max(1, len(biases) - 1)) for k, b in enumerate(biases)}
    markers = {b: ("o" if b.startswith("W") else "s") for b in blocks}
    for block in blocks:
        g = zoo[zoo["block"] == block]
        ax.semilogy(
            [x[n] for n in g["network"]],
            g["max_rel_error"].clip(lower=1e-17),
            markers[block],
            color=colors[block],
            mec="k",
            mew=0.3,
            ms=5,
            label=block,
            gid=f"zoo-{block}",
        )
    top = max(1.0, float(zoo["max_rel_error"].max()) * 10)
    ax.axhspan(rtol, top, color="crimson", alpha=0.08, lw=0, label="fail region", gid="fail-region")
    ax.axhline(rtol, color="crimson", lw=1.2, label=f"rtol = {rtol:g}", gid="rtol")
    ax.set_ylim(top=top)
    ax.set_xticks(range(len(nets)), nets, rotation=90, fontsize=7)
    ax.set_ylabel("max relative error in the block")
    ax.set_title("gradcheck of backprop against its reference, every activation × every head")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="block")
    return fig


class Gradcheck(Section):
    name = "gradcheck"
    title = "gradcheck across activations and heads"
    order = 30
    csvs = ("gradcheck",)

    def run(self, config, progress) -> Data:
        return {"gradcheck": exp.run(_params(config), progress=progress)}

    def figure(self, data: Data, config) -> Figure:
        return gradcheck_figure(data["gradcheck"])

    def findings(self, data: Data, config) -> list[str]:
        zoo = data["gradcheck"]
        nets = zoo.groupby("network")["network_passed"].first()
        return [
            f"**gradcheck across activations and heads**: {int(nets.sum())} of {len(nets)} networks pass at the "
            f"default tolerance (worst per-block relative error {fmt(zoo['max_rel_error'].max())})."
        ]

    def text(self, data: Data, config) -> str:
        p = _params(config)
        zoo = data["gradcheck"]
        per_net = (
            zoo.groupby(["network"], sort=False)
            .agg(
                worst_rel_error=("max_rel_error", "max"),
                norm_rel_error=("norm_rel_error", "first"),
                passed=("network_passed", "first"),
            )
            .reset_index()
        )
        reference = ", ".join(dict.fromkeys(zoo["reference"])) if "reference" in zoo else "the default reference"
        return "\n".join(
            [
                f"{p.describe()} Backprop against {reference} at the default step.",
                "",
                "![gradcheck](gradcheck.png)",
                "",
                per_net.to_markdown(index=False, floatfmt=".2g"),
            ]
        )


SECTION = Gradcheck()
