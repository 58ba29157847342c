"""Forward-mode automatic differentiation: ``n`` Jacobian-vector products, exact, no step.

Forward mode pushes a tangent ``v`` through the computation beside the values and comes out
with the directional derivative ``J v``; seeding the unit vectors ``e_1 .. e_n`` gives the
gradient, one JVP per entry.  It is exact like backprop (no truncation, no cancellation: the
error is rounding, ``~ eps |g|``) and costs ``n`` passes like finite differences -- the middle of
the lesson, between central differences (``2n`` evaluations, approximate) and reverse mode
(one forward and one backward pass, exact).  Where forward mode wins is the other shape: a
Jacobian of ``m`` outputs and ``n << m`` inputs costs ``n`` JVPs, against ``m`` backward passes.

Two routes, chosen by the objective:

- an objective with its own ``jvp(x, V)`` (the MLP: tangent propagation through the layers,
  :meth:`gradlab.nn.MLPObjective.jvp`) is asked for ``K`` tangents at a time;
- any numpy callable is evaluated on :class:`~gradlab.backends.dual.Dual` numbers, ``K``
  seed tangents per call of ``f`` (``ceil(n / K)`` calls), which also gives Jacobians of
  array-valued ``f``; the layer networks of :mod:`gradlab.nn` (convolutions, pooling, norms,
  embeddings, LSTMs, attention, dropout) go this way, their forward passes being numpy code.
  At a kink it takes the one-sided derivative along ``+e_i`` (see :mod:`gradlab.backends.dual`):
  no step, so no kink is ever crossed.

``GradientResult.jvps`` counts the JVPs (``n``); ``evaluations`` and ``backward_passes`` are 0.
"""

from __future__ import annotations

import math

import numpy as np

from ..objective import Counted, describe
from ..structure import StructuredObjective
from .base import ROUNDING_FACTOR, Backend, Estimate, GradientResult, Style
from .dual import Dual, seed

#: tangents carried through one pass (``K``): the memory of one pass grows as ``K`` times that of
#: an evaluation, and beyond a few dozen the passes are as fast per tangent as they get
TANGENTS_PER_PASS = 64


