"""Every entry of the activation table: f' against central differences and at known points."""

import numpy as np
import pytest

from gradlab.nn.activations import ACTIVATIONS, log_softmax, softmax

NAMES = sorted(ACTIVATIONS)


def _away_from_kinks(act, z, margin=1e-3):
    return z[np.all([np.abs(z - k) > margin for k in act.kinks] or [np.ones_like(z, bool)], axis=0)]


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_central_difference(name):
    act = ACTIVATIONS[name]
    # 2000 points: z = 0 is not among them (elu is C1 but not C2 there)
    z = _away_from_kinks(act, np.linspace(-6, 6, 2000))
    h = 1e-6
    numeric = (act.f(z + h) - act.f(z - h)) / (2 * h)
    analytic = act.df(z, act.f(z))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_complex_input_gives_the_derivative_by_complex_step(name):
    act = ACTIVATIONS[name]
    z = _away_from_kinks(act, np.linspace(-6, 6, 301))
    h = 1e-30
    out = act.f(z + 1j * h)
    np.testing.assert_allclose(out.real, act.f(z), rtol=1e-13, atol=1e-30)
    # atol 1e-15: the reference rules lose *relative* precision where they cancel
    # (1 - a^2 for a saturated tanh has an absolute error of about eps).
    np.testing.assert_allclose(out.imag / h, act.df(z, act.f(z)), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_keeps_float32(name):
    z = np.linspace(-3, 3, 7, dtype=np.float32)
    a = ACTIVATIONS[name].f(z)
    assert a.dtype == np.float32
    assert ACTIVATIONS[name].df(z, a).dtype == np.float32


@pytest.mark.parametrize(
    "name, z, f, df",
    [
        ("sigmoid", 0.0, 0.5, 0.25),
        ("sigmoid", 800.0, 1.0, 0.0),
        ("sigmoid", -800.0, 0.0, 0.0),
        ("tanh", 0.0, 0.0, 1.0),
        ("relu", -2.0, 0.0, 0.0),
        ("relu", 3.0, 3.0, 1.0),
        ("relu", 0.0, 0.0, 0.0),
        ("leaky_relu", -2.0, -0.02, 0.01),
        ("elu", -np.log(2.0), -0.5, 0.5),
        ("elu", 2.0, 2.0, 1.0),
        ("softplus", 0.0, np.log(2.0), 0.5),
        ("softplus", 800.0, 800.0, 1.0),
        ("identity", -1.5, -1.5, 1.0),
        ("hard_sigmoid", 0.0, 0.5, 0.25),
        ("hard_sigmoid", 1.0, 0.75, 0.25),
        ("hard_sigmoid", 3.0, 1.0, 0.0),
        ("hard_sigmoid", -3.0, 0.0, 0.0),
        ("hard_tanh", 0.5, 0.5, 1.0),
        ("hard_tanh", -4.0, -1.0, 0.0),
    ],
)
def test_known_values(name, z, f, df):
    act = ACTIVATIONS[name]
    z = np.array([z])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow warnings at large |z|
        a = act.f(z)
        assert a[0] == pytest.approx(f, rel=1e-15, abs=1e-300)
        assert act.df(z, a)[0] == pytest.approx(df, rel=1e-15, abs=1e-300)


def test_sigmoid_tail_keeps_relative_precision():
    # For z < 0, e^z / (1 + e^z) has no cancellation: the reference value.
    z = np.array([-30.0, -700.0])
    np.testing.assert_allclose(ACTIVATIONS["sigmoid"].f(z), np.exp(z) / (1 + np.exp(z)), rtol=1e-15)


def test_softmax_and_log_softmax_are_stable():
    z = np.array([[1000.0, 0.0, -1000.0], [1.0, 2.0, 3.0]])
    p = softmax(z)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert np.all(np.isfinite(log_softmax(z)))
    assert log_softmax(z)[0, 2] == pytest.approx(-2000.0)
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(p[1], e / e.sum(), rtol=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_complex_input_far_out_raises_no_overflow(name):
    z = np.array([-800.0, -30.0, 30.0, 800.0]) + 1e-20j
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        a = ACTIVATIONS[name].f(z)
    assert np.all(np.isfinite(a))


@pytest.mark.parametrize(
    "name, exact",
    [
        ("tanh", lambda z: 1.0 / np.cosh(z) ** 2),
        ("sigmoid", lambda z: np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z))) ** 2),
    ],
)
def test_derivatives_from_the_output_keep_their_digits_where_the_unit_saturates(name, exact):
    # 1 - a^2 (1 - a) from a rounded to within eps of 1 loses digits: at z = 12, tanh' from
    # 1 - a^2 was 1e-5 off relative, which a complex-step check of the network calls a bug
    z = np.linspace(-30.0, 30.0, 2001)
    act = ACTIVATIONS[name]
    a = act.f(z)
    np.testing.assert_allclose(act.df(z, a), exact(z), rtol=1e-14)
    zc = z + 1e-20j  # the complex step through the derivative (the HVP's reference) keeps its branch
    np.testing.assert_allclose(act.df(zc, act.f(zc)).real, exact(z), rtol=1e-14)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-14), (np.float32, 2e-6)])
