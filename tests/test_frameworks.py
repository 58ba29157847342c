"""Framework custom rules in one call (gradlab.check.frameworks): a torch autograd.Function's backward,
a jax custom_vjp / custom_jvp function's rule, in float32 and float64, without the user converting
anything.  torch and jax stay optional: each test skips without its library.

The torch tests are in the plain run; torch is imported when they first run (tests/torch_rules.py),
not at collection, which every pytest-xdist worker does.  jax's import and tracing cost seconds, so
its tests carry the ``slow`` marker (CI runs them).
"""

from __future__ import annotations

import numpy as np
import pytest

import gradlab


@pytest.fixture(scope="module")
def rules():
    """The torch Functions (tests/torch_rules.py); skips without torch."""
    return pytest.importorskip("tests.torch_rules")


def _failing(res):
    return res.table.loc[res.table["n_failed"] > 0, "block"].tolist()


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_an_autograd_function_is_checked_by_argument_in_either_precision(rules, precision):
    torch, Affine, TransposedWeight, MissingFactor = (
        rules.torch,
        rules.Affine,
        rules.TransposedWeight,
        rules.MissingFactor,
    )
    dtype = getattr(torch, precision)
    args = rules.inputs(dtype)
    before = [a.clone() for a in args]
    ok = gradlab.gradcheck(Affine.apply, args)
    assert ok.status == "passed" and list(ok.table["block"]) == ["x", "w", "b"]
    assert ok.analytic_source == "Affine.backward" and ok.dtype == str(dtype).split(".")[1]
    assert any("autograd.Function Affine" in n for n in ok.notes)
    # float32: the reference measured on the forward in float64, said so; float64 needs no lift
    lifted = any("measured in float64" in n for n in ok.notes)
    assert lifted == (dtype == torch.float32)
    transposed = gradlab.gradcheck(TransposedWeight.apply, args)
    assert transposed.status == "failed" and _failing(transposed) == ["x"]
    assert "worst entry x[" in transposed.message()
    missing = gradlab.gradcheck(MissingFactor.apply, args)
    assert missing.status == "failed" and _failing(missing) == ["b"]
    # the reference was float64 (lifted) or the data is: no hint that float32 limited it
    assert not any("float32 limits" in h for h in missing.hints)
    # the caller's tensors are untouched, in their own precision
    assert all(a.dtype == dtype and torch.equal(a, c) for a, c in zip(args, before))


def test_integer_ids_pass_through_and_new_style_forward_names_the_arguments(rules):
    torch, Embed = rules.torch, rules.Embed
    E = torch.randn(6, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float32)
    ids = torch.tensor([0, 3, 3, 5])
    scale = torch.tensor([1.5])
    res = gradlab.gradcheck(Embed.apply, (E, ids, scale))
    assert res.status == "passed" and list(res.table["block"]) == ["E", "scale"]
    assert ids.dtype == torch.int64 and ids.tolist() == [0, 3, 3, 5]


