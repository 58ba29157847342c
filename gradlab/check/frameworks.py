"""Framework custom rules in one call: a torch ``autograd.Function`` or a jax function, checked as it is.

``gradlab.gradcheck(MyFunction.apply, (x, w))`` checks the ``backward`` of a torch
``autograd.Function`` subclass, and ``gradlab.gradcheck(f, (x, w))`` the rule of a jax function
(a ``jax.custom_vjp`` or ``jax.custom_jvp`` one, or any function jax can trace), without a
numpy wrapper and without converting anything:

- the **backward** is what is checked: a vector-valued output is contracted with a seeded
  random cotangent ``u``, and the framework's own backward gives ``u^T J``
  (``torch.autograd.grad`` of ``<u, out>``, which hands ``backward`` exactly ``u``; ``jax.vjp``), judged per argument
  against differences of ``<u, f(x)>`` as any ``vjp=`` is (see :mod:`gradlab.check.adapt`); a
  scalar output is checked as a gradient.  A ``jax.custom_jvp`` function's rule is a forward
  rule: it is checked through ``jax.jvp`` as ``jvp=`` is (see :mod:`gradlab.check.forward`);
- the arguments are **named** by the forward's signature (``forward(ctx, x, w)``: blocks ``x``
  and ``w``), else ``arg0``, ``arg1``, ...; integer and boolean tensors (token ids, masks) are
  passed through as they are and not differentiated, as torch itself does;
- **float32** needs no ``.double()``: the framework's backward runs in the caller's precision,
  and the differences are measured on the forward evaluated in float64 (the tensors converted
  to float64 for the reference only), the float32 backward judged at float32's tolerance -- the
  same lift as a float32 numpy ``f`` (see :func:`gradlab.check.case.lifted_point`), said in the
  result's notes.  jax computes in float32 unless ``jax_enable_x64`` is on; without it there is no
  float64 to lift to, and the result says what that means.

Nothing here imports torch or jax: a function is recognised only when its library is already
imported (``sys.modules``), so ``import gradlab`` stays light and a user without torch never
pays for it.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace

import array_api_compat

from .._arrays import is_array_api
from ..structure import argument_names
from .settings import validated

#: the options of gradcheck that are settings (validated before f runs)
_SETTINGS = frozenset(inspect.signature(validated).parameters)


@dataclass(frozen=True)
class FrameworkRule:
    """A framework function restated as what :func:`~gradlab.gradcheck` checks: ``f`` with one of
    ``grad``/``vjp``/``jvp`` (a rule computed by the framework), and what the result will say."""

    f: Callable
    grad: Callable | None = None
    vjp: Callable | None = None
    jvp: Callable | None = None
    notes: tuple[str, ...] = ()

    def finish(self, result):
        """The check's result, with what was restated in its notes (first: they say what was checked)."""
        return replace(result, notes=(*self.notes, *result.notes))


def framework_rules(check: Callable) -> Callable:
    """``check`` (:func:`~gradlab.gradcheck`) that recognises a framework function ``f`` and checks its
    rule: ``check(f', x, vjp=rule)`` (or ``grad=``/``jvp=``), the result's notes saying so.  Every
    option is validated before ``f`` runs, as ``check`` itself does; any other ``f`` is ``check``'s."""

    @functools.wraps(check)
    def gradcheck(f: object, x: object, **options):
        __tracebackhide__ = True
        second = options.get("hvp") is not None or options.get("hessian") is not None or options.get("order", 1) != 1
        rules = {k: options.get(k) for k in ("grad", "vjp", "jvp")}
        if any(r is not None for r in rules.values()) or second or not _maybe_framework():
            return check(f, x, **options)
        validated(**{k: val for k, val in options.items() if k in _SETTINGS})  # before f runs, as check does
        rule = framework_rule(f, x, **rules, second=second)
        if rule is None:
            return check(f, x, **options)
        return rule.finish(check(rule.f, x, **{**options, "grad": rule.grad, "vjp": rule.vjp, "jvp": rule.jvp}))

    return gradcheck


def _maybe_framework() -> bool:
    """Cheap: is torch or jax imported at all (nothing else can be a framework function)?"""
    return "torch" in sys.modules or "jax" in sys.modules


def framework_rule(f: object, x: object, *, grad, vjp, jvp, second: bool) -> FrameworkRule | None:
    """``f`` at ``x`` as a check of its framework's rule, or ``None`` where ``f`` is not a framework
    function, or the caller passed a rule of their own (``grad=``, ``vjp=``, ``jvp=``), or asked for
    a second-order check (checked as before: the framework plays no part)."""
    if grad is not None or vjp is not None or jvp is not None or second:
        return None
    torch = sys.modules.get("torch")
    if torch is not None:
        owner = _autograd_function(torch, f)
        if owner is not None:
            return _torch_rule(torch, f, owner, x)
    jax = sys.modules.get("jax")
    if jax is not None and _is_jax_function(jax, f, x):
        return _jax_rule(jax, f, x)
    return None