def test_tanh_derivatives_keep_their_digits_in_any_shape_and_precision(dtype, rtol):
    # the real hot path (1 - a^2, saturated entries recomputed by flat index) on a 2-D batch, a
    # non-contiguous view, a 0-d array and a numpy scalar, against sech^2 and -2 tanh sech^2 in float64
    act = ACTIVATIONS["tanh"]
    z = np.linspace(-20.0, 20.0, 64 * 7).reshape(64, 7).astype(dtype)
    for zz in (z, z[:, ::2], z[3, 5], np.asarray(z[3, 5]), np.asarray(0.3, dtype=dtype)):
        a = np.tanh(zz)
        z64 = np.asarray(zz, dtype=np.float64)
        sech2 = 1.0 / np.cosh(z64) ** 2
        got = act.df(zz, a)
        assert np.shape(got) == np.shape(zz) and np.asarray(got).dtype == dtype
        np.testing.assert_allclose(got, sech2, rtol=rtol)
        np.testing.assert_allclose(act.d2f(zz, a), -2.0 * np.tanh(z64) * sech2, rtol=4 * rtol, atol=1e-300)
    z_before = z.copy()
    act.df(z, np.tanh(z))
    np.testing.assert_array_equal(z, z_before)  # z is read, never written


def test_a_saturated_tanh_output_is_no_false_alarm():
    # found by hypothesis: MLP([1, 4, 2, 1, 1]) with elu and a saturated tanh output under mse
    # failed against the complex step (max relative error 1.3e-6) because backprop's tanh' lost digits
    import gradlab

    net = gradlab.MLP([1, 4, 2, 1, 1], activation=["elu"] * 3, output="tanh", loss="mse")
    for seed in range(12):
        rng = np.random.default_rng(seed)
        X, Y = net.random_batch(3, seed=seed)
        theta = (net.init(seed=seed) + 0.2 * rng.normal(size=net.n_params)) * 8.0
        result = gradlab.gradcheck(net.objective(X, Y), theta)
        assert result.status != "failed", result.message()


def test_complex_tanh_is_numpys_to_a_few_ulp_everywhere_and_carries_the_complex_step():
    EPS = np.finfo(np.float64).eps
    # the activation's complex tanh is computed from real functions (cheaper than numpy's ctanh);
    # it must be the same function: on a grid of tiny to huge real parts and imaginary parts from a
    # complex step's to O(1), in one piece and in many (a large array), contiguous or not
    from gradlab.nn.activations import _TANH_PIECE, _complex_tanh

    x = np.concatenate(
        [[0.0, -0.0, 1e-300, -1e-12, 1e-8, 0.3, -2.0, 19.0, -40.0, 400.0, -1e308], np.linspace(-30, 30, 601)]
    )
    y = np.array([0.0, 1e-300, 1e-20, 3e-9, -1e-8, 1e-6, -3e-4, 0.1, -1.2, 3.0])
    z = (x[:, None] + 1j * y[None, :]).reshape(-1)
    # all at once, and one imaginary part at a time (a complex step's tiny ones take a shortcut)
    for zz in (z, *(x + 1j * yy for yy in y)):
        got, want = _complex_tanh(zz), np.tanh(zz)
        for part in ("real", "imag"):
            g, w = getattr(got, part), getattr(want, part)
            assert np.all(np.abs(g - w) <= 8 * EPS * np.abs(w) + 1e-300), (part, zz[0].imag)
    big = np.repeat(z, -(-3 * _TANH_PIECE // z.size))  # several pieces
    assert np.array_equal(
        _complex_tanh(big), np.concatenate([_complex_tanh(big[:_TANH_PIECE]), _complex_tanh(big[_TANH_PIECE:])])
    )
    strided = big[::3]
    np.testing.assert_allclose(_complex_tanh(strided), np.tanh(strided), rtol=8 * EPS, atol=1e-300)
    # infinities and NaN as numpy's: tanh(+-inf + 0i) = +-1, NaN stays NaN
    special = _complex_tanh(np.array([np.inf + 0j, -np.inf + 0j, complex(np.nan, 0.0)]))
    assert special[0] == 1 and special[1] == -1 and np.isnan(special[2].real)
    # the complex step through it: Im tanh(x + i h) / h = sech^2 x, to rounding
    h = 1e-20
    xs = np.linspace(-20, 20, 401)
    np.testing.assert_allclose(_complex_tanh(xs + 1j * h).imag / h, 1 / np.cosh(xs) ** 2, rtol=4 * EPS)


def test_complex_tanh_in_single_precision_and_on_0d_arrays():
    # complex64 (a float32 network's complex step) to a few float32 ulp; a 0-d array (a scalar f's
    # complex step) and forward mode's duals still go through numpy's tanh, with the same values
    from gradlab.nn.activations import _complex_tanh

    tanh = ACTIVATIONS["tanh"].f
    eps32 = np.finfo(np.float32).eps
    x = np.random.default_rng(1).normal(size=1000) * 5
    for y in (0.0, 1e-20, 1e-6, 0.3):
        z = (x + 1j * y).astype(np.complex64)
        got, want = _complex_tanh(z), np.tanh(z)
        assert got.dtype == np.complex64
        for part in ("real", "imag"):
            g, w = getattr(got, part), getattr(want, part)
            assert np.all(np.abs(g - w) <= 8 * eps32 * np.abs(w) + 1e-38), (part, y)
    z0 = np.array(0.3 + 1e-20j)
    assert tanh(z0) == np.tanh(z0) and np.ndim(tanh(z0)) == 0
