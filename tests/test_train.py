"""Training with any backend: same trajectory, counted cost, untouched data."""

import numpy as np
import pytest

import gradlab
from gradlab.backends import all_backends
from gradlab.backends.complex_step import CROSS_CHECK_EVALUATIONS
from gradlab.experiments.training import TrainingParams, planar_data, run, train


def test_planar_data_is_two_balanced_classes():
    X, Y = planar_data(101, seed=3)
    assert X.shape == (101, 2) and Y.shape == (101, 1)
    assert set(np.unique(Y)) == {0.0, 1.0} and abs(Y.sum() - 50.5) <= 0.5
    assert np.array_equal(planar_data(101, seed=3)[0], X)


def test_every_backend_follows_the_same_trajectory_at_its_own_cost():
    h = run(TrainingParams(m=32, epochs=2, batch_size=16, repeats=2))
    n = gradlab.MLP([2, 8, 8, 1]).n_params
    last = h.groupby("backend").tail(1).set_index("backend")
    steps = 2 * 2  # epochs x batches per epoch
    assert (last["steps"] == steps).all()
    assert last.loc["backprop", "evaluations"] == steps
    assert last.loc["forward", "evaluations"] == steps * (n + 1)
    assert last.loc["central", "evaluations"] == steps * 2 * n
    for b in all_backends():  # every registered backend trains, at its own exact cost (adaptive: at most)
        assert last.loc[b.name, "jvps"] == steps * b.jvps(n)
        if b.jvps(n):  # forward mode: JVPs, no evaluation of J on its own
            assert last.loc[b.name, "evaluations"] == 0 and last.loc[b.name, "jvps"] == steps * n
        elif b.order is None:
            assert 0 < last.loc[b.name, "evaluations"] <= steps * b.evaluations(n)
        else:
            assert last.loc[b.name, "evaluations"] == steps * b.evaluations(n)
    assert last.loc["complex_step", "evaluations"] == steps * (n + CROSS_CHECK_EVALUATIONS)
    assert last.loc["richardson", "evaluations"] == steps * 4 * n
    assert (last["repeats"] == 2).all()
    # the kept time per epoch is the fastest repeat's: never above the median's
    assert (h["seconds"] <= h["seconds_high"] + 1e-12).all() and h.groupby("backend")[
        "seconds"
    ].is_monotonic_increasing.all()
    costs = h.pivot(index="epoch", columns="backend", values="cost")
    np.testing.assert_allclose(costs["complex_step"], costs["backprop"], rtol=1e-12)
    np.testing.assert_allclose(costs["central"], costs["backprop"], rtol=1e-7)
    np.testing.assert_allclose(costs["forward_ad"], costs["backprop"], rtol=1e-12)  # exact, as backprop is
    np.testing.assert_allclose(costs["forward"], costs["backprop"], rtol=1e-4)
    assert costs["backprop"].iloc[-1] < costs["backprop"].iloc[0]  # it learns


def test_training_leaves_the_data_and_start_alone():
    X, Y = planar_data(40)
    Xb, Yb = X.copy(), Y.copy()
    net = gradlab.MLP([2, 4, 1])
    theta0 = net.init(seed=2)
    before = theta0.copy()
    theta, hist = train(net, X, Y, epochs=2, batch_size=8, theta=theta0)
    assert np.array_equal(X, Xb) and np.array_equal(Y, Yb) and np.array_equal(theta0, before)
    assert not np.array_equal(theta, theta0) and list(hist["epoch"]) == [0, 1, 2]


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        ({"backend": "sgd"}, ValueError, "`backend` must be one of"),
        ({"epochs": 0}, ValueError, "`epochs` must be a positive integer; got 0"),
        ({"batch_size": 2.5}, TypeError, "`batch_size` must be a positive integer; got 2.5"),
        ({"learning_rate": -1}, ValueError, "`learning_rate` must be a positive finite float; got -1"),
    ],
)
def test_bad_training_arguments(kwargs, exc, match):
    X, Y = planar_data(10)
    with pytest.raises(exc, match=match):
        train(gradlab.MLP([2, 3, 1]), X, Y, **kwargs)


def test_planar_data_refuses_a_bad_size():
    with pytest.raises(ValueError, match="`m` must be an integer of at least 2; got 1"):
        planar_data(1)