def test_unnamed_arguments_are_arg0_arg1_and_a_scalar_output_is_a_gradient(rules):
    torch, Star = rules.torch, rules.Star
    x = torch.linspace(0.5, 1.5, 4, dtype=torch.float64)
    y = torch.linspace(-1.0, 2.0, 4, dtype=torch.float64)
    res = gradlab.gradcheck(Star.apply, (x, y))
    assert list(res.table["block"]) == ["arg0", "arg1"] and _failing(res) == ["arg1"]

    class Sum(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return (x**3).sum()

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x**2

    scalar = gradlab.gradcheck(Sum.apply, x)
    assert scalar.status == "passed" and list(scalar.table["block"]) == ["x"]
    assert any("its gradient" in n for n in scalar.notes)


def test_a_non_tensor_input_is_refused_by_name(rules):
    torch, Affine = rules.torch, rules.Affine
    x, w, b = rules.inputs(torch.float64)
    with pytest.raises(TypeError, match=r"`x\[2\]` must be a torch tensor"):
        gradlab.gradcheck(Affine.apply, (x, w, 0.5))
    with pytest.raises(ValueError, match="`h` must be"):  # options validated before the forward runs
        gradlab.gradcheck(Affine.apply, (x, w, b), h=-1.0)


def test_a_float32_torch_callable_is_lifted_and_a_captured_float32_matrix_says_why_not(rules):
    """Issue 18's leftover: float32 torch code with float32 data.  Data passed as an argument (or used
    elementwise) is lifted to float64 and gets a verdict; a float32 matrix captured in a closure
    cannot be (torch refuses float32 @ float64), and the result says why and what would let it."""
    torch = rules.torch
    g = torch.Generator().manual_seed(0)
    X = torch.randn(20, 5, generator=g)
    w = torch.randn(5, generator=g)

    def loss(X, w):
        return torch.sum(torch.log1p(torch.exp(-X @ w)))

    class Loss(torch.autograd.Function):
        @staticmethod
        def forward(ctx, X, w):
            ctx.save_for_backward(X, w)
            return loss(X, w)

        @staticmethod
        def backward(ctx, g):
            X, w = ctx.saved_tensors
            s = -torch.sigmoid(-X @ w) * g
            return torch.outer(s, w), X.T @ s

    res = gradlab.gradcheck(Loss.apply, (X, w))
    assert res.status == "passed" and res.dtype == "float32"

    def grad(w):
        w = w.clone().requires_grad_(True)
        return torch.autograd.grad(loss(X, w), w)[0]

    captured = gradlab.gradcheck(lambda w: loss(X, w), w, grad=grad)
    assert captured.status != "failed"
    assert any("refused it in float64" in n and "pass that data as an argument" in n for n in captured.notes)


# -- jax ------------------------------------------------------------------------------------------


def _x64(jax, on: bool):
    """jax's float64 switch as a context manager (``jax.enable_x64``; ``jax.experimental`` before it)."""
    switch = getattr(jax, "enable_x64", None)
    if switch is None:
        from jax.experimental import enable_x64 as switch
    return switch(on)


@pytest.fixture(scope="module")
def jax_rules():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy

    def affine(x, w):
        return jnp.tanh(x @ w)

    def fwd(x, w):
        y = jnp.tanh(x @ w)
        return y, (x, w, y)

    def bwd(res, dout):
        x, w, y = res
        d = dout * (1 - y * y)
        return d @ w.T, x.T @ d

    def bwd_transposed(res, dout):
        x, w, y = res
        d = dout * (1 - y * y)
        return d @ w, x.T @ d

    good, bad = jax.custom_vjp(affine), jax.custom_vjp(affine)
    good.defvjp(fwd, bwd)
    bad.defvjp(fwd, bwd_transposed)

    def softplus(x):
        return jnp.log1p(jnp.exp(x))

    sp_good, sp_bad = jax.custom_jvp(softplus), jax.custom_jvp(softplus)
    sp_good.defjvp(lambda p, t: (softplus(p[0]), jax.nn.sigmoid(p[0]) * t[0]))
    sp_bad.defjvp(lambda p, t: (softplus(p[0]), jax.nn.sigmoid(-p[0]) * t[0]))
    return jax, good, bad, sp_good, sp_bad


@pytest.mark.slow  # jax's import and tracing: seconds
@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_a_jax_custom_vjp_is_checked_by_argument(jax_rules, precision):
    jax, good, bad, _, _ = jax_rules
    rng = np.random.default_rng(0)
    with _x64(jax, True):
        x = jax.numpy.asarray(rng.normal(size=(4, 3)), dtype=precision)
        w = jax.numpy.asarray(rng.normal(size=(3, 3)), dtype=precision)
        ok = gradlab.gradcheck(good, (x, w))
        assert ok.status == "passed" and list(ok.table["block"]) == ["x", "w"] and ok.dtype == precision
        assert any("custom_vjp function affine" in n for n in ok.notes)
        assert any("measured in float64" in n for n in ok.notes) == (precision == "float32")
        wrong = gradlab.gradcheck(bad, (x, w))
        assert wrong.status == "failed" and _failing(wrong) == ["x"]


@pytest.mark.slow
def test_a_jax_custom_jvp_rule_is_checked_through_jvp(jax_rules):
    jax, _, _, sp_good, sp_bad = jax_rules
    with _x64(jax, True):
        x = jax.numpy.asarray(np.linspace(-2, 2, 6).reshape(2, 3))
        assert gradlab.gradcheck(sp_good, x).status == "passed"
        wrong = gradlab.gradcheck(sp_bad, x)
        assert wrong.status == "failed" and wrong.analytic_source == "jax.jvp(softplus)"


@pytest.mark.slow
def test_without_x64_jax_float32_is_said_and_a_bug_still_fails(jax_rules):
    jax, good, bad, _, _ = jax_rules
    rng = np.random.default_rng(0)
    with _x64(jax, False):
        x = jax.numpy.asarray(rng.normal(size=(4, 3)), dtype="float32")
        w = jax.numpy.asarray(rng.normal(size=(3, 3)), dtype="float32")
        ok = gradlab.gradcheck(good, (x, w))
        assert ok.status != "failed" and any("jax_enable_x64 is off" in n for n in ok.notes)
        assert gradlab.gradcheck(bad, (x, w)).status == "failed"


@pytest.mark.slow
def test_a_numpy_function_of_jax_arrays_is_refused_clearly(jax_rules):
    jax = jax_rules[0]
    x = jax.numpy.asarray(np.linspace(-1.0, 1.0, 4))
    with pytest.raises(TypeError, match="`f` must be a function jax can trace"):
        gradlab.gradcheck(lambda x: float(np.sum(np.sin(np.asarray(x)))), (x,))
