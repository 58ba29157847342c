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


class Trust(Section):
    name = "trust"
    title = "The verdict under adversarial conditions"
    order = 45
    csvs = ("trust",)

    def run(self, config, progress) -> Data:
        zoo = exp.run(_params(config), progress=progress)
        return {"trust": zoo, "trust_summary": exp.summary(zoo)}

    def findings(self, data: Data, config) -> list[str]:
        out = []
        for _, r in data["trust_summary"].iterrows():
            out.append(
                f"**the verdict under adversarial conditions ({r['check']} check)**: {r['false alarms']} false "
                f"alarms on {r['correct gradients']} correct gradients ({r['correct: inconclusive']:.0%} "
                f"inconclusive), {r['silent passes']} silent passes on {r['bugs']} planted bugs "
                f"({r['detected']:.0%} caught, {r['bugs: inconclusive']:.0%} inconclusive)."
            )
        return out

    def text(self, data: Data, config) -> str:
        p = _params(config)
        return "\n".join(
            [
                f"{p.describe()} A correct gradient must "
                "pass or be inconclusive, never fail; a bug must fail or be inconclusive, never pass. A bug that "
                "changes nothing measurable at the point (a dead unit's bias) is left out.",
                "",
                data["trust_summary"].to_markdown(index=False, floatfmt=".3g"),
                "",
                per_condition(data["trust"]).to_markdown(index=False),
            ]
        )


SECTION = Trust()
