"""Difference schemes declared by their stencil: forward, central, Richardson, and yours.

A scheme estimates each partial derivative from a few evaluations along one coordinate,

    df/dx_i  ~=  sum_k w_k f(x + o_k h e_i) / (divisor * h),

and is declared by exactly that: the offsets ``o_k``, the weights ``w_k``, the divisor and
the order ``p`` of its truncation error.  Everything else follows from the stencil: the
evaluation count (an offset 0 is shared by all entries), the points gradcheck must look at
for kinks, the default step ``eps^(1/(p+1)) * max(1, |x_i|)``, and the error model

    truncation  |sum_k w_k o_k^(p+1)| / (divisor (p+1)!) * |f^(p+1)| * h^p,
    rounding    sum_k |w_k| / divisor * eps |f| / h.

(forward: 1/2 and 2; central: 1/6 and 1; Richardson: 1/480 and 3.)  Setting the
derivative of their sum to zero gives the best step ``h* ~ eps^(1/(p+1))`` and the best
error ``~ eps^(p/(p+1))``: 1.5e-8 and 6.1e-6 for forward and central in float64.

Every scheme perturbs one working copy of the point in place and restores each entry
after use (``O(n)`` memory, never a copy per entry), and divides by the displacement
actually represented in floating point, ``fl(x + o h) - x``, not the nominal one: where
rounding moved a node, the weights are re-derived for the nodes as they are (the
derivative of the interpolating polynomial through them), which removes the error of
rounding ``x + h`` from the quotient (Press et al.).

The work is a loop over entries, and entries are independent: :func:`node_values`
computes any contiguous range of them, so a scheduler can farm ranges out and get the
same bits back.  Where the objective can evaluate many points at once (``values(points)``:
the MLP, the layer networks) the kernel hands it the nodes of many entries per call
(``batch=``, :mod:`gradlab.backends.stencil`): the same nodes, the same count, O(K n) memory.

References
----------
W. H. Press et al., *Numerical Recipes*, 3rd ed., section 5.7.
B. Fornberg, "Generation of finite difference formulas on arbitrarily spaced grids",
Math. Comp. 51 (1988) 699-706.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from .. import _validate as v
from .. import parallel
from .._warnings import caller_level
from ..objective import Counted
from . import scale, stencil
from .base import (
    DEFAULT_TOLERANCES,
    ROUNDING_FACTOR,
    TRUNCATION_FACTOR,
    Backend,
    Estimate,
    GradientResult,
    Style,
    all_backends,
    h_power,
)


class StepTooSmallError(ValueError):
    """The step cannot be taken or resolved at some entry: ``x + h == x`` in floating point,
    or ``f`` returns the same value at every node where it must differ."""


class StepUnresolvedError(StepTooSmallError):
    """``x + h`` is representable, but ``f`` returns the same value at every node of an entry
    where, at the default step, it changes: the quotient would be a silent 0."""


class StepWarning(UserWarning):
    """The step actually taken differs from the one asked by more than 10%: ``h`` is near
    the floating-point spacing of ``x``."""


class StencilScaleWarning(StepWarning):
    """A default stencil spans more than ``f``'s own scale at some entry: its quotient there
    disagrees with one at an eighth of the step (see :mod:`gradlab.backends.scale`)."""


def _interpolatory_weights(nodes: np.ndarray) -> np.ndarray:
    """Weights ``c`` with ``sum_k c_k p(u_k) = p'(0)`` for every polynomial of degree < K,
    for each row of ``nodes`` (shape ``(r, K)``, distinct): solves ``sum_k c_k u_k^j = [j == 1]``."""
    r, K = nodes.shape
    powers = nodes[:, None, :] ** np.arange(K)[None, :, None]  # (r, K, K): row j holds u_k^j
    rhs = np.zeros((r, K))
    rhs[:, 1] = 1.0
    return np.linalg.solve(powers, rhs[..., None])[..., 0]


def _stencil(name: str, values: object) -> tuple[float, ...]:
    """A stencil's offsets or weights: a sequence of finite real numbers, as floats."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence | np.ndarray):
        raise v.fail(name, "a sequence of finite real numbers", values, TypeError)
    out = []
    for k, value in enumerate(values):
        out.append(v.finite_real(f"{name}[{k}]", value))
    return tuple(out)


