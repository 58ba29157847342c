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
import math
import warnings
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .. import _validate as v
from ..objective import Counted

#: the kinds of the built-in backends; a new backend may name its own (an identifier), since
#: every behaviour that differs between kinds is a method or attribute the backend overrides
KINDS = ("difference", "complex", "analytic")

#: (rtol, atol) by precision: the slack a gradcheck allows the *analytic* side beyond the
#: reference's own error bound (:meth:`Backend.reference`), which carries the scheme's error.
DEFAULT_TOLERANCES = {"float64": (1e-6, 1e-9), "float32": (1e-4, 1e-7)}

#: safety factors on a reference's estimates of its own rounding and truncation error
ROUNDING_FACTOR = 4.0
TRUNCATION_FACTOR = 2.0

#: colours and markers handed to backends (and other series) that do not choose their own;
#: none of them is a built-in backend's colour, so a derived style never poses as one
PALETTE = ("#e6ab02", "#66a61e", "#a6761d", "#17becf", "#8c564b", "#bcbd22")
MARKERS = ("P", "X", "*", "d", "<", ">", "v")

_SUPERSCRIPTS = {1: "", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸"}


def h_power(order: int) -> str:
    """``h`` to the power ``order`` as a legend prints it: "h", "h²", ..., "h^12"."""
    return "h" + _SUPERSCRIPTS.get(order, f"^{order}")


@dataclass(frozen=True)
class Style:
    """How a backend is drawn and named in charts, tables and legends."""

    label: str
    color: str
    marker: str

    @classmethod
    def derived(cls, name: str, marker: str | None = None) -> Style:
        """A style for ``name`` from a hash of it (the same in every run): a colour of
        :data:`PALETTE`, and ``marker`` or one of :data:`MARKERS`."""
        k = zlib.crc32(name.encode())
        return cls(name, PALETTE[k % len(PALETTE)], MARKERS[k % len(MARKERS)] if marker is None else marker)


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
    jvps : int
        Jacobian-vector products (forward-mode passes of one tangent each) it cost: ``n`` for
        ``forward_ad``, 0 otherwise.
    looks : int
        Of ``evaluations``, those a fixed-step scheme spent looking at ``f``'s scale where its
        default step is large (at most 7, and 0 wherever every step is below 1e-2; see
        :mod:`gradlab.backends.scale`): ``evaluations - looks`` is the scheme's own count.
    """

    gradient: np.ndarray = field(repr=False)
    backend: str
    h: float | None
    evaluations: int
    backward_passes: int = 0
    step: np.ndarray | None = field(default=None, repr=False)
    error: np.ndarray | None = field(default=None, repr=False)
    jvps: int = 0
    looks: int = 0


@dataclass(frozen=True)
class Estimate:
    """A gradient measured as a gradcheck reference: each entry with a bound on its own error.

    All arrays are flat float64.  ``rounding`` is the part of ``bound`` that is ``f``'s
    rounding divided by the step (0 where the backend does not split its bound);
    ``steps`` the step of each entry (0 where none was taken).  ``backend`` is the one
    that measured, which may not be the one asked (the complex step hands over to central
    differences where ``f`` cannot take complex input); ``notes`` say why.
    """

    values: np.ndarray = field(repr=False)
    bound: np.ndarray = field(repr=False)
    steps: np.ndarray = field(repr=False)
    rounding: np.ndarray = field(repr=False)
    backend: Backend
    notes: tuple[str, ...] = ()


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
    #: whether :meth:`measure_entry` measures one entry again at a step of the caller's choice:
    #: a gradcheck then confirms a failure at finer steps before it counts (a difference
    #: quotient's truncation is unknown from one step)
    refinable: bool = False
    #: whether it takes a step ``h``: a gradcheck reference, a series of the accuracy sweep
    has_step: bool = True
    #: whether it chooses its own step per entry (``h`` is at most a pilot): one mark on the
    #: accuracy chart where it lands, not a curve over the grid of steps
    own_steps: bool = False
    #: whether :meth:`compute` also differentiates an array-valued ``f`` (a ``Counted`` in vector
    #: mode), returning its Jacobian, shape ``out + x.shape``: what :func:`gradlab.jacobian` needs
    jacobians: bool = False
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

    def jvps(self, n: int) -> int:
        """Jacobian-vector products (forward-mode tangents) of one gradient of ``n`` entries: the
        cost unit of forward-mode AD beside evaluations and backward passes; 0 for the others."""
        return 0

    @property
    def is_reference(self) -> bool:
        """Whether it may serve as a gradcheck reference (``gradcheck(..., reference=name)``): every
        backend that takes a step, and an exact one without a step that says so (forward-mode AD)."""
        return self.has_step

    @property
    def per_entry(self) -> bool:
        """Whether one gradient costs a pass per entry, so that its time grows as ``N^2`` on the
        cost ladder (the sweeps stop it at a smaller ``N``): every backend that takes a step,
        and forward-mode AD."""
        return self.has_step

    def default_step(self, x: np.ndarray, *, eps: float | None = None) -> np.ndarray | None:
        """The per-entry step used when none is given: ``eps^(1/(p+1)) * max(1, |x_i|)``, which
        balances truncation ``~ h^p`` against rounding ``~ eps / h`` (``None`` for backends
        without steps).  ``eps`` is the precision ``f`` computes in; default: ``x``'s."""
        if self.order is None:
            return None
        eps = np.finfo(x.dtype).eps if eps is None else eps
        return eps ** (1.0 / (self.order + 1)) * np.maximum(1.0, np.abs(x.astype(np.float64)))

    # -- as a gradcheck reference ----------------------------------------------------------------

    def reference(
        self,
        objective: Counted,
        x: np.ndarray,
        *,
        h: float | None,
        eps_f: float,
        noise: float,
        f0: float | None = None,
        scheduler: object = None,
        progress: object = None,
    ) -> Estimate:
        """This backend's gradient as a gradcheck reference, each entry with a bound on its error.

        ``eps_f`` is the precision ``f`` computes in and ``noise`` the absolute noise of its
        values (both measured by the checker); ``f0 = f(x)`` where known; ``progress`` a
        progress bar to update, where the backend has a loop to update it from.  This default
        trusts the backend's own error estimate (times a safety factor, plus ``noise``) and,
        without one, bounds nothing: its declared tolerance is all a check has.
        """
        result = self.compute(objective, x, h=h, **({} if scheduler is None else {"scheduler": scheduler}))
        values = _flat64(result.gradient)
        steps = np.zeros(values.size) if result.step is None else _flat64(result.step)
        if result.error is None:
            bound = np.zeros(values.size)
        else:
            bound = TRUNCATION_FACTOR * _flat64(result.error) + noise
        return Estimate(values, bound, steps, np.zeros(values.size), self)

    def measure_entry(
        self, objective: Counted, x: np.ndarray, i: int, step: float, *, eps_f: float, noise: float
    ) -> tuple[float, float]:
        """Entry ``i`` measured again at ``step``: ``(value, rounding * step)``, the rounding bound
        times the step so that a caller can state it at either step of a pair.  Only for a
        :attr:`refinable` backend."""
        raise NotImplementedError(f"backend {self.name!r} does not measure single entries at a chosen step")

    def recheck(
        self, objective: Counted, x: np.ndarray, values: np.ndarray, steps: np.ndarray, entries: np.ndarray
    ) -> np.ndarray | None:
        """For failing ``entries`` of an estimate ``values`` at ``steps``: a lower bound on each
        one's error bound, measured again; ``None`` where the backend has nothing to add."""
        return None

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
        return self.style if self.style is not None else Style.derived(self.name)

    def evaluations_formula(self) -> str:
        """:meth:`evaluations` as a formula in ``n`` for a legend ("n + 1", "2n", "1"), read from
        the count itself, which is affine in ``n``; a backend that counts otherwise says so."""
        const, slope = self.evaluations(0), self.evaluations(1) - self.evaluations(0)
        if slope == 0:
            return f"{const}"
        return ("n" if slope == 1 else f"{slope}n") + (f" + {const}" if const else "")

    def legend(self) -> str:
        """The error model against ``h`` as the accuracy chart's legend prints it
        ("C_t·h² + C_r·ε/h"); empty where the backend has none."""
        return ""

    @property
    def expected_slopes(self) -> tuple[float, float]:
        """The log-log slopes of error against ``h`` the accuracy sweep expects,
        ``(truncation, rounding)``: ``+p`` for a truncation error ``h^p`` (NaN with no fixed
        order), and ``-1`` for a rounding error ``eps |f| / h``."""
        return (math.nan if self.order is None else float(self.order)), -1.0

    def __repr__(self) -> str:
        return f"<backend {self.name!r}: {self.kind}, order {self.order}>"


def _flat64(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).reshape(-1)


# -- the registry ------------------------------------------------------------------------------

_REGISTRY: dict[str, Backend] = {}
_PLUGINS_LOADED = False
ENTRY_POINT_GROUP = "gradlab.backends"


def _check(backend: object) -> Backend:
    if not isinstance(backend, Backend):
        raise v.fail("backend", "a gradlab.Backend (e.g. a gradlab.DifferenceScheme)", backend, TypeError)
    if not isinstance(getattr(backend, "name", None), str) or not backend.name.isidentifier():
        raise v.fail("backend.name", "an identifier such as 'central4'", getattr(backend, "name", None))
    if not isinstance(getattr(backend, "kind", None), str) or not backend.kind.isidentifier():
        words = ", ".join(map(repr, KINDS))
        raise v.fail("backend.kind", f"a word such as {words} (or a new kind's own)", getattr(backend, "kind", None))
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
    if kind is None:
        return list(_registry())
    kinds = (kind,) if isinstance(kind, str) else tuple(kind)
    return [n for n, b in _registry().items() if b.kind in kinds]


def references() -> list[str]:
    """Backends that can serve as a gradcheck reference: every one that takes a step."""
    return [n for n, b in _registry().items() if b.has_step]


def check_references() -> list[str]:
    """Backends a gradcheck may name as its reference (:attr:`Backend.is_reference`): those of
    :func:`references` and the exact ones without a step."""
    return [n for n, b in _registry().items() if b.is_reference]


def all_backends() -> list[Backend]:
    """The registered backend objects, in registration order."""
    return list(_registry().values())


def baseline() -> str:
    """The name of the registry's first analytic backend (``"backprop"`` as built in): the
    baseline that cost ratios, training and accuracy references measure the others against."""
    found = names(kind="analytic")
    if not found:
        raise LookupError("no analytic backend is registered: cost ratios and training need one, such as 'backprop'")
    return found[0]
