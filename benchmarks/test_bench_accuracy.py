"""Accuracy against h: the gradient of a small network by each difference scheme at a
ladder of steps, its error against backprop kept in ``extra_info`` (``h``, ``rel_error``,
``abs_error``, ``predicted_rel_error``), beside the time it took.  One group per scheme and
precision; rows are named by h (``h1e-01`` ... ``h1e-20``), so name order is step order.
(The complex step's error stays at the last bits of the precision down to h = 1e-20; the
others blow up there or have no quotient at all.)

Each benchmark asserts its error: within ``MARGIN`` times the backend's own error model
(:meth:`gradlab.Backend.error_terms`, truncation plus rounding) for a scheme of fixed order;
for ``adaptive``, which chooses its own steps, every entry within its own error estimate.
"""

from functools import cache

import numpy as np
import pytest

import gradlab
from benchmarks.sizes import pick
from gradlab.backends import get, references
from gradlab.experiments.accuracy import coordinate_derivatives, in_precision, predicted_error
from gradlab.experiments.cost import ladder_problem

STEPS = pick(
    quick=[1e-2, 1e-6, 1e-20],
    default=[1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-10, 1e-12, 1e-20],
    full=[1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-11, 1e-12, 1e-14, 1e-16, 1e-20],
)
OBJ, THETA = ladder_problem(4, batch=64)  # N = 90
REFERENCE = gradlab.gradient(OBJ, THETA, backend="backprop")
#: measured error / predicted error on this network: 0.2-1.0 for the real differences, up to 1.6
#: for the complex step at its last bits (its model has no rounding of f, as it does not subtract)
MARGIN = 4.0


@cache
def derivatives():
    """|f(x)| and the derivatives of f along each coordinate: the constants of the error models."""
    return coordinate_derivatives(OBJ, THETA)


@pytest.mark.filterwarnings("ignore::gradlab.backends.difference.StepWarning")  # steps at the spacing: the point
@pytest.mark.benchmark(max_time=0.25)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", references())  # every registered backend that takes a step
@pytest.mark.parametrize("h", STEPS, ids=lambda h: f"h{h:.0e}")
def test_error_against_step(benchmark, backend, dtype, h):
    f = in_precision(OBJ, dtype)
    x = THETA.astype(dtype)
    b = get(backend)
    benchmark.group = f"accuracy vs h: {backend} differences, {dtype}"
    benchmark.extra_info.update(backend=backend, dtype=dtype, h=h, n_params=int(OBJ.n_params))
    try:
        r = gradlab.differentiate(f, x, backend=backend, h=h)
    except gradlab.StepTooSmallError as exc:
        # no quotient exists: x + h == x (float32 from h = 1e-4 at these x), or f takes one value
        # over the stencil (float64 from 1e-12 at the zero biases); never at a step of 1e-3 or more,
        # and never for adaptive, which grows its pilot instead
        assert h < 1e-3 and not b.own_steps, exc
        pytest.skip(str(exc).split(";")[0])
    err = r.gradient.astype(np.float64) - REFERENCE
    norm = np.linalg.norm(REFERENCE)
    rel = float(np.linalg.norm(err) / norm)
    benchmark.extra_info.update(evaluations=int(r.evaluations), abs_error=float(np.max(np.abs(err))), rel_error=rel)
    n = OBJ.n_params
    if backend == "complex_step" and h > 1e-8 * max(1.0, float(np.abs(THETA).max())):
        assert r.evaluations == n  # no real cross-check at a step of the user's too large for it to judge f
    elif b.evaluations_exact:
        assert r.evaluations == b.evaluations(n)
    else:
        assert 0 < r.evaluations <= b.evaluations(n)
    f0, derivs = derivatives()
    model = predicted_error(b, np.array([h]), f0=f0, grad=REFERENCE, derivs=derivs, dtype=dtype)
    if model is not None:
        predicted = float(model[0][0] / norm)
        benchmark.extra_info["predicted_rel_error"] = predicted
        assert rel <= MARGIN * predicted, f"error {rel:.3g} above {MARGIN} x the model's {predicted:.3g}"
    else:  # no model: the backend's own per-entry estimate must bound the error it made
        assert r.error is not None and np.all(np.abs(err).reshape(-1) <= r.error.astype(np.float64).reshape(-1))
        benchmark.extra_info["estimate_bounds_error"] = True
    benchmark(gradlab.differentiate, f, x, backend=backend, h=h)
