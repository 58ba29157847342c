"""Every bad input gets a ValueError/TypeError that names the argument and the value."""

import numpy as np
import pytest

import gradlab

NET = gradlab.MLP([2, 3, 1])
OBJ = NET.objective(np.zeros((4, 2)), np.zeros((4, 1)))
SQ = lambda x: float(np.sum(x**2))  # noqa: E731


@pytest.mark.parametrize(
    "call, exc, match",
    [
        # names
        (
            lambda: gradlab.gradient(SQ, [1.0], backend="backwards"),
            ValueError,
            r"`backend` must be one of 'forward', 'central', 'backprop'.*; got 'backwards'",
        ),
        (lambda: gradlab.gradient(SQ, [1.0], backend=3), TypeError, r"`backend` must be a string.*got 3"),
        (lambda: gradlab.MLP([2, 1], output="softmaxx"), ValueError, r"`output` must be one of .*got 'softmaxx'"),
        (lambda: gradlab.MLP([2, 3, 1], activation="swish"), ValueError, r"`activation` must be one of .*got 'swish'"),
        (
            lambda: gradlab.MLP([2, 3, 1], activation="softmax"),
            ValueError,
            r"`activation` must be one of .*got 'softmax'",
        ),
        (
            lambda: gradlab.MLP([2, 3, 3, 1], activation=["tanh"]),
            ValueError,
            r"`activation` must be one name or a list of 2 names",
        ),
        (
            lambda: gradlab.MLP([2, 1], loss="hinge"),
            ValueError,
            r"`loss` must be one of 'cross_entropy', 'mse'; got 'hinge'",
        ),
        (
            lambda: gradlab.MLP([2, 1], output="identity", loss="cross_entropy"),
            ValueError,
            r"'cross_entropy' needs output 'sigmoid' or 'softmax'; got output 'identity'",
        ),
        (
            lambda: gradlab.gradcheck(OBJ, NET.init(), reference="backprop"),
            ValueError,
            r"`reference` must be one of 'auto', 'forward', 'central', 'richardson', 'complex_step'",
        ),
        # the step
        (lambda: gradlab.gradient(SQ, [1.0], h=-1e-3), ValueError, r"`h` must be a positive finite float; got -0.001"),
        (lambda: gradlab.gradient(SQ, [1.0], h=0.0), ValueError, r"`h` must be a positive finite float; got 0.0"),
        (
            lambda: gradlab.gradient(SQ, [1.0], h=float("nan")),
            ValueError,
            r"`h` must be a positive finite float; got nan",
        ),
        (
            lambda: gradlab.gradient(SQ, [1.0], h=float("inf")),
            ValueError,
            r"`h` must be a positive finite float; got inf",
        ),
        (lambda: gradlab.gradient(SQ, [1.0], h="1e-3"), TypeError, r"`h` must be a positive finite float; got '1e-3'"),
        (lambda: gradlab.gradient(SQ, [1.0], h=True), TypeError, r"`h` must be a positive finite float; got True"),
        # the point
        (lambda: gradlab.gradient(SQ, [1.0, np.nan]), ValueError, r"`x` must be finite; got nan at index 1"),
        (lambda: gradlab.gradient(SQ, [1.0, np.inf]), ValueError, r"`x` must be finite; got inf at index 1"),
        (
            lambda: gradlab.gradient(SQ, np.array([1 + 1j])),
            TypeError,
            r"`x` must be a real numeric array; got array of shape \(1,\) and dtype complex128",
        ),
        (lambda: gradlab.gradient(SQ, ["a"]), TypeError, r"`x` must be a real numeric array"),
        (lambda: gradlab.gradient(SQ, []), ValueError, r"`x` must be a non-empty array"),
        (lambda: gradlab.gradient(OBJ, np.zeros(3)), ValueError, r"`theta` must be a flat vector of shape \(13,\)"),
        (lambda: gradlab.gradient(OBJ, np.full(13, np.nan)), ValueError, r"`theta` must be finite; got nan at index 0"),
        (lambda: OBJ(np.zeros((13, 1))), ValueError, r"`theta` must be a flat vector of shape \(13,\)"),
        (
            lambda: NET.params(np.zeros(13, np.float32)),
            ValueError,
            r"`theta` must be a contiguous numpy array of shape \(13,\) and dtype float64",
        ),
        (lambda: NET.params(np.zeros(26)[::2]), ValueError, r"`theta` must be a contiguous numpy array"),
        (lambda: NET.random_batch(0), ValueError, r"`m` must be a positive integer; got 0"),
        (lambda: NET.random_batch(2.0), TypeError, r"`m` must be a positive integer; got 2.0"),
        # the function
        (
            lambda: gradlab.gradient(42, [1.0]),
            TypeError,
            r"`f` must be a callable f\(x\) -> float or an MLP objective; got 42",
        ),
        (
            lambda: gradlab.gradient(lambda x: x, [1.0, 2.0]),
            TypeError,
            r"`f` must return a real scalar; got array of shape \(2,\) at evaluation 1",
        ),
        (
            lambda: gradlab.gradient(lambda x: "1", [1.0]),
            TypeError,
            r"`f` must return a real scalar; got '1' at evaluation 1",
        ),
        (lambda: gradlab.gradient(lambda x: None, [1.0]), TypeError, r"`f` must return a real scalar; got None"),
        (lambda: gradlab.gradient(lambda x: True, [1.0]), TypeError, r"`f` must return a real scalar; got True"),
        (lambda: gradlab.gradient(lambda x: 1j, [1.0]), TypeError, r"`f` must return a real scalar; got 1j"),
        (
            lambda: gradlab.gradient(
                lambda x: 1.0 / (x[1] - 2.0) if x[1] != 2 else np.inf, [1.0, 2.0 - 1e-7], backend="central", h=1e-7
            ),
            ValueError,
            r"`f` must return a finite scalar; got inf at evaluation 4 \(at x \+ h\*e\[1\]\)",
        ),
        (
            lambda: gradlab.gradient(lambda x: np.log(x[0] - 1.0), [1.0 + 1e-7], backend="central", h=1e-6),
            ValueError,
            r"got nan at evaluation 1 \(at x - h\*e\[0\]\)",
        ),
        (
            lambda: gradlab.gradient(SQ, [1.0], backend="backprop"),
            TypeError,
            r"backend 'backprop' needs an objective with an analytic gradient.*plain callable",
        ),
        (lambda: gradlab.gradcheck(SQ, [1.0]), TypeError, r"gradcheck needs an analytic gradient.*pass `grad=`"),
        (lambda: gradlab.gradcheck(SQ, [1.0], grad=3), TypeError, r"`grad` must be a callable"),
        (
            lambda: gradlab.gradcheck(SQ, [1.0, 2.0], grad=lambda x: x[:1]),
            ValueError,
            r"`grad\(x\)` must return an array of shape \(2,\); got shape \(1,\)",
        ),
        (
            lambda: gradlab.gradcheck(SQ, [1.0], grad=lambda x: np.array([np.nan])),
            ValueError,
            r"`grad\(x\)` must be finite; got nan",
        ),
        (
            lambda: gradlab.gradcheck(SQ, [1.0], grad=lambda x: 2 * x, rtol=0),
            ValueError,
            r"`rtol` must be a positive finite float; got 0",
        ),
        (
            lambda: gradlab.gradcheck(SQ, [1.0], grad=lambda x: 2 * x, atol=-1),
            ValueError,
            r"`atol` must be a positive finite float; got -1",
        ),
        # the network and its data
        (lambda: gradlab.MLP([]), ValueError, r"`sizes` must be at least two widths"),
        (lambda: gradlab.MLP([3]), ValueError, r"`sizes` must be at least two widths"),
        (lambda: gradlab.MLP([3, 0, 1]), ValueError, r"`sizes` must be positive widths.*got \[3, 0, 1\]"),
        (lambda: gradlab.MLP([3, 2.5, 1]), TypeError, r"`sizes` must be a list of integers; got \[3, 2.5, 1\]"),
        (lambda: gradlab.MLP("32"), TypeError, r"`sizes` must be a list of layer widths"),
        (lambda: gradlab.MLP([2, 1], l2=-0.1), ValueError, r"`l2` must be a non-negative finite float; got -0.1"),
        (
            lambda: gradlab.MLP([2, 1], l2=float("inf")),
            ValueError,
            r"`l2` must be a non-negative finite float; got inf",
        ),
        (
            lambda: gradlab.MLP([2, 1], dtype="float16"),
            ValueError,
            r"`dtype` must be float64 or float32; got 'float16'",
        ),
        (lambda: gradlab.MLP([2, 1], dtype="banana"), TypeError, r"`dtype` must be float64 or float32; got 'banana'"),
        (
            lambda: NET.objective(np.zeros((4, 3)), np.zeros((4, 1))),
            ValueError,
            r"`X` must be a 2-D array of shape \(m, 2\).*got array of shape \(4, 3\)",
        ),
        (lambda: NET.objective(np.zeros(2), np.zeros(1)), ValueError, r"`X` must be a 2-D array of shape \(m, 2\)"),
        (lambda: NET.objective(np.zeros((0, 2)), np.zeros((0, 1))), ValueError, r"`X` must be a 2-D array.*m >= 1"),
        (
            lambda: NET.objective(np.zeros((4, 2)), np.zeros((3, 1))),
            ValueError,
            r"`Y` must be an array of shape \(4, 1\) to match X and the network; got array of shape \(3, 1\)",
        ),
        (lambda: NET.objective([[0.0, np.nan]], [[0.0]]), ValueError, r"`X` must be finite; got nan at index \(0, 1\)"),
        (lambda: NET.objective([[0.0, 0.0]], [[np.inf]]), ValueError, r"`Y` must be finite; got inf"),
        # targets the head's loss is not defined for
        (
            lambda: NET.objective(np.zeros((2, 2)), [[0.5], [1.5]]),
            ValueError,
            r"`Y` must hold probabilities in \[0, 1\] for a cross-entropy loss; got 1.5 at index \(1, 0\)",
        ),
        (
            lambda: gradlab.MLP([2, 3], output="softmax").objective(np.zeros((2, 2)), [[1, 0, 0], [0.5, 0.25, 0]]),
            ValueError,
            r"`Y` must have rows that sum to 1 for softmax \+ cross-entropy .*; got row 1 summing to 0.75",
        ),
    ],
)
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the user's own log
def test_bad_input_is_refused_clearly(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_error_from_deep_inside_f_reaches_the_caller_unchanged():
    def f(x):
        raise KeyError("user bug")

    with pytest.raises(KeyError, match="user bug"):
        gradlab.gradient(f, [1.0])


def test_one_dimensional_targets_are_accepted_for_one_output():
    obj = NET.objective(np.zeros((4, 2)), np.zeros(4))
    assert obj.Y.shape == (4, 1)


def test_integer_data_is_converted():
    obj = NET.objective(np.zeros((4, 2), dtype=int), np.zeros((4, 1), dtype=int))
    assert obj.X.dtype == obj.Y.dtype == np.float64
