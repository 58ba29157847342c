"""The seed network: layout, cost definition, and backprop against references."""

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import gradlab
import gradlab.experiments.gradcheck_zoo
from gradlab.nn.activations import ACTIVATIONS
from tests.netdata import make_data

SMOOTH = [name for name, a in ACTIVATIONS.items() if not a.kinks]
KINKED = [name for name, a in ACTIVATIONS.items() if a.kinks]
HEADS = list(gradlab.nn.HEADS)  # every valid output/loss pair of the loss table
SMOOTH_HEADS = [(output, loss) for output, loss in HEADS if output not in KINKED]


# -- an independent reference: one sample at a time, column vectors, textbook formulas --------


def _f(name, z):
    return {
        "sigmoid": lambda: 1 / (1 + np.exp(-z)),
        "tanh": lambda: np.tanh(z),
        "relu": lambda: np.maximum(z, 0),
        "leaky_relu": lambda: np.where(z > 0, z, 0.01 * z),
        "elu": lambda: np.where(z > 0, z, np.exp(z) - 1),
        "softplus": lambda: np.log(1 + np.exp(z)),
        "identity": lambda: z,
        "hard_sigmoid": lambda: np.clip(0.25 * z + 0.5, 0, 1),
        "hard_tanh": lambda: np.clip(z, -1, 1),
        "softmax": lambda: np.exp(z) / np.exp(z).sum(),
    }[name]()


def reference_cost(net, theta, X, Y):
    L = net.n_layers
    Ws, bs, off = [], [], 0
    for n_in, n_out in zip(net.sizes[:-1], net.sizes[1:]):
        Ws.append(theta[off : off + n_in * n_out].reshape(n_out, n_in))
        off += n_in * n_out
        bs.append(theta[off : off + n_out].reshape(n_out, 1))
        off += n_out
    total = 0.0
    for x, y in zip(X, Y):
        a, y = x.reshape(-1, 1), y.reshape(-1, 1)
        for l in range(L):
            z = Ws[l] @ a + bs[l]  # the seeds' z = W a + b
            a = _f(net.activations[l] if l < L - 1 else net.output, z)
        if net.loss == "mse":
            total += 0.5 * np.sum((a - y) ** 2)
        elif net.output == "sigmoid":
            total += -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a))
        else:
            total += -np.sum(y * np.log(a))
    return total / len(X) + 0.5 * net.l2 * sum(np.sum(W**2) for W in Ws)


@pytest.mark.parametrize("output, loss", HEADS)
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_cost_matches_the_per_sample_textbook_formula(act, output, loss):
    net = gradlab.MLP([3, 5, 4, 2], activation=act, output=output, loss=loss, l2=0.3)
    X, Y = make_data(net, 6, seed=1)
    theta = net.init(seed=2) + 0.1 * np.random.default_rng(3).normal(size=net.n_params)
    assert net.objective(X, Y)(theta) == pytest.approx(reference_cost(net, theta, X, Y), rel=1e-13)


def test_heads_are_exactly_the_pairs_the_network_accepts():
    outputs = [*ACTIVATIONS, *gradlab.nn.OUTPUT_ONLY]
    accepted = set()
    for output in outputs:
        for loss in ("cross_entropy", "mse"):
            try:
                gradlab.MLP([2, 3, 2], output=output, loss=loss)
            except ValueError:
                continue
            accepted.add((output, loss))
    assert set(HEADS) == accepted and len(HEADS) == len(accepted) == 12  # mse on 10 outputs, CE on 2
    assert set(gradlab.experiments.gradcheck_zoo.GradcheckZooParams().heads) == accepted  # the zoo's own claim


@pytest.mark.parametrize("output, loss", HEADS)
def test_every_head_draws_targets_its_own_check_accepts(output, loss):
    net = gradlab.MLP([3, 4], output=output, loss=loss)
    X, Y = net.random_batch(50, seed=3)
    assert Y.shape == (50, 4) and Y.dtype == np.float64
    net.objective(X, Y)  # no error: the head's check accepts the head's targets
    if loss == "cross_entropy":
        assert set(np.unique(Y)) == {0.0, 1.0}
        if output == "softmax":
            assert (Y.sum(axis=1) == 1).all()
    else:
        assert (Y < 0).any() and (Y > 1).any()  # standard normal values: any real target


