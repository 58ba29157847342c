"""Know the function before judging it: a few evaluations at and near ``x``.

- ``f`` evaluated twice at ``x``: a random ``f`` (dropout, a fresh mini-batch) is told
  from a wrong gradient, and reported as such;
- the precision ``f`` computes in: a float64 ``x`` whose ``f`` returns float32-representable
  values computes in float32, and is judged at float32's epsilon;
- an ``f`` that does not depend on ``x`` (a closure over the parameters instead of its
  argument) returns exactly the same value after a perturbation of every entry;
- exact zeros at the point (biases initialised to 0) hide bugs that scale with them;
- one timed evaluation, for the cost guard.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ..objective import Block, Counted


@dataclass(frozen=True)
class Profile:
    f0: float
    repeat: float
    moved: float
    eps_f: float
    precision: str
    seconds: float
    zeros: tuple[tuple[str, int], ...]

    @property
    def random(self) -> bool:
        return self.f0 != self.repeat

    @property
    def constant(self) -> bool:
        return self.f0 == self.moved


def profile(counted: Counted, point: np.ndarray, blocks: tuple[Block, ...], seed: int, *, full: bool = True) -> Profile:
    """Three evaluations of ``f``: at ``x`` twice and at a randomly perturbed point (one, at
    ``x``, when not ``full``: the fast path looks for randomness only if it must)."""
    t0 = time.perf_counter()
    f0 = counted(point.copy())
    seconds = time.perf_counter() - t0
    flat = point.reshape(-1).astype(np.float64)
    if full:
        repeat = counted(point.copy())
        rng = np.random.default_rng(seed + 104729)
        moved_x = flat + 1e-3 * np.maximum(1.0, np.abs(flat)) * rng.standard_normal(flat.size)
        moved = counted(moved_x.astype(point.dtype).reshape(point.shape))
    else:
        repeat, moved = f0, float("nan")
    lower = point.dtype == np.float64 and all(float(np.float32(y)) == y for y in (f0, repeat, moved))
    precision = "float32" if lower or point.dtype == np.float32 else "float64"
    zeros = tuple((b.name, int(np.count_nonzero(flat[b.slice] == 0))) for b in blocks)
    return Profile(
        f0=f0,
        repeat=repeat,
        moved=moved,
        eps_f=float(np.finfo(precision).eps),
        precision=precision,
        seconds=seconds,
        zeros=tuple((name, k) for name, k in zeros if k),
    )
