"""Second order: the Hessian and Hessian-vector products, by differences or exactly.

Three ways to a Hessian, in falling cost (``n`` entries):

- **second differences of f** (no gradient at all).  A difference scheme ``D_h`` of order
  ``p`` applied along ``e_i`` and then along ``e_j``,

      H_ij ~= D_h,i D_h,j f = sum_k sum_l w_k w_l f(x + o_k h_i e_i + o_l h_j e_j) / (d^2 h_i h_j),

  its tensor-product stencil.  For central differences the diagonal is
  ``(f(x + 2h) - 2 f(x) + f(x - 2h)) / 4h^2`` and a mixed entry
  ``(f(++) - f(+-) - f(-+) + f(--)) / 4 h_i h_j``: ``1 + 2n + 2n(n - 1)`` evaluations
  (:func:`second_difference_evaluations` gives every scheme's exact count), ``O(n^2)``
  evaluations of ``f``, each ``O(n)`` or more: ``O(n^3)`` work.
- **differences of a gradient** (``grad=``, or an objective's own backprop): the Jacobian of
  the gradient by the scheme, column ``j`` from ``g(x + o_k h_j e_j)``: ``2n`` gradients for
  central differences, ``O(n^2)`` work.  The complex step works too when ``grad`` takes
  complex input (backprop does): ``n`` gradients, exact to rounding.
- **exact Hessian-vector products** (``backend="backprop"`` on an objective with an ``hvp``,
  such as the MLP's R-operator): ``n`` HVPs, column ``j`` is ``H e_j``, exact to rounding.

A Hessian by second differences is symmetric by construction (one estimate per pair); the
others are symmetrised, ``(A + A^T) / 2``, and ``asymmetry`` says how far ``A`` was from it
(relative to ``max |A|``): near rounding for a correct gradient, large for a wrong one.

Error model of second differences
---------------------------------
Applying ``D_h = d/dx + c h^p d^(p+1)/dx^(p+1) + ...`` twice gives
``d^2/dx^2 + 2 c h^p d^(p+2)/dx^(p+2)``, so on the diagonal

    truncation  2 c |f^(p+2)| h^p          (central: h^2 |f''''| / 3),
    rounding    C_r eps |f| / h^2          (C_r = sum |weights of the merged stencil|; central: 1),

and the best step balances them: ``h* = (2 C_r eps |f| / (p 2c |f^(p+2)|))^(1/(p+2))``, about
``eps^(1/4)`` for central differences (1.2e-4 in float64, 2.4e-2 in float32), with a best
error about ``eps^(1/2)``: second differences lose half the digits, where first ones lose a
third.  The default step is ``eps^(1/(p+2)) max(1, |x_i|)``, each step rounded so that
``x_i + h_i`` is exact (``h_i = fl(x_i + h) - x_i``).  Richardson gives an ``error`` per
entry: the difference of its two central levels, ``|H(h/2) - H(h)| / (r^2 - 1)`` (which bounds
the truncation error where it dominates), plus the rounding bound
``eps sum |w_k w_l| |f_kl| / (d^2 h_i h_j)``; the other schemes give none.

Differences along ``v``
-----------------------
:func:`hvp` differentiates the gradient along ``v``: ``H v ~= sum_k w_k g(x + o_k t v) / (d t)``,
two gradients for central differences, whatever ``n``, with ``t`` chosen so that the largest
entry moves by the scheme's first-order step ``eps^(1/(p+1)) max(1, max|x|)``.  Without any
gradient, the gradients at those points are themselves differences of ``f`` (``2 x 2n``
evaluations, central), both steps at ``eps^(1/(p+2))``.

References
----------
J. Nocedal and S. J. Wright, *Numerical Optimization*, 2nd ed., section 8.1 (finite-difference
Hessians and Hessian-vector products).
B. A. Pearlmutter, "Fast exact multiplication by the Hessian", Neural Computation 6 (1994).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .. import _validate as valid
from ..objective import Block, Counted
from ..structure import Structure, flat_function, prepare, to_numpy
from . import stencil
from .base import Backend
from .difference import DifferenceScheme, Richardson, _checked_nodes
from .front import resolve

#: what each way to a Hessian is called in results and tables
METHODS = {
    "f": "second differences of f",
    "gradient": "differences of the gradient",
    "hvp": "exact Hessian-vector products",
}


@dataclass(frozen=True)
class HessianResult:
    """A Hessian and what it cost.

    Array-like: ``np.asarray(result)``, ``result.shape`` and ``result[i, j]`` read
    :attr:`hessian`.

    Attributes
    ----------
    hessian : numpy.ndarray
        Shape ``x.shape + x.shape`` for an array ``x``; ``(n, n)`` over the flat vector for a
        structure (:attr:`structure` names its blocks; :meth:`block` cuts one out).  Symmetric.
    backend : str
        The backend that differentiated (or ``"backprop"`` for exact HVPs).
    method : str
        ``"f"``, ``"gradient"`` or ``"hvp"`` (see :data:`METHODS`).
    h : float or None
        The step asked for (``None``: the default rule, or no step).
    evaluations, gradient_evaluations, hvp_evaluations : int
        Exact counts of ``f`` values, gradients and Hessian-vector products it cost.
    step : numpy.ndarray or None
        The step used per entry (float64, shaped like ``x``; flat for a structure).
    error : numpy.ndarray or None
        An estimate of each entry's absolute error where the scheme gives one (Richardson: the
        difference of its two levels plus the rounding bound, for second differences of ``f``
        and for differences of a gradient alike), shaped like ``hessian``; ``None`` otherwise.
    asymmetry : float
        ``max |A - A^T| / max |A|`` of the estimate ``A`` before symmetrising; 0 for second
        differences of ``f``, which give one number per pair.
    structure : Structure or None
        For a structured ``x``: the blocks' names and layout.
    blocks : tuple of Block
        The named blocks of the flat vector (``W1, b1, ...``; one block ``x`` for an array).
    """

    hessian: np.ndarray = field(repr=False)
    backend: str
    method: str
    h: float | None
    evaluations: int
    gradient_evaluations: int = 0
    hvp_evaluations: int = 0
    step: np.ndarray | None = field(default=None, repr=False)
    error: np.ndarray | None = field(default=None, repr=False)
    asymmetry: float = 0.0
    structure: Structure | None = field(default=None, repr=False)
    blocks: tuple[Block, ...] = field(default=(), repr=False)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.hessian.shape

    def __array__(self, dtype=None, copy=None):
        return self.hessian if dtype is None else self.hessian.astype(dtype)

    def __getitem__(self, key):
        return self.hessian[key]

    @property
    def flat(self) -> np.ndarray:
        """The Hessian over the flat vector, ``(n, n)``."""
        n = int(math.isqrt(self.hessian.size))
        return self.hessian.reshape(n, n)

    def block(self, row: str, col: str) -> np.ndarray:
        """The block ``d^2 f / d row d col`` (e.g. ``block("W1", "b2")``), of shape
        ``row.shape + col.shape``."""
        names = {b.name: b for b in self.blocks}
        a = names[valid.choice("row", row, names)]
        b = names[valid.choice("col", col, names)]
        return self.flat[a.slice, b.slice].reshape(a.shape + b.shape)

    @property
    def pairs(self) -> list[str]:
        """The block pairs' names, ``"W1 × b2"``, row-major over the upper triangle."""
        return [f"{a.name} × {b.name}" for i, a in enumerate(self.blocks) for b in self.blocks[i:]]


