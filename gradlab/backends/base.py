"""The one interface every gradient backend implements, its result, and the open registry.

A backend is one object that owns every fact about itself -- what it is (``kind``,
``order``), what it costs (:meth:`Backend.evaluations`), where it evaluates
(:attr:`Backend.offsets`, its stencil in units of the step), its default step, its
tolerances when used as a gradcheck reference, its error model and how to draw it --
so that gradcheck, the sweeps, the figures, the command line, training and the
benchmarks ask the registry instead of keeping lists of their own.

Backends live in one dict keyed by name.  :func:`register` adds one from Python;
installed packages add theirs under the entry-point group ``gradlab.backends`` (each
entry point names a backend object), loaded the first time the registry is read.
"""

from __future__ import annotations

import abc
import warnings
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .. import _validate as v
from ..objective import Counted

KINDS = ("difference", "complex", "analytic")

#: (rtol, atol) by precision: the slack a gradcheck allows the *analytic* side beyond the
#: reference's own error bound (gradlab.check.reference), which carries the scheme's error.
DEFAULT_TOLERANCES = {"float64": (1e-6, 1e-9), "float32": (1e-4, 1e-7)}

#: colours and markers handed to backends that do not choose their own
_PALETTE = ("#e6ab02", "#66a61e", "#a6761d", "#e7298a", "#17becf", "#8c564b", "#bcbd22")
_MARKERS = ("P", "X", "*", "d", "<", ">", "v")


@dataclass(frozen=True)
class Style:
    """How a backend is drawn and named in charts, tables and legends."""

    label: str
    color: str
    marker: str


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
    step : numpy.ndarray or None
        The step actually used for each entry (float64, shaped like the point);
        ``None`` for a backend without steps.
    error : numpy.ndarray or None
        An estimate of the absolute error of each entry, where the scheme gives one
        (Richardson: from its two levels; ``adaptive``: from its extrapolation table).
    """

    gradient: np.ndarray = field(repr=False)
    backend: str
    h: float | None
    evaluations: int
    backward_passes: int = 0
    step: np.ndarray | None = field(default=None, repr=False)
    error: np.ndarray | None = field(default=None, repr=False)


class Backend(abc.ABC):
    """The contract of a gradient backend.

    Subclasses set the class attributes and implement :meth:`compute`; difference
    schemes implement it once, in :class:`~gradlab.backends.difference.DifferenceScheme`.
    """

    #: registry name
    name: str
    #: "difference" (real evaluations at x + o h e_i), "complex" (complex evaluations)
    #: or "analytic" (the objective's own gradient)
    kind: str
    #: order p of the truncation error h^p (None for analytic backends)
    order: int | None = None
    #: points evaluated for entry i, as multiples of the step h (0 is x itself)
    offsets: tuple[float, ...] = ()
    #: precision -> (rtol, atol) when this backend is a gradcheck reference
    tolerances: Mapping[str, tuple[float, float]] = DEFAULT_TOLERANCES
    #: None: a colour, marker and label are chosen from the name
    style: Style | None = None
    #: True: :meth:`evaluations` is the count of a gradient at the default step (exceptions a
    #: backend documents, such as the complex step's entries measured again, aside); False: an
    #: upper bound that a run may stay under (a backend that adapts its work to ``f``, such as
    #: ``adaptive``).  ``GradientResult.evaluations`` is always the count of the run.
    evaluations_exact: bool = True

    @abc.abstractmethod
    def compute(self, objective: Counted, x: np.ndarray, *, h: float | None) -> GradientResult:
        """The gradient of ``objective`` at ``x``.

        ``x`` is validated but may be the caller's array: a backend that perturbs it
        works on a copy of its own.  ``h`` is a validated positive step or ``None``
        for the backend's default rule.  A backend whose work can be split over entries
        may also take a keyword ``scheduler`` (see :mod:`gradlab.parallel`); the
        built-in ones do, and :func:`gradlab.differentiate` passes it only to backends
        that declare it.
        """

    def evaluations(self, n: int) -> int:
        """Objective evaluations of one gradient of ``n`` entries: exact, or an upper bound
        where :attr:`evaluations_exact` is False."""
        nonzero = sum(1 for o in self.offsets if o != 0)
        return n * nonzero + (1 if 0 in self.offsets else 0)

    def default_step(self, x: np.ndarray) -> np.ndarray | None:
        """The per-entry step used when none is given (``None`` for backends without steps)."""
        if self.order is None:
            return None
        eps = np.finfo(x.dtype).eps
        return eps ** (1.0 / (self.order + 1)) * np.maximum(1.0, np.abs(x.astype(np.float64)))

    def error_terms(
        self, h: np.ndarray, *, f0: float, grad: np.ndarray, derivs: Mapping[int, np.ndarray], eps: float
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The error model: per-step, per-coordinate ``(truncation, rounding)`` error.

        ``h`` has shape ``(s,)``; ``derivs[k]`` the k-th derivative along each coordinate,
        ``grad`` the first.  Returns two arrays of shape ``(s, n)``, or ``None`` when the
        backend has no model (or needs a derivative ``derivs`` lacks).
        """
        return None

    def tolerance(self, dtype: str) -> tuple[float, float]:
        """``(rtol, atol)`` as a gradcheck reference in precision ``dtype``."""
        return self.tolerances.get(dtype, DEFAULT_TOLERANCES.get(dtype, DEFAULT_TOLERANCES["float64"]))

    @property
    def drawn(self) -> Style:
        """The backend's :class:`Style`, its own or one derived from its name."""
        if self.style is not None:
            return self.style
        k = zlib.crc32(self.name.encode())
        return Style(self.name, _PALETTE[k % len(_PALETTE)], _MARKERS[k % len(_MARKERS)])

    @property
    def has_step(self) -> bool:
        """Whether the backend takes a step ``h`` (and so belongs on an accuracy-against-h chart)."""
        return self.kind != "analytic"

    def __repr__(self) -> str:
        return f"<backend {self.name!r}: {self.kind}, order {self.order}>"


