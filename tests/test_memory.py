"""Peak extra memory of one gradient: O(n) for differences, O(n + batch x widths) for backprop."""

import pytest

import gradlab
from gradlab.backends import get as backends_get
from gradlab.experiments.cost import ladder_problem
from gradlab.timing import peak_bytes


@pytest.mark.parametrize("backend", ["forward", "central", "richardson", "complex_step"])
def test_differences_hold_a_few_vectors_never_a_copy_per_parameter(backend):
    obj, theta = ladder_problem(28, batch=8)  # n = 1,914: one copy per parameter would be 29 MB
    n = obj.n_params
    # the textbook loop (batch=1); batched points are O(K n), tested in test_batched.py
    peak = peak_bytes(lambda: gradlab.differentiate(obj, theta, backend=backend, batch=1))
    # a few float64 vectors per stencil point (nodes, displacements, values) and a dozen more
    vectors = 6 * max(2, len(backends_get(backend).offsets)) + 12
    assert peak < vectors * 8 * n + 200_000
    assert peak < 8 * n * n / 20


def test_backprop_holds_the_gradient_and_the_cached_forward_pass():
    obj, theta = ladder_problem(300, batch=64)  # n = 184,210
    n, m = obj.n_params, 64
    cache = 8 * m * sum(obj.net.sizes)  # one activation array per layer
    peak = peak_bytes(lambda: gradlab.differentiate(obj, theta, backend="backprop"))
    assert peak < 8 * n + 6 * cache + 100_000