@dataclass(frozen=True)
class HVPResult:
    """A Hessian-vector product and what it cost.

    Attributes
    ----------
    hvp : numpy.ndarray or structure
        ``H v``, shaped like ``x`` (a structure like ``x`` for a structure).
    backend, h, evaluations, gradient_evaluations, hvp_evaluations
        As for :class:`HessianResult`.
    step : float or None
        How far the differences moved ``x`` along ``v``: ``t max |v|`` (``None``: exact).
    method : str
        ``"f"``, ``"gradient"`` or ``"hvp"``.
    """

    hvp: object = field(repr=False)
    backend: str
    method: str
    h: float | None
    evaluations: int
    gradient_evaluations: int = 0
    hvp_evaluations: int = 0
    step: float | None = None


# -- counts and the error model -------------------------------------------------------------------------


def _single_offsets(offsets: tuple[float, ...]) -> list[float]:
    """The points on one axis a second difference needs: ``o_k + o_l`` (the diagonal) and, where the
    stencil holds 0, ``o_k`` itself (a mixed entry with one of its offsets 0)."""
    out = {a + b for a in offsets for b in offsets}
    if 0 in offsets:
        out |= set(offsets)
    return sorted(out)


def second_difference_evaluations(scheme: DifferenceScheme, n: int) -> int:
    """Evaluations of ``f`` for a Hessian of ``n`` entries by second differences of ``scheme`` (exact).

    ``[f(x)] + n (distinct nonzero o_k + o_l, and o_k where 0 is an offset) + n(n-1)/2 K'^2`` with
    ``K'`` the nonzero offsets: ``1 + 2n + 2n(n-1)`` central, ``1 + 2n + n(n-1)/2`` forward.
    """
    singles = _single_offsets(scheme.offsets)
    nonzero = sum(1 for o in scheme.offsets if o != 0)
    return (1 if 0 in singles else 0) + n * sum(1 for s in singles if s != 0) + n * (n - 1) // 2 * nonzero**2


