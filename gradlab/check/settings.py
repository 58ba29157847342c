"""The options of a gradient check, validated once, before ``f`` is evaluated at all.

A bad option must cost nothing: no evaluation of ``f`` (which may take minutes) runs before
every option has been read.  :func:`validated` is the one place that reads them, and
:class:`CheckSettings` carries them, checked, through the rest of the check.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import _validate as v
from .. import parallel
from ..backends import Backend, check_references


@dataclass(frozen=True)
class CheckSettings:
    """Every option of :func:`~gradlab.gradcheck`, validated (see its docstring for their meaning)."""

    #: "auto" or the name of a registered backend that takes a step, or a Backend object
    reference: str | Backend = "auto"
    #: the reference's first step; None: the backend's own rule
    h: float | None = None
    #: slack for the analytic side beyond the reference's bound; None: the backend's tolerance
    rtol: float | None = None
    #: absolute slack; None: 1e-3 * rtol * max |g| once the reference is known
    atol: float | None = None
    #: one random projection first; per-block directions and a sample only on a disagreement
    fast: bool = False
    #: random directions per block when a fast check localises a disagreement
    directions: int = 1
    #: entries per failing block measured when a fast check localises
    sample: int = 32
    #: seed of the random directions, the probe and the Taylor test
    seed: int = 0
    #: the absolute noise of a random f the caller accepts; None: a random f is inconclusive
    noise: float | None = None
    #: pass although some entries could not be measured (they stay listed)
    accept_unverified: bool = False
    #: refuse a check that needs more evaluations than this; None: no limit
    max_evaluations: int | None = None
    #: where the reference's evaluations run (gradlab.parallel); None: serially
    scheduler: object = None


def validated(
    *,
    reference: object = "auto",
    h: object = None,
    rtol: object = None,
    atol: object = None,
    fast: object = False,
    directions: object = 1,
    sample: object = 32,
    seed: object = 0,
    noise: object = None,
    accept_unverified: object = False,
    max_evaluations: object = None,
    scheduler: object = None,
) -> CheckSettings:
    """Every option checked (a ``TypeError``/``ValueError`` naming it otherwise), as :class:`CheckSettings`."""
    if not isinstance(reference, Backend):
        reference = v.choice("reference", reference, ["auto", *check_references()])
    return CheckSettings(
        reference=reference,
        h=_optional(v.positive_float, "h", h),
        rtol=_optional(v.positive_float, "rtol", rtol),
        atol=_optional(v.positive_float, "atol", atol),
        fast=v.boolean("fast", fast),
        directions=v.positive_int("directions", directions),
        sample=v.positive_int("sample", sample),
        seed=v.seed("seed", seed),
        noise=_optional(v.nonnegative_float, "noise", noise),
        accept_unverified=v.boolean("accept_unverified", accept_unverified),
        max_evaluations=_optional(v.positive_int, "max_evaluations", max_evaluations),
        scheduler=parallel.check("scheduler", scheduler),
    )


def _optional(check, name: str, value: object):
    return None if value is None else check(name, value)
