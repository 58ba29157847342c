"""hypothesis strategies for gradient checks: points, parameter structures and networks to check.

Needs hypothesis (``pip install gradlab[testing]``).  Every strategy draws plain numbers, integers
and choices, so that hypothesis shrinks a failure to a small, readable example and replays it
exactly: :func:`points` draws each entry as a bounded float; :func:`mlps` and :func:`networks`
draw a configuration whose ``repr`` rebuilds the same network, parameters and batch bitwise
(everything random comes from its ``seed``).

- :func:`points`: arrays of a shape and dtype, finite and of moderate size, kept a margin away
  from given kinks (``away_from=[0.0]`` for ``relu``) and inside a domain (``domain=(0, inf)``
  for ``log``);
- :func:`structures`: dicts, lists and tuples of arrays, nested, as :func:`gradlab.flatten` and
  :func:`gradlab.gradcheck` take them (dict keys name the blocks);
- :func:`mlps`: :class:`MLPCase` -- an :class:`~gradlab.MLP`, a point ``theta`` and a batch;
- :func:`networks`: :class:`NetworkCase` -- a :class:`gradlab.nn.Network` of layers, likewise.

Examples
--------
A planted bug -- the derivative of ``x * sin(x)`` with the product rule's second term dropped
where ``x > 2`` -- found by ``@given``:

>>> import numpy as np, gradlab
>>> from hypothesis import Phase, given, settings
>>> from gradlab.testing import strategies as gst
>>> def f(x):
...     return float(np.sum(x * np.sin(x)))
>>> def grad(x):  # wrong where x > 2: x cos x dropped
...     return np.sin(x) + np.where(x > 2, 0.0, x * np.cos(x))
>>> @settings(derandomize=True, database=None, deadline=None, phases=[Phase.generate, Phase.shrink])
... @given(gst.points((3,), magnitude=4.0))
... def test_grad(x):
...     gradlab.assert_gradcheck(f, x, grad=grad)
>>> try:  # doctest: +SKIP
...     test_grad()
... except gradlab.GradcheckError as err:
...     print(err.result.status, err.result.table.loc[0, "block"])
failed x

hypothesis names the shrunk example in the error's notes (such as ``x=array([-1., -1., 3.])``:
one entry past the bug's edge, at the simplest number there, the others at the simplest numbers
away from 0); run the test again and it replays that example first, or pin it with ``@example``.
The explain phase is left out above: it traces every line the test runs and takes seconds.  (The
call is not run as a doctest, the search and the shrinking take a second: tests/test_strategies.py
runs this example.)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as exc:  # an optional dependency: say how to get it
    raise ImportError(
        "gradlab.testing.strategies needs hypothesis: pip install 'gradlab[testing]' (or pip install hypothesis)"
    ) from exc

from .. import _validate as v
from .. import nn
from ..nn.activations import ACTIVATIONS

#: the hidden activations without kinks: random points of a network made of them are never on a kink
SMOOTH = tuple(name for name, a in ACTIVATIONS.items() if not a.kinks)
#: the (output, loss) pairs of the loss table whose output is smooth
SMOOTH_HEADS = tuple(
    (output, loss) for output, loss in nn.HEADS if output not in ACTIVATIONS or not ACTIVATIONS[output].kinks
)
#: the layer stacks :func:`networks` draws from (see :meth:`NetworkCase.layers`)
KINDS = ("dense", "norm", "conv", "lstm", "attention", "embedding")
#: the default margin from a kink or a domain's edge, per dtype: far beyond the reference's default
#: step, about cbrt(eps) * max(1, |x|) (6e-5 for float64, 0.05 for float32 at |x| = 10), so that no
#: difference quotient straddles the kink
MARGINS = {"float64": 1e-2, "float32": 1e-1}
#: the relative jitter added to a network's initial parameters: zero biases would hide a bias bug
JITTER = 0.1


# -- points ------------------------------------------------------------------------------------


def points(
    shape: int | Sequence[int] | st.SearchStrategy = (),
    *,
    dtype: object = np.float64,
    away_from: Sequence[float] = (),
    margin: float | None = None,
    domain: tuple[float, float] | None = None,
    magnitude: float = 10.0,
    nonzero: bool = True,
) -> st.SearchStrategy[np.ndarray]:
    """Arrays of ``shape`` and ``dtype`` whose every entry is finite, at most ``magnitude`` in size,
    at least ``margin`` from each of ``away_from`` (and from 0, unless ``nonzero=False``) and
    inside ``domain`` by ``margin``.

    Parameters
    ----------
    shape : int, tuple of int, or a strategy of shapes
        ``()`` (default) draws 0-d arrays.
    dtype : float64 or float32
        float32 entries are drawn as float32 numbers (no rounding after the draw).
    away_from : sequence of float
        Kinks of the function to check (``[0.0]`` for ``relu``, ``[-1.0, 1.0]`` for ``hard_tanh``):
        a difference quotient across a kink measures neither side's derivative.
    margin : float, optional
        How far to stay from kinks and from the domain's finite ends; default 0.01 (float64),
        0.1 (float32): far beyond the reference's default step.
    domain : (low, high), optional
        Where the function is defined, ends excluded: ``(0, inf)`` for ``log``, ``(-1, 1)`` for ``arcsin``.
    magnitude : float
        The largest ``|entry|`` (default 10: moderate, so that the function's own scale, not
        overflow, decides the check).
    nonzero : bool
        Keep every entry ``margin`` away from 0 (default).  An exact zero hides a bug whose error
        is proportional to that entry (a term in it dropped or doubled: gradcheck warns of it),
        and a point of zeros often has a zero gradient, which no check can judge relative to
        itself (inconclusive) -- and zeros are where hypothesis likes to shrink to.

    Entries shrink toward small integers (1.0 where ``nonzero``), else the nearest allowed number.
    """
    dtype = v.float_dtype("dtype", dtype)
    magnitude = v.positive_float("magnitude", magnitude)
    if isinstance(away_from, str) or not isinstance(away_from, Sequence):
        raise v.fail("away_from", "a sequence of finite floats (the kinks), such as [0.0]", away_from, TypeError)
    kinks = [v.finite_real("away_from", k, "a sequence of finite floats") for k in away_from]
    kinks = sorted(kinks + [0.0] if v.boolean("nonzero", nonzero) else kinks)
    margin = MARGINS[dtype.name] if margin is None else v.positive_float("margin", margin)
    low, high = _domain(domain)
    intervals = _allowed(
        max(_beyond(low, margin), -magnitude), min(_beyond(high, -margin), magnitude), kinks, margin, dtype
    )
    if not intervals:
        raise ValueError(
            f"`away_from`, `margin`, `domain` and `magnitude` must leave some numbers to draw; got kinks {kinks}, "
            f"margin {margin:g}, domain ({low:g}, {high:g}) and magnitude {magnitude:g}"
        )
    width = 32 if dtype == np.float32 else 64
    elements = st.one_of(
        [
            st.floats(a, b, width=width, allow_nan=False, allow_infinity=False, allow_subnormal=False)
            for a, b in intervals
        ]
    )
    # every entry drawn on its own (no fill value shared by most entries): a shrunk example then
    # differs from the simplest point only in the entries the failure needs
    return hnp.arrays(dtype, _shape(shape), elements=elements, fill=st.nothing())


def _shape(shape: object):
    if isinstance(shape, st.SearchStrategy):
        return shape
    if isinstance(shape, int | np.integer) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, Sequence) or isinstance(shape, str):
        raise v.fail("shape", "an int, a tuple of ints or a strategy of shapes", shape, TypeError)
    return tuple(v.integer_at_least("shape", n, 0) for n in shape)


def _domain(domain: object) -> tuple[float, float]:
    if domain is None:
        return -math.inf, math.inf
    requirement = "a pair (low, high) with low < high, such as (0, inf)"
    if isinstance(domain, str) or not isinstance(domain, Sequence) or len(domain) != 2:
        raise v.fail("domain", requirement, domain, TypeError)
    low, high = (v._real("domain", end, requirement) for end in domain)
    if not low < high:  # NaN ends fail here too
        raise v.fail("domain", requirement, domain)
    return low, high


def _allowed(low: float, high: float, kinks: list[float], margin: float, dtype: np.dtype) -> list[tuple[float, float]]:
    """``[low, high]`` less the open ``margin``-balls around the kinks, as closed intervals whose
    ends are numbers of ``dtype`` (hypothesis refuses float32 bounds it cannot represent)."""
    out, start = [], low
    for k in kinks:
        below, above = _beyond(k, -margin), _beyond(k, margin)
        if below >= start:
            out.append((start, min(below, high)))
        start = max(start, above)
    out.append((start, high))
    return [(a, b) for a, b in (_inward(a, b, dtype) for a, b in out) if a <= b]


def _beyond(k: float, margin: float) -> float:
    """``k + margin`` rounded away from ``k`` where rounding brought it closer than ``|margin|``."""
    x, toward = k + margin, math.copysign(math.inf, margin)
    while abs(x - k) < abs(margin):
        x = math.nextafter(x, toward)
    return x


def _inward(a: float, b: float, dtype: np.dtype) -> tuple[float, float]:
    if dtype != np.float32:
        return a, b
    # compared as float64 (numpy would compare a float32 with a Python float in float32)
    a32, b32 = np.float32(a), np.float32(b)
    if float(a32) < a:
        a32 = np.nextafter(a32, np.float32(np.inf))
    if float(b32) > b:
        b32 = np.nextafter(b32, np.float32(-np.inf))
    return float(a32), float(b32)


# -- structures --------------------------------------------------------------------------------

#: the keys of drawn dicts: names parameters have
NAMES = ("W", "b", "W1", "b1", "W2", "b2", "weight", "bias", "gamma", "beta", "emb")


def structures(
    *,
    dtype: object = np.float64,
    max_leaves: int = 4,
    max_side: int = 3,
    magnitude: float = 10.0,
) -> st.SearchStrategy:
    """Parameter structures: a dict, list or tuple at the top, nested dicts, lists and tuples
    inside, numpy arrays of ``dtype`` (0 to 2 dimensions, sides up to ``max_side``) at the
    leaves.  Dict keys name the blocks (``{"W": ..., "layers": [{"b": ...}]}`` has the blocks
    ``W`` and ``layers[0].b``, see :mod:`gradlab.structure`).  No container is empty."""
    dtype = v.float_dtype("dtype", dtype)
    max_leaves = v.positive_int("max_leaves", max_leaves)
    max_side = v.positive_int("max_side", max_side)
    shapes = hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=max_side)
    leaf = points(shapes, dtype=dtype, magnitude=magnitude)  # entries away from 0 (see points)

    def containers(children):
        return st.one_of(
            st.dictionaries(st.sampled_from(NAMES), children, min_size=1, max_size=3),
            st.lists(children, min_size=1, max_size=3),
            st.lists(children, min_size=1, max_size=3).map(tuple),
        )

    return containers(st.recursive(leaf, containers, max_leaves=max_leaves))


# -- networks ----------------------------------------------------------------------------------


class _Case:
    """What an MLP case and a network case share: the network, the point, the batch, the objective;
    all built from the fields (everything random from ``seed``), so that the repr rebuilds it."""

    def __iter__(self) -> Iterator:
        """``net, theta, obj = case``."""
        return iter((self.net, self.theta, self.objective))

    @functools.cached_property
    def theta(self) -> np.ndarray:
        """The network's initial parameters, jittered (``JITTER`` standard normal; biases are not zero)."""
        rng = np.random.default_rng(self.seed + 1)
        theta = self.net.init(seed=self.seed).astype(np.float64)
        return (theta + JITTER * rng.standard_normal(theta.size)).astype(self.dtype)

    @functools.cached_property
    def batch_data(self) -> tuple[np.ndarray, np.ndarray]:
        """``(X, Y)``: the network's random batch of ``batch`` samples, from ``seed``."""
        return self.net.random_batch(self.batch, seed=self.seed)

    @property
    def X(self) -> np.ndarray:
        return self.batch_data[0]

    @property
    def Y(self) -> np.ndarray:
        return self.batch_data[1]

    @functools.cached_property
    def objective(self):
        """The batch cost ``J(theta)``, with its own backprop: ``gradlab.gradcheck(case.objective, case.theta)``."""
        return self.net.objective(self.X, self.Y)


