"""gradcheck of backprop for every hidden activation under every output/loss pair of the loss
table (:data:`gradlab.nn.HEADS`): one row per (network, block), from parameters held in
:class:`GradcheckZooParams`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..check import gradcheck
from ..nn import ACTIVATIONS, HEADS, MLP


@dataclass(frozen=True)
class GradcheckZooParams:
    """Networks ``sizes`` with ``l2``, a random batch of ``batch``, parameters jittered by
    ``jitter`` (nonzero biases), for every activation of the table (or ``activations``)
    under every head of ``heads`` (every valid output/loss pair); checked with gradcheck's
    defaults."""

    sizes: tuple[int, ...] = (5, 6, 4, 3)
    l2: float = 0.01
    batch: int = 16
    jitter: float = 0.1
    seed: int = 0
    heads: tuple[tuple[str, str], ...] = HEADS
    #: None: every activation of the table
    activations: tuple[str, ...] | None = None

    def cases(self) -> list[tuple[str, str, str]]:
        return [(act, out, loss) for act in self.chosen() for out, loss in self.heads]

    def chosen(self) -> list[str]:
        """The hidden activations of the zoo."""
        return list(ACTIVATIONS) if self.activations is None else list(self.activations)

    def describe(self) -> str:
        """What ran, in one sentence of the report."""
        return (
            f"Networks {list(self.sizes)}, l2 = {self.l2:g}, batch {self.batch}, parameters jittered by "
            f"{self.jitter:g} (seed {self.seed}): {len(self.cases())} networks, {len(self.heads)} heads (output and "
            f"loss) on each of {len(self.chosen())} hidden activations, each checked by gradcheck at its defaults."
        )


def run(
    params: GradcheckZooParams = GradcheckZooParams(), *, progress: Callable[[float, float], None] | None = None
) -> pd.DataFrame:
    """One row per (network, block): ``max_rel_error``, ``max_abs_error``, ``worst_index``,
    ``passed``, and the network's verdict and norm-wise error."""
    p = params
    rows = []
    cases = p.cases()
    for i, (act, out, loss) in enumerate(cases):
        net = MLP(list(p.sizes), activation=act, output=out, loss=loss, l2=p.l2)
        X, Y = net.random_batch(p.batch, seed=p.seed)
        theta = net.init(seed=p.seed) + p.jitter * np.random.default_rng(p.seed + 1).normal(size=net.n_params)
        r = gradcheck(net.objective(X, Y), theta)
        for b in r.table.itertuples():
            rows.append(
                {
                    "network": f"{act} → {out}/{loss}",
                    "activation": act,
                    "output": out,
                    "loss": loss,
                    "block": b.block,
                    "block_kind": b.block[0] + " (" + ("weights" if b.block[0] == "W" else "biases") + ")",
                    "max_rel_error": b.max_rel_error,
                    "max_abs_error": b.max_abs_error,
                    "worst_index": b.worst_index,
                    "passed": b.passed,
                    "network_passed": r.passed,
                    "norm_rel_error": r.norm_rel_error,
                    "reference": r.reference,
                    "rtol": r.rtol,
                }
            )
        if progress is not None:
            progress(i + 1, len(cases))
    return pd.DataFrame(rows)


#: the name of :class:`GradcheckZooParams` before it said which zoo
ZooParams = GradcheckZooParams
