"""Activation functions as a table of ``(f, f', f'')`` rows.

Convention: ``f(z)`` maps pre-activations to activations elementwise, and
``df(z, a)`` returns the derivative ``f'(z)`` given both ``z`` and ``a = f(z)``,
so that rules such as ``tanh' = 1 - a**2`` reuse the forward output instead of
recomputing a transcendental function (numpy's ``tanh`` is the most expensive
elementwise operation of a forward pass).  ``d2f(z, a)`` is the second derivative
``f''(z)`` under the same convention (``tanh'' = -2 a (1 - a**2)``); the exact
Hessian-vector product of the network (:mod:`gradlab.nn.rop`) needs it.  For the
piecewise-linear rows it is 0 on every piece: their Hessian is the one of the
piece that contains the point, like their derivative.

Every function accepts complex input as well, for the complex-step method:
analytic functions extend naturally, and piecewise ones take their branch on
the real part (for a kink-free point the result is then the analytic
continuation of the active piece).  At a kink the derivative is the one of the
piece that contains the point (``relu'(0) = 0``, clip derivatives are 0 at the
clip points), the usual choice of autograd frameworks.

The table follows the seed notes (``003``), with the hard-logistic written as
``clip(0.25 z + 0.5, 0, 1)`` and the hard-tanh as ``clip(z, -1, 1)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._workspace import ones

LEAKY_SLOPE = 0.01
ELU_ALPHA = 1.0

#: init name -> the standard deviation of a layer's Gaussian weights from its widths:
#: He (2 / n_in) keeps the variance of a ReLU-like layer's output, which zeroes about half
#: its inputs; Glorot (2 / (n_in + n_out)) keeps it for units near-linear at zero.
INITS: dict[str, Callable[[int, int], float]] = {
    "he": lambda n_in, n_out: math.sqrt(2.0 / n_in),
    "glorot": lambda n_in, n_out: math.sqrt(2.0 / (n_in + n_out)),
}


@dataclass(frozen=True)
class Activation:
    """One row of the table: the function, its derivative, where it is not smooth, and how
    the weights feeding it are initialised."""

    name: str
    f: Callable[[np.ndarray], np.ndarray]
    df: Callable[[np.ndarray, np.ndarray], np.ndarray]
    #: Pre-activation values at which ``f`` has a kink (empty for smooth functions).
    kinks: tuple[float, ...] = ()
    #: ``f''(z, a)``; ``None`` for a row without one (the network's exact HVP then refuses it)
    d2f: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    #: Initial weight scale of a layer feeding this unit (see :data:`INITS`): "he" for
    #: ReLU-like units, which pass about half their input's variance, "glorot" otherwise.
    init: str = "glorot"
    #: ``f(z)`` written into a given array ``out`` and returned (``None``: the row has no such form;
    #: backprop's forward pass then takes the fresh array ``f(z)``); lets the forward pass reuse memory
    f_out: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None
    #: ``f''(z)`` from ``z``, ``a`` and ``f'(z)`` already computed (the HVP's forward pass has it), a
    #: fresh array equal to ``d2f(z, a)`` to the last bit; ``None``: ``d2f`` is used
    d2f_fp: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None

    def __post_init__(self):
        if self.init not in INITS:
            raise ValueError(f"`init` must be one of {', '.join(map(repr, INITS))}; got {self.init!r}")


def _re(z: np.ndarray) -> np.ndarray:
    """The real part, without a copy for real input: piecewise branches are chosen on it."""
    return z.real if np.iscomplexobj(z) else z


def _sigmoid(z):
    # e = exp(-|z|) (for complex z: the exponent with real part <= 0) never overflows,
    # and each branch avoids 1 - (something close to 1).
    pos = _re(z) >= 0
    e = np.exp(np.where(pos, -z, z)) if np.iscomplexobj(z) else np.exp(-np.abs(z))
    return np.where(pos, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(z):
    if np.iscomplexobj(z):
        pos = z.real > 0
        zz = np.where(pos, -z, z)  # log(1 + e^z) = z + log(1 + e^-z): exponent never large
        return np.where(pos, z, 0) + np.log1p(np.exp(zz))
    return np.logaddexp(0.0, z)


def _elu(z):
    neg = np.where(_re(z) > 0, 0, z)  # expm1 only ever sees z <= 0: no overflow
    return np.where(_re(z) > 0, z, ELU_ALPHA * np.expm1(neg))


def _elu_tail(z):
    """``alpha e^z`` for ``z <= 0`` (elu' and elu'' there), from ``z`` itself: the forward output would
    give it as ``a + alpha``, which cancels for very negative ``z`` (relative error eps / e^z)."""
    return ELU_ALPHA * np.exp(np.where(_re(z) > 0, 0, z))


def _clip(z, lo, hi):
    zr = _re(z)
    return np.where(zr <= lo, lo, np.where(zr >= hi, hi, z))


def _inside(z, lo, hi, slope):
    zr = _re(z)
    return np.where((zr > lo) & (zr < hi), slope, 0.0)


# The second derivatives below build their product in one array, in place: each temporary of a
# batch's activations costs a fresh allocation, and the HVP computes them on every hidden layer.


#: where |tanh| (or the logistic) is this close to 1, ``1 - a^2`` (``1 - a``) has lost digits to
#: cancellation: a is rounded to within eps of 1, so ``1 - a^2`` carries an absolute error of about
#: eps, a relative one of eps / (1 - a^2) (1e-5 at z = 12).  There the derivative is recomputed
#: from z, on those entries only (the saturated ones are few; the rest keep the cheap rule).
_SATURATED = 0.9


def _decaying(z, scale):
    """``exp(-scale |z|)``, the exponent's real part <= 0 (for complex z on the branch of its real part)."""
    return np.exp(np.where(_re(z) >= 0, -scale * z, scale * z))


def _complex_tanh(z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``tanh(x + i y)`` for a complex step's arguments (tiny imaginary parts) from real functions:
    numpy's complex ``tanh`` (its ``ctanh``) costs 17 times a real ``tanh``, and the complex step
    spends most of a network's evaluation there.  Where ``|2 y| < 2^-27`` and ``x`` is finite,
    ``cos 2y`` and ``sin 2y`` round to 1 and ``2y``, and with ``e = exp(-2|x|) <= 1`` (no overflow
    at any x)::

        tanh(x + i y) = (sign(x) (1 - e^2) + 4 i e y) / (1 + e)^2

    with ``1 - e^2 = -expm1(-4|x|)``, exact in relative terms where ``x`` is tiny; the denominator
    is at least 1, so nothing cancels.  Elsewhere (larger imaginary parts, near ``tanh``'s poles,
    infinities and NaN) numpy's own ``tanh`` is used: the same values within a few ulp (tested).

    Large arrays go through in pieces of :data:`_TANH_PIECE` entries, so that no temporary reaches
    64 KiB (a dask worker returns such memory to the system at every free, :mod:`gradlab.nn._workspace`)."""
    if out is None:
        out = np.empty(z.shape, dtype=z.dtype)
    with np.errstate(over="ignore"):  # -2|x| and -4|x| may overflow to -inf: exp gives 0, the limit
        if z.size <= _TANH_PIECE or not (z.flags.c_contiguous and out.flags.c_contiguous):
            return _complex_tanh_piece(z, out)
        flat_z, flat_out = z.reshape(-1), out.reshape(-1)  # views: both contiguous
        for lo in range(0, z.size, _TANH_PIECE):
            _complex_tanh_piece(flat_z[lo : lo + _TANH_PIECE], flat_out[lo : lo + _TANH_PIECE])
    return out


#: entries of a piece of :func:`_complex_tanh`: its real temporaries stay under 64 KiB
_TANH_PIECE = 2048
#: below this |2y|, cos 2y = 1 - 2y^2 rounds to 1 and sin 2y = 2y (1 - (2y)^2 / 6) rounds to 2y
#: (the corrections are under half an ulp)
_TINY_ANGLE = 2.0**-27


def _complex_tanh_piece(z: np.ndarray, out: np.ndarray) -> np.ndarray:
    x, y = z.real, z.imag
    y2 = np.multiply(y, 2.0)
    if not (np.abs(y2).max(initial=0.0) < _TINY_ANGLE and np.isfinite(x).all()):
        return np.tanh(z, out=out)  # not a complex step's point: numpy's own
    ax = np.abs(x)
    e = np.multiply(ax, -2.0)
    np.exp(e, out=e)
    real = np.multiply(ax, -4.0)
    np.expm1(real, out=real)
    np.negative(real, out=real)
    np.copysign(real, x, out=real)
    d = np.add(e, 1.0)
    d *= d  # (1 + e)^2 = 1 + e^2 + 2e cos 2y with cos 2y = 1
    imag = y2
    imag *= e
    imag *= 2.0  # 2 e sin 2y with sin 2y = 2y
    np.divide(real, d, out=out.real)
    np.divide(imag, d, out=out.imag)
    return out


def _tanh(z):
    # complex arrays by the real formula; anything else (real arrays, 0-d arrays and scalars,
    # forward mode's dual numbers, which take np.tanh through __array_ufunc__) by numpy's tanh
    if isinstance(z, np.ndarray) and z.dtype.kind == "c" and z.ndim:
        return _complex_tanh(z)
    return np.tanh(z)


def _tanh_out(z, out):
    if isinstance(z, np.ndarray) and z.dtype.kind == "c" and z.ndim and out.dtype == z.dtype:
        return _complex_tanh(z, out)
    return np.tanh(z, out=out)


def _tanh_prime(z, a):
    if np.iscomplexobj(a):
        out = np.asarray(1.0 - a * a)  # tanh' = 1 - tanh^2 ...
        sat = np.abs(a.real) > _SATURATED
        if np.any(sat):  # ... = sech^2 z = 4 e / (1 + e)^2, e = exp(-2|z|): no cancellation
            e = _decaying(np.asarray(z)[sat], 2.0)
            out[sat] = 4.0 * e / (1.0 + e) ** 2
        return out
    # Real input, the hot path of backprop: the same rule in as few passes and temporaries as it
    # takes (every one costs about a microsecond on a small batch): 1 - a^2 in one array, then the
    # saturated entries (|a| > 0.9, i.e. 1 - a^2 < 0.19) recomputed from z by their flat indices.
    out = np.multiply(a, a)
    if not isinstance(out, np.ndarray):  # a 0-d input gives a numpy scalar
        out = np.asarray(out)
    np.subtract(1.0, out, out=out)
    flat = out.reshape(-1)
    sat = (flat < 1.0 - _SATURATED**2).nonzero()[0]
    if sat.size:
        e = np.abs(np.asarray(z).reshape(-1)[sat])
        e *= -2.0
        np.exp(e, out=e)  # e = exp(-2|z|) <= 1
        d = 1.0 + e
        d *= d
        e *= 4.0
        e /= d
        flat[sat] = e
    return out


def _tanh_second(z, a):
    return _tanh_second_fp(z, a, _tanh_prime(z, a))


def _tanh_second_fp(z, a, fp):
    out = fp * a  # tanh'' = -2 tanh tanh' (fresh, then in place)
    out *= -2.0
    return out


def _sigmoid_prime(z, a):
    out = np.asarray(a * (1.0 - a))  # sigma' = a (1 - a) ...
    sat = _re(a) > 1.0 - (1.0 - _SATURATED) / 2  # a near 1: 1 - a cancels (near 0, a is exact)
    if np.any(sat):  # ... = e / (1 + e)^2, e = exp(-|z|)
        e = _decaying(np.asarray(z)[sat], 1.0)
        out[sat] = e / (1.0 + e) ** 2
    return out


def _sigmoid_second(z, a):
    return _sigmoid_prime(z, a) * (1.0 - 2.0 * a)  # sigma'' = sigma' (1 - 2 sigma)


def _flat(z, a):
    """The second derivative of a piecewise-linear function: 0 on every piece (shaped like ``z``)."""
    return np.zeros_like(z)


def _softplus_second(z, a):
    s = _sigmoid(z)  # softplus'' = sigma' = sigma (1 - sigma); recomputed, as 1 - e^-a cancels
    return s * (1.0 - s)


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in [
        # sigma' = sigma (1 - sigma),  sigma'' = sigma' (1 - 2 sigma)
        Activation(
            "sigmoid", _sigmoid, _sigmoid_prime, d2f=_sigmoid_second, d2f_fp=lambda z, a, fp: fp * (1.0 - 2.0 * a)
        ),
        # tanh' = 1 - tanh^2,  tanh'' = -2 tanh tanh'
        Activation(
            "tanh",
            _tanh,
            _tanh_prime,
            d2f=_tanh_second,
            f_out=_tanh_out,
            d2f_fp=_tanh_second_fp,
        ),
        Activation(
            "relu",
            lambda z: np.where(_re(z) > 0, z, 0.0),
            lambda z, a: (_re(z) > 0).astype(_re(z).dtype),
            kinks=(0.0,),
            d2f=_flat,
            init="he",
        ),
        Activation(
            "leaky_relu",
            lambda z: np.where(_re(z) > 0, z, LEAKY_SLOPE * z),
            lambda z, a: np.where(_re(z) > 0, 1.0, LEAKY_SLOPE).astype(_re(z).dtype),
            kinks=(0.0,),
            d2f=_flat,
            init="he",
        ),
        # elu' = 1 for z > 0, alpha e^z otherwise (= a + alpha, but that cancels for z << 0);
        # elu'' = 0 and alpha e^z likewise (elu is C1 but not C2 at 0: elu'' jumps from alpha to 0)
        Activation(
            "elu",
            _elu,
            lambda z, a: np.where(_re(z) > 0, 1.0, _elu_tail(z)),
            d2f=lambda z, a: np.where(_re(z) > 0, 0.0, _elu_tail(z)),
            init="he",
        ),
        # softplus' = sigmoid, softplus'' = sigmoid'
        Activation("softplus", _softplus, lambda z, a: _sigmoid(z), d2f=_softplus_second),
        Activation("identity", lambda z: z, lambda z, a: np.ones_like(_re(z)), d2f=_flat),
        Activation(
            "hard_sigmoid",
            lambda z: _clip(0.25 * z + 0.5, 0.0, 1.0),
            lambda z, a: _inside(z, -2.0, 2.0, 0.25).astype(_re(z).dtype),
            kinks=(-2.0, 2.0),
            d2f=_flat,
        ),
        Activation(
            "hard_tanh",
            lambda z: _clip(z, -1.0, 1.0),
            lambda z, a: _inside(z, -1.0, 1.0, 1.0).astype(_re(z).dtype),
            kinks=(-1.0, 1.0),
            d2f=_flat,
        ),
    ]
}

#: Output-only nonlinearities (not elementwise, handled by the loss table).
OUTPUT_ONLY = ("softmax",)


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum so that no exponent overflows."""
    e = z - _re(z).max(axis=1, keepdims=True)  # fresh: exp and the division are done in place
    np.exp(e, out=e)
    if e.ndim == 2:  # the row sums as one BLAS product, e @ ones: cheaper than e.sum(axis=1) on a batch
        e /= np.matmul(e, ones(e.shape[1], _re(e).dtype))[:, None]
    else:
        e /= e.sum(axis=1, keepdims=True)
    return e


def log_softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise ``log softmax(z)`` by log-sum-exp: finite even where softmax underflows to 0."""
    shift = _re(z).max(axis=1, keepdims=True)
    zs = z - shift
    return zs - np.log(np.exp(zs).sum(axis=1, keepdims=True))