@dataclass(frozen=True)
class MLPCase(_Case):
    """An MLP, a point and a batch, all from these fields: ``MLPCase(...)`` as printed rebuilds it."""

    sizes: tuple[int, ...]
    activation: tuple[str, ...]
    output: str
    loss: str
    l2: float
    batch: int
    seed: int
    dtype: str = "float64"

    @functools.cached_property
    def net(self):
        return nn.MLP(list(self.sizes), self.activation, self.output, self.loss, self.l2, dtype=self.dtype)


@st.composite
def _mlps(draw, depth, width, activations, heads, batch, l2, dtype):
    d = draw(st.integers(*depth))
    sizes = draw(st.lists(st.integers(1, width), min_size=d + 2, max_size=d + 2))
    output, loss = draw(st.sampled_from(heads))
    if output == "softmax":
        sizes[-1] = max(sizes[-1], 2)  # softmax of one unit is the constant 1 (MLP refuses it)
    return MLPCase(
        sizes=tuple(sizes),
        activation=tuple(draw(st.sampled_from(activations)) for _ in range(d)),
        output=output,
        loss=loss,
        l2=draw(st.sampled_from(l2)),
        batch=draw(st.integers(*batch)),
        seed=draw(st.integers(0, 2**16)),
        dtype=dtype,
    )


