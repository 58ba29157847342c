"""gradlab.testing.strategies: what is drawn keeps its promises, and a failure shrinks and replays."""

from __future__ import annotations

import importlib
import math
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

import gradlab
from gradlab.testing import strategies as gst
from gradlab.testing.strategies import MLPCase, NetworkCase

#: deterministic searches: the same example on every run and machine
SEARCH = settings(derandomize=True, database=None, deadline=None, max_examples=100)


@st.composite
def point_requests(draw):
    """A call of gst.points with its arguments, and the point it draws."""
    dtype = draw(st.sampled_from(["float64", "float32"]))
    shape = tuple(draw(st.lists(st.integers(0, 3), max_size=3)))
    kinks = draw(st.lists(st.sampled_from([-1.0, 0.0, 0.5, 2.0]), max_size=3, unique=True))
    margin = draw(st.sampled_from([None, 1e-3, 0.2]))
    domain = draw(st.sampled_from([None, (0.0, math.inf), (-1.0, 1.0), (-math.inf, 3.0)]))
    nonzero = draw(st.booleans())
    kwargs = dict(dtype=dtype, away_from=kinks, margin=margin, domain=domain, magnitude=5.0, nonzero=nonzero)
    return kwargs, shape, draw(gst.points(shape, **kwargs))


@given(point_requests())
def test_points_keep_shape_dtype_margins_and_domain(request):
    kwargs, shape, x = request
    assert x.shape == shape and x.dtype == np.dtype(kwargs["dtype"])
    assert np.isfinite(x).all() and (np.abs(x) <= 5.0).all()
    margin = kwargs["margin"] or gst.MARGINS[kwargs["dtype"]]
    kinks = kwargs["away_from"] + ([0.0] if kwargs["nonzero"] else [])
    for k in kinks:
        assert (np.abs(x.astype(np.float64) - k) >= margin).all(), (k, x)
    low, high = kwargs["domain"] or (-math.inf, math.inf)
    assert ((x >= low + margin) & (x <= high - margin)).all()


@settings(max_examples=5)
@given(gst.points((4,), dtype=np.float32, domain=(0.1, 0.3), margin=0.01))
def test_float32_bounds_are_float32_numbers(x):
    """hypothesis refuses float32 bounds it cannot represent: they are rounded inward."""
    assert x.dtype == np.float32 and ((x.astype(np.float64) - 0.1 >= 0.01) & (0.3 - x.astype(np.float64) >= 0.01)).all()


def test_points_refuse_bad_arguments():
    with pytest.raises(ValueError, match=r"`dtype` must be float64 or float32; got 'float16'"):
        gst.points(3, dtype="float16")
    with pytest.raises(TypeError, match=r"`away_from` must be a sequence of finite floats \(the kinks\)"):
        gst.points(3, away_from=0.0)
    with pytest.raises(ValueError, match=r"`domain` must be a pair \(low, high\) with low < high.*; got \(1.0, 0.0\)"):
        gst.points(3, domain=(1.0, 0.0))
    with pytest.raises(ValueError, match=r"must leave some numbers to draw"):
        gst.points(3, domain=(0.0, 0.015), margin=0.01)
    with pytest.raises(TypeError, match=r"`shape` must be an int, a tuple of ints or a strategy of shapes"):
        gst.points("3")
    with pytest.raises(ValueError, match=r"`magnitude` must be a positive finite float; got -1"):
        gst.points(3, magnitude=-1)


def _leaves(tree):
    if isinstance(tree, dict):
        return [leaf for value in tree.values() for leaf in _leaves(value)]
    if isinstance(tree, list | tuple):
        return [leaf for value in tree for leaf in _leaves(value)]
    return [tree]


def _same(a, b):
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(_same(p, q) for p, q in zip(a, b))
    return np.asarray(b).shape == a.shape and np.array_equal(a, b)


@given(gst.structures())
def test_structures_round_trip_through_flatten(tree):
    assert isinstance(tree, dict | list | tuple) and tree
    flat, structure = gradlab.flatten(tree)
    leaves = _leaves(tree)
    assert flat.shape == (sum(leaf.size for leaf in leaves),)
    assert np.array_equal(flat, np.concatenate([leaf.ravel() for leaf in leaves]))
    names = [leaf.name for leaf in structure.leaves]
    assert len(names) == len(leaves) == len(set(names))  # one named block per leaf
    assert _same(tree, structure.unflatten(flat))


@settings(max_examples=5)
@given(gst.mlps())
def test_mlp_cases_rebuild_from_their_repr_and_check(case):
    again = eval(repr(case), {"MLPCase": MLPCase})
    assert again == case and again is not case
    assert np.array_equal(again.theta, case.theta) and np.array_equal(again.X, case.X)
    net, theta, obj = case
    assert theta.shape == (net.n_params,) and np.count_nonzero(theta) == theta.size  # jittered: no zero bias
    assert gradlab.gradcheck(obj, theta).passed  # gradlab's own backprop is right


#: in the plain run: one kind (each check takes a few tenths of a second); the others under slow
PLAIN_KINDS = ("dense",)


