"""The second-order check: is a Hessian-vector product (or a Hessian) right, and where is it wrong?

Nothing new is judged here: an HVP is the vjp of the gradient.  For a direction ``u`` the
scalar ``phi_u(x) = <u, g(x)>`` has the gradient ``J_g^T u = H u`` (``H`` is symmetric), so
checking ``hvp(x, u)`` is the first-order check of ``phi_u`` with ``hvp(x, u)`` as its
analytic gradient -- the same references with their error bounds, refinement, kinks, judge,
table and hints, run on differences of the gradient ``g`` (the complex step of backprop for
an MLP: exact to rounding).  The pipeline:

1. **the first order first.**  ``grad`` (or the objective's backprop) is checked against
   differences of ``f``.  If that check does not pass, the result carries its verdict and
   says so: a second-order verdict on a wrong gradient is meaningless, and the gradient is
   the reference of the second order.
2. **per block pair** (full mode): for each block ``B`` a seeded standard-normal ``u``
   supported on ``B`` alone; the check of ``phi_u`` then judges ``H[A, B] u_B`` for every
   block ``A``, one table row ``H[A, B]`` each: every block pair of the Hessian.
3. **projections** (``fast=True``): one ``u`` over all blocks, judged by the fast path's
   random projections ``w^T H u``; only a disagreement pays for per-``B`` directions (fast
   again), which name the pair.
4. **hints**: a Hessian (``hessian=``) that is not symmetric is named by its pair
   (``H[W2, b1]`` vs ``H[b1, W2]^T``); an HVP with ``<w, H u> != <u, H w>`` likewise; the
   first-order hints (a constant factor 2, a flipped sign) per pair.

Kinks: on a piecewise network (ReLU, hard-*) the Hessian is the one of the smooth piece
that contains ``x`` (``f'' = 0`` on each piece; the Dirac mass at a kink is no part of any
finite difference either).  The references measure ``g`` on that piece (the kink machinery of
the first-order check: an entry whose stencil crosses a kink is measured again on its own
side), and the result says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .. import _validate as v
from ..objective import Block, as_objective
from ..structure import Structure, is_structure, prepare
from .result import GradcheckResult

#: the second-order options' errors name these arguments
ORDERS = (1, 2)


@dataclass(frozen=True)
class SecondOrder:
    """The second-order side of a check, validated before any evaluation: what to verify."""

    #: "hvp" (a hvp(x, v) callable), "hessian" (a hessian(x) callable) or "own" (the objective's hvp)
    source: str
    fn: Callable | None
    #: the check's f, x and grad, as the caller gave them
    f: object = None
    x: object = None
    grad: object = None


def second_order_options(
    f: object, x: object, *, grad: object, order: object, hvp: object, hessian: object, vjp: object
) -> SecondOrder | None:
    """The second-order options checked (``TypeError``/``ValueError`` naming the argument); ``None``
    for a first-order check.  Runs before ``f`` is evaluated at all."""
    if isinstance(order, bool) or not isinstance(order, int | np.integer) or order not in ORDERS:
        kind = TypeError if isinstance(order, bool) or not isinstance(order, int | np.integer) else ValueError
        raise v.fail("order", "1 (the gradient) or 2 (the Hessian, after the gradient)", order, kind)
    for name, fn in (("hvp", hvp), ("hessian", hessian)):
        if fn is not None and not callable(fn):
            what = "a callable hvp(x, v) -> H v, shaped like x" if name == "hvp" else "a callable hessian(x) -> H"
            raise v.fail(name, what, fn, TypeError)
    if hvp is not None and hessian is not None:
        raise TypeError("pass either `hvp=` (H v for a direction v) or `hessian=` (the whole H), not both")
    if vjp is not None and (hvp is not None or hessian is not None or order == 2):
        raise TypeError("a second-order check needs a scalar f and its gradient: `vjp=` checks a backward pass only")
    if hvp is not None:
        return SecondOrder("hvp", hvp, f, x, grad)
    if hessian is not None:
        return SecondOrder("hessian", hessian, f, x, grad)
    if order == 1:
        return None
    objective = None if is_structure(x) and not isinstance(x, np.ndarray) else as_objective(f)
    if objective is None or getattr(objective, "hvp", None) is None:
        raise TypeError(
            "`order` = 2 checks the objective's own hvp, and f has none: pass `hvp=` (a function (x, v) -> H v) "
            "or `hessian=` (a function x -> H), or an MLP objective"
        )
    return SecondOrder("own", None, f, x, grad)


class InnerProductOfGradient:
    """``phi_u(x) = <u, g(x)>`` as an objective on the flat vector: the scalar whose gradient is
    ``H u``.  It keeps the objective's blocks and kinks (``g`` is smooth on ``f``'s pieces), and
    evaluates in complex arithmetic where ``g`` is the objective's own gradient and ``f`` does
    (backprop takes complex ``theta``); a user's ``grad`` is not assumed to."""

    def __init__(self, g: Callable[[np.ndarray], np.ndarray], u: np.ndarray, objective, blocks, own: bool):
        self.g, self.u, self._blocks = g, u, blocks
        self.complex_ok = getattr(objective, "complex_ok", None) if own else None
        self.kinks = getattr(objective, "kinks", None)
        self.gradient = None

    def value(self, p: np.ndarray) -> object:
        return np.sum(self.u * np.asarray(self.g(p)).reshape(-1))  # no conjugate: analytic in complex p

    def point(self, x: object) -> np.ndarray:
        return x

    def blocks(self, x: np.ndarray | None = None) -> tuple[Block, ...]:
        return self._blocks

    def __repr__(self) -> str:
        return "<u, g(x)>"


