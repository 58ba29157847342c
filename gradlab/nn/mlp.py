"""The fully connected feedforward network of the seed notes.

Notation (seed ``002``): layer ``l = 1..L`` has ``n[l]`` units, ``a[0] = x`` and

    z[l] = W[l] a[l-1] + b[l],        a[l] = f_l(z[l]),

with ``W[l]`` of shape ``(n[l], n[l-1])``.  A batch holds samples as *rows*, so a
layer computes ``Z = A_prev @ W.T + b`` (the convention of ``torch.nn.Linear``).

All parameters live in one flat contiguous vector

    theta = [W1, b1, W2, b2, ..., WL, bL]

(each ``W`` flattened row-major); :meth:`MLP.params` gives named views into it.
The batch cost is

    J(theta) = mean_i L(a[L]_i, y_i) + (l2 / 2) * sum_l ||W[l]||_F^2      (biases not regularized)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from .. import _validate
from .. import _validate as v
from ..objective import Block
from . import batched
from .activations import ACTIVATIONS, INITS, OUTPUT_ONLY, Activation
from .backprop import RULES, Rules, backprop
from .losses import LOSSES, Head
from .rop import HVP_RULES, HvpRules
from .rop import hvp as _rop_hvp


class ParamViews(Mapping):
    """Named, copy-free views (``W1``, ``b1``, ...) into a flat parameter vector.

    Writing into a view writes into the vector: ``net.params(theta).W1[0, 0] = 1.0``.
    """

    @classmethod
    def of(cls, theta: object, blocks: Sequence[Block], n_params: int, dtype: np.dtype) -> ParamViews:
        """Views into ``theta`` after checking it can be viewed: a flat contiguous numpy array of
        ``dtype`` and length ``n_params`` (anything else only through a copy, which writes would miss)."""
        if (
            not isinstance(theta, np.ndarray)
            or theta.dtype != dtype
            or theta.shape != (n_params,)
            or not theta.flags.c_contiguous
        ):
            raise v.fail(
                "theta",
                f"a contiguous numpy array of shape ({n_params},) and dtype {dtype} (views need no copy)",
                theta,
            )
        return cls(theta, blocks)

    def __init__(self, theta: np.ndarray, blocks: Sequence[Block]):
        self._views = {b.name: theta[b.slice].reshape(b.shape) for b in blocks}

    def __getitem__(self, name: str) -> np.ndarray:
        return self._views[name]

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self._views[name]
        except KeyError:
            raise AttributeError(name) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._views)

    def __len__(self) -> int:
        return len(self._views)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}: {a.shape}" for k, a in self._views.items())
        return f"ParamViews({inner})"


class MLP:
    """A fully connected network with a loss: the object whose gradient gradlab studies.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths ``[n0, n1, ..., nL]``: inputs, hidden layers, outputs (at least two).
    activation : str or sequence of str
        Hidden nonlinearity, one name for every hidden layer or one name per hidden layer:
        ``sigmoid, tanh, relu, leaky_relu, elu, softplus, identity, hard_sigmoid, hard_tanh``.
    output : str
        Output nonlinearity: ``sigmoid``, ``softmax`` or any hidden one.
    loss : str
        ``cross_entropy`` (binary with a sigmoid output, categorical with softmax) or ``mse``.
    l2 : float
        L2 penalty ``(l2 / 2) * sum ||W||_F^2`` on the weights (not the biases).
    dtype : float64 or float32
        Precision of parameters, data and arithmetic.

    Examples
    --------
    >>> net = MLP([2, 3, 1], activation="tanh", output="sigmoid", loss="cross_entropy")
    >>> net.n_params
    13
    >>> theta = net.init(seed=0)
    >>> net.params(theta).W1.shape
    (3, 2)
    """

    def __init__(
        self,
        sizes: Sequence[int],
        activation: str | Sequence[str] = "tanh",
        output: str = "sigmoid",
        loss: str = "cross_entropy",
        l2: float = 0.0,
        *,
        dtype: object = np.float64,
    ):
        self.sizes = _check_sizes(sizes)
        n_hidden = len(self.sizes) - 2
        if isinstance(activation, str):
            names = (activation,) * n_hidden
        elif isinstance(activation, Sequence):
            names = tuple(activation)
            if len(names) != n_hidden:
                raise v.fail(
                    "activation",
                    f"one name or a list of {n_hidden} names (one per hidden layer)",
                    activation,
                )
        else:
            raise v.fail("activation", "a name or a list of names", activation, TypeError)
        for name in names:
            v.choice("activation", name, ACTIVATIONS)
        self.activations: tuple[str, ...] = names
        self.output = v.choice("output", output, [*ACTIVATIONS, *OUTPUT_ONLY])
        if self.output == "softmax" and self.sizes[-1] == 1:
            # softmax of one unit is the constant 1: J would not depend on theta at all
            raise v.fail("sizes", "at least 2 output units with a softmax output (softmax of one unit is 1)", sizes)
        self.loss = v.choice("loss", loss, LOSSES)
        self.head: Head = LOSSES[loss](output)
        self.l2 = v.nonnegative_float("l2", l2)
        self.dtype = v.float_dtype("dtype", dtype)

        blocks, offset = [], 0
        for l, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:]), start=1):
            for block in (Block(f"W{l}", offset, (n_out, n_in)), Block(f"b{l}", offset + n_out * n_in, (n_out,))):
                blocks.append(block)
            offset += n_out * n_in + n_out
        self.blocks: tuple[Block, ...] = tuple(blocks)
        self.n_params: int = offset
        # (W's slice, W's shape, b's slice) per layer, once: layers() runs on every evaluation,
        # and a Block computes its slice afresh each time it is asked
        self._layout = tuple((w.slice, w.shape, b.slice) for w, b in zip(self.blocks[::2], self.blocks[1::2]))
        #: the hidden layers' rows of the activation table, in order
        self.hidden: tuple[Activation, ...] = tuple(ACTIVATIONS[name] for name in names)

    @property
    def n_layers(self) -> int:
        """L, the number of weight layers."""
        return len(self.sizes) - 1

    def __repr__(self) -> str:
        return (
            f"MLP({list(self.sizes)}, activation={list(self.activations)!r}, "
            f"output={self.output!r}, loss={self.loss!r}, l2={self.l2}, dtype={self.dtype.name})"
        )

    # -- parameters ---------------------------------------------------------------

    def init(self, seed: int | None = 0) -> np.ndarray:
        """A fresh flat parameter vector with scaled Gaussian weights and zero biases.

        Each layer's weights get the scale its unit declares in the activation table
        (:attr:`Activation.init`): He ``std = sqrt(2 / n_in)`` for ReLU-like units, Glorot
        ``std = sqrt(2 / (n_in + n_out))`` for the others and for softmax, so activations
        neither vanish nor explode with depth.  Values are drawn in float64 and then
        rounded to ``dtype``, so a float32 network starts from the float64 one, rounded.
        """
        rng = np.random.default_rng(v.seed("seed", seed, none=True))
        theta = np.zeros(self.n_params, dtype=np.float64)
        views = ParamViews(theta, self.blocks)
        layer_acts = [*self.activations, self.output]
        for l, name in enumerate(layer_acts, start=1):
            n_out, n_in = views[f"W{l}"].shape
            init = ACTIVATIONS[name].init if name in ACTIVATIONS else "glorot"  # softmax: output only
            views[f"W{l}"][...] = rng.standard_normal((n_out, n_in)) * INITS[init](n_in, n_out)
        return theta.astype(self.dtype, copy=False)

    def params(self, theta: np.ndarray) -> ParamViews:
        """Named views ``W1, b1, ..., WL, bL`` into ``theta`` (no copies).

        ``theta`` must be a flat array of the network's dtype: anything else could
        only be viewed through a copy, and writes into the views would be lost.
        """
        return ParamViews.of(theta, self.blocks, self.n_params, self.dtype)

    def layers(self, theta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(W1, b1), ...]`` as views into a validated ``theta`` (no checks: the hot path of
        every evaluation; :meth:`params` is the checked, named form)."""
        return [(theta[w].reshape(shape), theta[b]) for w, shape, b in self._layout]

    def check_theta(self, theta: object, *, copy: bool = True) -> np.ndarray:
        """``theta`` validated: a finite flat array of the network's dtype and size
        (the caller's own array when ``copy`` is false and nothing needed converting)."""
        if isinstance(theta, np.ndarray) and theta.dtype == self.dtype and not copy:
            arr = theta
            if not _all_finite(arr):
                arr = v.real_array("theta", theta, self.dtype)  # raises, naming the entry
        else:
            arr = v.real_array("theta", theta, self.dtype)
        if arr.shape != (self.n_params,):
            raise v.fail("theta", f"a flat vector of shape ({self.n_params},) for {self!r}", arr)
        return arr

    # -- forward --------------------------------------------------------------------

    def forward(self, theta: np.ndarray, X: np.ndarray) -> np.ndarray:
        """The prediction ``a[L]`` for a batch ``X`` of shape ``(m, n0)``."""
        theta = self.check_theta(theta, copy=False)
        X = self._check_X(X)
        zs, acts = self.forward_cache(theta, X)
        return acts[-1]

    def forward_cache(self, theta: np.ndarray, X: np.ndarray):
        """Forward pass keeping what backprop needs: ``zs = [z1..zL]``, ``acts = [a0..aL]``.

        No input checks: callers pass validated arrays.
        """
        zs, acts, _ = self._forward(theta, X, keep=True)
        acts.append(self.head.output(zs[-1]))
        return zs, acts

    def _forward(self, theta: np.ndarray, X: np.ndarray, *, keep: bool):
        """The one forward loop, up to ``z[L]``: ``(zs, acts, layers)``.  With ``keep`` every
        ``z[l]`` and ``a[l-1]``; without, only ``z[L]`` and ``a[L-1]``, so that the cost (the
        hot path of every difference) holds one layer's arrays at a time, not the whole cache.
        The head's output is left to the caller: the cost reads the loss from ``z[L]``."""
        layers = self.layers(theta)
        a, zs, acts = X, [], [X]
        for (W, b), act in zip(layers[:-1], self.hidden):
            z = a @ W.T  # (m, n[l-1]) @ (n[l-1], n[l]) -> (m, n[l])
            z += b
            a = act.f(z)
            if keep:
                zs.append(z)
                acts.append(a)
        W, b = layers[-1]
        z = a @ W.T  # (m, n[L-1]) @ (n[L-1], n[L]) -> (m, n[L])
        z += b
        if keep:
            zs.append(z)
            return zs, acts, layers
        return [z], [a], layers

    @property
    def kinked(self) -> bool:
        """Whether some layer's nonlinearity has kinks (relu, leaky_relu, hard_*)."""
        return any(ACTIVATIONS[name].kinks for name in (*self.activations, self.output) if name in ACTIVATIONS)

    def pieces(self, theta: np.ndarray, X: np.ndarray) -> list[np.ndarray]:
        """For every layer with a kinked nonlinearity, which smooth piece each
        pre-activation lies on (the number of kinks below it): two parameter
        vectors give the same pieces exactly when no ``z`` crossed a kink between them."""
        zs, _ = self.forward_cache(theta, X)
        out = []
        for z, name in zip(zs, (*self.activations, self.output)):
            kinks = ACTIVATIONS[name].kinks if name in ACTIVATIONS else ()
            if kinks:
                out.append(np.searchsorted(np.asarray(kinks), z, side="left").astype(np.int8))
        return out

    def cost(self, theta: np.ndarray, X: np.ndarray, Y: np.ndarray):
        """J(theta) on a batch, as a numpy scalar (complex if theta is); no checks (hot path)."""
        (z,), _, layers = self._forward(theta, X, keep=False)
        J = self.head.total(z, Y) / X.shape[0]
        if self.l2:
            # dot, not vdot: no conjugation, so the penalty stays analytic for the complex step.
            J = J + 0.5 * self.l2 * sum(np.dot(W.ravel(), W.ravel()) for W, _ in layers)
        return J

    def _cost_checked(self, theta: np.ndarray, X: np.ndarray, Y: np.ndarray):
        with np.errstate(over="ignore", invalid="ignore"):
            J = self.cost(theta, X, Y)
        if not np.isfinite(J):
            raise FloatingPointError(
                f"J(theta) overflowed to {J}: the network's numbers exceed float range "
                f"(largest |x| {float(np.abs(X).max()):.3g}, largest |theta| {float(np.abs(theta).max()):.3g}, "
                f"l2 = {self.l2:g}); rescale the inputs or the weights"
            )
        return J

    def gradient(self, theta: np.ndarray, X: np.ndarray, Y: np.ndarray, rules: Rules = RULES) -> np.ndarray:
        """dJ/dtheta by backprop (BP1-BP4) at a validated ``theta``; ``rules`` replaces local rules."""
        with np.errstate(over="ignore", invalid="ignore"):
            g = backprop(self, theta, X, Y, rules)
            finite = _all_finite(g, quiet=True)
        if not finite:
            i, block = self._first_nonfinite(g)
            raise FloatingPointError(
                f"the backprop gradient overflowed to {g[i]} in {block.name} (flat index {i}): the network's "
                f"numbers exceed float range (largest |x| {float(np.abs(X).max()):.3g}, largest |theta| "
                f"{float(np.abs(theta).max()):.3g}, l2 = {self.l2:g}); rescale the inputs or the weights"
            )
        return g

    def _first_nonfinite(self, flat: np.ndarray):
        """The first non-finite entry of a flat vector laid out like theta, and its block."""
        i = int(np.flatnonzero(~np.isfinite(flat))[0])
        return i, next(b for b in self.blocks if b.offset <= i < b.offset + b.size)

    def hvp(self, theta: np.ndarray, v: np.ndarray, X: np.ndarray, Y: np.ndarray, rules: HvpRules = HVP_RULES):
        """The Hessian-vector product ``H v`` of J by the R-operator (:mod:`gradlab.nn.rop`) at a
        validated ``theta`` and direction ``v``; ``rules`` replaces local rules."""
        with np.errstate(over="ignore", invalid="ignore"):
            hv = _rop_hvp(self, theta, v, X, Y, rules)
            finite = _all_finite(hv, quiet=True)
        if not finite:
            i, block = self._first_nonfinite(hv)
            raise FloatingPointError(
                f"the Hessian-vector product overflowed to {hv[i]} in {block.name} (flat index {i}): the "
                f"network's numbers exceed float range (largest |theta| {float(np.abs(theta).max()):.3g}, "
                f"largest |v| {float(np.abs(v).max()):.3g}); rescale the direction or the weights"
            )
        return hv

    def jvp(self, theta: np.ndarray, X: np.ndarray, Y: np.ndarray, V: np.ndarray) -> np.ndarray:
        """``J'(theta) v`` for each row ``v`` of ``V`` (shape ``(K, n)``): forward-mode AD by
        tangent propagation, one forward pass carrying ``K`` tangents at once; shape ``(K,)``.

        Differentiating ``z[l] = a[l-1] W[l]^T + b[l]`` and ``a[l] = f_l(z[l])`` along a direction
        ``(dW, db)`` of parameter space gives the tangents, layer by layer, beside the values:

            dz[l] = da[l-1] W[l]^T + a[l-1] dW[l]^T + db[l],      da[l] = f_l'(z[l]) (.) dz[l]

        (``da[0] = 0``: the data do not move), and at the head
        ``dJ = mean_i <dL/dz[L]_i, dz[L]_i> + l2 sum_l <W[l], dW[l]>``, where ``dL/dz[L]`` is the
        head's own local derivative (``a - y`` for the paired losses).  Exact to rounding; no
        backward pass.  No input checks: callers pass validated arrays.
        """
        K = V.shape[0]
        layers = self.layers(theta)
        tangents = [(dW.reshape(K, *W.shape), db) for (W, _), (dW, db) in zip(layers, self._tangent_layers(V))]
        a, da = X, None
        for l, ((W, b), (dW, db)) in enumerate(zip(layers, tangents), start=1):
            z = a @ W.T  # (m, n[l-1]) @ (n[l-1], n[l]) -> (m, n[l])
            z += b
            dz = a @ dW.transpose(0, 2, 1)  # (m, n[l-1]) @ (K, n[l-1], n[l]) -> (K, m, n[l])
            dz += db[:, None, :]
            if da is not None:
                dz += da @ W.T  # (K, m, n[l-1]) @ (n[l-1], n[l]) -> (K, m, n[l])
            if l == self.n_layers:
                break
            act = self.hidden[l - 1]
            a = act.f(z)
            da = act.df(z, a) * dz  # (m, n[l]) (.) (K, m, n[l])
        delta = self.head.delta(z, self.head.output(z), Y)  # dL/dz[L] per sample: (m, n[L])
        dJ = np.einsum("ij,kij->k", delta, dz) / X.shape[0]  # <dL/dz, dz> summed over samples and units
        if self.l2:
            dJ += self.l2 * sum(dW.reshape(K, -1) @ W.ravel() for (W, _), (dW, _) in zip(layers, tangents))
        return dJ

    def _tangent_layers(self, V: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """``[(dW1, db1), ...]`` as views into the rows of ``V``: ``dW`` flat ``(K, n[l] n[l-1])``."""
        b = self.blocks
        return [(V[:, b[i].slice], V[:, b[i + 1].slice]) for i in range(0, len(b), 2)]

    # -- data -------------------------------------------------------------------------

    def _check_X(self, X: object) -> np.ndarray:
        X = v.real_array("X", X, self.dtype)
        if X.ndim != 2 or X.shape[1] != self.sizes[0] or X.shape[0] == 0:
            raise v.fail("X", f"a 2-D array of shape (m, {self.sizes[0]}) with m >= 1, samples as rows", X)
        return X

    def random_batch(self, m: int, *, seed: int | None = 0) -> tuple[np.ndarray, np.ndarray]:
        """``m`` random samples that suit this network: standard normal inputs, and the
        head's targets (:attr:`Head.targets`: one-hot classes for softmax + cross-entropy,
        0/1 labels for sigmoid + cross-entropy, standard normal values for mse).

        Examples
        --------
        >>> X, Y = MLP([3, 4, 2], output="softmax").random_batch(5)
        >>> X.shape, Y.shape, Y.sum(axis=1).tolist()
        ((5, 3), (5, 2), [1.0, 1.0, 1.0, 1.0, 1.0])
        """
        m = v.positive_int("m", m)
        rng = np.random.default_rng(v.seed("seed", seed, none=True))
        X = rng.normal(size=(m, self.sizes[0]))
        return X, self.head.targets(rng, m, self.sizes[-1])

    def objective(self, X: object, Y: object) -> MLPObjective:
        """The batch cost ``J(theta)`` on data ``(X, Y)`` as a callable.

        ``X`` has shape ``(m, n0)`` and ``Y`` shape ``(m, nL)`` (or ``(m,)`` when
        ``nL == 1``).  Both are copied once, read-only, so later changes to the
        caller's arrays do not change the objective, and it never changes them.
        """
        X = self._check_X(X)
        Y = v.real_array("Y", Y, self.dtype)
        n_out = self.sizes[-1]
        if Y.ndim == 1 and n_out == 1:
            Y = Y.reshape(-1, 1)
        if Y.ndim != 2 or Y.shape != (X.shape[0], n_out):
            raise v.fail("Y", f"an array of shape ({X.shape[0]}, {n_out}) to match X and the network", Y)
        self.head.check_targets(Y)
        X.flags.writeable = False
        Y.flags.writeable = False
        return MLPObjective(self, X, Y)


def _own_cost(cls: type) -> bool:
    """Whether an MLP class computes J otherwise than :class:`MLP` (which :mod:`.batched` mirrors)."""
    names = ("cost", "_cost_checked", "_forward")
    return any(getattr(cls, name, None) is not getattr(MLP, name, None) for name in names)


class MLPObjective:
    """``J(theta)`` of one network on one batch: a callable that implements the
    :class:`~gradlab.objective.Objective` protocol, analytic gradient and kinks included.

    Calling it checks ``theta`` and returns a Python float.  Backends use the
    unchecked :meth:`value` on arrays they already validated.
    """

    complex_ok = True  # every activation and loss of the tables accepts complex input

    def __init__(self, net: MLP, X: np.ndarray, Y: np.ndarray):
        self.net, self.X, self.Y = net, X, Y
        self.kinks = self._pieces if net.kinked else None

    def __getstate__(self) -> dict:
        return batched.state_without_kept_pass(self)

    @property
    def n_params(self) -> int:
        return self.net.n_params

    def blocks(self, theta: np.ndarray | None = None) -> tuple[Block, ...]:
        """The named blocks ``W1, b1, ..., WL, bL`` of theta."""
        return self.net.blocks

    def __call__(self, theta: object) -> float:
        theta = self.net.check_theta(theta, copy=False)
        return float(self.value(theta))

    def point(self, theta: object) -> np.ndarray:
        return self.net.check_theta(theta, copy=False)

    def value(self, theta: np.ndarray):
        """J at an already-validated theta (real or complex); no checks."""
        return self.net._cost_checked(theta, self.X, self.Y)

    def values(self, points: np.ndarray) -> np.ndarray:
        """J at each of ``K`` already-validated points, ``points`` of shape ``(K, n)`` (real or
        complex): what :meth:`value` gives at each, up to rounding, computed together (the
        forward pass below a perturbed layer reused, one GEMM per layer for all points; see
        :mod:`gradlab.nn.batched` for what is bitwise and what is within rounding).  A subclass
        that computes J its own way (another ``value``, ``cost`` or forward pass) is evaluated
        point by point, by its own ``value``."""
        if type(self).value is not MLPObjective.value or _own_cost(type(self.net)):
            return np.array([self.value(p) for p in points])
        return batched.mlp_values(self, points)

    def gradient(self, theta: np.ndarray, rules: Rules = RULES) -> np.ndarray:
        """dJ/dtheta by backprop at an already-validated theta."""
        return self.net.gradient(theta, self.X, self.Y, rules)

    def hvp(self, theta: object, v: object, rules: HvpRules = HVP_RULES) -> np.ndarray:
        """The exact Hessian-vector product ``H v`` (``H = d^2 J / dtheta^2``) at ``theta``.

        Pearlmutter's R-operator: one forward and one backward pass of tangents through
        BP1-BP4 (:mod:`gradlab.nn.rop`), about two to three gradients' work, exact up to
        rounding.  ``theta`` and ``v`` are flat vectors of the network's size (``v`` laid out
        like theta: ``[dW1, db1, ...]``); neither is modified.  On a ReLU-like network it is
        the Hessian of the smooth piece that contains ``theta``.

        Examples
        --------
        >>> import numpy as np, gradlab
        >>> net = gradlab.MLP([3, 4, 2], activation="tanh", output="softmax")
        >>> obj = net.objective(*net.random_batch(5))
        >>> theta = net.init(seed=0)
        >>> e = np.zeros(net.n_params); e[0] = 1.0
        >>> hv = obj.hvp(theta, e)                          # column 0 of the Hessian
        >>> g = lambda t: obj.gradient(t)                   # against a difference of backprop
        >>> bool(np.allclose(hv, (g(theta + 1e-6 * e) - g(theta - 1e-6 * e)) / 2e-6, atol=1e-8))
        True
        """
        theta = self.net.check_theta(theta, copy=False)
        return self.net.hvp(theta, _direction(v, self.net), self.X, self.Y, rules)

    def jvp(self, theta: np.ndarray, v: object) -> np.ndarray:
        """The directional derivative ``J'(theta) v`` by forward-mode AD (tangent propagation:
        one forward pass of values and tangents, exact, no backward pass).

        ``v`` is one direction, shape ``(n,)`` (a float comes back), or ``K`` of them as the rows
        of a ``(K, n)`` array (an array of ``K`` comes back, all ``K`` carried in one pass).

        Examples
        --------
        >>> from gradlab import MLP
        >>> net = MLP([2, 3, 1]); obj = net.objective(*net.random_batch(4)); theta = net.init()
        >>> v = np.random.default_rng(0).normal(size=net.n_params)
        >>> bool(np.isclose(obj.jvp(theta, v), obj.gradient(theta) @ v, rtol=1e-13))
        True
        """
        theta = self.net.check_theta(theta, copy=False)
        n = self.net.n_params
        V = _validate.real_array("v", v, self.net.dtype, copy=False)  # finite, real: raises naming the entry
        if V.ndim not in (1, 2) or V.shape[-1] != n:
            raise _validate.fail("v", f"a direction of shape ({n},) or K directions of shape (K, {n})", V)
        with np.errstate(over="ignore", invalid="ignore"):
            out = self.net.jvp(theta, self.X, self.Y, V.reshape(-1, n))
        if not np.isfinite(out).all():
            raise FloatingPointError(
                f"the forward-mode tangent overflowed to {out[~np.isfinite(out)][0]}: the network's numbers "
                f"exceed float range (largest |theta| {float(np.abs(theta).max()):.3g}, largest |v| "
                f"{float(np.abs(V).max()):.3g}); rescale the inputs, the weights or v"
            )
        return float(out[0]) if V.ndim == 1 else out

    def _pieces(self, theta: np.ndarray) -> bytes:
        return b"".join(p.tobytes() for p in self.net.pieces(theta, self.X))

    def __repr__(self) -> str:
        return f"MLPObjective({self.net!r}, batch={self.X.shape[0]})"


def _all_finite(arr: np.ndarray, quiet: bool = False) -> bool:
    """Whether every entry of ``arr`` is finite.  For a real vector, first by one BLAS dot product
    (``x . x`` is NaN or infinite when any entry is; about half the time of ``isfinite(x).all()``,
    which makes and reads a boolean array of N): the check runs on every gradient and theta.  Only
    a sum of squares that overflowed among finite entries (|x| above 1e154) is looked at entrywise.
    ``quiet``: the caller holds ``np.errstate(over="ignore")`` already (one context less on the hot path)."""
    if arr.ndim == 1 and arr.dtype.kind == "f":
        if quiet:  # the caller already silenced overflow warnings
            if np.isfinite(np.dot(arr, arr)):
                return True
        else:
            with np.errstate(over="ignore"):  # an overflow is a case for the entrywise look, not a warning
                if np.isfinite(np.dot(arr, arr)):
                    return True
    return bool(np.isfinite(arr).all())


def _direction(direction: object, net: MLP) -> np.ndarray:
    """A direction for :meth:`MLPObjective.hvp`: finite, flat, the network's size (in its dtype)."""
    if isinstance(direction, np.ndarray) and direction.dtype == net.dtype and _all_finite(direction):
        arr = direction
    else:
        arr = v.real_array("v", direction, net.dtype)  # a new array; raises naming a non-finite entry
    if arr.shape != (net.n_params,):
        raise v.fail("v", f"a flat vector of shape ({net.n_params},), laid out like theta", arr)
    return arr


def _check_sizes(sizes: object) -> tuple[int, ...]:
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence | np.ndarray):
        raise v.fail("sizes", "a list of layer widths such as [4, 16, 3]", sizes, TypeError)
    out = []
    for n in sizes:
        if isinstance(n, bool) or not isinstance(n, int | np.integer):
            raise v.fail("sizes", "a list of integers", list(sizes), TypeError)
        out.append(int(n))
    if len(out) < 2:
        raise v.fail("sizes", "at least two widths (inputs and outputs)", list(sizes))
    if min(out) < 1:
        raise v.fail("sizes", "positive widths (an empty layer has no gradient)", list(sizes))
    return tuple(out)