def mlps(
    *,
    depth: tuple[int, int] = (0, 2),
    width: int = 5,
    activations: Sequence[str] = SMOOTH,
    heads: Sequence[tuple[str, str]] = SMOOTH_HEADS,
    batch: tuple[int, int] = (1, 6),
    l2: Sequence[float] = (0.0, 0.1),
    dtype: object = np.float64,
) -> st.SearchStrategy[MLPCase]:
    """Random MLP configurations, ready to check: ``net, theta, obj = case``.

    ``depth`` hidden layers (inclusive range), each at most ``width`` wide, hidden activations
    from ``activations`` (default: the smooth ones; a kinked one makes kinks the check must
    step around), ``(output, loss)`` from ``heads``, ``batch`` samples (inclusive range).
    Shrinks toward fewer, narrower layers, the first activation and head, and seed 0."""
    depth = _range("depth", depth, 0)
    batch = _range("batch", batch, 1)
    width = v.positive_int("width", width)
    dtype = v.float_dtype("dtype", dtype).name
    activations = tuple(v.choice("activations", a, ACTIVATIONS) for a in _nonempty("activations", activations))
    heads = tuple(_nonempty("heads", heads))
    for head in heads:
        if tuple(head) not in set(nn.HEADS):
            raise v.fail("heads", f"(output, loss) pairs of the loss table, such as {nn.HEADS[0]}", head)
    l2 = tuple(v.nonnegative_float("l2", x) for x in _nonempty("l2", l2))
    return _mlps(depth, width, activations, heads, batch, l2, dtype)


