"""The second-order rows of the tables and the MLP's exact HVP (the R-operator), against
independent second-order references: differences of f', complex step of the backprop
gradient along v, and torch's double backward."""

import numpy as np
import pytest

import gradlab
from gradlab.nn import ACTIVATIONS, HEADS, LOSSES
from gradlab.nn.activations import Activation

NAMES = sorted(ACTIVATIONS)


def _away_from_kinks(act, z, margin=1e-3):
    # elu's second derivative jumps at 0 (alpha to 0): keep away from it like from a kink
    kinks = (*act.kinks, 0.0) if act.name == "elu" else act.kinks
    return z[np.all([np.abs(z - k) > margin for k in kinks] or [np.ones_like(z, bool)], axis=0)]


@pytest.mark.parametrize("name", NAMES)
def test_second_derivative_matches_differences_of_the_first(name):
    act = ACTIVATIONS[name]
    z = _away_from_kinks(act, np.linspace(-6, 6, 2001))
    h = 1e-6
    numeric = (act.df(z + h, act.f(z + h)) - act.df(z - h, act.f(z - h))) / (2 * h)
    np.testing.assert_allclose(act.d2f(z, act.f(z)), numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_second_derivative_keeps_float32(name):
    z = np.linspace(-3, 3, 7, dtype=np.float32)
    act = ACTIVATIONS[name]
    assert act.d2f(z, act.f(z)).dtype == np.float32


@pytest.mark.parametrize(
    "name, z, d2",
    [
        ("sigmoid", 0.0, 0.0),
        ("tanh", 0.0, 0.0),
        ("softplus", 0.0, 0.25),
        ("elu", -np.log(2.0), 0.5),
        ("elu", 1.0, 0.0),
        ("relu", 2.0, 0.0),
    ],
)
def test_second_derivative_at_known_points(name, z, d2):
    act = ACTIVATIONS[name]
    z = np.array([z])
    assert act.d2f(z, act.f(z))[0] == pytest.approx(d2, abs=1e-15)


@pytest.mark.parametrize("output, loss", HEADS)
def test_head_curvature_is_the_derivative_of_delta(output, loss):
    head = LOSSES[loss](output)
    rng = np.random.default_rng(1)
    z, r = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    y = np.eye(3)[rng.integers(0, 3, 6)] if loss == "cross_entropy" else rng.normal(size=(6, 3))
    t = 1e-20  # complex step of delta along r: exact to rounding, no step to tune
    numeric = head.delta(z + 1j * t * r, head.output(z + 1j * t * r), y).imag / t
    np.testing.assert_allclose(head.curvature(z, head.output(z), y, r), numeric, rtol=1e-12, atol=1e-14)


def _problem(activation, output, loss, *, sizes=(3, 5, 4, 3), l2=0.1, seed=0, dtype=np.float64):
    net = gradlab.MLP(list(sizes), activation=activation, output=output, loss=loss, l2=l2, dtype=dtype)
    X, Y = net.random_batch(7, seed=seed)
    obj = net.objective(X, Y)
    rng = np.random.default_rng(seed + 1)
    theta = (net.init(seed=seed) + 0.3 * rng.normal(size=net.n_params)).astype(dtype)  # nonzero biases
    v = rng.normal(size=net.n_params).astype(dtype)
    return obj, theta, v


def _complex_step_hvp(obj, theta, v, t=1e-20):
    """Im grad(theta + i t v) / t: the derivative of the backprop gradient along v, exact to rounding."""
    return obj.gradient(theta + 1j * t * v).imag / t


@pytest.mark.parametrize("output, loss", HEADS)
@pytest.mark.parametrize("activation", NAMES)
def test_hvp_equals_the_complex_step_of_backprop(activation, output, loss):
    obj, theta, v = _problem(activation, output, loss)
    hv = obj.hvp(theta, v)
    ref = _complex_step_hvp(obj, theta, v)
    assert np.abs(hv - ref).max() <= 1e-10 * np.abs(ref).max()


def test_hvp_with_mixed_activations_and_no_l2():
    obj, theta, v = _problem(["relu", "softplus", "tanh"], "softmax", "cross_entropy", sizes=(4, 6, 5, 4, 3), l2=0.0)
    ref = _complex_step_hvp(obj, theta, v)
    assert np.abs(obj.hvp(theta, v) - ref).max() <= 1e-10 * np.abs(ref).max()


def test_hvp_is_the_hessian_column_and_symmetric():
    obj, theta, _ = _problem("tanh", "softmax", "cross_entropy")
    n = obj.n_params
    H = np.stack([obj.hvp(theta, e) for e in np.eye(n)], axis=1)  # column j = H e_j
    assert np.abs(H - H.T).max() <= 1e-13 * np.abs(H).max()
    u, w = np.random.default_rng(5).normal(size=(2, n))
    assert u @ obj.hvp(theta, w) == pytest.approx(w @ obj.hvp(theta, u), rel=1e-12)


def test_hvp_is_linear_in_v():
    obj, theta, v = _problem("softplus", "sigmoid", "cross_entropy")
    w = np.random.default_rng(9).normal(size=v.size)
    np.testing.assert_allclose(obj.hvp(theta, 2 * v - 3 * w), 2 * obj.hvp(theta, v) - 3 * obj.hvp(theta, w), atol=1e-13)


def test_hvp_float32_keeps_its_precision():
    obj64, theta, v = _problem("tanh", "softmax", "mse")
    obj32, theta32, v32 = _problem("tanh", "softmax", "mse", dtype=np.float32)
    hv = obj32.hvp(theta32, v32)
    assert hv.dtype == np.float32
    ref = obj64.hvp(theta32.astype(np.float64), v32.astype(np.float64))
    assert np.abs(hv - ref).max() <= 1e-4 * np.abs(ref).max()


def test_hvp_leaves_its_arguments_alone_and_checks_them():
    obj, theta, v = _problem("tanh", "sigmoid", "cross_entropy")
    t0, v0 = theta.copy(), v.copy()
    obj.hvp(theta, v)
    assert np.array_equal(theta, t0) and np.array_equal(v, v0)
    with pytest.raises(
        ValueError, match=r"`v` must be a flat vector of shape \(59,\), laid out like theta; got array of shape \(58,\)"
    ):
        obj.hvp(theta, v[:-1])
    bad = v.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="`v` must be finite; got nan at index 3"):
        obj.hvp(theta, bad)
    with pytest.raises(TypeError, match="`v` must be a real numeric array"):
        obj.hvp(theta, v.astype(complex))


