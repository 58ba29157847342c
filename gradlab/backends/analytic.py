"""The analytic backend: the objective's own gradient (an MLP's backprop, BP1-BP4)."""

from __future__ import annotations

import math

import numpy as np

from ..objective import Counted
from .base import Backend, GradientResult, Style


class Analytic(Backend):
    """The gradient the objective computes itself: 1 forward + 1 backward pass, whatever n."""

    kind = "analytic"
    order = None
    has_step = False

    def __init__(self, name: str = "backprop", style: Style | None = None):
        self.name = name
        self.style = style

    def evaluations(self, n: int) -> int:
        return 1

    def evaluations_formula(self) -> str:
        return f"{self.evaluations(0)} forward + 1 backward pass"

    @property
    def expected_slopes(self) -> tuple[float, float]:
        return math.nan, math.nan  # no step, no curve against it

    def compute(
        self, objective: Counted, x: np.ndarray, *, h: float | None, scheduler: object = None
    ) -> GradientResult:
        # one forward and one backward pass: nothing to farm out, whatever the scheduler
        gradient = objective.objective.gradient
        if gradient is None:
            f = getattr(objective.objective, "f", objective.objective)
            raise TypeError(
                f"backend {self.name!r} needs an objective with an analytic gradient (net.objective(X, Y)); "
                f"`f` is a plain callable ({f!r}) with no analytic gradient: use backend='central' or "
                f"'forward', or pass your gradient to gradcheck(f, x, grad=...)"
            )
        objective.evaluations += 1
        return GradientResult(gradient(x), self.name, None, 1, backward_passes=1)


BACKPROP = Analytic("backprop", Style("backprop", "#7570b3", "D"))
