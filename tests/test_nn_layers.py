"""The layers of gradlab.nn.Network: each backward against independent references (the complex
step through gradlab, torch autograd when installed), im2col against the definition, the
network's gradcheck at kinks and ties, and the messages for bad input."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradlab
from gradlab import nn
from gradlab.nn.layers import conv2d_naive, im2col
from gradlab.nn.layers.conv import output_size

FEW = settings(max_examples=10, deadline=None)


def rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


# -- one small network per layer kind, its shapes drawn by hypothesis ----------------------------


@st.composite
def conv_nets(draw):
    c, f, k = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride, padding = draw(st.integers(1, 3)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, k - 2 * padding), 7))
    w = draw(st.integers(max(1, k - 2 * padding), 7))
    ho, wo = output_size(h, k, stride, padding), output_size(w, k, stride, padding)
    layers = [nn.Conv2d(c, f, k, stride=stride, padding=padding), nn.Activation("tanh"), nn.Flatten()]
    return nn.Network([*layers, nn.Dense(f * ho * wo, 3)], input_shape=(c, h, w))


@st.composite
def pool_nets(draw):
    k, c = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    h, w = draw(st.integers(k, 7)), draw(st.integers(k, 7))
    pool = draw(st.sampled_from([nn.MaxPool2d, nn.AvgPool2d]))(k)
    layers = [nn.Conv2d(c, 2, 1), pool, nn.Flatten(), nn.Dense(2 * (h // k) * (w // k), 2)]
    return nn.Network(layers, input_shape=(c, h, w))


@st.composite
def norm_nets(draw):
    d = draw(st.integers(2, 5))
    if draw(st.booleans()):
        return nn.Network([nn.Dense(3, d), nn.BatchNorm(d), nn.Activation("tanh"), nn.Dense(d, 3)], input_shape=(3,))
    if draw(st.booleans()):
        layers = [nn.Conv2d(1, d, 2), nn.BatchNorm(d), nn.Flatten(), nn.Dense(d * 9, 2)]
        return nn.Network(layers, input_shape=(1, 4, 4))
    T = draw(st.integers(1, 3))
    layers = [nn.Dense(3, d), nn.LayerNorm(d), nn.Activation("sigmoid"), nn.Flatten(), nn.Dense(T * d, 3)]
    return nn.Network(layers, input_shape=(T, 3))


@st.composite
def sequence_nets(draw):
    T, d_in, d_h = draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(1, 4))
    cell = draw(st.sampled_from([nn.RNN, nn.LSTM]))(d_in, d_h)
    if draw(st.booleans()):
        vocab = draw(st.integers(1, 4))  # a small vocabulary: ids repeat in every batch of 8
        return nn.Network([nn.Embedding(vocab, d_in), cell, nn.Dense(d_h, 3)], input_shape=(T,))
    return nn.Network([cell, nn.Dense(d_h, 3)], input_shape=(T, d_in))


@st.composite
def attention_nets(draw):
    T, d = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    p = draw(st.sampled_from([0.0, 0.3, 0.6]))
    layers = [nn.Attention(d), nn.Dropout(p, seed=draw(st.integers(0, 9))), nn.Flatten(), nn.Dense(T * d, 2)]
    return nn.Network(layers, loss=draw(st.sampled_from(["cross_entropy", "mse"])), input_shape=(T, d))


NETS = {"conv": conv_nets(), "pool": pool_nets(), "norm": norm_nets(), "seq": sequence_nets(), "attn": attention_nets()}


def problem(net, seed=0, m=8):
    X, Y = net.random_batch(m, seed=seed)
    theta = net.init(seed=seed) + 0.1 * np.random.default_rng(seed + 1).normal(size=net.n_params)
    return net.objective(X, Y), theta


@pytest.mark.parametrize("kind", list(NETS))
@FEW
@given(data=st.data())
def test_backprop_equals_the_complex_step(kind, data):
    net = data.draw(NETS[kind])
    obj, theta = problem(net, seed=data.draw(st.integers(0, 99)))
    reference = gradlab.gradient(obj, theta, backend="complex_step")
    assert rel(obj.gradient(theta), reference) <= 1e-10


# -- torch autograd, an independent forward and an independent backward -----------------------


def torch_forward(torch, layer, p, x):
    F = torch.nn.functional
    if isinstance(layer, nn.Dense):
        return x @ p["W"].T + p["b"]
    if isinstance(layer, nn.Conv2d):
        return F.conv2d(x, p["W"], p["b"], stride=layer.stride, padding=layer.padding)
    if isinstance(layer, nn.MaxPool2d):
        return F.max_pool2d(x, layer.k)
    if isinstance(layer, nn.AvgPool2d):
        return F.avg_pool2d(x, layer.k)
    if isinstance(layer, nn.BatchNorm):
        return F.batch_norm(x, None, None, p["gamma"], p["beta"], training=True, eps=layer.eps)
    if isinstance(layer, nn.LayerNorm):
        return F.layer_norm(x, (layer.d,), p["gamma"], p["beta"], eps=layer.eps)
    if isinstance(layer, nn.Embedding):
        return F.embedding(x, p["W"])
    if isinstance(layer, nn.Flatten):
        return torch.flatten(x, 1)
    if isinstance(layer, nn.Activation):
        return {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}[layer.fn](x)
    if isinstance(layer, nn.Dropout):
        return x * torch.from_numpy(layer.mask(tuple(x.shape)))
    if isinstance(layer, nn.Attention):
        q, k, v = x @ p["Wq"].T, x @ p["Wk"].T, x @ p["Wv"].T
        return F.scaled_dot_product_attention(q, k, v) @ p["Wo"].T
    if isinstance(layer, nn.RNN | nn.LSTM):
        h = torch.zeros(x.shape[0], layer.d_hidden, dtype=x.dtype)
        c = torch.zeros_like(h)
        for t in range(x.shape[1]):
            a = x[:, t] @ p["Wx"].T + h @ p["Wh"].T + p["b"]
            if isinstance(layer, nn.RNN):
                h = torch.tanh(a)
            else:
                i, f, g, o = a.chunk(4, dim=1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
        return h
    raise AssertionError(layer)


def torch_gradient(net, theta, X, Y):
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread is ~30x faster on a shared machine than many
    try:
        return _torch_gradient(torch, net, theta, X, Y)
    finally:
        torch.set_num_threads(threads)


def _torch_gradient(torch, net, theta, X, Y):
    t = torch.tensor(theta, requires_grad=True)
    x = torch.from_numpy(np.array(X))  # a writeable copy for torch
    for layer, slots in zip(net.layers, net._slots):
        p = {name: t[s].reshape(shape) for name, s, shape in slots}
        x = torch_forward(torch, layer, p, x)
    y = torch.from_numpy(np.array(Y))
    if net.loss == "cross_entropy":
        J = torch.nn.functional.cross_entropy(x, y.argmax(dim=1))
    else:
        J = 0.5 * ((x - y) ** 2).sum() / x.shape[0]
    J.backward()
    return t.grad.numpy()


@pytest.mark.parametrize("kind", list(NETS))
@FEW
@given(data=st.data())
def test_backprop_equals_torch_autograd(kind, data):
    pytest.importorskip("torch")
    net = data.draw(NETS[kind])
    obj, theta = problem(net, seed=data.draw(st.integers(0, 99)))
    assert rel(obj.gradient(theta), torch_gradient(net, theta, obj.X, obj.Y)) <= 1e-10


# -- the forward passes against their definitions ------------------------------------------------


@FEW
@given(
    k=st.integers(1, 4), stride=st.integers(1, 3), padding=st.integers(0, 2), h=st.integers(1, 7), w=st.integers(1, 7)
)
def test_im2col_forward_equals_the_naive_loops(k, stride, padding, h, w):
    if min(h, w) + 2 * padding < k:
        return
    rng = np.random.default_rng(k + 10 * stride + 100 * padding)
    layer = nn.Conv2d(2, 3, k, stride=stride, padding=padding)
    x = rng.normal(size=(2, 2, h, w))
    p = {"W": rng.normal(size=(3, 2, k, k)), "b": rng.normal(size=3)}
    y, _ = layer.forward(p, x)
    assert y.shape == (2, *layer.out_shape((2, h, w)))
    np.testing.assert_allclose(y, conv2d_naive(x, p["W"], p["b"], stride, padding), rtol=1e-12, atol=1e-12)


def test_im2col_reads_each_kernel_offset_as_a_strided_view():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    cols = im2col(x, 2, 2, 2, 2)  # k = 2, stride 2: the four 2x2 blocks
    assert cols[0, 0, :, :, 1, 1].tolist() == [[10.0, 11.0], [14.0, 15.0]]
    assert cols[0, 0, 0, 0].tolist() == [[0.0, 2.0], [8.0, 10.0]]


def test_pools_take_the_max_and_the_mean_of_each_window_and_crop_the_rest():
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    y, _ = nn.MaxPool2d(2).forward({}, x)
    assert y[0, 0].tolist() == [[6.0, 8.0], [16.0, 18.0]]
    y, _ = nn.AvgPool2d(2).forward({}, x)
    assert y[0, 0].tolist() == [[3.0, 5.0], [13.0, 15.0]]


def test_max_pool_sends_a_tied_gradient_to_the_first_maximum_in_row_major_order():
    layer = nn.MaxPool2d(2)
    x = np.array([[[[1.0, 3.0], [3.0, 3.0]]]])
    y, cache = layer.forward({}, x)
    dx = layer.backward({}, cache, np.array([[[[5.0]]]]), {})
    assert dx[0, 0].tolist() == [[0.0, 5.0], [0.0, 0.0]]
    assert layer.pieces(cache)[1].tolist() == [[[[1]]]]  # the tie is reported


def test_embedding_accumulates_repeated_ids():
    layer = nn.Embedding(3, 2)
    ids = np.array([[1, 1, 2], [1, 0, 1]])
    dy = np.arange(12.0).reshape(2, 3, 2)
    g = {"W": np.empty((3, 2))}
    assert layer.backward({}, ids, dy, g) is None
    # id 1 sits at (0, 0), (0, 1), (1, 0), (1, 2): rows 0, 1, 3, 5 of dy; id 0 at row 4; id 2 at row 2
    assert g["W"].tolist() == [[8.0, 9.0], [0.0 + 2 + 6 + 10, 1.0 + 3 + 7 + 11], [4.0, 5.0]]


def test_norms_give_zero_mean_unit_variance_before_the_affine_part():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(50, 4))
    for layer, axis in ((nn.BatchNorm(4), 0), (nn.LayerNorm(4), 1)):
        y, _ = layer.forward({"gamma": np.ones(4), "beta": np.zeros(4)}, x)
        np.testing.assert_allclose(y.mean(axis=axis), 0.0, atol=1e-12)
        v = x.var(axis=axis)
        np.testing.assert_allclose(y.var(axis=axis), v / (v + layer.eps), rtol=1e-12)


def test_dropout_mask_is_fixed_by_its_seed_and_keeps_the_expected_fraction():
    a, b = nn.Dropout(0.25, seed=3), nn.Dropout(0.25, seed=3)
    m = a.mask((400, 50))
    assert np.array_equal(m, b.mask((400, 50)))
    assert abs((m > 0).mean() - 0.75) < 0.01 and set(np.unique(m)) == {0.0, 1 / 0.75}
    assert not np.array_equal(m, nn.Dropout(0.25, seed=4).mask((400, 50)))


def test_a_network_of_dense_layers_is_the_mlp():
    mlp = gradlab.MLP([3, 5, 4, 2], activation="tanh", output="softmax", loss="cross_entropy")
    net = nn.Network(
        [nn.Dense(3, 5), nn.Activation("tanh"), nn.Dense(5, 4), nn.Activation("tanh"), nn.Dense(4, 2)],
        input_shape=(3,),
    )
    assert net.n_params == mlp.n_params
    assert np.array_equal(net.init(seed=4), mlp.init(seed=4))  # same draws: same layout, same init
    X, Y = mlp.random_batch(7, seed=1)
    theta = mlp.init(seed=1) + 0.1
    a, b = mlp.objective(X, Y), net.objective(X, Y)
    assert math.isclose(a(theta), b(theta), rel_tol=1e-14)
    np.testing.assert_allclose(b.gradient(theta), a.gradient(theta), rtol=1e-13, atol=1e-15)


# -- the network's check: passes on correct layers, at ReLU's kink and at max-pool ties ---------


def cnn():
    layers = [nn.Conv2d(1, 2, 3, padding=1), nn.Activation("relu"), nn.MaxPool2d(2), nn.Flatten(), nn.Dense(18, 3)]
    return nn.Network(layers, input_shape=(1, 6, 6))


KINDS = {
    "cnn": cnn,
    "avgpool": lambda: nn.Network(
        [nn.Conv2d(1, 2, 3), nn.Activation("tanh"), nn.AvgPool2d(2), nn.Flatten(), nn.Dense(8, 3)],
        input_shape=(1, 6, 6),
    ),
    "batchnorm": lambda: nn.Network(
        [nn.Dense(4, 5), nn.BatchNorm(5), nn.Activation("relu"), nn.Dense(5, 3)], input_shape=(4,)
    ),
    "layernorm": lambda: nn.Network(
        [nn.Dense(4, 5), nn.LayerNorm(5), nn.Activation("tanh"), nn.Dense(5, 3)], input_shape=(4,)
    ),
    "embedding": lambda: nn.Network([nn.Embedding(5, 3), nn.Flatten(), nn.Dense(12, 3)], input_shape=(4,)),
    "rnn": lambda: nn.Network([nn.RNN(3, 4), nn.Dense(4, 3)], input_shape=(4, 3)),
    "lstm": lambda: nn.Network([nn.LSTM(3, 3), nn.Dense(3, 3)], input_shape=(4, 3)),
    "attention": lambda: nn.Network([nn.Attention(3), nn.Flatten(), nn.Dense(9, 3)], input_shape=(3, 3)),
    "dropout": lambda: nn.Network(
        [nn.Dense(4, 6), nn.Activation("relu"), nn.Dropout(0.5, seed=1), nn.Dense(6, 3)], input_shape=(4,)
    ),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_network_gradcheck_passes_at_default_settings(kind):
    net = KINDS[kind]()
    obj, theta = problem(net, seed=2)
    result = gradlab.gradcheck(obj, theta)
    assert result.status == "passed", result.message()
    assert list(result.table["block"]) == [b.name for b in net.blocks]


@pytest.mark.parametrize("reference", ["auto", "central", "forward"])
def test_no_false_alarm_at_max_pool_ties_and_relu_at_zero(reference):
    net = cnn()
    X, Y = net.random_batch(4, seed=0)
    obj, theta = net.objective(X, Y), net.init(seed=0)
    p = net.params(theta)
    p["conv1.W"][...] = 0.0  # every conv output is its channel's bias: every pooling window tied
    p["conv1.b"][...] = [0.5, 0.0]  # and channel 2 exactly at relu's kink
    assert obj.kinks(theta) != obj.kinks(theta + 1e-6 * np.eye(net.n_params)[0])  # the hook sees the tie break
    assert gradlab.gradcheck(obj, theta, reference=reference).status != "failed"


def test_at_a_tie_the_check_holds_backprop_to_the_argmax_of_its_own_forward():
    net = cnn()
    X, Y = net.random_batch(4, seed=0)
    obj, theta = net.objective(X, Y), net.init(seed=0)
    net.params(theta)["conv1.W"][...] = 0.0  # every window tied
    net.params(theta)["conv1.b"][...] = 0.5

    def route_to_last(self, win, a, dy):
        last = win.shape[-1] - 1 - np.argmax(win[..., ::-1], axis=-1)
        out = np.zeros(win.shape)
        np.put_along_axis(out, last[..., None], dy[..., None], axis=-1)
        return out

    other = obj.with_network(net.with_layer(2, net.layers[2].with_rule("route", route_to_last)))
    result = gradlab.gradcheck(obj, theta, grad=other.gradient)
    assert result.status == "failed"
    assert result.table.loc[result.table["n_failed"] > 0, "block"].tolist() == ["conv1.W"]


def test_float32_networks_check_against_the_complex_step_and_pass():
    # float32 arithmetic: the complex step still has no cancellation, and the float32 tolerances apply
    for kind in ("cnn", "lstm", "layernorm"):
        net64 = KINDS[kind]()
        net = nn.Network(list(net64.layers), loss=net64.loss, input_shape=net64.input_shape, dtype=np.float32)
        X, Y = net.random_batch(6, seed=3)
        theta = net.init(seed=3)
        assert theta.dtype == np.float32
        result = gradlab.gradcheck(net.objective(X, Y), theta)
        assert result.status == "passed" and result.dtype == "float32", result.message()


def test_a_wrong_layer_gradient_fails_and_is_named_by_its_block():
    net = KINDS["lstm"]()
    obj, theta = problem(net, seed=1)
    true = obj.gradient(theta)
    bad = true.copy()
    bad[net.blocks[1].slice] *= 1.001  # lstm1.Wh off by 0.1%
    result = gradlab.gradcheck(obj, theta, grad=lambda t: bad)
    assert result.status == "failed"
    assert result.table.loc[result.table["n_failed"] > 0, "block"].tolist() == ["lstm1.Wh"]


def test_every_backend_differentiates_a_network():
    obj, theta = problem(KINDS["attention"](), seed=5)
    g = obj.gradient(theta)
    for backend in ("central", "richardson", "complex_step", "backprop"):
        assert rel(gradlab.gradient(obj, theta, backend=backend), g) < 1e-5, backend


# -- names, init, and the messages --------------------------------------------------------------


def test_blocks_are_numbered_by_kind_or_named():
    net = nn.Network(
        [nn.Conv2d(1, 2, 3), nn.Conv2d(2, 2, 1), nn.Flatten(), nn.Dense(8, 4), nn.LSTM(1, 2, name="lstm")],
        input_shape=None,
    )
    names = [b.name for b in net.blocks]
    assert names == ["conv1.W", "conv1.b", "conv2.W", "conv2.b", "dense1.W", "dense1.b", "lstm.Wx", "lstm.Wh", "lstm.b"]
    assert net.n_params == 2 * 9 + 2 + 4 + 2 + 8 * 4 + 4 + 8 * 1 + 8 * 2 + 8
    views = net.params(net.init(seed=0))
    assert views["lstm.Wx"].shape == (8, 1) and views["conv1.W"].shape == (2, 1, 3, 3)


def test_init_reads_the_activation_table():
    # He (std sqrt(2 / fan_in)) before a relu, Glorot otherwise: fan_in = 1 * 5 * 5 for the conv
    relu = nn.Network([nn.Conv2d(1, 40, 5), nn.Activation("relu"), nn.Flatten(), nn.Dense(40, 2)])
    tanh = nn.Network([nn.Conv2d(1, 40, 5), nn.Activation("tanh"), nn.Flatten(), nn.Dense(40, 2)])
    s_relu = relu.params(relu.init(seed=0))["conv1.W"].std()
    s_tanh = tanh.params(tanh.init(seed=0))["conv1.W"].std()
    assert abs(s_relu / math.sqrt(2 / 25) - 1) < 0.05
    assert abs(s_tanh / math.sqrt(2 / (25 + 40 * 25)) - 1) < 0.05


def test_the_callers_data_is_never_changed():
    net = KINDS["batchnorm"]()
    X, Y = net.random_batch(5, seed=0)
    X0, Y0 = X.copy(), Y.copy()
    obj = net.objective(X, Y)
    theta = net.init(seed=0)
    t0 = theta.copy()
    obj.gradient(theta), obj(theta), gradlab.gradcheck(obj, theta)
    X[0, 0] = 99.0  # the objective holds its own copy
    assert np.array_equal(theta, t0) and np.array_equal(Y, Y0) and obj.X[0, 0] == X0[0, 0]


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: nn.Conv2d(1, 0, 3), ValueError, r"`c_out` of Conv2d must be a positive integer; got 0"),
        (lambda: nn.Conv2d(1, 2, 3, padding=-1), ValueError, r"`padding` of Conv2d must be a non-negative"),
        (lambda: nn.Dense(2.5, 3), TypeError, r"`n_in` of Dense must be a positive integer; got 2.5"),
        (lambda: nn.Dropout(1.0), ValueError, r"`p` of Dropout must be a probability in \[0, 1\); got 1.0"),
        (lambda: nn.Activation("swish"), ValueError, r"`activation` must be one of"),
        (lambda: nn.Network([]), TypeError, r"`layers` must be a non-empty list"),
        (lambda: nn.Network([nn.Dense(2, 2), "relu"]), TypeError, r"`layers` must hold gradlab.nn layers"),
        (
            lambda: nn.Network([nn.Dense(2, 3), nn.Embedding(3, 2)]),
            ValueError,
            r"an Embedding only first",
        ),
        (
            lambda: nn.Network([nn.Conv2d(1, 4, 3), nn.Flatten(), nn.Dense(35, 10)], input_shape=(1, 5, 5)),
            ValueError,
            r"`input_shape` must fit the layers .*layer 2 \(dense1\): Dense\(35, 10\) expects 35 features on the "
            r"last axis; got samples of shape \(36,\)",
        ),
        (
            lambda: nn.Network([nn.Conv2d(1, 4, 3)], input_shape=(1, 5, 5)),
            ValueError,
            r"must end in one vector per sample",
        ),
        (lambda: nn.Network([nn.Dense(3, 1)], input_shape=(3,)), ValueError, r"at least 2 outputs for a softmax"),
        (lambda: nn.Network([nn.Dense(3, 2)]).random_batch(4), ValueError, r"`input_shape` must be given"),
        (lambda: nn.Network([nn.Dense(3, 2)], input_shape=(3, 0)), ValueError, r"`input_shape` must be a positive"),
        (lambda: nn.Network([nn.Dense(3, 2)], input_shape=3), TypeError, r"`input_shape` must be the shape of one"),
        (lambda: nn.Network([nn.Dense(3, 2)], loss="hinge"), ValueError, r"`loss` must be one of"),
    ],
)
def test_bad_arguments_get_house_messages(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_bad_batches_get_house_messages():
    net = nn.Network([nn.Embedding(4, 2), nn.Flatten(), nn.Dense(6, 2)], input_shape=(3,))
    X, Y = net.random_batch(2)
    with pytest.raises(
        ValueError, match=r"`X` must hold ids in \[0, 4\) for Embedding\(4, 2\); got 7 at index \(1, 2\)"
    ):
        net.objective([[0, 1, 2], [3, 0, 7]], Y)
    with pytest.raises(TypeError, match=r"`X` must hold integer ids for Embedding\(4, 2\); got an array of dtype"):
        net.objective(X + 0.5, Y)
    with pytest.raises(ValueError, match=r"`X` must fit the layers .*layer 2 \(dense1\)"):
        net.objective(np.zeros((2, 4), dtype=int), Y)
    with pytest.raises(ValueError, match=r"`Y` must be an array of shape \(2, 2\)"):
        net.objective(X, Y[:, :1])
    with pytest.raises(ValueError, match=r"`Y` must have rows that sum to 1"):
        net.objective(X, 0.5 * Y)
    cnn_net = cnn()
    with pytest.raises(ValueError, match=r"layer 0 \(conv1\): Conv2d\(1, 2, 3, stride=1, padding=1\) expects images"):
        cnn_net.objective(np.zeros((2, 3, 6, 6)), np.eye(3)[[0, 1]])


def test_the_kink_hook_is_there_exactly_for_kinked_layers_and_sees_a_relu_cross_zero():
    smooth = KINDS["layernorm"]()
    assert problem(smooth)[0].kinks is None
    net = nn.Network([nn.Dense(2, 3), nn.Activation("relu"), nn.Dense(3, 2)], input_shape=(2,))
    X, Y = np.array([[1.0, 0.0]]), np.array([[1.0, 0.0]])
    obj, theta = net.objective(X, Y), net.init(seed=0)
    p = net.params(theta)
    p["dense1.W"][...] = 0.0
    p["dense1.b"][...] = [1.0, -1.0, 1e-9]  # unit 3 just above its kink
    key = obj.kinks(theta)
    p["dense1.W"][0, 0] = 0.5  # unit 1 moves, stays positive: the same piece
    assert obj.kinks(theta) == key
    p["dense1.W"][2, 0] = -1e-8  # unit 3 crosses 0
    assert obj.kinks(theta) != key


def test_the_contract_snippet_runs_as_written():
    # DESIGN.md, "Layers beyond the MLP": no input_shape needed when the data is given
    model = nn.Network(
        [nn.Conv2d(1, 4, 3, stride=1, padding=0), nn.Activation("relu"), nn.MaxPool2d(2), nn.Flatten()]
        + [nn.Dense(4 * 3 * 3, 10)],
        loss="cross_entropy",
    )
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(5, 1, 8, 8)), np.eye(10)[rng.integers(0, 10, 5)]
    theta = model.init(seed=0)
    obj = model.objective(X, Y)
    g = gradlab.gradient(obj, theta, backend="backprop")
    assert g.shape == (model.n_params,) == (4 * 9 + 4 + 36 * 10 + 10,)
    assert rel(g, gradlab.gradient(obj, theta, backend="complex_step")) <= 1e-10


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(NETS))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_backprop_equals_both_references_on_many_shapes(kind, data):
    net = data.draw(NETS[kind])
    obj, theta = problem(
        net, seed=data.draw(st.integers(0, 999)), m=data.draw(st.integers(2, 9))
    )  # torch refuses batch norm on 1 sample
    g = obj.gradient(theta)
    assert rel(g, gradlab.gradient(obj, theta, backend="complex_step")) <= 1e-10
    if data.draw(st.booleans()):
        assert rel(g, torch_gradient(net, theta, obj.X, obj.Y)) <= 1e-10
