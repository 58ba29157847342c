"""The adversarial zoo: the verdict away from small, smooth, well-scaled networks."""

from __future__ import annotations

import pandas as pd

from ...experiments import trustzoo as exp
from . import Data, Section


def _params(config) -> exp.TrustZooParams:
    grid = exp.conditions_grid(
        activations=config.trust_activations,
        input_scales=config.trust_input_scales,
        weight_scales=config.trust_weight_scales,
        dtypes=config.trust_dtypes,
        batches=config.trust_batches,
        steps=config.trust_steps,
    )
    return exp.TrustZooParams(conditions=tuple(grid), seed=config.seed)


def per_condition(zoo: pd.DataFrame) -> pd.DataFrame:
    """For each condition and check: false alarms and inconclusive verdicts on the correct
    gradient, and on the bugs: silent passes, detections, inconclusive verdicts."""
    rows = []
    for (condition, check), g in zoo.groupby(["condition", "check"], sort=False):
        clean, bugs = g[g["bug"] == "none"], g[g["bug"] != "none"]
        rows.append(
            {
                "condition": condition,
                "check": check,
                "correct gradient": clean["status"].iloc[0] if len(clean) else "—",
                "bugs": len(bugs),
                "silent passes": int((bugs["status"] == "passed").sum()),
                "detected": int((bugs["status"] == "failed").sum()),
                "inconclusive": int((bugs["status"] == "inconclusive").sum()),
            }
        )
    return pd.DataFrame(rows)


def _options(config) -> exp.OptionsZoo:
    checks = exp.check_grid(steps=config.options_steps, references=config.options_references)
    return exp.OptionsZoo(checks=checks, seed=config.seed)


def _values(values) -> str:
    return ", ".join(dict.fromkeys("default" if v is None else f"{v:g}" if isinstance(v, float) else str(v)
                                   for v in values))  # fmt: skip


class Trust(Section):
    name = "trust"
    title = "The verdict under adversarial conditions"
    order = 45
    csvs = ("trust", "trust_options")

    def run(self, config, progress) -> Data:
        zoo = exp.run(_params(config), progress=progress)
        options = _options(config).run()
        return {
            "trust": zoo,
            "trust_summary": exp.summary(zoo),
            "trust_options": options,
            "trust_options_summary": exp.options_summary(options),
        }

    def findings(self, data: Data, config) -> list[str]:
        out = []
        for _, r in data["trust_summary"].iterrows():
            out.append(
                f"**the verdict under adversarial conditions ({r['check']} check)**: {r['false alarms']} false "
                f"alarms on {r['correct gradients']} correct gradients ({r['correct: inconclusive']:.0%} "
                f"inconclusive), {r['silent passes']} silent passes on {r['bugs']} planted bugs "
                f"({r['detected']:.0%} caught, {r['bugs: inconclusive']:.0%} inconclusive)."
            )
        if "trust_options_summary" in data:
            s = data["trust_options_summary"]
            out.append(
                f"**the verdict under every option**: {int(s['false alarms'].sum())} false alarms and "
                f"{int(s['silent passes'].sum())} silent passes over {int(s['checks'].sum())} checks; correct smooth "
                "code inconclusive in at most "
                f"{s['smooth correct: inconclusive'].max():.0%} of the checks of any precision and step."
            )
        return out

    def text(self, data: Data, config) -> str:
        p = _params(config)
        cs = p.conditions
        ran = "; ".join(
            f"{what} {_values(getattr(c, key) for c in cs)}"
            for what, key in (
                ("activations", "activation"),
                ("input scales", "input_scale"),
                ("weight scales", "weight_scale"),
                ("precisions", "dtype"),
                ("batches", "batch"),
                ("user steps", "h"),
            )
        )
        options = _options(config)
        kws = [kw for _, kw in options.checks]
        grid = "; ".join(
            f"{what} {_values(kw[key] for kw in kws)}"
            for what, key in (("steps", "h"), ("references", "reference"), ("fast", "fast"),
                              ("accept_unverified", "accept_unverified"))
        )  # fmt: skip
        return "\n".join(
            [
                f"{p.describe()} The conditions run here: {ran}. A correct gradient must "
                "pass or be inconclusive, never fail; a bug must fail or be inconclusive, never pass. A bug that "
                "changes nothing measurable at the point (a dead unit's bias) is left out.",
                "",
                data["trust_summary"].to_markdown(index=False, floatfmt=".3g"),
                "",
                per_condition(data["trust"]).to_markdown(index=False),
                "",
                f"Every option of the check ({grid}: {len(kws)} checks) on "
                + ", ".join(pr.name for pr in exp.problems())
                + ", each correct and with planted bugs. A pass that lists the entries it could not judge "
                "(accept_unverified, or entries below the analytic side's own rounding) is counted apart from a "
                "silent one.",
                "",
                data["trust_options_summary"].to_markdown(index=False, floatfmt=".3g"),
            ]
        )


SECTION = Trust()
