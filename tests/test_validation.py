"""The holes of issue 16's validation list, each closed with the message it now gives.

Every case here once reached the user as an error from deep inside numpy (an
``IndexError``, "SeedSequence expects int", "inhomogeneous shape"), as a silent wrong
computation (a complex cotangent cut to its real part, float16 differences), or was
accepted when it should not be (``seed=True``, NaN stencil weights).
"""

import numpy as np
import pytest

import gradlab
from gradlab.experiments import training

SQ = lambda x: float(np.sum(np.asarray(x) ** 2))  # noqa: E731
TWICE = lambda x: 2 * np.asarray(x)  # noqa: E731
NET = gradlab.MLP([2, 3, 1])

# -- a 0-d non-finite x, at every entry point ----------------------------------------------------

ENTRY_POINTS = {
    "gradient": lambda x: gradlab.gradient(SQ, x),
    "differentiate": lambda x: gradlab.differentiate(SQ, x),
    "gradcheck": lambda x: gradlab.gradcheck(SQ, x, grad=TWICE),
    "gradcheck-fast": lambda x: gradlab.gradcheck(SQ, x, grad=TWICE, fast=True),
    "jacobian": lambda x: gradlab.jacobian(TWICE, x),
    "assert_gradcheck": lambda x: gradlab.assert_gradcheck(SQ, x, grad=TWICE),
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("wrap", [np.array, float, np.float64], ids=["0-d array", "float", "numpy scalar"])
def test_a_non_finite_scalar_x_is_refused_by_every_entry_point(entry, bad, wrap):
    with pytest.raises(ValueError, match=rf"^`x` must be finite; got {bad}$"):
        ENTRY_POINTS[entry](wrap(bad))


@pytest.mark.parametrize("entry", ["gradient", "gradcheck", "jacobian"])
def test_a_non_finite_entry_is_located(entry):
    x = np.zeros((2, 3))
    x[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"`x` must be finite; got nan at index \(1, 2\)"):
        ENTRY_POINTS[entry](x)
    with pytest.raises(ValueError, match=r"`x` must be finite; got inf at index 4$"):
        ENTRY_POINTS[entry](np.array([0.0, 1.0, 2.0, 3.0, np.inf]))


@pytest.mark.parametrize("entry", ["gradient", "gradcheck", "jacobian"])
def test_a_non_finite_scalar_leaf_is_refused_by_name(entry):
    f = {"gradient": lambda: gradlab.gradient(lambda d: d["b"] ** 2, {"a": np.ones(2), "b": np.float64(np.nan)})}
    f["gradcheck"] = lambda: gradlab.gradcheck(lambda d: d["b"] ** 2, {"b": np.array(np.inf)}, grad=TWICE)
    f["jacobian"] = lambda: gradlab.jacobian(lambda d: np.array([d["b"]]), {"b": np.nan})
    with pytest.raises(ValueError, match=r"^`x\['b'\]` must be finite; got (nan|inf)$"):
        f[entry]()


# -- seeds ---------------------------------------------------------------------------------------

SEEDED = {
    "MLP.init": lambda s: NET.init(seed=s),
    "MLP.random_batch": lambda s: NET.random_batch(3, seed=s)[0],
    "planar_data": lambda s: training.planar_data(6, seed=s)[0],
    "train": lambda s: training.train(NET, *training.planar_data(6), epochs=1, seed=s)[0],
}


@pytest.mark.parametrize("where", SEEDED)
@pytest.mark.parametrize(
    "seed, exc",
    [(-1, ValueError), (True, TypeError), (False, TypeError), ("0", TypeError), (1.5, TypeError), (2.0, TypeError)],
)
def test_a_seed_is_a_non_negative_integer(where, seed, exc):
    with pytest.raises(exc, match=rf"^`seed` must be a non-negative integer seed( or None)?; got {seed!r}$"):
        SEEDED[where](seed)


@pytest.mark.parametrize("where", SEEDED)
@pytest.mark.parametrize("kind", [np.int64, np.int32, np.uint8])
def test_a_numpy_integer_seed_is_the_same_seed(where, kind):
    assert np.array_equal(SEEDED[where](kind(3)), SEEDED[where](3))


def test_seed_none_draws_fresh_parameters_where_documented():
    a, b = NET.init(seed=None), NET.init(seed=None)
    assert a.shape == b.shape == (NET.n_params,) and not np.array_equal(a, b)
    with pytest.raises(TypeError, match=r"`seed` must be a non-negative integer seed; got None"):
        training.planar_data(6, seed=None)


# -- positive integers: numpy integers are integers ------------------------------------------------


@pytest.mark.parametrize("kind", [int, np.int64, np.int32, np.uint16])
def test_numpy_integers_are_accepted_wherever_a_count_is_taken(kind):
    X, Y = training.planar_data(kind(8))
    assert X.shape == (8, 2)
    theta, history = training.train(NET, X, Y, epochs=kind(2), batch_size=kind(4))
    assert list(history["epoch"]) == [0, 1, 2] and list(history["steps"]) == [0, 2, 4]
    assert NET.random_batch(kind(5))[0].shape == (5, 2)


@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: training.planar_data(1), ValueError, r"`m` must be an integer of at least 2; got 1"),
        (lambda: training.planar_data(np.int64(1)), ValueError, r"`m` must be an integer of at least 2; got 1"),
        (lambda: training.planar_data(4.0), TypeError, r"`m` must be an integer of at least 2; got 4.0"),
        (lambda: training.planar_data(True), TypeError, r"`m` must be an integer of at least 2; got True"),
        (lambda: training.planar_data(8, noise=-0.1), ValueError, r"`noise` must be a non-negative finite"),
        (lambda: training.train(NET, *training.planar_data(8), epochs=0), ValueError, r"`epochs` .*; got 0"),
        (
            lambda: training.train(NET, *training.planar_data(8), batch_size=np.int64(-2)),
            ValueError,
            r"`batch_size` must be a positive integer; got -2",
        ),
        (lambda: training.train(NET, *training.planar_data(8), epochs="3"), TypeError, r"`epochs` .*; got '3'"),
        (lambda: NET.random_batch(np.int64(0)), ValueError, r"`m` must be a positive integer; got 0"),
        (lambda: NET.random_batch(2.0), TypeError, r"`m` must be a positive integer; got 2.0"),
        (
            lambda: training.run(training.TrainingParams(repeats=0, backends=("backprop",))),
            ValueError,
            r"`repeats` must be a positive integer; got 0",
        ),
    ],
)
def test_counts_are_refused_clearly(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# -- ragged leaves -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "x, path",
    [
        ({"a": [[1.0, 2.0], [3.0]]}, r"x\['a'\]"),
        ({"a": np.ones(2), "b": [np.ones(2), [[1.0], [2.0, 3.0]]]}, r"x\['b'\]\[1\]"),
        ([np.ones(2), [[1.0, 2.0], [3.0]]], r"x\[1\]"),
    ],
)
def test_a_ragged_leaf_is_named_by_its_path(x, path):
    with pytest.raises(TypeError, match=rf"^`{path}` must be a real numeric array \(rows of one length, not a ragged"):
        gradlab.gradient(lambda t: 0.0, x)


