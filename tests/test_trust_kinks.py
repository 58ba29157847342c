"""Issue 18, items 2, 3, 4, 7 and 8: verdicts that hold in fast mode, on kinks, in float32, for
the adaptive backend, and the smaller things.  Each repro of the issue is a test here."""

from __future__ import annotations

import numpy as np
import pytest

import gradlab


def affine(x, w, b):
    return x @ w + b


def affine_vjp(x, w, b, u):
    return u @ w.T, x.T @ u, u.sum(0)


def transposed_vjp(x, w, b, u):
    return u @ w, x.T @ u, u.sum(0)  # w where w.T belongs: only w's symmetric part is right


# -- item 2: the cotangent and the fast path's directions come from independent streams ------------


def test_fast_check_catches_the_transposed_weight_of_the_issue():
    g = np.random.default_rng(1)
    x, w, b = g.normal(size=(4, 5)), g.normal(size=(5, 5)), g.normal(size=5)
    bad = gradlab.gradcheck(affine, (x, w, b), vjp=transposed_vjp, fast=True)
    assert bad.status == "failed"
    assert gradlab.gradcheck(affine, (x, w, b), vjp=affine_vjp, fast=True).status == "passed"


@pytest.mark.parametrize("seed", range(6))
def test_fast_check_catches_a_transposed_square_weight_for_every_seed(seed):
    g = np.random.default_rng(100 + seed)
    n = 3 + seed % 3
    x, w, b = g.normal(size=(n, n)), g.normal(size=(n, n)), g.normal(size=n)
    assert gradlab.gradcheck(affine, (x, w, b), vjp=transposed_vjp, fast=True, seed=seed).status == "failed"
    assert gradlab.gradcheck(affine, (x, w, b), vjp=affine_vjp, fast=True, seed=seed).status == "passed"


def test_the_cotangent_is_not_the_seed_stream():
    """The documented cotangent, drawn from its own stream (the seed's stream is the directions')."""
    from gradlab.check.adapt import COTANGENT_STREAM

    x = np.arange(6.0).reshape(2, 3)
    seen = []

    def vjp(x, u):
        seen.append(u.copy())
        return 2 * x * u

    r = gradlab.gradcheck(lambda x: x**2, x, vjp=vjp, seed=4)
    assert r.passed
    expected = np.random.default_rng([COTANGENT_STREAM, 4]).standard_normal((2, 3))
    np.testing.assert_array_equal(seen[0], expected)
    assert not np.allclose(seen[0], np.random.default_rng(4).standard_normal((2, 3)))
    assert f"default_rng([{COTANGENT_STREAM}, 4])" in r.message()