# -- torch ---------------------------------------------------------------------------------------


def _autograd_function(torch, f: object):
    """The ``autograd.Function`` subclass whose ``apply`` ``f`` is, else ``None``."""
    owner = getattr(f, "__self__", None)
    if not (inspect.isclass(owner) and issubclass(owner, torch.autograd.Function)):
        return None
    if getattr(f, "__name__", None) != "apply" or owner is torch.autograd.Function:
        return None
    return owner


def _forward_names(owner, n: int) -> tuple[str, ...]:
    """The names of the forward's ``n`` inputs: ``forward(ctx, x, w)`` gives ``("x", "w")`` (no ``ctx``
    where the class has a ``setup_context`` of its own); ``arg0, arg1, ...`` where they are not named."""
    base = getattr(sys.modules["torch"].autograd.Function, "setup_context", None)
    ctx = getattr(owner, "setup_context", base) is base  # the classic style: forward(ctx, *inputs)
    names = argument_names(owner.forward, n + ctx)
    return tuple(f"arg{i}" for i in range(n)) if names is None else names[ctx:]


def _named(fn: Callable, names: tuple[str, ...], label: str) -> Callable:
    """``fn`` with a signature naming its positional parameters ``names`` (gradlab names blocks by it)."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    fn.__signature__ = inspect.Signature([inspect.Parameter(n, kind) for n in names])
    fn.__name__ = fn.__qualname__ = label
    return fn


def _arguments(x: object, what: str) -> tuple[tuple, bool]:
    """The positional arguments ``x`` stands for (a tuple: its entries; anything else: one argument)
    and whether ``x`` was a tuple."""
    if isinstance(x, tuple):
        return x, True
    if isinstance(x, list | dict):
        raise TypeError(
            f"`x` must be a tuple of the {what}'s positional arguments (or one tensor); got a {type(x).__name__}"
        )
    return (x,), False


def _torch_rule(torch, f: Callable, owner, x: object) -> FrameworkRule:
    args, spread = _arguments(x, "autograd.Function")
    for i, a in enumerate(args):
        if not isinstance(a, torch.Tensor):
            raise TypeError(
                f"`x[{i}]` must be a torch tensor (the inputs of {owner.__name__}.apply are differentiated by "
                f"its backward); got {type(a).__name__} {a!r}: pass it as torch.tensor({a!r}, dtype=...)"
            )
    names = _forward_names(owner, len(args))
    floating = tuple(a.is_floating_point() for a in args)
    label = f"{owner.__name__}.backward"

    def flat_output(out):
        if isinstance(out, tuple | list):  # several outputs: one vector of the floating ones
            parts = [o.reshape(-1) for o in out if isinstance(o, torch.Tensor) and o.is_floating_point()]
            return torch.cat(parts)
        return out

    def forward(*xs):
        with torch.no_grad():
            return flat_output(f(*xs))

    def backward(*xs_and_u):
        *xs, u = xs_and_u if not scalar else (*xs_and_u, None)
        leaves = [a.detach().clone().requires_grad_(True) if fl else a for a, fl in zip(xs, floating)]
        with torch.enable_grad():
            out = flat_output(f(*leaves))
            wrt = [leaf for leaf, fl in zip(leaves, floating) if fl]
            # <u, out> backpropagated hands backward exactly u (its product with 1); grad_outputs=u would do
            # the same after importing sympy for a shape check, seconds on the first call
            got = torch.autograd.grad(out if u is None else (out * u).sum(), wrt, allow_unused=True)
        grads, it = [], iter(got)
        for leaf, fl in zip(leaves, floating):
            if not fl:
                grads.append(None)  # an integer input: not differentiated, as torch's own gradients say
                continue
            g = next(it)
            grads.append(torch.zeros_like(leaf) if g is None else g.detach())
        return tuple(grads) if spread else grads[0]

    with torch.no_grad():
        y0 = flat_output(f(*args))
    scalar = y0.dim() == 0
    what = "its gradient" if scalar else "a vjp u^T J (torch.autograd.grad of the outputs with a cotangent u)"
    notes = (f"torch autograd.Function {owner.__name__}: its backward checked as {what}, argument by argument",)
    names = names if spread else ("x",)
    fwd = _named(forward, names, f"{owner.__name__}.apply")
    rule = _named(backward, names if scalar else (*names, "u"), label)
    return FrameworkRule(fwd, grad=rule, notes=notes) if scalar else FrameworkRule(fwd, vjp=rule, notes=notes)


# -- jax -----------------------------------------------------------------------------------------


def _is_jax_function(jax, f: object, x: object) -> bool:
    """A ``custom_vjp``/``custom_jvp`` function, or any callable whose arguments hold a jax array."""
    if isinstance(f, jax.custom_vjp | jax.custom_jvp):
        return True
    if not callable(f) or hasattr(f, "value"):  # an objective has a rule of its own
        return False
    args = x if isinstance(x, tuple) else (x,)
    return any(is_array_api(a) and _is_jax_array(a) for a in args)


def _is_jax_array(a: object) -> bool:
    return array_api_compat.is_jax_array(a)


def _jax_names(f: object, n: int) -> tuple[str, ...]:
    """The names of ``f``'s ``n`` arguments (a custom_vjp / custom_jvp function keeps its primal as ``.fun``)."""
    names = argument_names(getattr(f, "fun", f), n)
    return tuple(f"arg{i}" for i in range(n)) if names is None else names