def second_difference_constants(scheme: DifferenceScheme) -> tuple[int, float, float]:
    """``(p, C_t, C_r)`` of the diagonal second difference of ``scheme``: its error is about
    ``C_t |f^(p+2)| h^p + C_r eps |f| / h^2`` (central: ``(2, 1/3, 1)``)."""
    w = np.array(scheme.weights) / scheme.divisor
    merged: dict[float, float] = {}
    for a, wa in zip(scheme.offsets, w):
        for b, wb in zip(scheme.offsets, w):
            merged[a + b] = merged.get(a + b, 0.0) + wa * wb
    if isinstance(scheme, Richardson):
        # the extrapolated stencil's truncation is not twice the first-order one: read it off the
        # merged stencil's moments, sum c_s s^(p+2) / (p+2)! (its lower moments vanish)
        p = scheme.order
        ct = abs(sum(c * s ** (p + 2) for s, c in merged.items())) / math.factorial(p + 2)
    else:
        p = scheme.order
        ct = 2.0 * scheme.truncation_constant
    return p, float(ct), float(sum(abs(c) for c in merged.values()))


def best_second_step(scheme: DifferenceScheme, *, f: float, fourth: float, eps: float) -> float:
    """The step minimising the diagonal error model of :func:`second_difference_constants`, for
    ``|f| = f`` and ``|f^(p+2)| = fourth``: ``(2 C_r eps |f| / (p C_t |f^(p+2)|))^(1/(p+2))``."""
    p, ct, cr = second_difference_constants(scheme)
    return float((2.0 * cr * eps * abs(f) / (p * ct * abs(fourth))) ** (1.0 / (p + 2)))


def default_second_step(scheme: DifferenceScheme, x: np.ndarray) -> np.ndarray:
    """``eps^(1/(p+2)) max(1, |x_i|)``: the balance of truncation ``h^p`` and rounding ``eps/h^2``."""
    eps = float(np.finfo(x.dtype).eps)
    return eps ** (1.0 / (scheme.order + 2)) * np.maximum(1.0, np.abs(x.reshape(-1).astype(np.float64)))


# -- the public entry points -------------------------------------------------------------------------------


def _setup(f, x, grad):
    """``(objective, counted f, flat point or array point, gradient function or None, structure)``."""
    structured = prepare(f, x)
    if structured is not None:
        objective, point, structure = structured.objective, structured.point, structured.structure
        gfun = None
        if grad is not None:
            if not callable(grad):
                raise valid.fail("grad", "a callable grad(x) -> gradient structured like x", grad, TypeError)
            gfun = flat_function(grad, structure, "grad(x)")
        return objective, Counted(objective), point, gfun, structure
    counted = Counted(f)
    point = counted.point(x)
    objective = counted.objective
    if grad is None:
        gfun = getattr(objective, "gradient", None)
    elif not callable(grad):
        raise valid.fail("grad", "a callable grad(x) -> array shaped like x", grad, TypeError)
    else:
        gfun = _array_gradient(grad, point)
    return objective, counted, point, gfun, None