@pytest.mark.parametrize(
    "kind", [k if k in PLAIN_KINDS else pytest.param(k, marks=pytest.mark.slow) for k in gst.KINDS]
)
def test_network_cases_of_every_kind_rebuild_and_check(kind):
    case = find(gst.networks(kinds=[kind]), lambda c: c.width > 1 and c.length > 1, settings=SEARCH)
    again = eval(repr(case), {"NetworkCase": NetworkCase})
    assert np.array_equal(again.theta, case.theta) and np.array_equal(again.X, case.X)
    result = gradlab.gradcheck(case.objective, case.theta)
    assert result.passed, result.message()
    assert list(result.table["block"]) == [b.name for b in case.net.blocks]


@pytest.mark.slow
@settings(max_examples=20, suppress_health_check=[HealthCheck.too_slow])
@given(gst.networks(dtype=np.float32) | gst.networks())
def test_random_networks_pass_their_check(case):
    """float64: passed.  float32: never a false alarm; some entries may stay unverified (an entry far
    below max|g| has a reference bound above rtol in float32's arithmetic), which is inconclusive."""
    result = gradlab.gradcheck(case.objective, case.theta)
    allowed = ("passed", "inconclusive") if case.dtype == "float32" else ("passed",)
    assert result.status in allowed, (case, result.message())


def f(x):
    return float(np.sum(x * np.sin(x)))


def buggy(x):  # x cos x dropped where x > 2
    return np.sin(x) + np.where(x > 2, 0.0, x * np.cos(x))


def test_given_finds_a_planted_bug_and_the_shrunk_example_replays():
    """The example of the module's docstring, run: found, shrunk, replayed."""
    found = []

    @settings(SEARCH, phases=[Phase.generate, Phase.shrink])
    @given(gst.points((3,), magnitude=4.0))
    def check(x):
        found.append(x.copy())
        gradlab.assert_gradcheck(f, x, grad=buggy)

    with pytest.raises(gradlab.GradcheckError) as err:
        check()
    shrunk = found[-1]  # hypothesis replays the shrunk example last, and raises its error
    # hypothesis names it in the error's notes, as its repr
    notes = "".join(getattr(err.value, "__notes__", [])).replace(" ", "").replace("\n", "")
    assert f"x={shrunk!r}".replace(" ", "") in notes
    # shrunk: every entry a small integer, one of them past the bug's edge (entries are drawn one by one)
    assert np.array_equal(shrunk, np.round(shrunk)) and (np.abs(shrunk) <= 3).all() and (shrunk > 2).sum() == 1
    # and it replays: the same verdict, the same entries, by hand
    replay = gradlab.gradcheck(f, shrunk, grad=buggy)
    assert replay.status == "failed" == err.value.result.status
    assert int(replay.table.loc[0, "n_failed"]) == int((shrunk > 2).sum())
    assert replay.max_rel_error == err.value.result.max_rel_error


@pytest.mark.slow
def test_a_planted_mlp_bug_shrinks_to_a_case_that_rebuilds_and_fails_again():
    """A backprop bug that shows only in nets with a hidden layer of 3 or more units, on a batch of
    2 or more (a mean taken over the wrong count): found, shrunk to the smallest such case, and the
    printed case rebuilds the failure."""

    def buggy_grad(case):
        g = gradlab.gradient(case.objective, case.theta, backend="backprop")
        wrong = len(case.sizes) > 2 and max(case.sizes[1:-1]) >= 3 and case.batch >= 2
        return (lambda theta: g * (case.batch / (case.batch - 1))) if wrong else (lambda theta: g)

    def fails(case):
        return not gradlab.gradcheck(case.objective, case.theta, grad=buggy_grad(case)).passed

    case = find(gst.mlps(depth=(0, 2)), fails, settings=SEARCH)
    assert len(case.sizes) == 3 and max(case.sizes[1:-1]) == 3 and case.batch == 2  # the smallest failing shape
    again = eval(repr(case), {"MLPCase": MLPCase})
    assert fails(again)


def test_strategies_name_their_options():
    with pytest.raises(ValueError, match=r"`activations` must be one of .*; got 'swish'"):
        gst.mlps(activations=["swish"])
    with pytest.raises(ValueError, match=r"`heads` must be \(output, loss\) pairs of the loss table"):
        gst.mlps(heads=[("softmax", "hinge")])
    with pytest.raises(ValueError, match=r"`batch` must be a pair \(least, most\).*; got \(3, 1\)"):
        gst.mlps(batch=(3, 1))
    with pytest.raises(ValueError, match=r"`kinds` must be one of 'dense', .*; got 'transformer'"):
        gst.networks(kinds=["transformer"])
    with pytest.raises(TypeError, match=r"`losses` must be a non-empty list; got \[\]"):
        gst.networks(losses=[])


def test_a_clear_import_error_without_hypothesis(monkeypatch):
    monkeypatch.setitem(sys.modules, "hypothesis", None)  # an import of it raises ImportError
    monkeypatch.delitem(sys.modules, "gradlab.testing.strategies")
    with pytest.raises(ImportError, match=r"needs hypothesis: pip install 'gradlab\[testing\]'"):
        importlib.import_module("gradlab.testing.strategies")