def _jax_rule(jax, f: Callable, x: object) -> FrameworkRule:
    import jax.numpy as jnp

    args, spread = _arguments(x, "jax function")
    for i, a in enumerate(args):
        if not _is_jax_array(a):
            raise TypeError(
                f"`x[{i}]` must be a jax array (the arguments of a jax function are differentiated by jax); got "
                f"{type(a).__name__} {a!r}: pass it as jnp.asarray({a!r})"
            )
    floating = tuple(jnp.issubdtype(a.dtype, jnp.floating) for a in args)
    names = _jax_names(f, len(args)) if spread else ("x",)
    kind = (
        "custom_vjp"
        if isinstance(f, jax.custom_vjp)
        else "custom_jvp"
        if isinstance(f, jax.custom_jvp)
        else "jax-traced"
    )
    name = getattr(getattr(f, "fun", f), "__name__", "f")
    name = "f" if name == "<lambda>" else name

    def flat_output(out):
        if isinstance(out, tuple | list):
            return jnp.concatenate([jnp.ravel(o) for o in out if jnp.issubdtype(o.dtype, jnp.floating)])
        return out

    def closed(xs):
        """``f`` as a function of its floating arguments alone, the others fixed."""

        def g(*fl):
            it = iter(fl)
            return flat_output(f(*(next(it) if isfl else a for a, isfl in zip(xs, floating))))

        return g, [a for a, isfl in zip(xs, floating) if isfl]

    def spread_back(xs, got):
        it = iter(got)
        grads = tuple(next(it) if isfl else None for isfl in floating)
        return grads if spread else grads[0]

    def forward(*xs):
        return flat_output(f(*xs))

    y0 = forward(*args)
    scalar = jnp.ndim(y0) == 0
    x64 = bool(jax.config.read("jax_enable_x64"))
    notes = []
    if not x64:
        notes.append(
            "jax_enable_x64 is off, so jax computes in float32 whatever it is given: the reference is a difference "
            "of float32 values (relative errors below about 1e-3 cannot be resolved everywhere, and such entries "
            "are reported unverified, never passed); jax.config.update('jax_enable_x64', True) lets the reference "
            "be measured in float64"
        )
    fwd = _named(forward, names, name)
    if kind == "custom_jvp":

        def tangent_rule(*xs_and_v):
            *xs, v = xs_and_v
            tangents = v if spread else (v,)
            g, primals = closed(xs)
            ts = tuple(t for t, isfl in zip(tangents, floating) if isfl)
            return jax.jvp(g, tuple(primals), ts)[1]

        notes.insert(0, f"jax custom_jvp function {name}: its jvp rule checked through jax.jvp, argument by argument")
        return FrameworkRule(fwd, jvp=_named(tangent_rule, (*names, "v"), f"jax.jvp({name})"), notes=tuple(notes))

    def backward(*xs_and_u):
        *xs, u = xs_and_u if not scalar else (*xs_and_u, None)
        g, primals = closed(xs)
        try:
            if scalar:
                return spread_back(xs, jax.grad(g, argnums=tuple(range(len(primals))))(*primals))
            _, pullback = jax.vjp(g, *primals)
            return spread_back(xs, pullback(u))
        except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError) as exc:
            raise TypeError(
                f"`f` must be a function jax can trace to be checked without a rule of yours ({name} turns a "
                f"traced array into a numpy value or a Python bool: {type(exc).__name__}); pass `grad=` or `vjp=` "
                "with your own rule, or write f with jax.numpy"
            ) from None

    what = "its gradient (jax.grad)" if scalar else "a vjp u^T J (jax.vjp with a cotangent u)"
    label = f"jax.grad({name})" if scalar else f"jax.vjp({name})"
    notes.insert(0, f"jax {kind} function {name}: its rule checked as {what}, argument by argument")
    rule = _named(backward, names if scalar else (*names, "u"), label)
    return (
        FrameworkRule(fwd, grad=rule, notes=tuple(notes))
        if scalar
        else FrameworkRule(fwd, vjp=rule, notes=tuple(notes))
    )
