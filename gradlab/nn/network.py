"""``Network(layers, loss=...)``: a stack of layers with a loss head, as an objective.

The network is the composition ``y = layer_L( ... layer_1(x))`` of the layers of
:mod:`gradlab.nn.layers`, followed by a head of the loss table (softmax +
cross-entropy for ``loss="cross_entropy"``, the identity + squared error for
``"mse"``).  The batch cost is the mean loss::

    J(theta) = (1 / N) sum_n L(y_n, Y_n)

Backprop is the chain rule over the layers, last first: the head gives
``dJ/dy = delta / N`` (``a - Y`` for the paired losses), and each layer's ``backward``
turns the gradient of its output into that of its input while writing the gradients of
its own parameters into the flat gradient (one forward pass, one backward pass).

Parameters live in one flat vector ``theta``, layer by layer in order, each layer's
blocks in the order of its ``param_shapes()``.  Blocks are named ``<layer>.<param>``,
the layer named by its kind and its number among the layers of that kind, from 1
(``conv1.W``, ``conv1.b``, ``dense2.W``, ``lstm1.Wx``), or by the ``name=`` it was
given (``nn.LSTM(3, 5, name="lstm")`` gives ``lstm.Wx``).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np

from .. import _validate as v
from ..objective import Block
from . import batched
from .activations import ACTIVATIONS
from .layers import Activation, Embedding, Layer, ShapeError
from .losses import LOSSES, Head
from .mlp import ParamViews

#: the output nonlinearity each loss takes when none is given
DEFAULT_OUTPUT = {"cross_entropy": "softmax", "mse": "identity"}


class Network:
    """A network of layers with a loss: differentiable, checkable and benchmarkable like the MLP.

    Parameters
    ----------
    layers : sequence of Layer
        The layers in order (``nn.Conv2d``, ``nn.Activation("relu")``, ``nn.MaxPool2d``, ...).
    loss : str
        ``"cross_entropy"`` or ``"mse"`` (the loss table); the last layer gives the logits
        (or the predictions), one vector per sample.
    output : str, optional
        The head's output nonlinearity; default ``softmax`` for cross-entropy, ``identity`` for mse.
    input_shape : tuple of int, optional
        The shape of one sample (``(C, H, W)`` for images, ``(T, d)`` for sequences, ``(T,)``
        for ids): checks that the layers fit together now, and lets :meth:`random_batch` draw data.
    dtype : float64 or float32

    Examples
    --------
    >>> from gradlab import nn
    >>> model = nn.Network([nn.Conv2d(1, 2, 3), nn.Activation("relu"), nn.MaxPool2d(2),
    ...                     nn.Flatten(), nn.Dense(2 * 3 * 3, 3)], loss="cross_entropy", input_shape=(1, 8, 8))
    >>> [b.name for b in model.blocks]
    ['conv1.W', 'conv1.b', 'dense1.W', 'dense1.b']
    >>> model.n_params
    77
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        loss: str = "cross_entropy",
        *,
        output: str | None = None,
        input_shape: Sequence[int] | None = None,
        dtype: object = np.float64,
    ):
        if isinstance(layers, Layer) or not isinstance(layers, Sequence) or not layers:
            raise v.fail("layers", "a non-empty list of layers such as [nn.Dense(4, 3)]", layers, TypeError)
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"`layers` must hold gradlab.nn layers; got {v.show(layer)} at position {i}")
            if i > 0 and layer.takes_ids:
                raise ValueError(
                    f"`layers` must have an Embedding only first (its ids are not differentiable); "
                    f"got {layer!r} at position {i}"
                )
        self.layers: tuple[Layer, ...] = tuple(layers)
        self.loss = v.choice("loss", loss, LOSSES)
        self.output = DEFAULT_OUTPUT[self.loss] if output is None else output
        self.head: Head = LOSSES[self.loss](self.output)
        self.dtype = v.float_dtype("dtype", dtype)

        # blocks: <kind><number>.<param>, or <name>.<param>
        counts: dict[str, int] = {}
        self.labels: list[str] = []
        blocks, offset = [], 0
        self._slots: list[list[tuple[str, slice, tuple[int, ...]]]] = []
        for layer in self.layers:
            counts[layer.kind] = counts.get(layer.kind, 0) + 1
            label = layer.name or f"{layer.kind}{counts[layer.kind]}"
            self.labels.append(label)
            slots = []
            for pname, shape in layer.param_shapes().items():
                b = Block(f"{label}.{pname}", offset, tuple(shape))
                blocks.append(b)
                slots.append((pname, b.slice, b.shape))
                offset += b.size
            self._slots.append(slots)
        names = [b.name for b in blocks]
        dup = next((n for n in names if names.count(n) > 1), None)
        if dup is not None:
            raise ValueError(f"`layers` must have distinct names; got two blocks named {dup!r}")
        self.blocks: tuple[Block, ...] = tuple(blocks)
        self.n_params: int = offset
        self.kinked = any(layer.kinked for layer in self.layers)
        self.complex_ok = all(layer.complex_ok for layer in self.layers)
        self.input_shape = None
        if input_shape is not None:
            if isinstance(input_shape, str) or not isinstance(input_shape, Sequence) or not input_shape:
                raise v.fail("input_shape", "the shape of one sample, such as (1, 8, 8)", input_shape, TypeError)
            shape = tuple(v.positive_int("input_shape", n) for n in input_shape)
            self.n_out = self._check_shapes(shape, "input_shape")
            self.input_shape = shape

    def __repr__(self) -> str:
        inner = ", ".join(map(repr, self.layers))
        return f"Network([{inner}], loss={self.loss!r}, output={self.output!r}, dtype={self.dtype.name})"

    # -- shapes -----------------------------------------------------------------------

    def shapes(self, input_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        """The per-sample shape after each layer, for samples of ``input_shape``."""
        out, shape = [], tuple(input_shape)
        for i, layer in enumerate(self.layers):
            try:
                shape = layer.out_shape(shape)
            except ShapeError as exc:
                raise ShapeError(f"layer {i} ({self.labels[i]}): {exc}") from None
            out.append(shape)
        return out

    def _check_shapes(self, shape: tuple[int, ...], what: str) -> int:
        """The number of outputs for samples of ``shape``, or a ``ValueError`` naming ``what`` and the layer."""
        try:
            last = self.shapes(shape)[-1]
        except ShapeError as exc:
            raise ValueError(f"`{what}` must fit the layers (samples of shape {shape}); {exc}") from None
        if len(last) != 1:
            raise ValueError(
                f"`layers` must end in one vector per sample for the {self.loss} loss (add nn.Flatten() and "
                f"nn.Dense); got per-sample output shape {last} from {self.labels[-1]} for samples of shape {shape}"
            )
        if self.output == "softmax" and last[0] == 1:
            raise ValueError("`layers` must end in at least 2 outputs for a softmax output (softmax of one unit is 1)")
        return last[0]

    # -- parameters ---------------------------------------------------------------------

    def init(self, seed: int | None = 0) -> np.ndarray:
        """A fresh flat parameter vector: each layer's own initialisation, zero biases.

        A weight layer directly followed by an ``Activation`` takes that row's ``init`` of
        the activation table (He for ReLU-like units, Glorot otherwise); others Glorot.
        Drawn in float64, then rounded to ``dtype``.
        """
        rng = np.random.default_rng(seed)
        theta = np.zeros(self.n_params, dtype=np.float64)
        views = self._views(theta)
        for i, layer in enumerate(self.layers):
            nxt = self.layers[i + 1] if i + 1 < len(self.layers) else None
            init = nxt.row.init if layer.feeds_activation and isinstance(nxt, Activation) else "glorot"
            if nxt is None and self.output in ACTIVATIONS:
                init = ACTIVATIONS[self.output].init
            layer.init(rng, views[i], init)
        return theta.astype(self.dtype, copy=False)

    def params(self, theta: np.ndarray) -> ParamViews:
        """Named views (``conv1.W``, ...) into ``theta``: a flat contiguous array of the network's dtype."""
        return ParamViews.of(theta, self.blocks, self.n_params, self.dtype)

    def _views(self, theta: np.ndarray) -> list[dict[str, np.ndarray]]:
        """Per layer, ``{local name: view}`` into a validated theta (the hot path: no checks)."""
        return [{name: theta[s].reshape(shape) for name, s, shape in slots} for slots in self._slots]

    def check_theta(self, theta: object, *, copy: bool = True) -> np.ndarray:
        """``theta`` validated: a finite flat array of the network's dtype and size."""
        if isinstance(theta, np.ndarray) and theta.dtype == self.dtype and not copy and np.isfinite(theta).all():
            arr = theta
        else:
            arr = v.real_array("theta", theta, self.dtype)
        if arr.shape != (self.n_params,):
            raise v.fail("theta", f"a flat vector of shape ({self.n_params},) for this network", arr)
        return arr

    # -- forward and backward --------------------------------------------------------------

    def forward_cache(self, theta: np.ndarray, X: np.ndarray):
        """The last layer's output and every layer's cache (no checks: validated arrays)."""
        caches, x = [], X
        for layer, p in zip(self.layers, self._views(theta)):
            x, cache = layer.forward(p, x)
            caches.append(cache)
        return x, caches

    def forward(self, theta: object, X: object) -> np.ndarray:
        """The prediction ``head.output(last layer's output)`` for a batch ``X``."""
        theta = self.check_theta(theta, copy=False)
        z, _ = self.forward_cache(theta, self._check_X(X))
        return self.head.output(z)

    def cost(self, theta: np.ndarray, X: np.ndarray, Y: np.ndarray):
        """J(theta) as a numpy scalar (complex if theta is); no checks (hot path)."""
        z, _ = self.forward_cache(theta, X)
        return self.head.total(z, Y) / X.shape[0]

    def gradient(self, theta: np.ndarray, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """dJ/dtheta by backprop through the layers at a validated ``theta``."""
        with np.errstate(over="ignore", invalid="ignore"):
            z, caches = self.forward_cache(theta, X)
            grad = np.empty_like(theta)
            grads = self._views(grad)
            dy = self.head.delta(z, self.head.output(z), Y) / X.shape[0]  # dJ/dz of the head: (N, n_out)
            for layer, p, cache, g in zip(self.layers[::-1], self._views(theta)[::-1], caches[::-1], grads[::-1]):
                dy = layer.backward(p, cache, dy, g)
        if not np.isfinite(grad).all():
            i = int(np.flatnonzero(~np.isfinite(grad))[0])
            block = next(b for b in self.blocks if b.offset <= i < b.offset + b.size)
            raise FloatingPointError(
                f"the backprop gradient overflowed to {grad[i]} in {block.name} (flat index {i}): rescale the "
                f"inputs or the weights (largest |theta| {float(np.abs(theta).max()):.3g})"
            )
        return grad

    def pieces(self, theta: np.ndarray, X: np.ndarray) -> list[np.ndarray]:
        """For every kinked layer (ReLU-like activations, max-pool), which smooth piece the
        batch lies on: equal lists exactly when no kink was crossed between two thetas."""
        _, caches = self.forward_cache(theta, X)
        out = [layer.pieces(c) for layer, c in zip(self.layers, caches) if layer.kinked]
        return [p for p in out if p is not None]

    def astype(self, dtype: object) -> Network:
        """The same layers and loss in another precision (parameters and data rounded to it)."""
        out = copy.copy(self)
        out.dtype = v.float_dtype("dtype", dtype)
        return out

    def with_layer(self, i: int, layer: Layer) -> Network:
        """A copy of the network with layer ``i`` replaced by ``layer`` of the same parameters
        (the bug zoo plants a mistake this way)."""
        if layer.param_shapes() != self.layers[i].param_shapes():
            raise ValueError(f"`layer` must have the parameters of {self.layers[i]!r}; got {layer!r}")
        out = copy.copy(self)
        out.layers = (*self.layers[:i], layer, *self.layers[i + 1 :])
        return out

    # -- data ---------------------------------------------------------------------------

    def _check_X(self, X: object) -> np.ndarray:
        first = self.layers[0]
        if isinstance(first, Embedding):
            try:
                arr = np.array(X, copy=True)
            except Exception as exc:
                raise v.fail("X", "an array of integer ids", X, TypeError) from exc
            arr = first.check_ids(arr)
        else:
            arr = v.real_array("X", X, self.dtype)
        if arr.ndim < 2 or arr.shape[0] == 0:
            raise v.fail("X", "a batch with samples on axis 0 (at least one sample)", arr)
        self._check_shapes(arr.shape[1:], "X")
        return arr

    def random_batch(self, m: int, *, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
        """``m`` random samples of the network's ``input_shape`` and targets fit for its head:
        standard normal inputs (integer ids in ``[0, vocab)`` for an embedding), and one-hot
        classes for softmax + cross-entropy, standard normal values for mse."""
        m = v.positive_int("m", m)
        if self.input_shape is None:
            raise ValueError(
                "`input_shape` must be given to Network to draw a random batch (the shape of one sample, "
                "e.g. (1, 8, 8)); got None"
            )
        rng = np.random.default_rng(seed)
        first = self.layers[0]
        if isinstance(first, Embedding):
            X = rng.integers(0, first.vocab, size=(m, *self.input_shape))
        else:
            X = rng.normal(size=(m, *self.input_shape))
        return X, self.head.targets(rng, m, self.n_out)

    def objective(self, X: object, Y: object) -> NetworkObjective:
        """The batch cost ``J(theta)`` on ``(X, Y)``: both copied once, read-only."""
        X = self._check_X(X)
        n_out = self._check_shapes(X.shape[1:], "X")
        Y = v.real_array("Y", Y, self.dtype)
        if Y.ndim == 1 and n_out == 1:
            Y = Y.reshape(-1, 1)
        if Y.shape != (X.shape[0], n_out):
            raise v.fail("Y", f"an array of shape ({X.shape[0]}, {n_out}) to match X and the network's output", Y)
        self.head.check_targets(Y)
        X.flags.writeable = False
        Y.flags.writeable = False
        return NetworkObjective(self, X, Y)


class NetworkObjective:
    """``J(theta)`` of one :class:`Network` on one batch, implementing the objective protocol
    (value, backprop gradient, named blocks, complex evaluation, the kink hook)."""

    def __init__(self, net: Network, X: np.ndarray, Y: np.ndarray):
        self.net, self.X, self.Y = net, X, Y
        self.complex_ok = net.complex_ok
        self.kinks = self._pieces if net.kinked else None

    def __getstate__(self) -> dict:
        return batched.state_without_kept_pass(self)

    @property
    def n_params(self) -> int:
        return self.net.n_params

    def blocks(self, theta: np.ndarray | None = None) -> tuple[Block, ...]:
        return self.net.blocks

    def point(self, theta: object) -> np.ndarray:
        return self.net.check_theta(theta, copy=False)

    def __call__(self, theta: object) -> float:
        return float(self.value(self.point(theta)))

    def value(self, theta: np.ndarray):
        """J at an already-validated theta (real or complex); no checks."""
        with np.errstate(over="ignore", invalid="ignore"):
            J = self.net.cost(theta, self.X, self.Y)
        if not np.isfinite(J):
            raise FloatingPointError(
                f"J(theta) overflowed to {J}: rescale the inputs or the weights "
                f"(largest |theta| {float(np.abs(theta).max()):.3g})"
            )
        return J

    def values(self, points: np.ndarray) -> np.ndarray:
        """J at each of ``K`` already-validated points (``(K, n)``, real or complex), up to rounding
        what :meth:`value` gives, computed together (see :mod:`gradlab.nn.batched`); a subclass
        with its own ``value`` or cost is evaluated point by point."""
        if type(self).value is not NetworkObjective.value or type(self.net).cost is not Network.cost:
            return np.array([self.value(p) for p in points])
        return batched.network_values(self, points)

    def gradient(self, theta: np.ndarray) -> np.ndarray:
        """dJ/dtheta by backprop at an already-validated theta."""
        return self.net.gradient(theta, self.X, self.Y)

    def _pieces(self, theta: np.ndarray) -> bytes:
        return b"".join(p.tobytes() for p in self.net.pieces(theta, self.X))

    def in_precision(self, dtype: object) -> NetworkObjective:
        """This objective computed in ``dtype``: the network's twin in that precision, the batch rounded."""
        net = self.net.astype(dtype)
        if net.dtype == self.net.dtype:
            return self
        X = self.X if self.X.dtype.kind in "iu" else self.X.astype(net.dtype)
        Y = self.Y.astype(net.dtype)
        X.flags.writeable = Y.flags.writeable = False
        return NetworkObjective(net, X, Y)

    def with_network(self, net: Network) -> NetworkObjective:
        """The same batch seen by another network (a bug zoo copy of this one)."""
        return NetworkObjective(net, self.X, self.Y)

    def __repr__(self) -> str:
        return f"NetworkObjective({self.net!r}, batch={self.X.shape[0]})"


__all__ = ["Network", "NetworkObjective"]