@dataclass(frozen=True)
class _Flat:
    """The second-order check restated on the flat vector."""

    objective: object
    point: np.ndarray
    g: Callable[[np.ndarray], np.ndarray]
    hv: Callable[[np.ndarray, np.ndarray], np.ndarray]
    matrix: np.ndarray | None
    blocks: tuple[Block, ...]
    source: str
    #: whether g is the objective's own gradient (backprop), not the caller's grad
    own_gradient: bool


def _flat_problem(options: SecondOrder) -> _Flat:
    f, x, grad = options.f, options.x, options.grad
    prepared = prepare(f, x)
    if prepared is not None:
        s: Structure = prepared.structure
        objective, point, blocks = prepared.objective, prepared.point, s.blocks()

        def g(p):
            return s.flatten_like(grad(*s.arguments(p)), "grad(x)")

        call_hvp = options.fn

        def user_hvp(p, u):
            return s.flatten_like(call_hvp(*s.arguments(p), s.unflatten(u)), "hvp(x, v)")

    else:
        objective = as_objective(f)
        point = objective.point(x)
        blocks = tuple(objective.blocks(point))
        if grad is not None:

            def g(p):
                return np.asarray(grad(p.copy()), dtype=np.result_type(p, np.float64)).reshape(-1)

        else:
            g = objective.gradient
        call_hvp = options.fn if options.source == "hvp" else getattr(objective, "hvp", None)

        def user_hvp(p, u):
            return call_hvp(p.copy(), u.reshape(point.shape).astype(point.dtype))

    n = point.size
    matrix = None
    if options.source == "hessian":
        args = s.arguments(point) if prepared is not None else (point.copy(),)
        raw = options.fn(*args)
        try:
            matrix = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise v.fail("hessian(x)", "a real array of shape (n, n)", raw, TypeError) from exc
        if matrix.size != n * n or matrix.shape not in ((n, n), point.shape * 2):
            raise ValueError(
                f"`hessian(x)` must return an array of shape ({n}, {n}) or x.shape * 2; got {matrix.shape}"
            )
        matrix = matrix.reshape(n, n)
        if not np.isfinite(matrix).all():
            i, j = (int(k) for k in np.argwhere(~np.isfinite(matrix))[0])
            raise ValueError(f"`hessian(x)` must be finite; got {matrix[i, j]} at [{i}, {j}]")

        def hv(p, u):
            return matrix @ u

        source = getattr(options.fn, "__name__", "hessian")
    else:

        def hv(p, u):
            out = np.asarray(user_hvp(p, u))
            if out.size != n:
                raise ValueError(f"`hvp(x, v)` must return an array shaped like x ({n} entries); got {out.shape}")
            return out.reshape(-1)

        source = "obj.hvp" if options.source == "own" else getattr(options.fn, "__name__", "hvp")
    source = "hvp" if source == "<lambda>" else source
    return _Flat(objective, point, g, hv, matrix, blocks, source, grad is None)


def second_order_check(options: SecondOrder, first: GradcheckResult, check, settings) -> GradcheckResult:
    """The second-order check after the first-order result ``first`` (see the module docstring).

    ``check(objective, point, grad, fast)`` runs the first-order pipeline on a flat objective
    with ``settings``' options (it is :func:`gradlab.gradcheck`'s own).
    """
    if first.status != "passed":
        why = (
            f"second order not judged: the gradient check {first.status} (see above); a second-order verdict on "
            f"a wrong or unverified gradient is meaningless, and the gradient is the reference of the second "
            f"order: fix the gradient first"
        )
        return replace(first, reasons=(*first.reasons, why), order=2, first_order=first)
    flat = _flat_problem(options)
    rng = np.random.default_rng(settings.seed)
    n = flat.point.size
    notes = [
        f"second order: H v checked as the gradient of <v, g(x)> (an HVP is the vjp of the gradient), g the "
        f"gradient verified first, along standard-normal directions v, np.random.default_rng({settings.seed})"
    ]
    if getattr(flat.objective, "kinks", None) is not None:
        notes.append(
            "f is piecewise smooth (kinks): the Hessian checked is the one of the smooth piece that contains x "
            "(f'' = 0 on each piece of a ReLU-like unit); entries whose stencil crosses a kink are measured on "
            "their own side"
        )
    runs: list[tuple[str, GradcheckResult]] = []

    def run(label: str, u: np.ndarray, fast: bool) -> GradcheckResult:
        phi = InnerProductOfGradient(flat.g, u, flat.objective, flat.blocks, flat.own_gradient)
        hu = flat.hv(flat.point.reshape(-1), u)
        r = check(phi, flat.point, lambda p: hu.reshape(flat.point.shape), fast)
        runs.append((label, r))
        return r

    if settings.fast:
        whole = run(":", rng.standard_normal(n), True)
        if whole.status == "failed":
            notes.append("fast check: the projection disagrees; each block's direction checked on its own")
            runs.clear()
            for b in flat.blocks:
                run(b.name, _on_block(rng, n, b), True)
    else:
        for b in flat.blocks:
            run(b.name, _on_block(rng, n, b), False)
    hints, reasons = _symmetry(flat, rng, first)
    return _combined(first, runs, flat, notes, hints, reasons)


