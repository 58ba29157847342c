"""Accuracy against h: the gradient of a small network by each difference scheme at a
ladder of steps, its error against backprop kept in ``extra_info`` (``h``, ``rel_error``,
``abs_error``), beside the time it took.  One group per scheme and precision.  (The
complex step's error stays at the last bits of the precision down to h = 1e-20; the
others blow up there or have no quotient at all.)"""

import numpy as np
import pytest

import gradlab
from gradlab.backends import references
from gradlab.experiments.accuracy import in_precision
from gradlab.experiments.cost import ladder_problem

STEPS = [1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-10, 1e-12, 1e-20]
OBJ, THETA = ladder_problem(4, batch=64)  # N = 90
REFERENCE = gradlab.gradient(OBJ, THETA, backend="backprop")


@pytest.mark.filterwarnings("ignore::gradlab.backends.difference.StepWarning")  # steps at the spacing: the point
@pytest.mark.benchmark(max_time=0.25)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", references())  # every registered backend that takes a step
@pytest.mark.parametrize("h", STEPS, ids=lambda h: f"h{h:.0e}")
def test_error_against_step(benchmark, backend, dtype, h):
    f = in_precision(OBJ, dtype)
    x = THETA.astype(dtype)
    benchmark.group = f"accuracy vs h: {backend} differences, {dtype}"
    benchmark.extra_info.update(backend=backend, dtype=dtype, h=h, n_params=int(OBJ.n_params))
    try:
        r = gradlab.differentiate(f, x, backend=backend, h=h)
    except gradlab.StepTooSmallError as exc:  # x + h == x in float32: no quotient exists
        pytest.skip(str(exc).split(";")[0])
    err = r.gradient.astype(np.float64) - REFERENCE
    benchmark.extra_info.update(
        evaluations=int(r.evaluations),
        abs_error=float(np.max(np.abs(err))),
        rel_error=float(np.linalg.norm(err) / np.linalg.norm(REFERENCE)),
    )
    benchmark(gradlab.differentiate, f, x, backend=backend, h=h)
