"""Checks of forward rules: a user's ``jvp`` against differences, and the adjoint test of a ``jvp``/``vjp`` pair.

A forward rule ``jvp(x, v) -> J v`` (called like ``f``, with the tangent ``v`` appended, shaped
like ``x``) is checked as the directional derivative it claims to be.  For an array-valued ``f``
the check contracts the output with a seeded cotangent ``u`` (``<u, J v>`` is the derivative of the
scalar ``g(x) = <u, f(x)>`` along ``v``, so no Jacobian is formed); for a scalar ``f``, ``u = 1``.
Each block gets a seeded random unit direction ``v_b`` of its own (zero outside the block), so a
wrong rule is named by the block it is wrong in; the rule's ``<u, J v_b>`` is judged against central
differences of ``g`` along ``v_b`` (Richardson-refined when one step cannot tell) by the same
:func:`~gradlab.check.judge.judge` and the same error bounds as a fast gradient check, with the
same three verdicts.

:func:`adjoint_test` needs no differences at all: a forward rule and a backward rule of the same
``f`` are each other's transposes, ``<u, J v> = <J^T u, v>`` for every ``u`` and ``v``, so the two
inner products at seeded random ``u``, ``v`` may differ only by rounding.

The rounding bound.  Write the computed products as ``J v + d`` and ``J^T u + e``.  The two inner
products are summed exactly (:func:`math.fsum`, in float64), so they differ by
``<u, d> - <e, v>`` alone.  A product computed in precision ``eps`` has entries in error by about
``eps`` times the sum of the magnitudes of the terms it adds; with seeded Gaussian ``u`` and ``v``
those terms have random signs, and ``<u, d>`` adds ``m`` errors of random sign (``<e, v>``: ``n``).
The scale of each side is therefore ``S = sum_i |u_i (J v)_i| + sum_j |(J^T u)_j v_j|`` and

    bound = ADJOINT_FACTOR * eps * sqrt(n + m) * S

(``n`` inputs, ``m`` outputs, ``eps`` of the lowest precision among ``x``, ``J v`` and ``J^T u``):
``sqrt(n + m)`` for the random walk of the errors through either contraction, and
``ADJOINT_FACTOR`` for the few roundings each term carries through a chain of operations.  A
pair that disagrees by a relative ``r`` differs by ``r |<u, J v>|``; in float64 the bound is
about ``1e-13`` of ``S``, so a disagreement of ``1e-8`` is caught with a margin of ``10^4``
while the rounding of a float32 computation (``eps = 1.2e-7``) passes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import _validate as v
from ..backends import CENTRAL
from ..objective import Block, Counted, Objective
from ..structure import Structure, flat_function, to_numpy
from .adapt import InnerProduct, _flat_call, _like
from .case import Case
from .directional import _central_projection, block_direction
from .display import adjoint_html, adjoint_markdown
from .judge import direction_table, pass_limit
from .probe import PROBE_EVALUATIONS, profile
from .result import GradcheckResult
from .settings import CheckSettings

#: roundings per term through a chain of operations, in the adjoint test's bound (see the module docstring)
ADJOINT_FACTOR = 8.0
#: evaluations of f along one direction at most: a central pair, and a second pair when it cannot tell
FORWARD_RULE_EVALUATIONS = 4


@dataclass(frozen=True)
class ForwardRule:
    """A forward rule on a flat point: ``rule(p, v)`` gives ``J v`` as a float64 numpy array shaped like
    ``f(x)``, checked; ``f`` itself, its point, blocks, output (``y0``) and the structure (or ``None``)."""

    fn: Callable[[np.ndarray], object]
    point: np.ndarray
    blocks: tuple[Block, ...]
    y0: object
    out_shape: tuple[int, ...]
    structure: Structure | None
    jvp: Callable
    name: str

    def __call__(self, p: np.ndarray, direction: np.ndarray) -> np.ndarray:
        tangent = direction.astype(self.point.dtype).reshape(self.point.shape)
        if self.structure is None:
            out = self.jvp(p.copy(), tangent)
        else:
            out = self.structure.call(self.jvp, p, self.structure.unflatten(tangent.reshape(-1)), what="jvp")
        try:
            y = to_numpy(out)
        except Exception as exc:
            raise v.fail("jvp", f"a callable returning J v shaped like f(x), {self.out_shape}", out, TypeError) from exc
        if y.dtype.kind not in "fiu":
            raise TypeError(f"`jvp(x, v)` must return a real array shaped like f(x); got {v.show(y)}")
        if y.shape != self.out_shape:
            raise ValueError(f"`jvp(x, v)` must return an array shaped like f(x), {self.out_shape}; got {y.shape}")
        if not np.isfinite(y).all():
            raise ValueError(f"`jvp(x, v)` must be finite; got {y[~np.isfinite(y)][0]}")
        return y


def forward_rule(f: object, x: object, jvp: object, *, budget: Callable | None = None) -> ForwardRule:
    """``f``, ``x`` and ``jvp`` on a flat point (``f`` evaluated once, for the shape of its output,
    after ``budget(blocks)`` has had its say)."""
    if not callable(jvp):
        raise v.fail("jvp", "a callable jvp(x, v) -> J v (called like f, the tangent v appended)", jvp, TypeError)
    fn, point, structure = _flat_call(f, x)
    if structure is not None:
        blocks = structure.blocks()
    elif isinstance(f, Objective):
        blocks = f.blocks(point)
    else:
        blocks = (Block("x", 0, point.shape),)
    if budget is not None:
        budget(blocks)
    y0 = f(*structure.arguments(point)) if structure is not None else fn(point.copy())
    y0_np = to_numpy(y0)
    if y0_np.dtype.kind not in "fiu":
        raise TypeError(f"`f` must return a real number or array when `jvp` is given; got {v.show(y0_np)}")
    name = getattr(jvp, "__name__", "jvp")
    return ForwardRule(fn, point, blocks, y0, y0_np.shape, structure, jvp, "jvp" if name == "<lambda>" else name)


def check_forward_rule(
    f: object, x: object, jvp: object, cotangent: object, settings: CheckSettings
) -> tuple[Case, list[dict], str]:
    """The case of checking ``jvp``, and one judged row per (block, direction); with the note that
    says how it was checked."""
    rule = forward_rule(f, x, jvp, budget=lambda blocks: _within_budget(settings, len(blocks)))
    point, blocks, shape = rule.point, rule.blocks, rule.out_shape
    if shape == ():
        u = np.ones(())
        note = "forward rule checked along one seeded random direction per block (f is scalar: J v is f' along v)"
    elif cotangent is None:
        u = np.random.default_rng(settings.seed + 1).standard_normal(shape)
        note = (
            f"forward rule checked as <u, J v> along one seeded random direction v per block, with a random "
            f"cotangent u of shape {shape} (np.random.default_rng({settings.seed + 1}).standard_normal); "
            f"pass cotangent= to choose u"
        )
    else:
        u = v.cotangent(cotangent, shape)
        note = f"forward rule checked as <u, J v> along one seeded random direction v per block, u as given {shape}"
    objective = InnerProduct(rule.fn, u, blocks)
    counted = Counted(objective)
    # the rule's side first: one call of jvp per direction, none of f
    rng = np.random.default_rng(settings.seed)
    directions = [(b, k, block_direction(point, blocks, rng, b)) for k in range(settings.directions) for b in blocks]
    claimed = [math.fsum((u * rule(point, d).astype(np.float64)).reshape(-1)) for _, _, d in directions]
    prof = profile(counted, point, blocks, settings.seed)
    rtol = CENTRAL.tolerance(prof.precision)[0] if settings.rtol is None else settings.rtol
    case = Case(
        settings=settings,
        counted=counted,
        point=point,
        analytic=np.array(claimed),
        source=rule.name,
        blocks=blocks,
        profile=prof,
        backend=CENTRAL,
        rtol=rtol,
        noise=max(settings.noise or 0.0, 3 * prof.noise),
        limit=pass_limit(prof.precision, settings.rtol),
        notes=(note,),
    )
    return case, [(b, k, d, a) for (b, k, d), a in zip(directions, claimed)], note


def _within_budget(settings: CheckSettings, n_blocks: int) -> None:
    """Refuse, before ``f`` runs, a check that may need more than ``max_evaluations``."""
    most = PROBE_EVALUATIONS + FORWARD_RULE_EVALUATIONS * settings.directions * n_blocks
    if settings.max_evaluations is not None and most > settings.max_evaluations:
        raise ValueError(
            f"`max_evaluations` = {settings.max_evaluations} is below what this check may need: up to {most:,} "
            f"evaluations of f (the probe, and up to {FORWARD_RULE_EVALUATIONS} along each of "
            f"{settings.directions * n_blocks} directions); raise it or pass fewer `directions`"
        )


def judge_forward_rule(case: Case, directions: list) -> GradcheckResult:
    """Each (block, direction) judged against central differences along it; the verdict."""
    rows = []
    for b, k, d, a in directions:
        rows.append({"block": b.name, "direction": k, **_central_projection(case, d, a=a)})
    failed = any(r["failed"] for r in rows)
    unsettled = any(r["coarse"] for r in rows) and not case.settings.accept_unverified
    status = "failed" if failed else "inconclusive" if unsettled else "passed"
    reasons = ()
    if status == "inconclusive":
        reasons = (
            "unverified: central differences along some block's direction could not settle it (f too noisy or "
            "too curved at this step?); try another seed, float64, or accept_unverified=True",
        )
    return case.result(
        status=status,
        max_rel_error=float(max(r["rel_error"] for r in rows)),
        max_abs_error=float(max(r["abs_error"] for r in rows)),
        norm_rel_error=math.nan,
        table=direction_table(rows, case.blocks),
        directions=pd.DataFrame(rows),
        mode="forward rule, directional",
        atol=0.0,
        reference="central (directional)",
        reasons=reasons,
    )


# -- the adjoint test ------------------------------------------------------------------------------


class AdjointError(AssertionError):
    """Raised by :meth:`AdjointResult.raise_if_failed` when ``<u, J v>`` and ``<J^T u, v>`` disagree."""


@dataclass(frozen=True)
class AdjointResult:
    """The adjoint test: ``forward = <u, J v>`` and ``backward = <J^T u, v>`` at seeded random ``u``, ``v``,
    their ``difference``, the rounding ``bound`` it is held to (``ADJOINT_FACTOR * eps * sqrt(n + m) *
    scale``, see :mod:`gradlab.check.forward`), and whether it ``passed``."""

    forward: float
    backward: float
    difference: float
    bound: float
    scale: float
    eps: float
    dtype: str
    n: int
    m: int
    seed: int
    jvp: str
    vjp: str

    @property
    def passed(self) -> bool:
        return self.difference <= self.bound

    @property
    def rel_error(self) -> float:
        return self.difference / max(abs(self.forward), abs(self.backward), np.finfo(float).tiny)

    def message(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return (
            f"adjoint test {verdict}: {self.jvp} and {self.vjp} at seed {self.seed} ({self.dtype}, n = {self.n} "
            f"inputs, m = {self.m} outputs): <u, J v> = {self.forward:.17g}, <J^T u, v> = {self.backward:.17g}, "
            f"difference {self.difference:.3g} (relative {self.rel_error:.3g}) "
            f"{'<=' if self.passed else '>'} rounding bound {self.bound:.3g} "
            f"= {ADJOINT_FACTOR:g} * eps {self.eps:.3g} * sqrt(n + m) * scale {self.scale:.3g}"
            + ("" if self.passed else "; the two rules are not each other's transposes: check each with gradcheck")
        )

    def __str__(self) -> str:
        return self.message()

    def _repr_html_(self) -> str:
        return adjoint_html(self)

    def _repr_markdown_(self) -> str:
        return adjoint_markdown(self)

    def raise_if_failed(self) -> AdjointResult:
        if not self.passed:
            raise AdjointError(self.message())
        return self


def adjoint_test(f: object, x: object, *, jvp: object, vjp: object, seed: int = 0) -> AdjointResult:
    """Are ``jvp`` and ``vjp`` each other's transposes?  ``<u, J v> == <J^T u, v>``, no differences.

    Parameters
    ----------
    f : callable
        ``f(x) -> array`` (or a scalar); evaluated once, for the shape of its output.
    x : array_like or structure
        The point; never modified.  A dict, list or tuple of arrays as in :func:`gradlab.gradcheck`.
    jvp : callable
        ``jvp(x, v) -> J v``, called like ``f`` with the tangent ``v`` (shaped like ``x``) appended.
    vjp : callable
        ``vjp(x, u) -> J^T u``, called like ``f`` with the cotangent ``u`` (shaped like ``f(x)``)
        appended, structured like ``x``.
    seed : int
        Seed of the Gaussian ``u`` and ``v``.

    Returns
    -------
    AdjointResult
        Both inner products, their difference, the rounding bound (derived in
        :mod:`gradlab.check.forward`), ``passed``; ``raise_if_failed()`` for test suites.

    Examples
    --------
    >>> import numpy as np, gradlab
    >>> W = np.random.default_rng(0).normal(size=(5, 3))
    >>> f = lambda x: np.tanh(W @ x)
    >>> jvp = lambda x, v: (1 - np.tanh(W @ x) ** 2) * (W @ v)
    >>> vjp = lambda x, u: W.T @ ((1 - np.tanh(W @ x) ** 2) * u)
    >>> gradlab.adjoint_test(f, np.ones(3), jvp=jvp, vjp=vjp).passed
    True
    """
    if not callable(vjp):
        raise v.fail("vjp", "a callable vjp(x, u) -> J^T u (called like f, the cotangent u appended)", vjp, TypeError)
    if not callable(jvp):
        raise v.fail("jvp", "a callable jvp(x, v) -> J v (called like f, the tangent v appended)", jvp, TypeError)
    seed = v.seed("seed", seed)
    rule = forward_rule(f, x, jvp)
    point = rule.point
    rng = np.random.default_rng(seed)
    tangent = rng.standard_normal(point.size)
    y0_np = to_numpy(rule.y0)
    u = rng.standard_normal(rule.out_shape)
    u_native = _like(u, rule.y0, y0_np) if rule.out_shape else float(u)  # in f's own library and dtype
    Jv_native = rule(point, tangent)
    Jv = Jv_native.astype(np.float64)
    if rule.structure is None:
        JTu = to_numpy(vjp(point.copy(), u_native))
        if JTu.shape != point.shape:
            raise ValueError(f"`vjp(x, u)` must return an array shaped like x, {point.shape}; got {JTu.shape}")
    else:
        JTu = flat_function(vjp, rule.structure, "vjp(x, u)", u_native)(point)
    if JTu.dtype.kind not in "fiu":
        raise TypeError(f"`vjp(x, u)` must return a real array shaped like x; got {v.show(JTu)}")
    if not np.isfinite(JTu).all():
        raise ValueError(f"`vjp(x, u)` must be finite; got {JTu[~np.isfinite(JTu)][0]}")
    tangent_used = tangent.astype(point.dtype).astype(np.float64)  # what jvp saw, in x's precision
    u_used = np.asarray(to_numpy(u_native), dtype=np.float64)
    # the lowest precision that took part: x's, J v's, J^T u's
    lowest = min((point.dtype, _float(Jv_native.dtype), _float(JTu.dtype)), key=lambda d: d.itemsize)
    JTu = JTu.reshape(-1).astype(np.float64)
    lhs_terms, rhs_terms = (u_used * Jv).reshape(-1), JTu * tangent_used
    forward, backward = math.fsum(lhs_terms), math.fsum(rhs_terms)
    eps = float(np.finfo(lowest).eps)
    n, m = point.size, max(1, math.prod(rule.out_shape))
    scale = math.fsum(np.abs(lhs_terms)) + math.fsum(np.abs(rhs_terms))
    bound = ADJOINT_FACTOR * eps * math.sqrt(n + m) * scale
    return AdjointResult(
        forward=forward,
        backward=backward,
        difference=abs(forward - backward),
        bound=bound,
        scale=scale,
        eps=eps,
        dtype=lowest.name,
        n=n,
        m=m,
        seed=seed,
        jvp=rule.name,
        vjp="vjp" if getattr(vjp, "__name__", "vjp") == "<lambda>" else getattr(vjp, "__name__", "vjp"),
    )


def _float(dtype: np.dtype) -> np.dtype:
    return dtype if dtype.kind == "f" else np.dtype(np.float64)