def test_an_activation_without_a_second_derivative_is_refused():
    net = gradlab.MLP([2, 3, 1], activation="tanh", output="sigmoid")
    tanh = ACTIVATIONS["tanh"]
    net.hidden = (Activation("tanh1", tanh.f, tanh.df),)  # a row added without d2f
    obj = net.objective(*net.random_batch(4))
    with pytest.raises(ValueError, match="activation 'tanh1' has no second derivative"):
        obj.hvp(net.init(), np.ones(net.n_params))


torch_acts = {
    "sigmoid": lambda t: t.sigmoid(),
    "tanh": lambda t: t.tanh(),
    "softplus": lambda t: __import__("torch").nn.functional.softplus(t),
    "elu": lambda t: __import__("torch").nn.functional.elu(t),
    "identity": lambda t: t,
    "relu": lambda t: t.relu(),
}


@pytest.mark.parametrize("activation", sorted(torch_acts))
@pytest.mark.parametrize("output, loss", [("softmax", "cross_entropy"), ("sigmoid", "cross_entropy"), ("tanh", "mse")])
def test_hvp_equals_torch_double_backward(activation, output, loss):
    torch = pytest.importorskip("torch")
    obj, theta, v = _problem(activation, output, loss)
    net = obj.net
    X, Y = torch.tensor(obj.X), torch.tensor(obj.Y)

    def cost(th):
        a, off = X, 0
        for l, (n_in, n_out) in enumerate(zip(net.sizes[:-1], net.sizes[1:]), start=1):
            W = th[off : off + n_out * n_in].reshape(n_out, n_in)
            b = th[off + n_out * n_in : off + n_out * n_in + n_out]
            off += n_out * n_in + n_out
            z = a @ W.T + b
            if l < net.n_layers:
                a = torch_acts[activation](z)
        if loss == "mse":
            J = 0.5 * ((torch.tanh(z) - Y) ** 2).sum()
        elif output == "softmax":
            J = -(Y * torch.log_softmax(z, dim=1)).sum()
        else:
            J = (torch.nn.functional.softplus(z) - Y * z).sum()
        J = J / X.shape[0]
        off = 0
        for n_in, n_out in zip(net.sizes[:-1], net.sizes[1:]):
            J = J + 0.5 * net.l2 * (th[off : off + n_out * n_in] ** 2).sum()
            off += n_out * n_in + n_out
        return J

    th = torch.tensor(theta, requires_grad=True)
    (g,) = torch.autograd.grad(cost(th), th, create_graph=True)
    (hv,) = torch.autograd.grad(g @ torch.tensor(v), th)
    ref = hv.numpy()
    assert np.abs(obj.hvp(theta, v) - ref).max() <= 1e-10 * np.abs(ref).max()


def test_elu_derivatives_keep_relative_precision_far_left():
    # a + alpha (the forward output reused) cancels for z << 0: at z = -30 it would be off by ~1e-3
    act = ACTIVATIONS["elu"]
    z = np.array([-30.0, -5.0])
    a = act.f(z)
    np.testing.assert_allclose(act.df(z, a), np.exp(z), rtol=1e-14)
    np.testing.assert_allclose(act.d2f(z, a), np.exp(z), rtol=1e-14)
