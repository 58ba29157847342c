"""Beyond the MLP: the cost of a CNN's and an LSTM's gradient against N, their accuracy
against h, and the layer bug zoo."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ...backends import baseline
from ...experiments import layercost as exp
from ...experiments import layerzoo as zoo
from ..style import style_of
from . import Data, Section, fmt

#: mode -> the ladders, rounds, zoo seeds and checkers, and the accuracy grid of this section
#: (quick stays within about 15 s here; smoke within a few)
MODES = {
    "quick": dict(
        cnn_widths=(1, 2, 4, 8),
        lstm_widths=(2, 4, 8, 16),
        fd_max_params=700,
        repeats=3,
        seeds=(0,),
        clean_seeds=(10,),
        decades=2,
    ),
    "full": dict(
        cnn_widths=(1, 2, 4, 8, 16, 32),
        lstm_widths=(2, 4, 8, 16, 32),
        fd_max_params=6_000,
        repeats=5,
        seeds=(0, 1),
        clean_seeds=(10, 11, 12),
        decades=1,
    ),
    "smoke": dict(
        cnn_widths=(1, 2),
        lstm_widths=(2, 3),
        fd_max_params=400,
        repeats=2,
        seeds=(0,),
        clean_seeds=(10,),
        decades=3,
        accuracy_models=("lstm",),
        bugs=("conv_crop_off_by_one", "embedding_assign", "lstm_forget_gate_derivative"),
    ),
}


def _settings(config) -> dict:
    return MODES.get(config.mode, MODES["quick"])


def _cost_params(config) -> exp.LayerCostParams:
    s = _settings(config)
    return exp.LayerCostParams(
        cnn_widths=s["cnn_widths"],
        lstm_widths=s["lstm_widths"],
        repeats=s["repeats"],
        fd_max_params=s["fd_max_params"],
        min_seconds=config.min_seconds,
        seed=config.seed,
        last=4,
    )


def _zoo_params(config) -> zoo.LayerZooParams:
    s = _settings(config)
    checkers = None if config.mode == "full" else zoo.QUICK_CHECKERS
    return zoo.LayerZooParams(seeds=s["seeds"], clean_seeds=s["clean_seeds"], checkers=checkers, bugs=s.get("bugs"))


def layers_figure(cost: pd.DataFrame, summary: pd.DataFrame, accuracy: pd.DataFrame) -> Figure:
    """Left: time of one gradient against N, CNN (solid) and LSTM (dashed), each backend;
    right: relative error against h of the step backends on both models, float64 and float32."""
    fig = Figure(figsize=(12.5, 5.2), layout="constrained")
    ax_c, ax_a = fig.subplots(1, 2)
    fits = summary.set_index(["model", "backend"])
    for (model, backend), g in cost.groupby(["model", "backend"], sort=False):
        st = style_of(backend)
        t = g.groupby("n_params")["seconds"].median()
        e = fits.loc[(model, backend)]
        ax_c.loglog(
            t.index,
            t.values,
            st.marker + ("-" if model == "cnn" else "--"),
            color=st.color,
            ms=4,
            gid=f"layercost-{model}-{backend}",
            label=f"{model}, {st.label}: ∝ N^{e['exponent']:.2f} ± {e['uncertainty']:.2f}",
        )
    ax_c.set_xlabel("N, number of parameters")
    ax_c.set_ylabel("seconds per gradient (median round)")
    ax_c.set_title("Cost of one gradient: CNN (solid), LSTM (dashed)")
    for (function, backend, dtype), g in accuracy.groupby(["function", "backend", "dtype"], sort=False):
        g = g.dropna(subset=["rel_error"]).sort_values("h")
        if g.empty or g["h"].nunique() < 2:
            continue
        st = style_of(backend)
        ax_a.loglog(
            g["h"],
            g["rel_error"],
            st.marker + ("-" if dtype == "float64" else ":"),
            color=st.color,
            ms=3,
            alpha=1.0 if function.startswith("cnn") else 0.55,
            gid=f"layeracc-{function.split()[0]}-{backend}-{dtype}",
            label=f"{function.split()[0]}, {st.label}, {dtype}",
        )
    ax_a.set_xlabel("step h")
    ax_a.set_ylabel("‖g − g_backprop‖ / ‖g_backprop‖")
    ax_a.set_title("Accuracy against h: CNN (opaque), LSTM (faded); float32 dotted")
    for ax in (ax_c, ax_a):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    return fig


class Layers(Section):
    name = "layers"
    title = "Beyond the MLP: CNN and LSTM cost, accuracy, and the layer bug zoo"
    order = 45
    csvs = ("layer_cost", "layer_accuracy", "layerzoo")
    timed = True

    def run(self, config, progress) -> Data:
        s = _settings(config)
        cost = exp.layer_cost_sweep(_cost_params(config), progress=lambda i, n: progress(i, 3 * n))
        summary = exp.layer_cost_summary(cost, last=_cost_params(config).last)
        steps = tuple(10.0 ** -np.arange(1, 13, s["decades"]))
        models = s.get("accuracy_models", tuple(exp.ACCURACY_MODELS))
        accuracy = exp.layer_accuracy(steps, dtypes=tuple(config.dtypes), models=models, seed=config.seed)
        progress(2, 3)
        table = zoo.layer_zoo(_zoo_params(config))
        progress(3, 3)
        return {
            "layer_cost": cost,
            "layer_cost_summary": summary,
            "layer_accuracy": accuracy,
            "layerzoo": table,
            "layerzoo_summary": zoo.layer_zoo_summary(table),
        }

    def figure(self, data: Data, config) -> Figure:
        return layers_figure(data["layer_cost"], data["layer_cost_summary"], data["layer_accuracy"])

    def findings(self, data: Data, config) -> list[str]:
        s = data["layer_cost_summary"].set_index(["model", "backend"])
        base = baseline()
        parts = []
        for model in ("cnn", "lstm"):
            fd, bp = s.loc[(model, "central")], s.loc[(model, base)]
            if max(fd["uncertainty"], bp["uncertainty"]) <= config.exponent_tolerance:
                parts.append(
                    f"{model}: central differences ∝ N^{fd['exponent']:.2f} ± {fd['uncertainty']:.2f}, "
                    f"{base} ∝ N^{bp['exponent']:.2f} ± {bp['uncertainty']:.2f} (N {fd['sizes']})"
                )
            else:
                parts.append(
                    f"{model}: the exponents are too noisy to state on this run (uncertainty "
                    f"{fmt(max(fd['uncertainty'], bp['uncertainty']))}); rerun with more --repeats on a quiet machine"
                )
        zs = data["layerzoo_summary"]
        default = zoo.DEFAULT_CHECKER
        caught = zs.loc[zoo.ALL_BUGS.replace(" (probes aside)", ""), default]
        false = zs.loc[zoo.FALSE_ALARMS, default]
        return [
            "**beyond the MLP**: " + "; ".join(parts) + f". The default check catches {caught:.0%} of "
            f"{len(zs) - 3} planted layer bugs (of {len(zoo.LAYER_BUGS)}) with {false:.0%} false alarms on "
            "correct layers."
        ]

    def text(self, data: Data, config) -> str:
        zs = data["layerzoo_summary"].copy()
        zs.insert(0, "what", [zoo.LAYER_BUGS[i].description if i in zoo.LAYER_BUGS else "" for i in zs.index])
        named = data["layerzoo"]
        named = named[(named["bug"] != "none") & (named["checker"] == zoo.DEFAULT_CHECKER)]
        acc = data["layer_accuracy"].dropna(subset=["rel_error"])
        best = acc.loc[acc.groupby(["function", "backend", "dtype"], sort=False)["rel_error"].idxmin()]
        best = best[["function", "backend", "dtype", "h", "rel_error"]].rename(
            columns={"h": "best_h", "rel_error": "best_rel_error"}
        )
        return "\n".join(
            [
                _cost_params(config).describe(),
                "",
                "![layers](layers.png)",
                "",
                data["layer_cost_summary"].to_markdown(index=False, floatfmt=".3g"),
                "",
                "Best step and error of each step backend against backprop (float64 backprop as the reference):",
                "",
                best.to_markdown(index=False, floatfmt=".2g"),
                "",
                f"Layer bug zoo. {_zoo_params(config).describe()} Each bug replaces one local rule of one layer's "
                f"backward; the default check named only the corrupted blocks in {named['named'].mean():.0%} "
                "of its detections.",
                "",
                zs.to_markdown(floatfmt=".2g"),
            ]
        )


SECTION = Layers()