def _on_block(rng: np.random.Generator, n: int, block: Block) -> np.ndarray:
    u = np.zeros(n)
    u[block.slice] = rng.standard_normal(block.size)
    return u


def _symmetry(flat: _Flat, rng, first) -> tuple[list[str], list[str]]:
    """A Hessian must be symmetric: the pair where the analytic one is not, as a hint (and a reason
    when it is beyond the tolerance, which makes the verdict a failure)."""
    tol = 10 * max(first.rtol, 1e-12)
    if flat.matrix is not None:
        M = flat.matrix
        scale = max(float(np.abs(M).max()), np.finfo(float).tiny)
        worst, where = 0.0, None
        for i, a in enumerate(flat.blocks):
            for b in flat.blocks[i:]:
                d = float(np.abs(M[a.slice, b.slice] - M[b.slice, a.slice].T).max(initial=0.0)) / scale
                if d > worst:
                    worst, where = d, (a.name, b.name)
        if worst > tol:
            a, b = where
            text = (
                f"the Hessian given is not symmetric: H[{a}, {b}] differs from H[{b}, {a}]^T by {worst:.3g} of max |H| "
                f"(a transposed block, or one triangle filled?)"
            )
            return [f"hint: {text}"], [text]
        return [], []
    p = flat.point.reshape(-1)
    u, w = rng.standard_normal((2, p.size))
    left, right = float(w @ flat.hv(p, u)), float(u @ flat.hv(p, w))
    gap = abs(left - right) / max(abs(left), abs(right), np.finfo(float).tiny)
    if gap > tol:
        return [
            f"hint: the HVP is not symmetric: <w, H u> = {left:.10g} but <u, H w> = {right:.10g} (relative gap "
            f"{gap:.3g}) for random u, w: a transposed block, or a term of one triangle only?"
        ], []
    return [], []


def _combined(first, runs, flat, notes, hints, reasons) -> GradcheckResult:
    tables, directions = [], []
    reasons = list(reasons)
    for label, r in runs:
        t = r.table.copy()
        t["block"] = [f"H[{a}, {label}]" for a in t["block"]]
        tables.append(t)
        directions.append({"direction": label, "status": r.status, "max_rel_error": r.max_rel_error})
        for hint in r.hints:
            for a in (b.name for b in flat.blocks):
                hint = hint.replace(f"in {a} ", f"in H[{a}, {label}] ")
            hints.append(hint)
        reasons.extend(r.reasons)
    table = pd.concat(tables, ignore_index=True)
    statuses = {r.status for _, r in runs}
    if "failed" in statuses or reasons:  # reasons so far: an asymmetric Hessian, wrong whatever the products say
        status = "failed"
    elif "inconclusive" in statuses:
        status = "inconclusive"
    else:
        status = "passed"
    mode = runs[0][1].mode
    rel = [r.max_rel_error for _, r in runs if math.isfinite(r.max_rel_error)]
    absolute = [r.max_abs_error for _, r in runs if math.isfinite(r.max_abs_error)]
    norm = [r.norm_rel_error for _, r in runs if math.isfinite(r.norm_rel_error)]
    grads = sum(r.evaluations for _, r in runs)
    return replace(
        first,
        status=status,
        max_rel_error=max(rel, default=math.nan),
        max_abs_error=max(absolute, default=math.nan),
        norm_rel_error=max(norm, default=math.nan),
        table=table,
        numeric=None,
        rel_error=None,
        abs_error=None,
        unverified=None,
        taylor=None,
        directions=pd.DataFrame(directions),
        mode=mode,
        rtol=runs[0][1].rtol,
        atol=max(r.atol for _, r in runs),
        analytic_source=f"{first.analytic_source} then {flat.source}",
        reference=runs[0][1].reference,
        evaluations=first.evaluations + grads,
        notes=(
            *first.notes,
            *notes,
            f"{first.evaluations} evaluations of f for the gradient, {grads} of <v, g> (gradients) for the Hessian",
        ),
        hints=tuple(hints),
        reasons=tuple(reasons),
        order=2,
        first_order=first,
    )