class ForwardAD(Backend):
    """``g_i = J e_i``, ``K`` tangents per pass: ``n`` JVPs, exact to rounding, no step."""

    kind = "forward"
    order = None
    has_step = False
    jacobians = True
    #: as a gradcheck reference: the analytic side's slack, as for the complex step (also exact to rounding)
    tolerances = {"float64": (1e-9, 1e-12), "float32": (1e-4, 1e-7)}
    #: a gradcheck reference with no step: nothing to truncate, no kink crossed
    is_reference = True

    def __init__(
        self, name: str = "forward_ad", style: Style | None = None, *, tangents_per_pass: int = TANGENTS_PER_PASS
    ):
        self.name = name
        self.style = style
        self.tangents_per_pass = int(tangents_per_pass)

    def evaluations(self, n: int) -> int:
        return 0  # no evaluation of f on its own: every pass carries tangents (counted in jvps)

    def jvps(self, n: int) -> int:
        return n

    @property
    def per_entry(self) -> bool:
        return True  # one JVP per entry: its time grows as N^2 on the cost ladder

    def evaluations_formula(self) -> str:
        return "n JVPs (exact)"

    def legend(self) -> str:
        return "ε·|g| (exact, no step)"

    @property
    def expected_slopes(self) -> tuple[float, float]:
        return math.nan, math.nan  # no step, no curve against it

    def reference(self, objective: Counted, x: np.ndarray, *, h, eps_f, noise, f0=None, scheduler=None, progress=None):
        """The exact gradient as a gradcheck reference: its own error is rounding only, bounded by
        ``ROUNDING_FACTOR * eps_f * |g_i|`` (no step, so ``f``'s noise is never divided by one).

        Near a kink it is the derivative of the piece ``x`` is on, however close the kink.  Exactly
        on one (a pre-activation exactly 0), it is the one-sided derivative along ``+e_i`` for
        ``abs``/``maximum``/``clip`` and the branch ``where``'s condition picks: an analytic side
        that takes the other side's slope there disagrees, and is reported as failing."""
        values = self.compute(objective, x, h=None).gradient.astype(np.float64).reshape(-1)
        if progress is not None:
            progress.update(values.size)
        zeros = np.zeros(values.size)
        return Estimate(values, ROUNDING_FACTOR * eps_f * np.abs(values), zeros, zeros, self)

    def compute(self, objective: Counted, x: np.ndarray, *, h: float | None) -> GradientResult:
        """The gradient (a Jacobian, for an array-valued ``f``) at ``x``; ``h`` is ignored, as
        backprop ignores it: there is no step."""
        inner = objective.objective
        own = getattr(inner, "jvp", None)
        if callable(own) and not objective.vector:
            g = self._by_objective(own, x)
        else:
            g = self._by_duals(objective, x)
        return GradientResult(g, self.name, h, 0, jvps=x.size)

    def _chunks(self, n: int):
        k = max(1, self.tangents_per_pass)
        return ((start, min(start + k, n)) for start in range(0, n, k))

    def _by_objective(self, jvp, x: np.ndarray) -> np.ndarray:
        flat = x.reshape(-1)
        g = np.empty(flat.size, dtype=x.dtype)
        for start, stop in self._chunks(flat.size):
            V = np.zeros((stop - start, flat.size), dtype=x.dtype)
            V[np.arange(stop - start), np.arange(start, stop)] = 1  # the unit vectors e_start .. e_stop-1
            g[start:stop] = jvp(x, V)
        return g.reshape(x.shape)

    def _by_duals(self, objective: Counted, x: np.ndarray) -> np.ndarray:
        if isinstance(objective.objective, StructuredObjective):
            raise TypeError(
                f"backend {self.name!r} differentiates functions of one numpy array; `x` is a structure (dict, list "
                f"or tuple of arrays), whose leaves would be rebuilt as plain arrays, dropping the tangents: pass "
                f"the flat vector (gradlab.flatten) or use backend 'central'"
            )
        f = objective.objective.value
        point = x.view()
        point.flags.writeable = False  # f sees the caller's values, never a way to change them
        parts = []
        for start, stop in self._chunks(x.size):
            y = f(seed(point, start, stop))
            parts.append(self._tangent(objective, y, x, start, stop))
        t = np.concatenate(parts, axis=0)  # (n,) + out
        out = t.shape[1:]
        if objective.vector:
            objective.shape = out
        # a Jacobian is laid out as out + x.shape: outputs first, entries last
        g = t.reshape(x.shape) if not out else np.moveaxis(t, 0, -1).reshape(out + x.shape)
        return g.astype(x.dtype, copy=False)

    def _tangent(self, objective: Counted, y: object, x: np.ndarray, start: int, stop: int) -> np.ndarray:
        """The tangents of one pass, shape ``(stop - start,) + out``, checked as :class:`Counted`
        checks a value: a scalar for a gradient (an array of one shape for a Jacobian), finite."""
        k = stop - start
        if isinstance(y, Dual):
            val, tangent = y.value, y.tangent
        else:  # f ignored x (a constant) or returned plain numbers: its derivative is 0
            val = np.asarray(y)
            if val.dtype.kind not in "fiu":
                raise TypeError(f"`f` must return a real {'array' if objective.vector else 'scalar'}; got {y!r}")
            tangent = np.zeros((k,) + val.shape)
        if not objective.vector and val.ndim != 0:
            raise TypeError(
                f"`f` must return a real scalar; got a dual array of shape {val.shape} (use gradlab.jacobian "
                f"for an array-valued f)"
            )
        if objective.vector and objective.shape is not None and val.shape != objective.shape:
            raise ValueError(f"`f` must return arrays of one shape; got {objective.shape} and {val.shape}")
        if not np.isfinite(val).all():
            raise ValueError(f"`f` must return finite values; got {val[~np.isfinite(val)][0]} {describe(None)}")
        if not np.isfinite(tangent).all():
            bad = np.argwhere(~np.isfinite(tangent))[0]
            i = start + int(bad[0])
            raise ValueError(
                f"the derivative of `f` along e[{i}] is {tangent[tuple(bad)]} at x: f is not differentiable there "
                f"(sqrt, log or a power below 1 at 0?)"
            )
        return np.asarray(tangent, dtype=np.float64)


FORWARD_AD = ForwardAD("forward_ad", Style("forward-mode AD", "#e41a1c", "^"))
