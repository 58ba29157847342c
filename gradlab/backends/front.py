"""The public entry points :func:`gradient` and :func:`differentiate`."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .. import _validate as v
from ..objective import Counted
from ..structure import prepare
from .base import Backend, GradientResult, get


def resolve(backend: object) -> Backend:
    """A backend object from a registry name (or the object itself)."""
    return backend if isinstance(backend, Backend) else get(backend)


def differentiate(
    f: object, x: object, *, backend: str | Backend = "central", h: float | None = None
) -> GradientResult:
    """The gradient of ``f`` at ``x`` with what it cost and did: a :class:`GradientResult`.

    Same arguments as :func:`gradlab.gradient`, which returns only the array.  The result
    also carries ``evaluations``, ``backward_passes``, the per-entry ``step`` and, where
    the scheme gives one, a per-entry ``error`` estimate.

    For a structured ``x`` (a dict, list or tuple of arrays, see :mod:`gradlab.structure`)
    the gradient has the structure of ``x``, each leaf in its own array library, dtype and
    device; ``step`` and ``error`` have the same structure with float64 numpy leaves.
    """
    impl = resolve(backend)
    h = None if h is None else v.positive_float("h", h)
    structured = prepare(f, x)
    if structured is not None:  # a dict, list or tuple of arrays: the same call on its flat vector
        result = impl.compute(Counted(structured.objective), structured.point, h=h)
        s = structured.structure
        return replace(
            result,
            gradient=s.unflatten(result.gradient),
            step=None if result.step is None else s.unflatten(result.step, native=False),
            error=None if result.error is None else s.unflatten(result.error, native=False),
        )
    objective = Counted(f)
    point = objective.point(x)
    return impl.compute(objective, point, h=h)


def gradient(f: object, x: object, *, backend: str | Backend = "central", h: float | None = None) -> np.ndarray:
    """The gradient of a scalar function ``f`` at ``x``.

    Parameters
    ----------
    f : callable or objective
        ``f(x) -> float``.  Any callable works with the difference backends;
        ``"backprop"`` needs an objective with an analytic gradient (``net.objective(X, Y)``).
    x : array_like or structure
        The point; float64 unless given as float32.  Never modified.  A dict, list or
        tuple of arrays (numpy or any array-API library), nested as you like, is passed
        to ``f`` as it is (a tuple as positional arguments, ``f(*x)``), and the gradient
        comes back with the same structure (see :mod:`gradlab.structure`).
    backend : str or Backend
        A name from :func:`gradlab.backends`: ``"forward"``, ``"central"``, ``"backprop"``, ...
    h : float, optional
        Absolute step.  The default scales with each entry:
        ``sqrt(eps) * max(1, |x_i|)`` forward, ``cbrt(eps) * max(1, |x_i|)`` central,
        where ``eps`` is the machine epsilon of ``x``'s precision.

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
    return differentiate(f, x, backend=backend, h=h).gradient