def _array_gradient(grad: Callable, point: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """``grad`` checked: an array shaped like ``x`` (the caller's point never handed over: a copy)."""

    def g(p: np.ndarray) -> np.ndarray:
        out = to_numpy(grad(p.copy()))
        if out.shape != point.shape:
            raise ValueError(f"`grad(x)` must return an array of shape {point.shape} like x; got {out.shape}")
        return out

    g.__name__ = getattr(grad, "__name__", "grad")
    return g


def _as_step(h: object) -> float | None:
    return None if h is None else valid.positive_float("h", h)


def hessian(
    f: object, x: object, *, backend: str | Backend = "central", grad: object = None, h: float | None = None
) -> HessianResult:
    """The Hessian of a scalar ``f`` at ``x``: by second differences of ``f``, by differences of a
    gradient, or from exact Hessian-vector products.

    Parameters
    ----------
    f : callable or objective
        ``f(x) -> float``; an MLP objective (``net.objective(X, Y)``) brings its backprop
        gradient and its exact ``hvp``.
    x : array_like or structure
        The point, never modified; a dict, list or tuple of arrays as in :func:`gradlab.gradient`.
    backend : str or Backend
        A difference scheme (``"central"``, ``"forward"``, ``"richardson"``, yours): second
        differences of ``f``, or differences of the gradient when there is one;
        ``"complex_step"``: the complex step of the gradient (``grad`` must take complex input);
        ``"backprop"``: ``n`` exact HVPs of an objective that has ``hvp``.
    grad : callable, optional
        ``grad(x)``, the gradient of ``f`` (called like ``f``; for a structure it returns the
        structure).  Default: the objective's own (backprop for an MLP), or none: second
        differences of ``f``.
    h : float, optional
        Absolute step; default ``eps^(1/(p+2)) max(1, |x_i|)`` for second differences of ``f``
        and the scheme's first-order rule for differences of a gradient.

    Returns
    -------
    HessianResult
        ``.hessian`` of shape ``x.shape + x.shape`` (``(n, n)`` with ``.structure`` for a
        structure), the counts, the step, per-entry error estimates and the asymmetry.

    Examples
    --------
    >>> import numpy as np, gradlab
    >>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
    >>> H = gradlab.hessian(lambda x: 0.5 * x @ A @ x, np.array([0.3, -0.7]))
    >>> bool(np.allclose(H, A, atol=1e-7)), H.evaluations           # 1 + 2n + 2n(n-1)
    (True, 9)
    >>> r = gradlab.hessian(lambda x: 0.5 * x @ A @ x, np.zeros(2), grad=lambda x: A @ x)
    >>> r.gradient_evaluations, r.evaluations                        # 2n gradients, no f
    (4, 0)
    """
    impl = resolve(backend)
    h = _as_step(h)
    objective, counted, point, gfun, structure = _setup(f, x, grad)
    blocks = tuple(objective.blocks(point))
    n = point.size
    if impl.kind == "analytic":
        exact = getattr(objective, "hvp", None)
        if exact is None:
            raise TypeError(
                f"`backend` {impl.name!r} builds the Hessian from the objective's exact hvp, and {objective!r} has "
                f"none: use a difference backend ('central'), with grad= if you have the gradient"
            )
        flat = point.reshape(-1)
        E = np.eye(n, dtype=point.dtype)
        A = np.stack([np.asarray(exact(flat, E[j])) for j in range(n)], axis=1)  # column j = H e_j
        H, asym = _symmetrised(A)
        return _result(H, None, point, structure, blocks, impl.name, "hvp", h, 0, 0, n, None, asym)
    if gfun is not None:
        if not impl.jacobians:
            raise TypeError(
                f"`backend` {impl.name!r} cannot differentiate a gradient (a vector); use a difference scheme "
                f"or 'complex_step'"
            )
        g_counted = Counted(gfun, vector=True)
        r = impl.compute(g_counted, point, h=h)
        A = np.asarray(r.gradient, dtype=np.float64).reshape(n, n)  # A[i, j] = d g_i / d x_j
        H, asym = _symmetrised(A)
        err = None if r.error is None else np.asarray(r.error, dtype=np.float64).reshape(n, n)
        if err is not None:
            err = 0.5 * (err + err.T)
        step = None if r.step is None else np.asarray(r.step, dtype=np.float64).reshape(-1)
        return _result(
            H, err, point, structure, blocks, impl.name, "gradient", h, 0, g_counted.evaluations, 0, step, asym
        )
    if not isinstance(impl, DifferenceScheme):
        raise TypeError(
            f"`backend` {impl.name!r} gives no second derivatives of f alone (it is not a difference scheme): "
            f"pass grad= to differentiate a gradient, or use 'central', 'forward' or 'richardson'"
        )
    H, err, steps = second_differences(impl, counted, point, h)
    return _result(H, err, point, structure, blocks, impl.name, "f", h, counted.evaluations, 0, 0, steps, 0.0)


def _symmetrised(A: np.ndarray) -> tuple[np.ndarray, float]:
    scale = float(np.abs(A).max())
    asym = float(np.abs(A - A.T).max()) / scale if scale > 0 else 0.0
    return 0.5 * (A + A.T), asym


def _result(H, err, point, structure, blocks, backend, method, h, evals, grads, hvps, step, asym) -> HessianResult:
    shape = point.shape * 2 if structure is None else H.shape
    return HessianResult(
        H.astype(point.dtype, copy=False).reshape(shape),
        backend,
        method,
        h,
        int(evals),
        int(grads),
        int(hvps),
        None if step is None else (step.reshape(point.shape) if structure is None else step),
        None if err is None else err.reshape(shape),
        asym,
        structure,
        blocks,
    )


def second_differences(
    scheme: DifferenceScheme, counted: Counted, x: np.ndarray, h: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(H, error, steps)`` by the tensor-product stencil of ``scheme`` (see the module docstring).

    ``H`` and ``error`` are ``(n, n)`` float64 (``error`` is ``None`` but for Richardson),
    ``steps`` the per-entry steps ``(n,)``.  Every
    evaluation goes through ``counted`` on a private copy of ``x`` (two entries moved at a time,
    restored after each call).  Memory: ``H`` itself, and ``O(n K^2)`` node values for one row.
    """
    flat = x.reshape(-1)
    n = flat.size
    x64 = flat.astype(np.float64)
    nominal = default_second_step(scheme, x) if h is None else np.full(n, h)
    with np.errstate(over="ignore", invalid="ignore"):
        steps = (x64 + nominal).astype(x.dtype).astype(np.float64) - x64  # x_i + h_i exact
    steps = np.where(steps > 0, steps, nominal)  # a step below the spacing: the checks below say so
    o = np.array(scheme.offsets)
    w = np.array(scheme.weights) / scheme.divisor
    K = o.size
    singles = _single_offsets(scheme.offsets)
    col = {s: c for c, s in enumerate(singles)}
    _checked_nodes(x, [s for s in singles if s != 0] or [1.0], steps, 0, n)  # errors and warnings name the entry
    points, _ = stencil.nodes(x, singles, steps)
    S = stencil.node_values(counted, x, singles, points)  # (n, |singles|)
    f0 = S[0, col[0]] if 0 in col else None

    # F[i][j, k, l] = f(x + o_k h_i e_i + o_l h_j e_j), one row i at a time
    nz = [k for k in range(K) if o[k] != 0]
    nodes1 = (x64[:, None] + o[None, :] * steps[:, None]).astype(x.dtype)  # (n, K): the rounded nodes
    levels = _levels(scheme, w)
    eps = float(np.finfo(x.dtype).eps)
    H = np.empty((n, n))
    E = np.empty((n, n))
    diag = S[:, [col[a + b] for a in o for b in o]].reshape(n, K, K)
    H[np.arange(n), np.arange(n)], E[np.arange(n), np.arange(n)] = _combine(diag, w, levels, eps, steps * steps)
    work = stencil.Working(x)
    wf = work.flat
    for i in range(n - 1):
        m = n - i - 1
        F = np.empty((m, K, K))
        for k in range(K):
            for l in range(K):
                if o[k] == 0 and o[l] == 0:
                    F[:, k, l] = f0
                elif o[k] == 0:
                    F[:, k, l] = S[i + 1 :, col[o[l]]]
                elif o[l] == 0:
                    F[:, k, l] = S[i, col[o[k]]]
        xi = wf[i]
        try:
            for k in nz:
                wf[i] = nodes1[i, k]
                for jj, j in enumerate(range(i + 1, n)):
                    xj = wf[j]
                    try:
                        for l in nz:
                            wf[j] = nodes1[j, l]
                            F[jj, k, l] = counted(work.point, (i, o[k], j, o[l]))
                    finally:
                        wf[j] = xj
        finally:
            wf[i] = xi
        row, err = _combine(F, w, levels, eps, steps[i] * steps[i + 1 :])
        H[i, i + 1 :] = H[i + 1 :, i] = row
        E[i, i + 1 :] = E[i + 1 :, i] = err
    return H, (E if levels is not None else None), steps


def _levels(scheme: DifferenceScheme, w: np.ndarray):
    """For Richardson: the weights of its coarse and fine central levels over the full stencil,
    and ``r^2 - 1``; ``None`` for other schemes."""
    if not isinstance(scheme, Richardson):
        return None
    coarse, fine = scheme._levels
    base = np.array(scheme.base.weights) / scheme.base.divisor
    wc, wf = np.zeros_like(w), np.zeros_like(w)
    wc[list(coarse)] = base
    wf[list(fine)] = base * scheme.ratio  # the fine level's step is h / r
    return wc, wf, scheme.ratio**2 - 1


def _combine(F: np.ndarray, w: np.ndarray, levels, eps: float, hh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sum_kl w_k w_l F_kl / (h_i h_j)`` per pair, and its error estimate (rounding bound, plus
    the levels' difference for Richardson)."""
    H = np.einsum("jkl,k,l->j", F, w, w) / hh
    aw = np.abs(w)
    err = eps * np.einsum("jkl,k,l->j", np.abs(F), aw, aw) / hh
    if levels is not None:
        wc, wf, r2m1 = levels
        coarse = np.einsum("jkl,k,l->j", F, wc, wc) / hh
        fine = np.einsum("jkl,k,l->j", F, wf, wf) / hh
        err = err + np.abs(fine - coarse) / r2m1
    return H, err


def hvp(
    f: object,
    x: object,
    v: object,
    *,
    backend: str | Backend = "central",
    grad: object = None,
    h: float | None = None,
) -> HVPResult:
    """The Hessian-vector product ``H v`` of a scalar ``f`` at ``x``: differences of the gradient
    along ``v``, or the objective's exact ``hvp``.

    Parameters
    ----------
    f, x, grad
        As for :func:`hessian`.
    v : array_like or structure
        The direction, shaped like ``x`` (a structure like ``x``).  Never modified.
    backend : str or Backend
        A difference scheme: ``sum_k w_k g(x + o_k t v) / (d t)`` (2 gradients for central);
        ``"complex_step"``: ``Im g(x + i t v) / t`` (``grad`` must take complex input; one
        gradient, exact to rounding); ``"backprop"``: the objective's own exact ``hvp``.
    h : float, optional
        How far the largest entry moves along ``v`` (``t max |v|``); default: the scheme's
        first-order step ``eps^(1/(p+1)) max(1, max |x|)``, or ``eps^(1/(p+2))`` where the
        gradients are themselves differences of ``f``.

    Returns
    -------
    HVPResult
        ``.hvp`` shaped like ``x``, with the counts and the step.

    Examples
    --------
    >>> import numpy as np, gradlab
    >>> A = np.array([[2.0, 1.0], [1.0, 3.0]])
    >>> r = gradlab.hvp(lambda x: 0.5 * x @ A @ x, np.array([1.0, 2.0]), np.array([1.0, 0.0]),
    ...                 grad=lambda x: A @ x)
    >>> np.round(r.hvp, 8).tolist(), r.gradient_evaluations
    ([2.0, 1.0], 2)
    """
    impl = resolve(backend)
    h = _as_step(h)
    objective, counted, point, gfun, structure = _setup(f, x, grad)
    direction = _direction(v, point, structure)
    if impl.kind == "analytic":
        exact = getattr(objective, "hvp", None)
        if exact is None:
            raise TypeError(
                f"`backend` {impl.name!r} needs an objective with an exact hvp (an MLP objective); {objective!r} "
                f"has none: use a difference backend ('central'), with grad= if you have the gradient"
            )
        hv = np.asarray(exact(point.reshape(-1), direction.astype(point.dtype)), dtype=np.float64)
        return _hvp_result(hv, point, structure, impl.name, "hvp", h, 0, 0, 1, None)
    scale = float(np.abs(direction).max())
    if scale == 0:  # H 0 = 0 exactly: nothing to evaluate
        return _hvp_result(np.zeros(point.size), point, structure, impl.name, "none", h, 0, 0, 0, 0.0)
    eps = float(np.finfo(point.dtype).eps)
    xmax = max(1.0, float(np.abs(point).max()))
    if gfun is not None:
        g = Counted(gfun, vector=True)
        if impl.kind == "complex":
            t = (1e-20 * xmax if h is None else h) / scale
            hv = g.complex(stencil.along(point, direction, 1j * t)).reshape(-1).imag / t
            return _hvp_result(hv, point, structure, impl.name, "gradient", h, 0, g.evaluations, 0, t * scale)
        if not isinstance(impl, DifferenceScheme):
            raise TypeError(f"`backend` {impl.name!r} cannot differentiate a gradient along v; use a difference scheme")
        t = (eps ** (1.0 / (impl.order + 1)) * xmax if h is None else h) / scale
        hv = _along(impl, lambda p: g(p).reshape(-1), point, direction, t)
        return _hvp_result(hv, point, structure, impl.name, "gradient", h, 0, g.evaluations, 0, t * scale)
    if not isinstance(impl, DifferenceScheme):
        raise TypeError(
            f"`backend` {impl.name!r} gives no Hessian-vector product of f alone: pass grad=, or use a difference "
            f"scheme ('central')"
        )
    inner = eps ** (1.0 / (impl.order + 2)) * xmax
    t = (inner if h is None else h) / scale

    def numeric_gradient(p):
        return np.asarray(impl.compute(counted, p, h=inner).gradient, dtype=np.float64).reshape(-1)

    hv = _along(impl, numeric_gradient, point, direction, t)
    return _hvp_result(hv, point, structure, impl.name, "f", h, counted.evaluations, 0, 0, t * scale)


def _along(scheme: DifferenceScheme, g: Callable, point: np.ndarray, direction: np.ndarray, t: float) -> np.ndarray:
    """``sum_k w_k g(x + o_k t v) / (divisor t)``."""
    total = np.zeros(point.size)
    for o, w in zip(scheme.offsets, scheme.weights):
        total += w * g(point.copy() if o == 0 else stencil.along(point, direction, o * t))
    return total / (scheme.divisor * t)


def _direction(direction: object, point: np.ndarray, structure: Structure | None) -> np.ndarray:
    """``v`` as a flat float64 vector laid out like the point; an error names what is wrong."""
    if structure is not None:
        return structure.flatten_like(direction, "v").astype(np.float64)
    arr = valid.real_array("v", direction, np.float64)
    if arr.shape != point.shape:
        raise valid.fail("v", f"an array of shape {point.shape} like x", arr)
    return arr.reshape(-1)


def _hvp_result(hv, point, structure, backend, method, h, evals, grads, hvps, step) -> HVPResult:
    hv = np.asarray(hv, dtype=np.float64).astype(point.dtype, copy=False)
    shaped = structure.unflatten(hv) if structure is not None else hv.reshape(point.shape)
    return HVPResult(shaped, backend, method, h, int(evals), int(grads), int(hvps), step)
