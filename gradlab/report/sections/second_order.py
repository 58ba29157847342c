"""Second order: the second-difference V beside the first-order one, the cost of a full Hessian
against N, the exact HVP against backprop, and the HVP bug zoo's detection table."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from ...experiments import hvpzoo
from ...experiments import second_order as exp
from ..style import style_of
from . import Data, Section

#: per report mode: (hessian cost ladder, HVP-ratio widths, HVP zoo); quick stays within ~15 s here
PLANS = {
    "smoke": (exp.HessianCostParams(widths=(2,), f_max_params=50), (16,), "smoke"),
    "quick": (exp.HessianCostParams(widths=(2, 3, 8, 16), f_max_params=70), (128,), "quick"),
    "full": (
        exp.HessianCostParams(widths=(2, 3, 4, 8, 16, 32, 64), f_max_params=250, max_params=10_000),
        (128, 256),
        "full",
    ),
}

METHOD_STYLE = {
    "second differences of f": ("#d95f02", "o"),
    "central differences of backprop": ("#1b9e77", "s"),
    "N exact HVPs (R-operator)": ("#7570b3", "D"),
}


def _zoo_params(kind: str, seed: int) -> hvpzoo.HvpZooParams:
    if kind == "smoke":
        return hvpzoo.HvpZooParams(
            activations=("tanh",),
            heads=(("softmax", "cross_entropy"),),
            seeds=(seed,),
            clean_activations=("relu",),
            clean_seeds=(seed + 10,),
            modes=("full",),
            bugs=("missing_fsecond", "l2_on_biases"),
        )
    if kind == "quick":
        return hvpzoo.HvpZooParams.quick()
    return hvpzoo.HvpZooParams()


class SecondOrder(Section):
    name = "second_order"
    title = "Second order: Hessians, Hessian-vector products and their check"
    order = 55
    csvs = ("second_accuracy", "hessian_cost", "hvp_ratio", "hvp_zoo")
    timed = True

    def run(self, config, progress) -> Data:
        cost_params, widths, zoo = PLANS[config.mode]
        steps = tuple(np.logspace(0, -9, 9 * max(1, config.steps_per_decade) + 1))
        progress(0.0, 4.0)
        accuracy = exp.second_accuracy(steps, dtypes=config.dtypes)
        progress(1.0, 4.0)
        cost = exp.hessian_cost(cost_params)
        progress(2.0, 4.0)
        ratio = exp.hvp_ratio(widths, repeats=max(3, config.repeats), min_seconds=max(config.min_seconds, 1e-2))
        progress(3.0, 4.0)
        samples = hvpzoo.hvp_zoo(_zoo_params(zoo, config.seed))
        progress(4.0, 4.0)
        return {
            "second_accuracy": accuracy,
            "second_accuracy_summary": exp.accuracy_summary(accuracy),
            "hessian_cost": cost,
            "hessian_cost_exponents": exp.cost_exponents(cost),
            "hvp_ratio": ratio,
            "hvp_zoo": samples,
            "hvp_detection": hvpzoo.detection_table(samples),
        }

    def figure(self, data: Data, config) -> Figure:
        fig = Figure(figsize=(15, 5.6), layout="constrained")
        ax_acc, ax32, ax_cost = fig.subplots(1, 3)
        acc = data["second_accuracy"]
        for ax, dtype in ((ax_acc, "float64"), (ax32, "float32")):
            part = acc[(acc["dtype"] == dtype) & acc["entry"].isin(["diagonal", "df/dx0"])]
            if not len(part):
                ax.set_visible(False)
                continue
            for (backend, order), g in part.groupby(["backend", "order"], sort=False):
                g = g.sort_values("h")
                st = style_of(backend)
                line = "-" if order == 2 else ":"
                ax.loglog(
                    g["h"],
                    g["abs_error"],
                    st.marker + line,
                    color=st.color,
                    ms=3.5,
                    lw=1,
                    mfc="none" if order == 1 else st.color,
                    label=f"{st.label}, {'second differences H[0,0]' if order == 2 else 'first order df/dx0'}",
                )
                if order == 2:
                    ax.loglog(g["h"], g["model"], "--", color=st.color, lw=0.8, alpha=0.7)
            eps = float(np.finfo(dtype).eps)
            ax.axvline(eps**0.25, color="k", lw=0.8, ls="-.", label="ε^(1/4): the central second difference's best h")
            ax.axvline(eps ** (1 / 3), color="0.5", lw=0.8, ls=":", label="ε^(1/3): the central first difference's")
            ax.set_xlabel("step h")
            ax.set_ylabel("absolute error")
            ax.set_title(f"{dtype}: error of H[0,0] (solid; dashed: model) and of df/dx0 (dotted)", fontsize=9)
            ax.grid(True, which="major", alpha=0.3)
            ax.legend(fontsize=6.5, loc="lower left")
        cost = data["hessian_cost"]
        for method, g in cost.groupby("method", sort=False):
            color, marker = METHOD_STYLE.get(method, ("k", "o"))
            ax_cost.loglog(g["n_params"], g["seconds"], marker + "-", color=color, label=method)
        ax_cost.set_xlabel("N (parameters)")
        ax_cost.set_ylabel("seconds for one full Hessian")
        ax_cost.set_title("one full Hessian: time against N", fontsize=9)
        ax_cost.grid(True, which="major", alpha=0.3)
        ax_cost.legend(fontsize=7)
        return fig

    def findings(self, data: Data, config) -> list[str]:
        out = []
        s = data["second_accuracy_summary"]
        c = s[(s["backend"] == "central") & (s["order"] == 2)]
        for r in c.itertuples():
            out.append(
                f"**second differences ({r.dtype}, central)**: best step {r.best_h:.2g} (model {r.model_best_h:.2g}, "
                f"ε^¼ = {r.eps_power:.2g}), best error {r.best_error:.2g}; slopes {r.truncation_slope:+.2f} / "
                f"{r.rounding_slope:+.2f} (model +2 / −2)."
            )
        for r in data["hvp_ratio"].itertuples():
            head = f"**exact HVP (R-operator) vs backprop at N = {r.n_params:,}**: "
            spread = f"rounds {r.ratio_low:.2f}–{r.ratio_high:.2f}, interleaved, one BLAS thread"
            if r.ratio_high <= config.ratio_tolerance * r.ratio_low:
                out.append(f"{head}{r.ratio_median:.2f}× one gradient ({spread}).")
            else:  # as for every speed-up of the report: stated only when the rounds agree
                out.append(
                    f"{head}not stated: the rounds disagree ({spread}; fastest and slowest differ by more than "
                    f"{config.ratio_tolerance:g}×): the machine was too noisy; rerun with more --repeats when quiet."
                )
        d = data["hvp_detection"]
        bugs = d[d["bug"] != hvpzoo.CORRECT]
        clean = d[d["bug"] == hvpzoo.CORRECT]
        if len(bugs):
            out.append(
                f"**HVP bug zoo**: {int((bugs['failed'] == 1).sum())} of {len(bugs)} (bug, mode) rows caught on every "
                f"network; false alarms on the correct HVP: {float(clean['failed'].max()) if len(clean) else 0:.0%}."
            )
        return out

    def text(self, data: Data, config) -> str:
        zoo = _zoo_params(PLANS[config.mode][2], config.seed)
        return "\n".join(
            [
                "Second differences lose to rounding as ε/h², not ε/h: the central second difference's error "
                "C_t h² |f''''| + C_r ε|f|/h² is smallest near h ≈ ε^¼ (1.2e-4 in float64), with an error near √ε — "
                "half the digits, where the first difference keeps two thirds. The chart draws both Vs of every "
                "difference scheme on one function; the table gives the best steps found against the model's and "
                "the fitted slopes on either side.",
                "",
                data["second_accuracy_summary"].to_markdown(index=False, floatfmt=".3g"),
                "",
                "A full Hessian: second differences of f need 1 + 2N + 2N(N−1) evaluations (central), central "
                "differences of backprop 2N gradients, the R-operator N exact HVPs. Calls and time against N:",
                "",
                data["hessian_cost_exponents"].to_markdown(index=False, floatfmt=".3g"),
                "",
                "The exact HVP against one backprop gradient (interleaved rounds, one BLAS thread; timings on a shared "
                "machine are noisy: the ratio of each round is what counts):",
                "",
                data["hvp_ratio"].to_markdown(index=False, floatfmt=".3g"),
                "",
                f"{zoo.describe()} Each bug is checked with gradcheck(obj, theta, hvp=bug): the gradient first, "
                "then H v per block pair as the gradient of <v, g(x)>.",
                "",
                data["hvp_detection"].to_markdown(index=False, floatfmt=".3g"),
            ]
        )


SECTION = SecondOrder()
