"""What every layer of a :class:`~gradlab.nn.Network` provides.

A layer maps a batch ``x`` (samples on axis 0) to a batch ``y`` and knows its own
local derivative.  The contract, with ``p`` and ``g`` dicts of named parameter views
(``{"W": ..., "b": ...}``) into theta and into the flat gradient:

- ``out_shape(in_shape)`` -- the per-sample output shape for a per-sample input shape
  (batch axis excluded); raises :class:`ShapeError` saying what the layer expects;
- ``param_shapes()`` -- ``{local name: shape}`` of the layer's parameter blocks;
- ``init(rng, p, init)`` -- fills ``p`` in place; ``init`` is the name of the
  activation table's initialisation (``"he"``, ``"glorot"``) of the unit the layer feeds;
- ``forward(p, x) -> (y, cache)`` -- real or complex ``x`` and ``p`` (complex for the
  complex step where the layer's math allows: ``complex_ok``);
- ``backward(p, cache, dy, g) -> dx`` -- the vector-Jacobian product: writes
  ``dJ/dp`` into ``g`` and returns ``dJ/dx`` (``None`` where ``x`` is not differentiable:
  an embedding's integer ids);
- ``pieces(cache)`` -- for a layer with kinks (ReLU, max-pool), an integer array that
  is the same at two points exactly when they lie on the same smooth piece; else ``None``.

Complex evaluation.  Every layer here is analytic in its inputs and parameters away from
its kinks, so a network of them evaluates at complex theta and the complex step is a valid
reference: the only non-analytic operations are branch choices (ReLU's side of 0,
max-pool's argmax, softmax's shift), and those are taken on the real part, never with
``np.abs``, ``np.maximum`` or ``.real`` applied to the values themselves.  A layer that could
not (one that rounds, or takes absolute values) would set ``complex_ok = False``, and the
network's objective would say so to the checker, which then uses real differences.

A backward pass is written as a few named local rules (methods), so that the layer
bug zoo (:mod:`gradlab.experiments.layerzoo`) plants a mistake by replacing one rule on
a copy of a layer: there is one backward, not a correct one and a copy to break.
"""

from __future__ import annotations

import copy
import types
from collections.abc import Callable

import numpy as np

from ..activations import INITS


class ShapeError(ValueError):
    """A layer was handed an input of a shape it cannot take."""


class Layer:
    """Base of the layers: a name, no parameters, smooth, complex evaluation allowed."""

    #: the prefix of the layer's parameter blocks, numbered by kind in a network (conv1, conv2, ...)
    kind: str = "layer"
    #: whether forward is analytic in complex inputs and parameters (the complex step applies)
    complex_ok: bool = True
    #: whether the layer has kinks (then :meth:`pieces` is not None)
    kinked: bool = False
    #: whether the layer's input is differentiable (False for integer ids)
    takes_ids: bool = False

    def __init__(self, *, name: str | None = None):
        if name is not None and (not isinstance(name, str) or not name.isidentifier()):
            raise ValueError(f"`name` must be an identifier such as 'conv1' or None; got {name!r}")
        self.name = name

    # -- the contract (defaults for a parameter-free, smooth layer) ---------------------

    def out_shape(self, in_shape: tuple[int, ...]) -> tuple[int, ...]:
        return in_shape

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        return {}

    def init(self, rng: np.random.Generator, p: dict[str, np.ndarray], init: str) -> None:
        return None

    def forward(self, p: dict[str, np.ndarray], x: np.ndarray):
        raise NotImplementedError

    def backward(self, p: dict[str, np.ndarray], cache, dy: np.ndarray, g: dict[str, np.ndarray]):
        raise NotImplementedError

    def pieces(self, cache) -> np.ndarray | None:
        return None

    #: whether an activation layer right after this one decides its weights' initialisation
    feeds_activation: bool = False

    # -- the bug zoo's hook -------------------------------------------------------------

    def with_rule(self, rule: str, fn: Callable) -> Layer:
        """A copy of this layer whose local rule ``rule`` (a method name) is ``fn(self, ...)``."""
        if not callable(getattr(type(self), rule, None)):
            raise ValueError(f"`rule` must be a local rule (method) of {type(self).__name__}; got {rule!r}")
        out = copy.copy(self)
        setattr(out, rule, types.MethodType(fn, out))
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def expect(cond: bool, layer: Layer, requirement: str, in_shape: tuple[int, ...]) -> None:
    """Raise :class:`ShapeError` unless ``cond``: ``<layer> expects <requirement>; got ...``."""
    if not cond:
        raise ShapeError(f"{layer!r} expects {requirement}; got samples of shape {tuple(in_shape)}")


def glorot_or_he(init: str, n_in: int, n_out: int) -> float:
    """The standard deviation of the table's initialisation ``init`` for fan-in/fan-out."""
    return INITS[init](n_in, n_out)


def positive(name: str, value: object, layer: str) -> int:
    """A positive int argument of a layer's constructor, in the house wording."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"`{name}` of {layer} must be a positive integer; got {value!r}")
    if value < 1:
        raise ValueError(f"`{name}` of {layer} must be a positive integer; got {value!r}")
    return int(value)


def nonnegative(name: str, value: object, layer: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"`{name}` of {layer} must be a non-negative integer; got {value!r}")
    if value < 0:
        raise ValueError(f"`{name}` of {layer} must be a non-negative integer; got {value!r}")
    return int(value)


def re(z: np.ndarray) -> np.ndarray:
    """The real part, without a copy for real input: comparisons (max, ties) are made on it."""
    return z.real if np.iscomplexobj(z) else z


__all__ = ["Layer", "ShapeError", "expect", "glorot_or_he", "nonnegative", "positive", "re"]