def test_a_ragged_array_x_says_it_is_ragged():
    for call in (lambda: gradlab.gradient(SQ, [[1.0, 2.0], [3.0]]), lambda: gradlab.jacobian(TWICE, [[1.0], []])):
        with pytest.raises(TypeError, match=r"^`x` must be a real numeric array \(rows of one length, not a ragged"):
            call()


# -- a difference scheme's stencil and tolerances ------------------------------------------------


def _scheme(**kw):
    args = {"offsets": (-1, 1), "weights": (-1, 1), "divisor": 2, "order": 2} | kw
    return gradlab.DifferenceScheme("mine", **args)


@pytest.mark.parametrize(
    "kw, exc, match",
    [
        ({"weights": (np.nan, 1)}, ValueError, r"`weights\[0\]` must be a finite real number; got nan"),
        ({"weights": (-1, np.inf)}, ValueError, r"`weights\[1\]` must be a finite real number; got inf"),
        ({"offsets": (-1, np.nan)}, ValueError, r"`offsets\[1\]` must be a finite real number; got nan"),
        ({"offsets": (-1, "1")}, TypeError, r"`offsets\[1\]` must be a finite real number; got '1'"),
        ({"offsets": (-1, 1j)}, TypeError, r"`offsets\[1\]` must be a finite real number; got 1j"),
        ({"weights": "-11"}, TypeError, r"`weights` must be a sequence of finite real numbers; got '-11'"),
        ({"offsets": 1.0}, TypeError, r"`offsets` must be a sequence of finite real numbers; got 1.0"),
        (
            {"tolerances": {"float64": (-1e-6, 0.0)}},
            ValueError,
            r"`tolerances\['float64'\] rtol` must be a non-negative finite float; got -1e-06",
        ),
        (
            {"tolerances": {"float32": (1e-4, np.nan)}},
            ValueError,
            r"`tolerances\['float32'\] atol` must be a non-negative finite float; got nan",
        ),
        ({"tolerances": {"float64": 1e-6}}, TypeError, r"`tolerances\['float64'\]` must be a pair \(rtol, atol\)"),
        ({"tolerances": {"f64": (1e-6, 0)}}, ValueError, r"`tolerances key` must be one of 'float64', 'float32'"),
        ({"tolerances": (1e-6, 0)}, TypeError, r"`tolerances` must be a dict"),
    ],
)
def test_a_stencil_with_nan_or_a_negative_tolerance_is_refused(kw, exc, match):
    with pytest.raises(exc, match=match):
        _scheme(**kw)


def test_a_valid_scheme_keeps_its_tolerances_as_floats():
    scheme = _scheme(tolerances={"float64": (1e-7, 0), "float32": (np.float32(1e-3), 1e-5)})
    assert scheme.tolerances == {"float64": (1e-7, 0.0), "float32": (pytest.approx(1e-3), 1e-5)}
    assert scheme.tolerance("float64") == (1e-7, 0.0)
    with pytest.raises(TypeError, match=r"`name` must be a non-empty string; got 3"):
        gradlab.DifferenceScheme(3, offsets=(-1, 1), weights=(-1, 1), divisor=2, order=2)