def test_a_new_loss_is_one_row_of_the_table(monkeypatch):
    from gradlab.nn import losses

    def make(output):
        mse = losses.LOSSES["mse"].make(output)
        return losses.Head(output, "mse_01", mse.output, mse.total, mse.delta, lambda rng, m, n: rng.random((m, n)))

    monkeypatch.setitem(losses.LOSSES, "mse_01", losses.Loss("mse_01", ("sigmoid",), make))
    net = gradlab.MLP([3, 4, 2], loss="mse_01")
    X, Y = net.random_batch(5)
    assert ((Y >= 0) & (Y < 1)).all()
    assert gradlab.gradcheck(net.objective(X, Y), net.init()).passed
    with pytest.raises(ValueError, match=r"`loss` 'mse_01' needs output 'sigmoid'; got output 'tanh'"):
        gradlab.MLP([3, 4, 2], output="tanh", loss="mse_01")


def test_parameter_layout_and_views():
    net = gradlab.MLP([3, 4, 2])
    assert net.n_params == 4 * 3 + 4 + 2 * 4 + 2
    assert [(b.name, b.offset, b.shape) for b in net.blocks] == [
        ("W1", 0, (4, 3)),
        ("b1", 12, (4,)),
        ("W2", 16, (2, 4)),
        ("b2", 24, (2,)),
    ]
    theta = np.arange(net.n_params, dtype=float)
    p = net.params(theta)
    assert list(p) == ["W1", "b1", "W2", "b2"]
    assert p.W1[1, 0] == 3.0  # row-major: W1[i, j] = theta[i * n0 + j]
    assert p["b2"][1] == 25.0
    assert np.shares_memory(p.W2, theta)
    p.W2[0, 0] = -1.0
    assert theta[16] == -1.0


def test_init_is_seeded_scaled_float64_with_zero_biases():
    net = gradlab.MLP([200, 300, 10], activation="relu")
    a, b = net.init(seed=7), net.init(seed=7)
    assert a.dtype == np.float64 and a.flags.c_contiguous and np.array_equal(a, b)
    assert not np.array_equal(a, net.init(seed=8))
    p = net.params(a)
    assert p.W1.std() == pytest.approx(math.sqrt(2 / 200), rel=0.02)  # He for relu
    assert p.W2.std() == pytest.approx(math.sqrt(2 / 310), rel=0.1)  # Glorot for the output
    assert not p.b1.any() and not p.b2.any()
    f32 = gradlab.MLP([200, 300, 10], activation="relu", dtype="float32").init(seed=7)
    assert f32.dtype == np.float32 and np.array_equal(f32, a.astype(np.float32))


@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
def test_init_scales_each_layer_as_its_unit_declares(act):
    net = gradlab.MLP([300, 400, 200, 3], activation=["relu", act], output="softmax")
    p = net.params(net.init(seed=1))
    he = ACTIVATIONS[act].init == "he"
    assert ACTIVATIONS[act].init in ("he", "glorot")
    assert p.W1.std() == pytest.approx(math.sqrt(2 / 300), rel=0.02)  # He: it feeds the relu layer
    assert p.W2.std() == pytest.approx(math.sqrt(2 / 400) if he else math.sqrt(2 / 600), rel=0.02)
    assert p.W3.std() == pytest.approx(math.sqrt(2 / 203), rel=0.1)  # Glorot for softmax (not in the table)


def test_a_new_relu_like_row_gets_he_scaling_from_the_table_alone(monkeypatch):
    from gradlab.nn.activations import Activation

    relu = ACTIVATIONS["relu"]
    monkeypatch.setitem(ACTIVATIONS, "relu_he", Activation("relu_he", relu.f, relu.df, kinks=(0.0,), init="he"))
    monkeypatch.setitem(ACTIVATIONS, "relu_plain", Activation("relu_plain", relu.f, relu.df, kinks=(0.0,)))
    view = gradlab.MLP([300, 400, 3]).params
    he = view(gradlab.MLP([300, 400, 3], activation="relu_he").init(seed=1))
    plain = view(gradlab.MLP([300, 400, 3], activation="relu_plain").init(seed=1))
    assert he.W1.std() == pytest.approx(math.sqrt(2 / 300), rel=0.02)
    assert plain.W1.std() == pytest.approx(math.sqrt(2 / 700), rel=0.02)  # the default is Glorot
    with pytest.raises(ValueError, match=r"`init` must be one of 'he', 'glorot'; got 'lecun'"):
        Activation("x", relu.f, relu.df, init="lecun")


