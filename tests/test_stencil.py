"""gradlab.backends.stencil: the one evaluation kernel, and Counted's vector mode.

References are independent: each node is built by hand (x copied, one entry set) and f
evaluated there directly; counts are exact from the stencil.
"""

import numpy as np
import pytest

from gradlab.backends import stencil
from gradlab.objective import Counted

rng = np.random.default_rng(3)


def f(x):
    return float(np.sum(np.sin(x) * np.arange(1, x.size + 1)))


def F(x):
    return np.stack([np.sin(x), x**2])  # (2, n): an array-valued f


def test_working_restores_the_entry_even_when_f_raises_and_never_touches_x():
    x = rng.normal(size=5)
    keep = x.copy()
    work = stencil.Working(x)
    seen = work.at(2, 7.0, lambda p: p.copy())
    assert seen[2] == 7.0 and np.array_equal(np.delete(seen, 2), np.delete(keep, 2))

    def boom(p):
        raise RuntimeError("inside f")

    with pytest.raises(RuntimeError, match="inside f"):
        work.at(3, 9.0, boom)
    assert np.array_equal(work.point, keep) and np.array_equal(x, keep)


def test_working_in_a_complex_precision():
    x = np.ones(3, dtype=np.float32)
    work = stencil.Working(x, stencil.complex_dtype(x.dtype))
    assert work.point.dtype == np.complex64 and x.dtype == np.float32
    assert work.at(1, 1 + 2j, lambda p: p[1]) == 1 + 2j and work.point[1] == 1


def test_nodes_are_rounded_to_x_and_the_represented_displacement_is_returned():
    x = np.array([1.0, 0.0, 1e20])
    points, disp = stencil.nodes(x, (-1.0, 1.0), np.array([8e-17, 1e-3, 1.0]))
    assert points.dtype == np.float64 and points.shape == disp.shape == (3, 2)
    assert disp[0].tolist() == [-(2**-53), 0.0]  # 1 - 8e-17 rounds to 1 - 2^-53, 1 + 8e-17 to 1
    assert disp[1].tolist() == [-1e-3, 1e-3] and disp[2].tolist() == [0.0, 0.0]
    x32 = np.array([1.0], dtype=np.float32)
    points, disp = stencil.nodes(x32, (1.0,), np.array([1e-4]))
    assert points.dtype == np.float32 and disp[0, 0] == float(np.float32(1 + 1e-4)) - 1.0 != 1e-4


@pytest.mark.parametrize("offsets", [(0.0, 1.0), (-1.0, 1.0), (-1.0, -0.5, 0.5, 1.0)])
def test_node_values_are_f_at_the_hand_built_nodes_with_exact_counts(offsets):
    x = rng.normal(size=6)
    steps = np.full(6, 1e-3)
    counted = Counted(f)
    points, _ = stencil.nodes(x, offsets, steps, 1, 5)
    values = stencil.node_values(counted, x, offsets, points, 1, 5)
    moving = sum(o != 0 for o in offsets)
    assert counted.evaluations == 4 * moving + (0.0 in offsets)
    for row, i in enumerate(range(1, 5)):
        for k, o in enumerate(offsets):
            p = x.copy()
            p[i] = x[i] + o * steps[i]
            assert values[row, k] == f(p)


def test_node_values_of_an_array_valued_f_carry_its_shape_and_any_split_gives_the_same_bits():
    x = rng.normal(size=5)
    steps = np.full(5, 1e-4)
    offsets = (-1.0, 1.0)
    points, _ = stencil.nodes(x, offsets, steps)
    whole = stencil.node_values(Counted(F, vector=True), x, offsets, points)
    assert whole.shape == (5, 2, 2, 5)
    p = x.copy()
    p[3] += steps[3]
    assert np.array_equal(whole[3, 1], F(p))
    pieces = [stencil.node_values(Counted(F, vector=True), x, offsets, points[a:b], a, b) for a, b in ((0, 2), (2, 5))]
    assert np.array_equal(np.concatenate(pieces), whole)


def test_complex_values_are_f_at_x_plus_ih_e_i():
    x = rng.normal(size=4)
    steps = np.full(4, 1e-20)
    counted = Counted(lambda z: np.sum(np.exp(z) * z))
    real, imag = stencil.complex_values(counted, x, steps, 1, 3)
    assert counted.evaluations == 2 and real.shape == imag.shape == (2,)
    for row, i in enumerate((1, 2)):
        z = x.astype(complex)
        z[i] += 1e-20j
        y = np.sum(np.exp(z) * z)
        assert (real[row], imag[row]) == (y.real, y.imag)
        assert imag[row] / 1e-20 == pytest.approx(np.exp(x[i]) * (1 + x[i]), rel=1e-15)
    real, imag = stencil.complex_values(Counted(lambda z: np.stack([z, z**2]), vector=True), x, steps)
    assert imag.shape == (4, 2, 4) and np.array_equal(imag[2, 1], (2 * x[2] * 1e-20) * (np.arange(4) == 2))


def test_along_rounds_to_the_precision_of_x():
    x = np.ones((2, 2), dtype=np.float32)
    v = np.array([1.0, 0.0, 0.0, -1.0])
    p = stencil.along(x, v, 1e-9)
    assert p.dtype == np.float32 and p.shape == (2, 2) and np.array_equal(p, x)  # below float32's spacing
    z = stencil.along(x, v, 1e-9j)
    assert z.dtype == np.complex64 and z[0, 0] == np.complex64(1 + 1e-9j) and z[1, 1].imag == np.float32(-1e-9)


def test_counted_vector_mode_checks_what_f_returns():
    counted = Counted(F, vector=True)
    x = np.ones(3)
    assert counted(x).dtype == np.float64 and counted.shape == (2, 3)
    with pytest.raises(ValueError, match=r"arrays of one shape; got \(2, 3\) first and \(2, 4\) at evaluation 2"):
        counted(np.ones(4))
    with pytest.raises(
        ValueError, match=r"finite values; got inf at output index \[1\], evaluation 1 \(at x \+ h\*e\[0\]\)"
    ):
        Counted(lambda p: np.array([0.0, np.inf]), vector=True)(x, (0, 1.0))
    with pytest.raises(TypeError, match="real numeric array; got array of shape"):
        Counted(lambda p: p + 1j, vector=True)(x)
    with pytest.raises(TypeError, match="returned a real array for complex input"):
        Counted(np.abs, vector=True).complex(x + 1e-20j)
    assert Counted(np.sin, vector=True).complex(x + 1e-20j).dtype == np.complex128
