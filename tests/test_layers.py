"""A layer zoo with hand-written backward passes: each checked with one call, every planted bug
caught and named by its argument and entry, no false alarm on the correct ones."""

import numpy as np
import pytest

import gradlab
from gradlab.backends.complex_step import CROSS_CHECK_EVALUATIONS
from gradlab.check.directional import SEPARATE_ENTRIES
from gradlab.check.probe import FAST_PROBE_EVALUATIONS, PROBE_EVALUATIONS

rng = np.random.default_rng(7)


def affine(x, w, b):
    return x @ w + b  # (N, D) @ (D, M) + (M,) -> (N, M)


def affine_backward(x, w, b, dout):
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def affine_backward_bug(x, w, b, dout):
    return dout @ w.T, x.T @ dout, dout[0]  # the bias gradient from one sample


def relu(x):
    return np.maximum(x, 0.0)


def relu_backward(x, dout):
    return dout * (x > 0)


def relu_backward_bug(x, dout):
    return dout  # ReLU' = 1


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_backward(x, dout):
    s = sigmoid(x)
    return dout * s * (1 - s)


def sigmoid_backward_bug(x, dout):
    return dout * sigmoid(x)  # s where s (1 - s) belongs


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def softmax_backward(x, dout):
    p = softmax(x)
    return p * (dout - (dout * p).sum(axis=1, keepdims=True))


def softmax_backward_bug(x, dout):
    p = softmax(x)
    return dout * p * (1 - p)  # the diagonal of the Jacobian only


LABELS = np.array([0, 2, 1, 2])


def cross_entropy(scores):
    p = softmax(scores)
    return -np.mean(np.log(p[np.arange(len(LABELS)), LABELS]))


def cross_entropy_grad(scores):
    d = softmax(scores)
    d[np.arange(len(LABELS)), LABELS] -= 1
    return d / len(LABELS)


def cross_entropy_grad_bug(scores):
    return cross_entropy_grad(scores) * len(LABELS)  # the forgotten 1/N


def batchnorm(x, gamma, beta, eps=1e-5):
    mu, var = x.mean(axis=0), x.var(axis=0)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


def batchnorm_backward(x, gamma, beta, dout, eps=1e-5):
    n = len(x)
    std = np.sqrt(x.var(axis=0) + eps)
    xhat = (x - x.mean(axis=0)) / std
    dxhat = dout * gamma
    dx = (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)) / (n * std)
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)


def batchnorm_backward_bug(x, gamma, beta, dout, eps=1e-5):
    _, dgamma, dbeta = batchnorm_backward(x, gamma, beta, dout, eps)
    return dout * gamma / np.sqrt(x.var(axis=0) + eps), dgamma, dbeta  # mean and variance taken as constants


def conv2d(x, w, b):
    """Naive 2-D convolution (cross-correlation), stride 1, no padding: x (N, C, H, W), w (F, C, k, k)."""
    n, _, hh, ww = x.shape
    f, _, k, _ = w.shape
    out = np.empty((n, f, hh - k + 1, ww - k + 1), dtype=np.result_type(x, w))
    for i in range(hh - k + 1):
        for j in range(ww - k + 1):
            patch = x[:, :, i : i + k, j : j + k]  # (N, C, k, k)
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out


def conv2d_backward(x, w, b, dout, flip=False):
    k = w.shape[2]
    dx, dw = np.zeros_like(x), np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            patch = x[:, :, i : i + k, j : j + k]
            g = dout[:, :, i, j]  # (N, F)
            dw += np.tensordot(g, patch, axes=([0], [0]))  # (F, C, k, k)
            dx[:, :, i : i + k, j : j + k] += np.tensordot(g, w[:, :, ::-1, ::-1] if flip else w, axes=([1], [0]))
    return dx, dw, dout.sum(axis=(0, 2, 3))


def conv2d_backward_bug(x, w, b, dout):
    return conv2d_backward(x, w, b, dout, flip=True)  # dx through the kernel flipped


def away_from_zero(shape):
    x = rng.normal(size=shape)
    return np.where(np.abs(x) < 0.2, np.sign(x) * 0.2 + x, x)  # no input within the step of the kink


