"""The case a check judges: what is checked, where, against what, and what the probe learned of ``f``.

Everything downstream -- the reference, the fast path, the refinement, the result -- reads
the case; nothing travels as an attribute patched onto the objective.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .. import _validate as v
from ..backends import CENTRAL, COMPLEX_STEP, Backend, get
from ..objective import Block, Counted, FunctionObjective, Objective
from ..structure import StructuredObjective
from .adapt import InnerProduct
from .judge import pass_limit
from .probe import Profile, profile
from .result import GradcheckResult
from .settings import CheckSettings


@dataclass
class Case:
    """One gradient check, before it is judged.

    ``counted`` counts every evaluation of ``f`` the check makes; ``analytic`` is the gradient
    to verify, shaped like ``point``; ``backend`` the reference asked for (it may hand over to
    another, see :class:`~gradlab.backends.Estimate`); ``rtol`` the validated or default
    tolerance; ``noise`` what the reference must allow for in ``f``'s values (the caller's,
    and 3 times the rounding noise the probe measured); ``limit`` the largest relative error
    a pass may overlook; ``notes`` what the result will say about the case.
    """

    settings: CheckSettings
    counted: Counted
    point: np.ndarray
    analytic: np.ndarray
    source: str
    blocks: tuple[Block, ...]
    profile: Profile
    backend: Backend
    rtol: float
    noise: float
    limit: float
    notes: tuple[str, ...] = field(default=())
    #: the precision of the caller's x, where the reference is measured at a float64 ``point``
    #: (a float32 x whose f computes in the precision of its input); None: ``point``'s own
    judged_dtype: str | None = None

    @property
    def objective(self) -> Objective:
        return self.counted.objective

    @property
    def dtype(self) -> str:
        """The precision the result reports: the caller's x's."""
        return self.judged_dtype or self.point.dtype.name

    @cached_property
    def flat(self) -> np.ndarray:
        """The point, flat, in its precision."""
        return self.point.reshape(-1)

    @cached_property
    def a(self) -> np.ndarray:
        """The analytic gradient, flat float64."""
        return self.analytic.astype(np.float64).reshape(-1)

    def entry_name(self, i: int) -> str:
        """Flat entry ``i`` by its block and index, as the table names it: ``W1[2, 0]``."""
        b = next(b for b in self.blocks if b.offset <= i < b.offset + b.size)
        k = np.unravel_index(i - b.offset, b.shape) if b.shape else ()
        return f"{b.name}[{', '.join(str(int(t)) for t in k)}]"

    def result(self, **fields) -> GradcheckResult:
        """The result of this case: what the case knows, with ``fields`` (its notes after the case's)."""
        notes = self.notes + tuple(fields.pop("notes", ()))
        return GradcheckResult(
            analytic=self.analytic,
            analytic_source=self.source,
            h=self.settings.h,
            dtype=self.dtype,
            rtol=self.rtol,
            evaluations=self.counted.evaluations,
            notes=notes,
            **fields,
        )


def open_case(f: object, x: object, grad: object, settings: CheckSettings) -> Case:
    """The case of checking ``grad`` (or ``f``'s own gradient) at ``x``, probed (see :mod:`.probe`)."""
    counted = Counted(f)
    objective = counted.objective
    point = counted.point(x)
    backend = _reference_backend(settings.reference, objective, settings.h)
    analytic, source = _analytic(grad, objective, point, f)
    blocks = objective.blocks(point)
    lifted, refused = lifted_point(counted, point)
    if lifted is not None:  # the reference measured in float64, the float32 analytic side judged as float32
        point, judged, notes = lifted, "float32", (LIFTED_NOTE,)
    else:
        judged, notes = None, refused
    prof = profile(counted, point, blocks, settings.seed, full=not settings.fast)
    if lifted is None and _try_complex(settings, objective, prof) and _takes_complex(counted, point):
        backend = COMPLEX_STEP
    precision = judged or prof.precision
    rtol = backend.tolerance(precision)[0] if settings.rtol is None else settings.rtol
    return Case(
        settings=settings,
        counted=counted,
        point=point,
        analytic=analytic,
        source=source,
        blocks=blocks,
        profile=prof,
        backend=backend,
        rtol=rtol,
        noise=max(settings.noise or 0.0, 3 * prof.noise),
        limit=pass_limit(precision, settings.rtol),
        notes=(*notes, *_profile_notes(prof, point.dtype.name)),
        judged_dtype=judged,
    )


LIFTED_NOTE = (
    "x is float32 and f computes in the precision of its input: the reference is measured in float64 "
    "(f at x converted to float64), the float32 analytic gradient judged at float32's tolerance"
)

#: objectives that hand x to the user's own code as numpy does (an array-API leaf of a structure is
#: rebuilt in float64 for a float64 point, see gradlab.structure.Structure.call)
LIFTABLE = (FunctionObjective, InnerProduct, StructuredObjective)
#: the largest relative difference between f at a float32 x and at the same x in float64 that is
#: taken for float32 rounding of one computation (more: f does something else in float64)
LIFT_AGREEMENT = 1e-3


def lifted_point(counted: Counted, point: np.ndarray) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """``x`` in float64 where ``x`` is float32 and ``f`` computes in the precision of its input
    (``np.sum(np.sin(v) * v)``: numpy follows its operands), else ``None``; with a note where ``f``
    refused float64 (the reason it could not be lifted, and what would let it).

    A float32 ``f`` divides float32 rounding by every step: the reference's own error then
    stays near 1e-3, above what would reveal a bug, and the check is inconclusive on correct
    code.  When ``f(x64)`` differs from ``f(x32)`` by no more than float32 rounding (it is the
    same computation, carried out in float64), the reference is measured in float64 and the
    float32 analytic side is judged against float32's tolerance.  An ``f`` that casts to
    float32 inside returns exactly ``f(x32)`` and is left as it is.  Two evaluations.

    A torch ``f`` that multiplies ``x`` with a float32 tensor it captured (``X @ w``) cannot be
    lifted: torch promotes elementwise operations to float64 but refuses a matrix product of
    mixed precisions, and the tensor is out of gradlab's reach.  The note says so.
    """
    if point.dtype != np.float32 or not isinstance(counted.objective, LIFTABLE):
        return None, ()
    wide = point.astype(np.float64)
    try:
        y32 = counted(point.copy())
    except Exception:  # noqa: BLE001  f fails at x itself: the probe reports it as the check always has
        return None, ()
    try:
        y64 = counted(wide.copy())
    except Exception as exc:  # noqa: BLE001  f refuses float64 (torch: float32 data @ float64): not liftable
        return None, (LIFT_REFUSED.format(error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"),)
    if not (math.isfinite(y32) and math.isfinite(y64)) or y32 == y64:
        return None, ()
    if abs(y64 - y32) > LIFT_AGREEMENT * max(abs(y32), abs(y64)):
        return None, ()
    return wide, ()


LIFT_REFUSED = (
    "x is float32 and f refused it in float64 ({error}), so the reference differences float32 values of f: "
    "f mixes x with float32 data of its own (a captured tensor in a matrix product?); pass that data as an "
    "argument, or keep it in float64, and the reference is measured in float64"
)


def _try_complex(settings: CheckSettings, objective, prof: Profile) -> bool:
    """Whether ``"auto"`` tries the complex step on an ``f`` that never declared it: where ``f``
    computes in float32 (and could not be lifted to float64), no real difference resolves much
    below 1e-3, while the complex step has no subtraction.  It is cross-checked as always, and
    hands over to central differences where ``f`` cannot take complex input or drops an
    imaginary part (the estimate's note says so)."""
    return (
        settings.reference == "auto"
        and settings.h is None
        and objective.complex_ok is None
        and prof.precision == "float32"
    )


def _takes_complex(counted: Counted, point: np.ndarray) -> bool:
    """One complex evaluation at ``x``: does ``f`` return a complex value there?  Any error (torch's
    float32 data times a complex64 weight) says no, without a trace: the check measures otherwise."""
    try:
        with warnings.catch_warnings():  # an f that casts to real says so by returning a real value
            warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
            counted.complex(point.astype(np.complex64 if point.dtype == np.float32 else np.complex128))
    except Exception:  # noqa: BLE001  whatever f raises on complex input, the answer is no
        return False
    return True


def _reference_backend(reference: str | Backend, objective, h) -> Backend:
    if isinstance(reference, Backend):
        return reference
    if reference != "auto":
        return get(reference)
    # the complex step where f is known to evaluate in complex arithmetic (cross-checked
    # later); a step given by the user is a difference step: central differences then
    return COMPLEX_STEP if objective.complex_ok and h is None else CENTRAL


def _analytic(grad, objective, point, f) -> tuple[np.ndarray, str]:
    if grad is not None:
        if not callable(grad):
            raise v.fail("grad", "a callable grad(x) -> array shaped like x", grad, TypeError)
        source = getattr(grad, "__name__", "grad")
        return _user_gradient(grad, point), "grad" if source == "<lambda>" else source
    if objective.gradient is not None:
        return objective.gradient(point), "backprop"
    raise TypeError(
        "gradcheck needs an analytic gradient to verify: pass `grad=` (a function x -> gradient) "
        f"or an MLP objective; got a plain callable {f!r}"
    )


def _user_gradient(grad, point: np.ndarray) -> np.ndarray:
    out = grad(point.copy())
    try:
        arr = np.asarray(out)
    except Exception as exc:
        raise v.fail("grad", "a callable returning an array shaped like x", out, TypeError) from exc
    if arr.shape != point.shape:
        raise ValueError(f"`grad(x)` must return an array of shape {point.shape}; got shape {arr.shape}")
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"`grad(x)` must return a real array; got dtype {arr.dtype}")
    if not np.isfinite(arr).all():
        i = int(np.flatnonzero(~np.isfinite(arr.reshape(-1)))[0])
        raise ValueError(f"`grad(x)` must be finite; got {arr.reshape(-1)[i]} at flat index {i}")
    return arr.astype(point.dtype, copy=True)


def _profile_notes(prof: Profile, dtype: str) -> tuple[str, ...]:
    notes = []
    if prof.precision != dtype:
        notes.append(
            f"f computes in {prof.precision} although x is {dtype} (its values are {prof.precision} numbers): "
            f"judged at {prof.precision}'s precision"
        )
    if prof.zeros:
        listing = ", ".join(f"{name} ({k})" for name, k in prof.zeros)
        notes.append(
            f"warning: x has exact zeros in {listing}: a bug whose error is proportional to those entries (a "
            f"term in them dropped or doubled) is invisible here; check again at a perturbed point, x + 0.01 * noise"
        )
    return tuple(notes)
