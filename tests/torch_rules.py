"""torch autograd.Functions for tests/test_frameworks.py, with and without planted bugs in their backward.

A module of its own, imported by that file's tests (``pytest.importorskip("tests.torch_rules")``):
collecting the test file then costs no torch import, which every pytest-xdist worker would pay.
"""

import torch


class Affine(torch.autograd.Function):
    """out = tanh(x @ w + b), its backward written by hand (the classic ctx style)."""

    @staticmethod
    def forward(ctx, x, w, b):
        y = torch.tanh(x @ w + b)
        ctx.save_for_backward(x, w, y)
        return y

    @staticmethod
    def backward(ctx, dout):
        x, w, y = ctx.saved_tensors
        d = dout * (1 - y * y)
        return d @ w.T, x.T @ d, d.sum(0)


class TransposedWeight(Affine):
    """dx uses w instead of w.T (w square, so the shapes still fit): only x's gradient is wrong."""

    @staticmethod
    def backward(ctx, dout):
        x, w, y = ctx.saved_tensors
        d = dout * (1 - y * y)
        return d @ w, x.T @ d, d.sum(0)


class MissingFactor(Affine):
    """db forgets tanh's derivative (1 - y^2): only b's gradient is wrong."""

    @staticmethod
    def backward(ctx, dout):
        x, w, y = ctx.saved_tensors
        d = dout * (1 - y * y)
        return d @ w.T, x.T @ d, dout.sum(0)


def inputs(dtype):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 3, generator=g, dtype=dtype)
    w = torch.randn(3, 3, generator=g, dtype=dtype)
    b = torch.randn(3, generator=g, dtype=dtype)
    return x, w, b


class Embed(torch.autograd.Function):
    """A lookup table: ids (int64) pick rows of E; new style (setup_context), so forward has no ctx."""

    @staticmethod
    def forward(E, ids, scale):
        return E[ids] * scale

    @staticmethod
    def setup_context(ctx, inputs, output):
        E, ids, scale = inputs
        ctx.save_for_backward(E, ids, scale)

    @staticmethod
    def backward(ctx, dout):
        E, ids, scale = ctx.saved_tensors
        dE = torch.zeros_like(E).index_add_(0, ids, dout * scale)
        return dE, None, (dout * E[ids]).sum().reshape(scale.shape)


class Star(torch.autograd.Function):
    """forward(ctx, *inputs): no names to read; the blocks are arg0, arg1."""

    @staticmethod
    def forward(ctx, *inputs):
        x, y = inputs
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, dout):
        x, y = ctx.saved_tensors
        return dout * y, dout * y  # the second should be dout * x
