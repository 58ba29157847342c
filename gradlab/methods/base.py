"""The one interface every gradient backend implements, and the registry of backends.

A backend is an object with a ``name`` and one method,
``compute(objective, x, *, h) -> GradientResult``.  Backends live in one dict
keyed by name; :func:`register` adds one, :func:`get` looks one up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from .. import _validate as v
from ..objective import Objective


@dataclass(frozen=True)
class GradientResult:
    """What one gradient cost and returned.

    Attributes
    ----------
    gradient : numpy.ndarray
        The estimate, shaped like the point, in its precision.
    backend : str
        Registry name of the backend that produced it.
    h : float or None
        The step asked for (``None``: the backend's default rule, or no step at all).
    evaluations : int
        Objective evaluations (forward passes) it cost: ``n + 1`` for forward
        differences, ``2 n`` for central differences, 1 for backprop.
    backward_passes : int
        Backward (reverse-mode) passes it cost: 1 for backprop, 0 otherwise.
    """

    gradient: np.ndarray = field(repr=False)
    backend: str
    h: float | None
    evaluations: int
    backward_passes: int = 0


@runtime_checkable
class Backend(Protocol):
    """The contract of a gradient backend."""

    name: str

    def compute(self, objective: Objective, x: np.ndarray, *, h: float | None) -> GradientResult:
        """The gradient of ``objective`` at ``x``.

        ``x`` is validated but may be the caller's array: a backend that perturbs
        it works on a copy of its own;
        ``h`` is a validated positive step or ``None`` for the backend's default.
        """
        ...


_REGISTRY: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    """Add ``backend`` to the registry under ``backend.name`` (replacing one of that name)."""
    if not isinstance(backend, Backend):
        raise v.fail("backend", "an object with `name` and `compute(objective, x, *, h)`", backend, TypeError)
    _REGISTRY[backend.name] = backend
    return backend


def get(name: str) -> Backend:
    """The registered backend called ``name``."""
    return _REGISTRY[v.choice("backend", name, _REGISTRY)]


def names() -> list[str]:
    """Names of the registered backends, in registration order."""
    return list(_REGISTRY)


def differentiate(f: object, x: object, *, backend: str = "central", h: float | None = None) -> GradientResult:
    """The gradient of ``f`` at ``x`` with its cost: a :class:`GradientResult`.

    Same arguments as :func:`gradlab.gradient`, which returns only the array.
    """
    impl = get(backend)
    h = None if h is None else v.positive_float("h", h)
    objective = Objective(f)
    point = objective.point(x)
    return impl.compute(objective, point, h=h)


def gradient(f: object, x: object, *, backend: str = "central", h: float | None = None) -> np.ndarray:
    """The gradient of a scalar function ``f`` at ``x``.

    Parameters
    ----------
    f : callable or MLPObjective
        ``f(x) -> float``.  Any callable works with the finite-difference
        backends; ``"backprop"`` needs an MLP objective (``net.objective(X, Y)``).
    x : array_like
        The point; float64 unless given as float32.  Never modified.
    backend : str
        A name from :func:`gradlab.backends`: ``"forward"``, ``"central"``, ``"backprop"``, ...
    h : float, optional
        Absolute finite-difference step.  The default scales with each entry:
        ``sqrt(eps) * max(1, |x_i|)`` forward, ``cbrt(eps) * max(1, |x_i|)`` central,
        where ``eps`` is the machine epsilon of ``x``'s precision.

    Returns
    -------
    numpy.ndarray
        Shaped like ``x``.

    Examples
    --------
    >>> import numpy as np, gradlab
    >>> g = gradlab.gradient(lambda x: np.sum(x ** 2), np.array([1.0, -2.0]))
    >>> np.round(g, 6)
    array([ 2., -4.])
    """
    return differentiate(f, x, backend=backend, h=h).gradient