@dataclass(frozen=True)
class NetworkCase(_Case):
    """A :class:`gradlab.nn.Network` of one of :data:`KINDS`, a point and a batch, all from these
    fields: ``NetworkCase(...)`` as printed rebuilds it."""

    kind: str
    d_in: int
    width: int
    n_out: int
    length: int
    activation: str
    loss: str
    batch: int
    seed: int
    dtype: str = "float64"

    def layers(self) -> tuple[list, tuple[int, ...]]:
        """The layers and the shape of one sample."""
        d, w, n, t, act = self.d_in, self.width, self.n_out, self.length, nn.Activation(self.activation)
        if self.kind == "dense":
            return [nn.Dense(d, w), act, nn.Dense(w, n)], (d,)
        if self.kind == "norm":
            return [nn.Dense(d, w), nn.LayerNorm(w), act, nn.Dense(w, n)], (d,)
        if self.kind == "conv":  # 4x4 images, padded 3x3 convolution, 2x2 average pool
            return [nn.Conv2d(d, w, 3, padding=1), act, nn.AvgPool2d(2), nn.Flatten(), nn.Dense(w * 4, n)], (d, 4, 4)
        if self.kind == "lstm":
            return [nn.LSTM(d, w), nn.Dense(w, n)], (t, d)
        if self.kind == "attention":
            return [nn.Attention(w), act, nn.Flatten(), nn.Dense(t * w, n)], (t, w)
        if self.kind == "embedding":  # ids in [0, 4 + d)
            return [nn.Embedding(4 + d, w), nn.LSTM(w, w), nn.Dense(w, n)], (t,)
        raise v.fail("kind", f"one of {', '.join(map(repr, KINDS))}", self.kind)

    @functools.cached_property
    def net(self):
        layers, shape = self.layers()
        return nn.Network(layers, loss=self.loss, input_shape=shape, dtype=self.dtype)


