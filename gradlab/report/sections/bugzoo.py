"""The bug zoo: which gradient checker catches which realistic backprop bug, at what price."""

from __future__ import annotations

from ...experiments import bugzoo as exp
from . import Data, Section

ALL, FALSE, EVALS = exp.ALL_BUGS, exp.FALSE_ALARMS, exp.EVALUATIONS


def _params(config) -> exp.BugZooParams:
    return exp.BugZooParams(
        activations=config.bug_activations,
        seeds=tuple(range(config.seed, config.seed + config.bug_seeds)),
        clean_activations=config.clean_activations,
        clean_seeds=tuple(range(config.seed + 100, config.seed + 100 + config.clean_seeds)),
        bugs=config.bugs,
    )


class BugZoo(Section):
    name = "bugzoo"
    title = "Bug zoo: which checker catches which bug"
    order = 40
    csvs = ("bugzoo",)

    def run(self, config, progress) -> Data:
        zoo = exp.run(_params(config), progress=progress)
        return {"bugzoo": zoo, "bug_summary": exp.summary(zoo)}

    def findings(self, data: Data, config) -> list[str]:
        bs = data["bug_summary"]
        default, fast = exp.DEFAULT_CHECKER, exp.fast_checker(1)
        n_bugs = len([b for b in bs.index if b in exp.BUGS and not exp.BUGS[b].probe])
        text = (
            f"**bug zoo**: the default check catches {bs.loc[ALL, default]:.0%} of {n_bugs} realistic bugs with "
            f"{bs.loc[FALSE, default]:.0%} false alarms on correct gradients"
        )
        if fast in bs.columns:
            text += (
                f"; the fast check with 1 direction per block catches {bs.loc[ALL, fast]:.0%} for "
                f"{bs.loc[EVALS, fast]:.0f} evaluations instead of {bs.loc[EVALS, default]:.0f}"
            )
        return [text + "."]

    def text(self, data: Data, config) -> str:
        p = _params(config)
        rows = data["bug_summary"].copy()
        rows.insert(0, "what", [exp.BUGS[i].description if i in exp.BUGS else "" for i in rows.index])
        return "\n".join(
            [
                f"Detection rate of each checker (columns) for each planted bug (rows). {p.describe()} Every "
                "checker runs at its default tolerance; one column per registered reference backend.",
                "Probes are errors too small to be real bugs: they show each reference's resolution. Read each "
                "detection rate beside the false-alarm row: a checker that fails correct gradients "
                '"detects" everything.',
                "",
                rows.to_markdown(floatfmt=".2g"),
            ]
        )


SECTION = BugZoo()
