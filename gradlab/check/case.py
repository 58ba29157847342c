"""The case a check judges: what is checked, where, against what, and what the probe learned of ``f``.

Everything downstream -- the reference, the fast path, the refinement, the result -- reads
the case; nothing travels as an attribute patched onto the objective.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .. import _validate as v
from ..backends import CENTRAL, COMPLEX_STEP, Backend, get
from ..objective import Block, Counted, Objective
from .judge import LIMITS
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

    @property
    def objective(self) -> Objective:
        return self.counted.objective

    @property
    def dtype(self) -> str:
        return self.point.dtype.name

    @cached_property
    def flat(self) -> np.ndarray:
        """The point, flat, in its precision."""
        return self.point.reshape(-1)

    @cached_property
    def a(self) -> np.ndarray:
        """The analytic gradient, flat float64."""
        return self.analytic.astype(np.float64).reshape(-1)

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
    prof = profile(counted, point, blocks, settings.seed, full=not settings.fast)
    rtol = backend.tolerance(prof.precision)[0] if settings.rtol is None else settings.rtol
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
        limit=LIMITS[prof.precision],
        notes=_profile_notes(prof, point.dtype.name),
    )


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
            f"warning: x has exact zeros in {listing}: a bug that scales with those entries (an L2 term on the "
            f"biases, say) is invisible here; check again at a perturbed point, x + 0.01 * noise"
        )
    return tuple(notes)
