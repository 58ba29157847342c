"""Know the function before judging it: a few evaluations at and near ``x``.

- ``f`` evaluated twice at ``x``: a random ``f`` (dropout, a fresh mini-batch) is told
  from a wrong gradient, and reported as such;
- the precision ``f`` computes in: a float64 ``x`` whose ``f`` returns float32-representable
  values computes in float32, and is judged at float32's epsilon;
- an ``f`` that does not depend on ``x`` (a closure over the parameters instead of its
  argument) returns exactly the same value after a perturbation of every entry;
- exact zeros at the point (biases initialised to 0) hide bugs that scale with them;
- how noisy ``f`` is: its rounding error can be far above ``eps |f|`` (a float32 sum over
  2,000 samples), and every difference quotient divides it by the step.  Fourth differences
  of ``f`` along a random direction at a step far below any curvature are pure noise
  (the estimator of Hamming, used by Moré and Wild's ECnoise): six more evaluations;
- one timed evaluation, for the cost guard.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ..objective import Block, Counted

#: points along a random direction beside x whose fourth differences measure f's noise
NOISE_POINTS = 6
#: evaluations of the full probe: f at x twice, at a perturbed point, and the noise points
PROBE_EVALUATIONS = 3 + NOISE_POINTS
#: evaluations of the fast path's probe: none.  f at x would serve only to time f (a fast check's
#: few evaluations need no cost guard's estimate) and to tell a random f, which the fast path asks
#: only where its projection disagrees (evaluating f at x twice then)
FAST_PROBE_EVALUATIONS = 0


@dataclass(frozen=True)
class Profile:
    f0: float
    repeat: float
    moved: float
    eps_f: float
    precision: str
    seconds: float
    zeros: tuple[tuple[str, int], ...]
    #: the absolute rounding noise of f measured at x (0 when not measured)
    noise: float = 0.0

    @property
    def random(self) -> bool:
        # NaN: not measured (the fast path's probe), which says nothing of randomness
        return not math.isnan(self.f0) and self.f0 != self.repeat

    @property
    def constant(self) -> bool:
        return self.f0 == self.moved


def profile(counted: Counted, point: np.ndarray, blocks: tuple[Block, ...], seed: int, *, full: bool = True) -> Profile:
    """Three evaluations of ``f`` (at ``x`` twice and at a randomly perturbed point) and the noise
    points; none when not ``full``: the fast path learns ``f(x)`` only if its projection disagrees
    (``f0``, ``repeat``, ``moved`` and ``seconds`` NaN: not measured)."""
    flat = point.reshape(-1).astype(np.float64)
    nan = float("nan")
    if full:
        t0 = time.perf_counter()
        f0 = counted(point.copy())
        seconds = time.perf_counter() - t0
        repeat = counted(point.copy())
        rng = np.random.default_rng(seed + 104729)
        moved_x = flat + 1e-3 * np.maximum(1.0, np.abs(flat)) * rng.standard_normal(flat.size)
        moved = counted(moved_x.astype(point.dtype).reshape(point.shape))
    else:
        f0 = repeat = moved = seconds = nan
    lower = point.dtype == np.float64 and all(float(np.float32(y)) == y for y in (f0, repeat, moved))
    precision = "float32" if lower or point.dtype == np.float32 else "float64"
    noise = measured_noise(counted, point, f0, float(np.finfo(precision).eps), seed) if full else 0.0
    zeros = tuple((b.name, int(np.count_nonzero(flat[b.slice] == 0))) for b in blocks)
    return Profile(
        f0=f0,
        repeat=repeat,
        moved=moved,
        eps_f=float(np.finfo(precision).eps),
        precision=precision,
        seconds=seconds,
        zeros=tuple((name, k) for name, k in zeros if k),
        noise=noise,
    )


def measured_noise(counted: Counted, point: np.ndarray, f0: float, eps_f: float, seed: int) -> float:
    """The rounding noise of ``f`` at ``x``: the spread of fourth differences of ``f`` at the points
    ``x + j delta v``, ``j = 0..NOISE_POINTS`` (``delta`` = 1e3 eps_f max(1, |x|), far below any curvature; relative to
    the smallest nonzero ``|x_i|`` where that is below 1e-6 of it, so that no point crosses 0), scaled so
    that independent noise of deviation ``sigma`` gives ``sigma`` (``E (Delta^4)^2 = 70 sigma^2``).
    A non-finite value (f undefined that close to x) gives 0: nothing measured."""
    flat = point.reshape(-1).astype(np.float64)
    v = np.random.default_rng(seed + 15485863).standard_normal(flat.size)
    v /= np.linalg.norm(v)
    delta = 1e3 * eps_f * max(1.0, float(np.abs(flat).max()))
    nonzero = np.abs(flat[flat != 0])
    if nonzero.size and delta > 1e-6 * float(nonzero.min()):
        # an entry far smaller than the step (1/x or log|x| at 1e-150): the step is taken relative to
        # it, or the points reach across 0 and the curvature there passes for noise
        delta = 1e3 * eps_f * float(nonzero.min())
    values = [f0]
    for j in range(1, NOISE_POINTS + 1):
        try:
            values.append(counted((flat + j * delta * v).astype(point.dtype).reshape(point.shape)))
        except (ValueError, FloatingPointError):
            return 0.0
    d4 = np.diff(np.asarray(values), n=4)
    return float(np.sqrt(np.mean(d4**2) / 70.0))