LAYERS = {
    "affine": (affine, (rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=2))),
    "relu": (relu, (away_from_zero((3, 4)),)),
    "sigmoid": (sigmoid, (rng.normal(size=(3, 4)),)),
    "softmax": (softmax, (rng.normal(size=(4, 3)),)),
    "batchnorm": (batchnorm, (rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=3))),
    "conv2d": (conv2d, (rng.normal(size=(2, 2, 4, 4)), rng.normal(size=(3, 2, 2, 2)), rng.normal(size=3))),
}
CORRECT = {
    "affine": affine_backward,
    "relu": relu_backward,
    "sigmoid": sigmoid_backward,
    "softmax": softmax_backward,
    "batchnorm": batchnorm_backward,
    "conv2d": conv2d_backward,
}
#: layer -> (buggy backward pass, the argument it gets wrong)
BUGS = {
    "affine": (affine_backward_bug, "b"),
    "relu": (relu_backward_bug, "x"),
    "sigmoid": (sigmoid_backward_bug, "x"),
    "softmax": (softmax_backward_bug, "x"),
    "batchnorm": (batchnorm_backward_bug, "x"),
    "conv2d": (conv2d_backward_bug, "x"),
}


@pytest.mark.parametrize("name", LAYERS)
def test_correct_backward_pass_passes(name):
    layer, args = LAYERS[name]
    before = [a.copy() for a in args]
    r = gradlab.gradcheck(layer, args, vjp=CORRECT[name])
    assert r.status == "passed", r.message()
    n = sum(a.size for a in args)
    assert (
        r.evaluations == 2 * n + PROBE_EVALUATIONS
    )  # the reference, and what the check learns of f first (its noise too)
    assert list(r.table["block"]) == list(layer.__code__.co_varnames[: len(args)])
    assert all(np.array_equal(a, b) for a, b in zip(args, before))


@pytest.mark.parametrize("name", LAYERS)
def test_planted_bug_is_caught_and_named(name):
    layer, args = LAYERS[name]
    backward, wrong = BUGS[name]
    r = gradlab.gradcheck(layer, args, vjp=backward)
    assert r.status == "failed"
    assert r.table.loc[r.table["n_failed"] > 0, "block"].tolist() == [wrong]
    assert f"worst entry {wrong}[" in r.message()


@pytest.mark.parametrize("name", ["affine", "batchnorm", "conv2d"])
def test_fast_mode_passes_cheaply_and_names_the_bug(name):
    layer, args = LAYERS[name]
    r = gradlab.gradcheck(layer, args, vjp=CORRECT[name], fast=True)
    assert r.status == "passed" and r.mode == "fast"
    # f at x, one random projection u^T J v across every argument, and a central pair for each entry
    # too small a share of it to be seen (batchnorm's x[3, 2] along this seed's direction)
    alone = len(r.directions) - 1
    assert r.evaluations == FAST_PROBE_EVALUATIONS + 2 * (1 + alone) and alone <= SEPARATE_ENTRIES
    backward, wrong = BUGS[name]
    bad = gradlab.gradcheck(layer, args, vjp=backward, fast=True)
    assert bad.status == "failed" and f"failing blocks: {wrong} (" in bad.message()


def test_softmax_cross_entropy_loss_with_grad():
    scores = rng.normal(size=(4, 3))
    assert gradlab.gradcheck(cross_entropy, scores, grad=cross_entropy_grad).passed
    bad = gradlab.gradcheck(cross_entropy, scores, grad=cross_entropy_grad_bug)
    assert bad.status == "failed" and "analytic/numeric = 4 in every block" in bad.message()


def test_sigmoid_is_checked_exactly_with_the_complex_step():
    (x,) = LAYERS["sigmoid"][1]
    r = gradlab.gradcheck(sigmoid, (x,), vjp=sigmoid_backward, reference="complex_step")
    assert r.passed and r.max_rel_error < 1e-12
    assert (
        r.evaluations == x.size + PROBE_EVALUATIONS + CROSS_CHECK_EVALUATIONS
    )  # n complex, the probe, the cross-check


def test_jacobian_of_the_affine_layer_is_its_weights():
    x, w, b = LAYERS["affine"][1]
    Jx, Jw, Jb = gradlab.jacobian(affine, (x, w, b))
    assert Jx.shape == (4, 2, 4, 3) and Jw.shape == (4, 2, 3, 2) and Jb.shape == (4, 2, 2)
    # d out[n, m] / d x[k, d] = [n == k] w[d, m]
    np.testing.assert_allclose(Jx, np.einsum("nk,dm->nmkd", np.eye(4), w), atol=1e-9)
    np.testing.assert_allclose(Jb, np.broadcast_to(np.eye(2), (4, 2, 2)), atol=1e-9)