def test_one_one_one_network_by_hand():
    # x -> z1 = w1 x + b1 -> a1 = tanh(z1) -> z2 = w2 a1 + b2 -> a2 = sigmoid(z2), binary CE.
    net = gradlab.MLP([1, 1, 1], activation="tanh", output="sigmoid", loss="cross_entropy")
    w1, b1, w2, b2 = 0.5, -0.25, 1.5, 0.1
    x, y = 0.8, 1.0
    a1 = math.tanh(w1 * x + b1)
    a2 = 1 / (1 + math.exp(-(w2 * a1 + b2)))
    dz2 = a2 - y  # sigmoid + cross-entropy
    dz1 = w2 * dz2 * (1 - a1**2)  # tanh' = 1 - a^2
    expected = [dz1 * x, dz1, dz2 * a1, dz2]
    obj = net.objective([[x]], [[y]])
    theta = np.array([w1, b1, w2, b2])
    assert obj(theta) == pytest.approx(-math.log(a2), rel=1e-15)
    np.testing.assert_allclose(gradlab.gradient(obj, theta, backend="backprop"), expected, rtol=1e-15)


@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
def test_cross_entropy_output_delta_is_a_minus_y(output):
    # With no hidden layer, dJ/db = mean over samples of (a - y): seeds 000 and 002.
    net = gradlab.MLP([4, 3], output=output, loss="cross_entropy")
    X, Y = make_data(net, 8)
    theta = net.init(seed=1)
    g = net.params(gradlab.gradient(net.objective(X, Y), theta, backend="backprop"))
    a = net.forward(theta, X)
    np.testing.assert_allclose(g.b1, (a - Y).mean(axis=0), rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(g.W1, (a - Y).T @ X / 8, rtol=1e-13, atol=1e-16)


def test_l2_adds_lambda_w_to_weights_only():
    net0 = gradlab.MLP([3, 4, 2], l2=0.0)
    net1 = gradlab.MLP([3, 4, 2], l2=0.7)
    X, Y = make_data(net0, 5)
    theta = net0.init(seed=3) + 0.1
    g0 = gradlab.gradient(net0.objective(X, Y), theta, backend="backprop")
    g1 = gradlab.gradient(net1.objective(X, Y), theta, backend="backprop")
    d = net0.params(g1 - g0)
    p = net0.params(theta)
    np.testing.assert_allclose(d.W1, 0.7 * p.W1, rtol=1e-12)
    np.testing.assert_allclose(d.W2, 0.7 * p.W2, rtol=1e-12)
    assert not d.b1.any() and not d.b2.any()
    penalty = 0.35 * (np.sum(p.W1**2) + np.sum(p.W2**2))
    assert net1.objective(X, Y)(theta) - net0.objective(X, Y)(theta) == pytest.approx(penalty, rel=1e-12)


def test_saturated_sigmoid_cross_entropy_stays_finite_and_exact():
    net = gradlab.MLP([1, 1], output="sigmoid", loss="cross_entropy")
    obj = net.objective([[1.0]], [[0.0]])
    # z = 800: the loss is softplus(800) = 800, a naive log(1 - sigmoid(800)) = log(0) = -inf.
    assert obj(np.array([800.0, 0.0])) == 800.0
    assert gradlab.gradient(obj, np.array([800.0, 0.0]), backend="backprop").tolist() == [1.0, 1.0]


def test_softmax_cross_entropy_uses_log_sum_exp():
    net = gradlab.MLP([1, 3], output="softmax", loss="cross_entropy")
    obj = net.objective([[1.0]], [[0.0, 0.0, 1.0]])
    theta = np.array([1000.0, 0.0, -1000.0, 0.0, 0.0, 0.0])
    assert obj(theta) == pytest.approx(2000.0)


# -- backprop against finite differences, on many random networks ----------------------------


@st.composite
def networks(draw, activations=SMOOTH, heads=SMOOTH_HEADS):
    depth = draw(st.integers(0, 3))
    sizes = draw(st.lists(st.integers(1, 6), min_size=depth + 2, max_size=depth + 2))
    act = draw(st.lists(st.sampled_from(activations), min_size=depth, max_size=depth))
    output, loss = draw(st.sampled_from(heads))
    l2 = draw(st.sampled_from([0.0, 0.01, 1.0]))
    if output == "softmax" and sizes[-1] == 1:
        sizes[-1] = 2  # softmax of one unit is the constant 1 (refused)
    net = gradlab.MLP(sizes, activation=act, output=output, loss=loss, l2=l2)
    m = draw(st.integers(1, 9))
    seed = draw(st.integers(0, 2**31))
    X, Y = make_data(net, m, seed=seed)
    theta = net.init(seed=seed) + 0.2 * np.random.default_rng(seed + 1).normal(size=net.n_params)
    return net, X, Y, theta


@given(networks())
def test_backprop_matches_central_differences_on_smooth_networks(case):
    net, X, Y, theta = case
    result = gradlab.gradcheck(net.objective(X, Y), theta)
    assert result.passed, result.message()
    # (tiny gradients make the norm-wise ratio larger: the FD error has an absolute floor)
    assert result.norm_rel_error < 1e-6


def _min_kink_distance(net, theta, X):
    zs, _ = net.forward_cache(theta, X)
    d = np.inf
    for z, name in zip(zs, (*net.activations, net.output)):
        for k in ACTIVATIONS[name].kinks if name in ACTIVATIONS else ():
            d = min(d, float(np.min(np.abs(z - k))))
    return d


@given(networks(activations=SMOOTH + KINKED, heads=HEADS))
def test_backprop_matches_central_differences_away_from_kinks(case):
    net, X, Y, theta = case
    # A +-h step moves each pre-activation by far less than 1e-3: no kink is crossed.
    assume(_min_kink_distance(net, theta, X) > 1e-3)
    # every unit saturated on a flat piece (a clipped or dead output): J is locally constant,
    # and "inconclusive: f does not depend on x" is then the right verdict, not a pass
    assume(net.objective(X, Y).gradient(theta).any())
    result = gradlab.gradcheck(net.objective(X, Y), theta)
    assert result.passed, result.message()


@pytest.mark.parametrize("output, loss", SMOOTH_HEADS)
@pytest.mark.parametrize("act", SMOOTH)
def test_every_smooth_combination_agrees_to_float64_level(act, output, loss):
    net = gradlab.MLP([4, 6, 5, 3], activation=act, output=output, loss=loss, l2=0.05)
    X, Y = make_data(net, 10, seed=4)
    theta = net.init(seed=5) + 0.1 * np.random.default_rng(6).normal(size=net.n_params)
    result = gradlab.gradcheck(net.objective(X, Y), theta)
    assert result.passed, result.message()
    assert result.norm_rel_error < 1e-8


def test_float32_network_computes_in_float32_and_checks_loosely():
    net = gradlab.MLP([4, 8, 3], output="softmax", dtype=np.float32)
    X, Y = make_data(net, 16)
    theta = net.init(seed=0)
    obj = net.objective(X, Y)
    g = gradlab.gradient(obj, theta, backend="backprop")
    assert g.dtype == np.float32
    g64 = gradlab.gradient(
        gradlab.MLP([4, 8, 3], output="softmax").objective(X, Y), theta.astype(np.float64), backend="backprop"
    )
    np.testing.assert_allclose(g, g64, rtol=1e-4, atol=1e-6)
    result = gradlab.gradcheck(obj, theta)
    assert result.dtype == "float32" and result.passed, result.message()
    assert result.max_rel_error > 1e-6  # float32 is visibly worse than float64


def test_objective_copies_its_data_and_never_changes_it():
    net = gradlab.MLP([2, 3, 1])
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    Y = np.array([[0.0], [1.0]])
    Xb, Yb = X.copy(), Y.copy()
    obj = net.objective(X, Y)
    theta = net.init()
    theta_b = theta.copy()
    v0 = obj(theta)
    for backend in gradlab.backends():
        gradlab.gradient(obj, theta, backend=backend)
    gradlab.gradcheck(obj, theta)
    assert X.tobytes() == Xb.tobytes() and Y.tobytes() == Yb.tobytes()
    assert theta.tobytes() == theta_b.tobytes()
    X[0, 0] = 100.0  # later changes by the caller do not leak into the objective
    assert obj(theta) == v0