# -- cotangents ----------------------------------------------------------------------------------


def _layer(x, w):
    return x @ w


def _layer_backward(x, w, u):
    return u @ w.T, x.T @ u


X2, W2 = np.arange(6.0).reshape(2, 3) / 5, np.arange(6.0).reshape(3, 2) / 7


@pytest.mark.parametrize(
    "u, exc, match",
    [
        (
            "abc",
            TypeError,
            r"`cotangent` must be a real numeric array of shape \(2, 2\) \(the shape of f\(x\)\); got 'abc'",
        ),
        (np.array([["a", "b"], ["c", "d"]]), TypeError, r"`cotangent` must be a real numeric array of shape \(2, 2\)"),
        (np.ones((2, 2)) * (1 + 1j), TypeError, r"`cotangent` must be a real array .*dtype complex128"),
        (np.ones((2, 2)) + 0j, TypeError, r"`cotangent` must be a real array"),  # even with 0 imaginary part
        (np.ones(3), ValueError, r"`cotangent` must have the shape of f\(x\), \(2, 2\); got \(3,\)"),
        ([[1.0, 2.0], [3.0]], TypeError, r"`cotangent` must be a real numeric array \(rows of one length"),
        (np.array([[1.0, np.nan], [0.0, 0.0]]), ValueError, r"`cotangent` must be finite; got nan at index \(0, 1\)"),
        (np.array(np.inf), ValueError, r"`cotangent` must have the shape of f\(x\)"),
    ],
)
def test_a_bad_cotangent_is_refused_clearly(u, exc, match):
    with pytest.raises(exc, match=match):
        gradlab.gradcheck(_layer, (X2, W2), vjp=_layer_backward, cotangent=u)


def test_a_cotangent_is_never_changed_and_integers_are_accepted():
    u = [[1, -2], [3, 0]]
    result = gradlab.gradcheck(_layer, (X2, W2), vjp=_layer_backward, cotangent=u)
    assert result.passed and u == [[1, -2], [3, 0]]
    given = np.array([[1.0, -2.0], [3.0, 0.5]])
    before = given.copy()
    wrong = gradlab.gradcheck(_layer, (X2, W2), vjp=lambda x, w, u: (u @ w.T, 2 * x.T @ u), cotangent=given)
    assert wrong.status == "failed" and np.array_equal(given, before)


# -- float16 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, path",
    [
        (lambda h: gradlab.gradient(SQ, h), "x"),
        (lambda h: gradlab.differentiate(SQ, h, backend="forward"), "x"),
        (lambda h: gradlab.gradcheck(SQ, h, grad=TWICE), "x"),
        (lambda h: gradlab.jacobian(TWICE, h), "x"),
        (lambda h: gradlab.gradient(lambda d: SQ(d["a"]), {"a": h}), r"x\['a'\]"),
        (lambda h: gradlab.gradcheck(lambda x, w: SQ(x) + SQ(w), (h, h), grad=lambda x, w: (2 * x, 2 * w)), r"x\[0\]"),
        (lambda h: gradlab.jacobian(lambda d: TWICE(d[0]), [h]), r"x\[0\]"),
        (lambda h: gradlab.gradient(lambda d: SQ(d["s"]), {"s": h[0]}), r"x\['s'\]"),
    ],
)
def test_float16_is_refused_alike_for_an_array_and_a_structure(call, path):
    """Before: a flat float16 array was silently upcast to float64, a float16 leaf silently
    computed in float16 (eps ~ 1e-3: every quotient is rounding noise).  Now both refuse."""
    h = np.array([0.5, -1.0], dtype=np.float16)
    with pytest.raises(TypeError, match=rf"^`{path}` must be float64 or float32; got float16 \(finite differences"):
        call(h)


def test_float32_and_integer_leaves_still_work():
    g = gradlab.gradient(lambda d: SQ(d["a"]) + d["n"] ** 2, {"a": np.array([1.0, 2.0], dtype=np.float32), "n": 3})
    assert g["a"].dtype == np.float32 and np.allclose(g["a"], [2.0, 4.0], rtol=1e-3)
    assert isinstance(g["n"], float) and abs(g["n"] - 6.0) < 1e-2


@pytest.mark.parametrize(
    "grad, match",
    [
        (lambda d: {"a": np.ones(2), "s": np.nan}, r"^`grad\(x\)\['s'\]` must be finite; got nan$"),
        (
            lambda d: {"a": np.array([1.0, np.inf]), "s": 1.0},
            r"^`grad\(x\)\['a'\]` must be finite; got inf at index 1$",
        ),
    ],
)
def test_a_non_finite_gradient_leaf_is_named_by_path(grad, match):
    with pytest.raises(ValueError, match=match):
        gradlab.gradcheck(lambda d: np.sum(d["a"]) + d["s"], {"a": np.ones(2), "s": 1.0}, grad=grad)