@st.composite
def _networks(draw, kinds, activations, losses, batch, width, dtype):
    return NetworkCase(
        kind=draw(st.sampled_from(kinds)),
        d_in=draw(st.integers(1, 3)),
        width=draw(st.integers(1, width)),
        n_out=draw(st.integers(2, 3)),
        length=draw(st.integers(1, 3)),
        activation=draw(st.sampled_from(activations)),
        loss=draw(st.sampled_from(losses)),
        batch=draw(st.integers(*batch)),
        seed=draw(st.integers(0, 2**16)),
        dtype=dtype,
    )


def networks(
    *,
    kinds: Sequence[str] = KINDS,
    activations: Sequence[str] = SMOOTH,
    losses: Sequence[str] = ("cross_entropy", "mse"),
    batch: tuple[int, int] = (1, 4),
    width: int = 4,
    dtype: object = np.float64,
) -> st.SearchStrategy[NetworkCase]:
    """Random layer networks of :mod:`gradlab.nn`, ready to check: ``net, theta, obj = case``.

    ``kinds`` (:data:`KINDS`): ``dense`` (Dense, activation, Dense), ``norm`` (with a LayerNorm),
    ``conv`` (Conv2d, activation, AvgPool2d, Flatten, Dense on 4x4 images), ``lstm``,
    ``attention`` (self-attention, activation, Flatten, Dense) and ``embedding`` (integer ids,
    Embedding, LSTM, Dense).  Hidden sizes up to ``width``, sequences of 1 to 3 steps."""
    kinds = tuple(v.choice("kinds", k, KINDS) for k in _nonempty("kinds", kinds))
    activations = tuple(v.choice("activations", a, ACTIVATIONS) for a in _nonempty("activations", activations))
    losses = tuple(v.choice("losses", x, ("cross_entropy", "mse")) for x in _nonempty("losses", losses))
    batch = _range("batch", batch, 1)
    width = v.positive_int("width", width)
    return _networks(kinds, activations, losses, batch, width, v.float_dtype("dtype", dtype).name)


def _nonempty(name: str, values: object) -> list:
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise v.fail(name, "a non-empty list", values, TypeError)
    return list(values)


def _range(name: str, pair: object, low: int) -> tuple[int, int]:
    requirement = f"a pair (least, most) of integers of at least {low}, least <= most"
    if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
        raise v.fail(name, requirement, pair, TypeError)
    a, b = (v.integer_at_least(name, n, low) for n in pair)
    if a > b:
        raise v.fail(name, requirement, pair)
    return a, b