def _tolerances(tolerances: object) -> dict[str, tuple[float, float]]:
    """``{"float64": (rtol, atol), "float32": (rtol, atol)}`` with non-negative finite entries."""
    if not isinstance(tolerances, Mapping):
        raise v.fail("tolerances", 'a dict {"float64": (rtol, atol), "float32": (rtol, atol)}', tolerances, TypeError)
    out = {}
    for key, pair in tolerances.items():
        v.choice("tolerances key", key, ("float64", "float32"))
        if isinstance(pair, str | bytes) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise v.fail(f"tolerances[{key!r}]", "a pair (rtol, atol)", pair, TypeError)
        rtol = v.nonnegative_float(f"tolerances[{key!r}] rtol", pair[0])
        atol = v.nonnegative_float(f"tolerances[{key!r}] atol", pair[1])
        out[key] = (rtol, atol)
    return out


class DifferenceScheme(Backend):
    """A finite-difference scheme declared by its stencil.

    Parameters
    ----------
    name : str
        Registry name.
    offsets, weights : sequence of float
        The stencil: ``df/dx_i ~= sum_k weights[k] f(x + offsets[k] h e_i) / (divisor h)``.
    divisor : float
        See above.
    order : int
        Order ``p`` of the truncation error ``O(h^p)``.
    tolerances : mapping, optional
        ``{"float64": (rtol, atol), "float32": (rtol, atol)}`` when used as a gradcheck
        reference: the slack allowed the analytic side beyond the scheme's own error
        bound, which gradcheck estimates from the stencil; by default 1e-6 and 1e-4.
    style : Style, optional
        Label, colour and marker in charts.

    Examples
    --------
    >>> import numpy as np, gradlab
    >>> central4 = gradlab.DifferenceScheme("central4", offsets=(-2, -1, 1, 2), weights=(1, -8, 8, -1),
    ...                                     divisor=12, order=4)
    >>> central4.evaluations(10)
    40
    >>> g = gradlab.differentiate(np.sin, 0.5, backend=central4).gradient   # or register it first
    >>> bool(abs(g - np.cos(0.5)) < 1e-12)
    True
    """

    kind = "difference"
    refinable = True
    jacobians = True  # every output of an array-valued f is combined like a scalar f's values

    def __init__(
        self,
        name: str,
        *,
        offsets: Sequence[float],
        weights: Sequence[float],
        divisor: float = 1.0,
        order: int,
        tolerances: Mapping[str, tuple[float, float]] | None = None,
        style: Style | None = None,
    ):
        if not isinstance(name, str) or not name:
            raise v.fail("name", "a non-empty string", name, TypeError)
        self.name = name
        self.offsets = _stencil("offsets", offsets)
        self.weights = _stencil("weights", weights)
        if len(self.offsets) != len(self.weights) or len(self.offsets) < 2:
            raise v.fail("weights", f"one weight per offset ({len(self.offsets)}), at least two", weights)
        if len(set(self.offsets)) != len(self.offsets):
            raise v.fail("offsets", "distinct numbers", offsets)
        self.divisor = v.positive_float("divisor", divisor)
        self.order = v.positive_int("order", order)
        o, w = np.array(self.offsets), np.array(self.weights) / self.divisor
        # consistency: sum w = 0 (constants vanish) and sum w o = 1 (the derivative itself)
        if abs(w.sum()) > 1e-12 * np.abs(w).sum() or abs(w @ o - 1) > 1e-12:
            raise ValueError(
                f"the stencil of {name!r} does not approximate a first derivative: "
                f"sum of weights/divisor = {w.sum():g} (must be 0), sum of weights*offsets/divisor = {w @ o:g} "
                f"(must be 1)"
            )
        # order p: the moments sum w o^j vanish for 2 <= j <= p
        for j in range(2, self.order + 1):
            if abs(w @ o**j) > 1e-9 * np.abs(w).sum() * np.abs(o).max() ** j:
                raise ValueError(f"the stencil of {name!r} is not of order {self.order}: its h^{j - 1} term remains")
        self._interpolatory = np.allclose(_interpolatory_weights(o[None, :])[0], w, rtol=1e-10, atol=1e-12)
        #: |sum w o^(p+1)| / (p+1)!: the truncation constant per |f^(p+1)|
        self.truncation_constant = float(abs(w @ o ** (self.order + 1)) / math.factorial(self.order + 1))
        #: sum |w|: the rounding constant per eps |f|
        self.rounding_constant = float(np.abs(w).sum())
        self.tolerances = DEFAULT_TOLERANCES if tolerances is None else _tolerances(tolerances)
        self.style = style

    # -- facts derived from the stencil ------------------------------------------------------

    def legend(self) -> str:
        return f"C_t·{h_power(self.order)} + C_r·ε/h"

    def error_terms(self, h, *, f0, grad, derivs, eps):
        k = self.order + 1
        if k not in derivs:
            return None
        h = np.asarray(h, dtype=np.float64)[:, None]
        trunc = self.truncation_constant * np.abs(np.asarray(derivs[k]))[None, :] * h**self.order
        rnd = np.broadcast_to(self.rounding_constant * abs(f0) * eps / h, trunc.shape)
        return trunc, rnd

    def __repr__(self) -> str:
        return (
            f"DifferenceScheme({self.name!r}, offsets={self.offsets}, weights={self.weights}, "
            f"divisor={self.divisor:g}, order={self.order})"
        )

    # -- computing ------------------------------------------------------------------------------

    def steps(self, x: np.ndarray, h: float | None) -> np.ndarray:
        """The nominal per-entry step (flat float64): ``h`` everywhere, or the default rule."""
        flat = x.reshape(-1)
        return self.default_step(flat) if h is None else np.full(flat.size, float(h))

    def compute(
        self, objective: Counted, x: np.ndarray, *, h: float | None, scheduler: object = None
    ) -> GradientResult:
        start = objective.evaluations
        result = self._gradient(objective, x, h, scheduler)
        # a default stencil that spans more than f's own scale (np.sin at 1e6, step 6.06) is warned of:
        # a few evaluations at the largest steps only, where they are 1e-2 or more (see scale.py); a
        # step of the caller's is the caller's choice (the accuracy sweep takes large ones on purpose)
        if h is None and result.gradient.shape == x.shape:
            reach = max(abs(o) for o in self.offsets)
            message = scale.look(objective, x, result.gradient.reshape(-1), result.step.reshape(-1), reach, self.name)
            if message is not None:
                warnings.warn(message, StencilScaleWarning, stacklevel=caller_level())
            spent = objective.evaluations - start
            result = replace(result, evaluations=spent, looks=spent - result.evaluations)
        return result

    def _gradient(self, objective: Counted, x: np.ndarray, h, scheduler, progress=None) -> GradientResult:
        start = objective.evaluations
        steps = self.steps(x, h)
        values, disp = all_node_values(objective, x, self.offsets, steps, scheduler, progress)
        out = values.shape[2:]  # the shape of f's values: () for a scalar f
        if out:  # an array-valued f: every output entry is a scalar function, combined at once
            n, K, m = values.shape[0], values.shape[1], math.prod(out)
            rows = values.reshape(n, K, m).transpose(0, 2, 1).reshape(n * m, K)
            g, err = self.combine(rows, np.repeat(disp, m, axis=0), np.repeat(steps, m), x.dtype)
            g, err = g.reshape(n, m), None if err is None else err.reshape(n, m)
        else:
            g, err = self.combine(values, disp, steps, x.dtype)
        _check_quotients(g, values, disp, steps, x, self, objective, h)
        return GradientResult(
            _entries_last(g.astype(x.dtype), out, x.shape),
            self.name,
            h,
            objective.evaluations - start,
            step=steps.reshape(x.shape),
            error=None if err is None else _entries_last(err, out, x.shape),
        )

    # -- as a gradcheck reference ------------------------------------------------------------

    def reference(self, objective, x, *, h, eps_f, noise, f0=None, scheduler=None, progress=None) -> Estimate:
        """The gradient with a rounding bound per entry, ``ROUNDING_FACTOR * sum |w| / divisor *
        (eps_f |f(x)| + noise) / h_i``, raised to the scheme's own error estimate (times a
        safety factor) where it has one.  Truncation is unknown from one step: a checker
        measures suspects again with :meth:`measure_entry`."""
        result = self._gradient(objective, x, h, scheduler, progress)
        values = result.gradient.astype(np.float64).reshape(-1)
        steps = np.asarray(result.step, dtype=np.float64).reshape(-1)
        f0 = abs(objective(x.copy()) if f0 is None else f0)
        rounding = ROUNDING_FACTOR * self.rounding_constant * (eps_f * max(f0, np.finfo(float).tiny) + noise) / steps
        bound = rounding
        if result.error is not None:
            bound = np.maximum(bound, TRUNCATION_FACTOR * result.error.reshape(-1).astype(np.float64))
        return Estimate(values, bound, steps, np.array(rounding), self)

    def measure_entry(self, objective, x, i, step, *, eps_f, noise) -> tuple[float, float]:
        """Entry ``i`` at ``step`` (its nodes only): the quotient, and ``ROUNDING_FACTOR * sum |w| /
        divisor * (eps_f max |f| + noise)``, the rounding bound times the step."""
        steps = np.zeros(x.size)
        steps[i] = step
        values, disp = node_values(objective, x, self.offsets, steps, i, i + 1)
        value = float(self.combine(values, disp, steps[i : i + 1], x.dtype)[0][0])
        # below the smallest normal number f's values lose digits absolutely (x*x at 1e-200 is 0):
        # the rounding of a value is never taken below eps_f * tiny, as in reference()
        size = max(float(np.abs(values).max()), float(np.finfo(float).tiny))
        return value, ROUNDING_FACTOR * self.rounding_constant * (eps_f * size + noise)

    def combine(
        self, values: np.ndarray, disp: np.ndarray, steps: np.ndarray, dtype: np.dtype
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The derivative of every entry from its node values ``(n, K)`` and the displacements
        actually taken ``(n, K)``; and an error estimate where the scheme has one."""
        return self._quotient(values, disp, steps), None

    def _quotient(self, values, disp, steps, cols=None) -> np.ndarray:
        """``sum_k w_k f_k / (divisor h)`` per entry with the declared weights where every node
        sits where it should; where rounding moved a node, ``sum_k c_k f_k / h`` with weights
        ``c`` re-derived for the nodes as they are.  ``cols`` picks a sub-stencil (one level of
        an extrapolation), whose weights are always derived from its nodes."""
        if cols is None:
            F, D = values, disp
            with np.errstate(over="ignore", invalid="ignore"):
                out = (F @ np.array(self.weights)) / (self.divisor * steps)
            moved = np.flatnonzero(~np.all(D == np.array(self.offsets) * steps[:, None], axis=1))
        else:
            F, D = values[:, list(cols)], disp[:, list(cols)]
            out, moved = np.empty(len(F)), np.arange(len(F))
        if moved.size and F.shape[1] == 2:  # two nodes: the secant through them, exactly
            with np.errstate(over="ignore", invalid="ignore"):
                out[moved] = (F[moved, 1] - F[moved, 0]) / (D[moved, 1] - D[moved, 0])
        elif moved.size:
            u = D[moved] / steps[moved, None]
            if self._interpolatory or cols is not None:
                c = _interpolatory_weights(u)
            else:  # not interpolatory: keep the declared weights, rescaled by the step represented
                scale = np.abs(u).sum(axis=1) / np.abs(self.offsets).sum()
                c = np.array(self.weights)[None, :] / (self.divisor * scale[:, None])
            with np.errstate(over="ignore", invalid="ignore"):
                out[moved] = np.einsum("ik,ik->i", c, F[moved]) / steps[moved]
        return out


def schemes() -> list[str]:
    """The registered backends declared by a stencil (:class:`DifferenceScheme`), in registration order:
    those whose truncation and rounding constants :mod:`gradlab.theory` reads."""
    return [b.name for b in all_backends() if isinstance(b, DifferenceScheme)]


def _entries_last(per_entry: np.ndarray, out: tuple[int, ...], shape: tuple[int, ...]) -> np.ndarray:
    """Per-entry results ``(n,)`` (or ``(n, m)`` for ``m`` outputs of shape ``out``) laid out as
    a gradient, ``shape``, or a Jacobian, ``out + shape``."""
    return per_entry.reshape(shape) if not out else per_entry.T.reshape(out + shape)


def all_node_values(
    objective: Counted,
    x: np.ndarray,
    offsets: Sequence[float],
    steps: np.ndarray,
    scheduler: object = None,
    progress: object = None,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`node_values` for every entry, serially or in chunks on ``scheduler`` (the same bits).

    In chunks, the caller checks every displacement first (so errors and warnings name
    the same entry as a serial run, and reach the caller) and evaluates an offset-0
    node once, on a copy of ``x`` laid out as the serial run's working copy.
    """
    scheduler = parallel.current(scheduler)
    if scheduler is None:
        return node_values(objective, x, offsets, steps, progress=progress)
    _checked_nodes(x, offsets, steps, 0, steps.size)
    f0 = objective(x.copy()) if 0 in offsets else None
    moving = sum(1 for o in offsets if o != 0)
    return parallel.map_entries(
        node_values, objective, x, steps, per_entry=moving, scheduler=scheduler, progress=progress,
        batch=max(1, stencil.batch_size(objective, x) // max(1, moving)),  # chunks on the kernel's batches
        offsets=offsets, f0=f0, checked=True,
    )  # fmt: skip


def _checked_nodes(x, offsets, steps, start, stop) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~gradlab.backends.stencil.nodes`, with every displacement checked (an error or
    a :class:`StepWarning` naming the entry)."""
    points, disp = stencil.nodes(x, offsets, steps, start, stop)
    o = np.asarray(offsets, dtype=np.float64)
    _check_displacements(disp, o, steps[start:stop], x.reshape(-1), np.arange(start, stop), x.dtype)
    return points, disp


def node_values(
    objective: Counted,
    x: np.ndarray,
    offsets: Sequence[float],
    steps: np.ndarray,
    start: int = 0,
    stop: int | None = None,
    f0: object = None,
    *,
    checked: bool = False,
    progress: object = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``f`` at ``x + o_k h_i e_i`` for entries ``start <= i < stop`` and every offset.

    Returns ``values`` (float64, shape ``(stop - start, K)``, plus the output's shape for an
    array-valued ``f``) and the displacements actually represented ``disp`` (float64,
    ``(stop - start, K)``).  An offset 0 is evaluated once (or taken from ``f0``).  The
    evaluations are :func:`gradlab.backends.stencil.node_values`' (a private copy of ``x``,
    which ``f`` receives read-only); entries are independent, so any split of the range
    gives the same bits.  ``checked``: the caller has already checked the displacements
    (see :func:`all_node_values`); ``progress``: a progress bar (tqdm) updated per slice of entries.
    """
    stop = x.size if stop is None else stop
    if checked:
        points, disp = stencil.nodes(x, offsets, steps, start, stop)
    else:
        points, disp = _checked_nodes(x, offsets, steps, start, stop)
    values = stencil.node_values(objective, x, offsets, points, start, stop, f0, progress=progress)
    return values, disp


def _check_displacements(disp, o, steps, flat, idx, dtype) -> None:
    nominal = o[None, :] * steps[:, None]
    moving = o != 0
    bad = ~np.isfinite(disp[:, moving])
    if bad.any():
        r = int(np.argwhere(bad)[0][0])
        i = int(idx[r])
        raise ValueError(
            f"`h` = {steps[r]:g} takes x out of {np.dtype(dtype).name} range at index {i} (x = {float(flat[i]):g}): "
            f"x + h overflows; use a smaller h"
        )
    zero = (disp == 0) & moving[None, :]
    if zero.any():
        r = int(np.argwhere(zero)[0][0])
        i = int(idx[r])
        eps = float(np.finfo(dtype).eps)
        spacing = float(np.spacing(np.abs(flat[i])))
        raise StepTooSmallError(
            f"`h` = {steps[r]:g} is below the floating-point spacing of x at index {i} "
            f"(x = {float(flat[i]):g}, spacing {spacing:.3g} in {np.dtype(dtype).name}): x + h == x, so the "
            f"difference quotient is 0/0; use h of at least {spacing:.3g} (best near "
            f"{eps**0.5:.1g} forward, {eps ** (1 / 3):.1g} central)"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.where(moving[None, :], disp / nominal - 1, 0.0)
    if np.any(np.abs(change) > 0.1):
        r, k = (int(a) for a in np.unravel_index(int(np.argmax(np.abs(change))), change.shape))
        i = int(idx[r])
        warnings.warn(
            f"the step at index {i} is within a few units of the floating-point spacing of x there "
            f"(x = {float(flat[i]):g}, spacing {float(np.spacing(np.abs(flat[i]))):.3g} in "
            f"{np.dtype(dtype).name}): rounding changed it by {float(change[r, k]):+.0%}; the quotient divides "
            f"by the step actually taken, but rounding error dominates at such steps",
            StepWarning,
            stacklevel=caller_level(),
        )


def _check_quotients(g, values, disp, steps, x, scheme, objective, h) -> None:
    """No silent wrong number: a non-finite quotient, or a step ``f`` cannot resolve, is an error."""
    flat = x.reshape(-1)
    bad = np.argwhere(~np.isfinite(g))
    if bad.size:
        i = int(bad[0][0])  # the entry (for an array-valued f, its first overflowing output)
        shown = values[i]
        if g.ndim > 1:
            shown = shown[(slice(None), *np.unravel_index(int(bad[0][1]), values.shape[2:]))]
        raise ValueError(
            f"the {scheme.name} difference quotient at index {i} is {g[tuple(bad[0])]} (f values {shown.tolist()} "
            f"over a step of {steps[i]:g}): the quotient overflows; use a larger h or rescale f"
        )
    if h is None:
        return
    # f(x + o h) identical at every node: either f does not depend on x_i, or the step is
    # below what f resolves (exp at 0 with h = 1e-300).  Tell them apart at the default step.
    # (For an array-valued f: every output identical at every node.)
    same = tuple(range(1, values.ndim))
    flatline = np.flatnonzero(np.all(values == values[:, :1], axis=same))
    if not flatline.size:
        return
    default = scheme.default_step(flat)
    for i in flatline[steps[flatline] < default[flatline]].tolist():
        probe, _ = node_values(objective, x, scheme.offsets, default, i, i + 1)
        if not np.all(probe == probe[:, :1]):
            raise StepUnresolvedError(
                f"`h` = {steps[i]:g} is too small for f to resolve at index {i} (x = {float(flat[i]):g}): f takes "
                f"the same value at every point of the stencil, although it changes at the default step "
                f"{default[i]:.3g}; the quotient would be a silent 0: use a larger h"
            )


class Richardson(DifferenceScheme):
    """Richardson extrapolation of a symmetric order-2 scheme from steps ``h`` and ``h/2``.

    With ``D(h) = f' + c h^2 + O(h^4)``, ``(r^2 D(h/r) - D(h)) / (r^2 - 1)`` cancels the
    ``h^2`` term, leaving ``O(h^4)``; with central differences and ``r = 2`` it is the
    4-point stencil ``(f(x-h) - 8 f(x-h/2) + 8 f(x+h/2) - f(x+h)) / 6h``.  The two levels
    also give an error estimate per entry, ``|D(h/2) - D(h)| / (r^2 - 1)`` (the size of the
    correction, which bounds the extrapolated error where truncation dominates), plus the
    rounding error ``3 eps |f| / h``.
    """

    def __init__(self, name: str = "richardson", *, base: DifferenceScheme | None = None, ratio: float = 2.0, **kw):
        base = CENTRAL if base is None else base
        if base.order != 2 or sorted(base.offsets) != sorted(-o for o in base.offsets):
            raise v.fail("base", "a symmetric difference scheme of order 2", base)
        r = v.positive_float("ratio", ratio)
        coarse, fine = base.offsets, tuple(o / r for o in base.offsets)
        w = np.array(base.weights) / base.divisor
        offsets = (*coarse, *fine)
        weights = (*(-w / (r * r - 1)), *(r * r * (w * r) / (r * r - 1)))  # in units of 1/h
        self.base, self.ratio, self._levels = base, r, (range(len(coarse)), range(len(coarse), len(offsets)))
        super().__init__(name, offsets=offsets, weights=weights, divisor=1.0, order=4, **kw)

    def combine(self, values, disp, steps, dtype):
        coarse, fine = self._levels
        d1 = self._quotient(values, disp, steps, coarse)
        d2 = self._quotient(values, disp, steps, fine)
        # the ratio of the spans actually taken (r up to rounding) cancels the h^2 term exactly
        span1 = np.ptp(disp[:, list(coarse)], axis=1)
        span2 = np.ptp(disp[:, list(fine)], axis=1)
        same = np.flatnonzero(span1 == span2)
        if same.size:
            i = int(same[0])
            raise StepTooSmallError(
                f"`h` = {steps[i]:g} is at the floating-point spacing of x at index {i} ({np.dtype(dtype).name}): "
                f"h and h/2 round to the same step, so Richardson extrapolation has nothing to combine; use a larger h"
            )
        r2 = (span1 / span2) ** 2
        g = (r2 * d2 - d1) / (r2 - 1)
        eps = float(np.finfo(dtype).eps)
        rounding = self.rounding_constant * eps * np.abs(values).max(axis=1) / steps
        return g, np.abs(d2 - d1) / (r2 - 1) + rounding


FORWARD = DifferenceScheme(
    "forward",
    offsets=(0, 1),
    weights=(-1, 1),
    order=1,
    style=Style("forward", "#d95f02", "o"),
)
CENTRAL = DifferenceScheme(
    "central",
    offsets=(-1, 1),
    weights=(-1, 1),
    divisor=2,
    order=2,
    style=Style("central", "#1b9e77", "s"),
)
RICHARDSON = Richardson(
    style=Style("richardson", "#1f78b4", "p"),
)
