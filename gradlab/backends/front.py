"""The public entry points :func:`gradient` and :func:`differentiate`."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from .. import _validate as v
from .. import parallel
from ..objective import Counted, Objective, check_batch
from ..structure import prepare, to_numpy
from .base import Backend, GradientResult, all_backends, get
from .dual import Dual


def resolve(backend: object) -> Backend:
    """A backend object from a registry name (or the object itself)."""
    return backend if isinstance(backend, Backend) else get(backend)


def _scheduled(impl: Backend, scheduler: object) -> dict:
    """The keyword that hands ``scheduler`` to ``impl.compute`` (none for the serial default)."""
    kw = {} if scheduler is None else {"scheduler": parallel.check("scheduler", scheduler)}
    if kw and "scheduler" not in inspect.signature(impl.compute).parameters:
        raise ValueError(f"`scheduler` is not taken by backend {impl.name!r} (its compute runs in-process only)")
    return kw


def differentiate(
    f: object,
    x: object,
    *,
    backend: str | Backend = "central",
    h: float | None = None,
    scheduler: object = None,
    batch: str | int = "auto",
) -> GradientResult:
    """The gradient of ``f`` at ``x`` with what it cost and did: a :class:`GradientResult`.

    Same arguments as :func:`gradlab.gradient`, which returns only the array.  The result
    also carries ``evaluations``, ``backward_passes``, the per-entry ``step`` and, where
    the scheme gives one, a per-entry ``error`` estimate.

    For a structured ``x`` (a dict, list or tuple of arrays, see :mod:`gradlab.structure`)
    or a bare array-API array the gradient has the structure of ``x``, each leaf in its own
    array library, dtype and device; ``step`` and ``error`` have the same structure with
    numpy leaves.
    """
    impl = resolve(backend)
    h = None if h is None else v.positive_float("h", h)
    batch = check_batch(batch)
    kw = _scheduled(impl, scheduler)
    structured = prepare(f, x)
    if structured is not None:  # a dict, list or tuple of arrays: the same call on its flat vector
        result = impl.compute(Counted(structured.objective, batch=batch), structured.point, h=h, **kw)
        s = structured.structure
        return replace(
            result,
            gradient=s.unflatten(result.gradient),
            step=None if result.step is None else s.unflatten(result.step, native=False),
            error=None if result.error is None else s.unflatten(result.error, native=False),
        )
    objective = Counted(f, batch=batch)
    point = objective.point(x)
    return impl.compute(objective, point, h=h, **kw)


def gradient(
    f: object,
    x: object,
    *,
    backend: str | Backend = "central",
    h: float | None = None,
    scheduler: object = None,
    batch: str | int = "auto",
) -> np.ndarray:
    """The gradient of a scalar function ``f`` at ``x``.

    Parameters
    ----------
    f : callable or objective
        ``f(x) -> float``.  Any callable works with the difference backends;
        ``"backprop"`` needs an objective with an analytic gradient (``net.objective(X, Y)``).
    x : array_like or structure
        The point; float64 unless given as float32 (float16 is refused: its differences
        are rounding noise).  Never modified.  A dict, list or tuple of arrays (numpy or
        any array-API library), nested as you like, is passed to ``f`` as it is (a tuple
        as positional arguments, ``f(*x)``), and the gradient comes back with the same
        structure (see :mod:`gradlab.structure`).  A bare array-API array (a torch
        tensor, a jax or array-api-strict array) is one such leaf: ``f`` receives that
        kind of array, on its device, and the gradient comes back as one.
    backend : str or Backend
        A name from :func:`gradlab.backends`: ``"forward"``, ``"central"``, ``"backprop"``, ...
    h : float, optional
        Absolute step.  The default scales with each entry:
        ``sqrt(eps) * max(1, |x_i|)`` forward, ``cbrt(eps) * max(1, |x_i|)`` central,
        where ``eps`` is the machine epsilon of ``x``'s precision.
    scheduler : None, str or dask.distributed.Client
        Where the entries are evaluated: ``None`` (default) serially in this process,
        or, with dask installed, ``"threads"``, ``"processes"``, a ``Client`` or a
        scheduler address (see :mod:`gradlab.parallel`, and :func:`gradlab.parallel.use`
        to set it for a whole block).  The result is the same to the last bit.
    batch : "auto" or int
        How many perturbed points one call of ``f`` may take, where ``f`` can evaluate many
        at once (an objective with ``values(points)``: the MLP and the layer networks).
        ``"auto"`` (default): as many as fit a memory budget (:data:`gradlab.backends.stencil.BATCH_BYTES`);
        an integer ``K``: at most ``K``; ``1``: the textbook loop, one point per call.  The
        count of evaluations is the same either way (``K`` points are ``K`` evaluations), and so
        is the result, bitwise or within rounding (see :mod:`gradlab.backends.stencil`).  A plain
        callable is always evaluated one point at a time.

    Returns
    -------
    numpy.ndarray or structure
        Shaped like ``x`` (a structure like ``x`` for a structured ``x``).

    Examples
    --------
    >>> import numpy as np, gradlab
    >>> g = gradlab.gradient(lambda x: np.sum(x ** 2), np.array([1.0, -2.0]))
    >>> np.round(g, 6)
    array([ 2., -4.])
    """
    return differentiate(f, x, backend=backend, h=h, scheduler=scheduler, batch=batch).gradient


def jacobian(
    f: Callable,
    x: object,
    *,
    backend: str | Backend = "central",
    h: float | None = None,
    scheduler: object = None,
    batch: str | int = "auto",
) -> object:
    """The Jacobian of an array-valued ``f`` at ``x`` by finite differences (or the complex step, or
    forward-mode AD: ``backend="forward_ad"``, exact, ``n`` JVPs).

    Parameters
    ----------
    f : callable or objective
        ``f(x) -> array`` of a fixed shape (numpy or any array-API library), or an objective
        whose ``value`` returns such arrays and that has ``values(points)`` (then batched).
    x : array_like or structure
        The point, never modified; a dict, list or tuple of arrays as in
        :func:`gradient` (a tuple is passed as positional arguments, ``f(*x)``).
    backend : str or Backend
        One that differentiates array-valued functions (:attr:`Backend.jacobians`): a
        difference scheme (``"forward"``, ``"central"``, ``"richardson"``, one you
        registered), ``"complex_step"`` or ``"forward_ad"`` (dual numbers: ``f`` written with numpy
        functions that have a rule in :mod:`gradlab.backends.dual`).
    h, scheduler, batch
        As for :func:`gradient` (a plain callable ``f`` is evaluated one point at a time; a
        structure's objective is too, unless it implements ``values``).

    Returns
    -------
    numpy.ndarray or structure
        For an array ``x``: shape ``f(x).shape + x.shape``, ``J[..., j] = d f[...] / d x[j]``.
        For a structure: the structure of ``x`` whose leaf for ``x_k`` is
        ``d f / d x_k``, of shape ``f(x).shape + x_k.shape`` (a numpy array for a scalar leaf,
        the leaf's own array library otherwise).

    Notes
    -----
    The Jacobian is the gradient's computation on an ``f`` whose values are arrays: each
    node ``x + o_k h_i e_i`` of the stencil is evaluated once and the whole output combined
    with the scheme's weights, ``J[:, i] ~= sum_k w_k f(x + o_k h_i e_i) / (divisor h_i)``, so it
    costs ``backend.evaluations(n)`` evaluations, exactly what one gradient of ``n`` entries
    costs, however many outputs ``f`` has.  It keeps every safeguard of :func:`gradient`:
    the step warning and errors, the scheduler, and for the complex step the refusal of an
    ``f`` that returns real values for complex input, the real cross-check along a random
    direction (each output judged on its own) and the rescue of entries whose ``h f'``
    underflowed (each output rescued as its own gradient would be).

    Examples
    --------
    >>> import numpy as np, gradlab
    >>> def affine(x, w, b):
    ...     return x @ w + b
    >>> rng = np.random.default_rng(0)
    >>> x, w, b = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2)
    >>> gradlab.jacobian(affine, (x, w, b))[2].shape        # d out / d b: out.shape + b.shape
    (4, 2, 2)
    """
    impl = resolve(backend)
    if not impl.jacobians:
        able = ", ".join(repr(b.name) for b in all_backends() if b.jacobians)
        raise TypeError(
            f"`backend` must be one that differentiates an array-valued f for a Jacobian ({able}); got "
            f"{impl.name!r}, which differentiates scalar functions only"
        )
    h = None if h is None else v.positive_float("h", h)
    batch = check_batch(batch)
    kw = _scheduled(impl, scheduler)
    structured = prepare(f, x)
    if structured is None and isinstance(f, Objective) and getattr(f, "values", None) is not None:
        # an objective that evaluates many points at once: its values(points) batches the Jacobian
        counted = Counted(f, vector=True, batch=batch)
        point = counted.point(x)
    elif structured is None:
        if not callable(f):
            raise v.fail("f", "a callable f(x) -> array", f, TypeError)
        counted = Counted(functools.partial(_on_host, f), vector=True, batch=batch)
        point = counted.point(x)
    else:
        counted, point = Counted(structured.objective, vector=True, batch=batch), structured.point
    J = impl.compute(counted, point, h=h, **kw).gradient  # f(x).shape + point.shape
    return J if structured is None else structured.structure.unflatten(J)


def _on_host(f: Callable, x: np.ndarray) -> np.ndarray:
    """``f(x)`` as a numpy array (an array-API value brought to the host): what :class:`Counted` checks;
    a dual number of forward mode (``x`` itself dual) comes back as it is, its tangent kept."""
    y = f(x)
    return y if isinstance(y, Dual) else to_numpy(y)