# -- the registry ------------------------------------------------------------------------------

_REGISTRY: dict[str, Backend] = {}
_PLUGINS_LOADED = False
ENTRY_POINT_GROUP = "gradlab.backends"


def _check(backend: object) -> Backend:
    if not isinstance(backend, Backend):
        raise v.fail("backend", "a gradlab.Backend (e.g. a gradlab.DifferenceScheme)", backend, TypeError)
    if not isinstance(getattr(backend, "name", None), str) or not backend.name.isidentifier():
        raise v.fail("backend.name", "an identifier such as 'central4'", getattr(backend, "name", None))
    v.choice("backend.kind", backend.kind, KINDS)
    return backend


def register(backend: Backend) -> Backend:
    """Add ``backend`` to the registry under ``backend.name`` (replacing one of that name).

    It then appears everywhere backends are listed: gradcheck references, sweeps,
    charts, the command line and the benchmarks.  Returns the backend.
    """
    _check(backend)
    _REGISTRY[backend.name] = backend
    return backend


def unregister(name: str) -> Backend:
    """Remove and return the backend called ``name``."""
    return _REGISTRY.pop(v.choice("backend", name, _registry()))


def _load_plugins() -> None:
    """Register the backends that installed packages declare under ``gradlab.backends``."""
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            if isinstance(obj, type) and issubclass(obj, Backend):
                obj = obj()
            if ep.name in _REGISTRY:
                continue  # a built-in, or one registered in Python, wins over a plugin of the same name
            register(obj)
        except Exception as exc:  # a broken plugin must not break gradlab
            warnings.warn(f"gradlab: backend entry point {ep.name!r} ({ep.value}) failed to load: {exc}", stacklevel=2)


def _registry() -> dict[str, Backend]:
    _load_plugins()
    return _REGISTRY


def get(name: str) -> Backend:
    """The registered backend called ``name``."""
    registry = _registry()
    return registry[v.choice("backend", name, registry)]


def names(*, kind: str | tuple[str, ...] | None = None) -> list[str]:
    """Names of the registered backends, in registration order (optionally of some ``kind``s)."""
    kinds = KINDS if kind is None else (kind,) if isinstance(kind, str) else tuple(kind)
    return [n for n, b in _registry().items() if b.kind in kinds]


def references() -> list[str]:
    """Backends that can serve as a gradcheck reference: every one that takes a step."""
    return [n for n, b in _registry().items() if b.has_step]


def all_backends() -> list[Backend]:
    """The registered backend objects, in registration order."""
    return list(_registry().values())
