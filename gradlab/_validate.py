"""Input checks shared by every public entry point (and the command line's argument types).

Every message has one shape: ``"`name` must be <requirement>; got <value>"``, so
that a user reads the argument, what was expected, and what arrived.  The type of
the error says which half was wrong: ``TypeError`` for the wrong kind of object,
``ValueError`` for the right kind with a bad value.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np

from ._arrays import to_numpy


def show(value: object) -> str:
    """A short, readable rendering of ``value`` for an error message."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, np.generic):
        value = value.item()
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def fail(name: str, requirement: str, value: object, kind: type[Exception] = ValueError) -> Exception:
    """Build (not raise) the standard error for argument ``name``."""
    return kind(f"`{name}` must be {requirement}; got {show(value)}")


def choice(name: str, value: object, options: Iterable[str]) -> str:
    """Check that ``value`` names one of ``options``; return it."""
    options = list(options)
    listing = ", ".join(repr(o) for o in options)
    if not isinstance(value, str):
        raise fail(name, f"a string, one of {listing}", value, TypeError)
    if value not in options:
        raise fail(name, f"one of {listing}", value)
    return value


def _is_integer(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def positive_int(name: str, value: object) -> int:
    """A positive integer (Python or numpy integers; bools, floats and strings refused)."""
    return integer_at_least(name, value, 1)


def integer_at_least(name: str, value: object, low: int) -> int:
    """An integer of at least ``low`` (Python or numpy integers; bools, floats and strings refused)."""
    requirement = "a positive integer" if low == 1 else f"an integer of at least {low}"
    if not _is_integer(value):
        raise fail(name, requirement, value, TypeError)
    if value < low:
        raise fail(name, requirement, value)
    return int(value)


def seed(name: str, value: object, *, none: bool = False) -> int | None:
    """A seed for numpy's generators: a non-negative integer, Python or numpy (``True`` is not
    seed 1, ``"0"`` is not seed 0).  With ``none``, ``None`` is accepted too: fresh entropy."""
    if value is None and none:
        return None
    requirement = "a non-negative integer seed" + (" or None" if none else "")
    if not _is_integer(value):
        raise fail(name, requirement, value, TypeError)
    if value < 0:
        raise fail(name, requirement, value)
    return int(value)


def boolean(name: str, value: object) -> bool:
    """``True`` or ``False`` (numpy bools too); ``"no"`` or ``1`` are refused, not read as truthy."""
    if not isinstance(value, bool | np.bool_):
        raise fail(name, "True or False", value, TypeError)
    return bool(value)


def _real(name: str, value: object, requirement: str) -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise fail(name, requirement, value, TypeError)
    return float(value)


def positive_float(name: str, value: object) -> float:
    """A positive finite real number (bools and strings are refused)."""
    out = _real(name, value, "a positive finite float")
    if not (math.isfinite(out) and out > 0):
        raise fail(name, "a positive finite float", value)
    return out


def nonnegative_float(name: str, value: object) -> float:
    out = _real(name, value, "a non-negative finite float")
    if not (math.isfinite(out) and out >= 0):
        raise fail(name, "a non-negative finite float", value)
    return out


def float_dtype(name: str, value: object) -> np.dtype:
    """float64 or float32 (the two precisions gradlab studies)."""
    try:
        dtype = np.dtype(value)
    except TypeError:
        raise fail(name, "float64 or float32", value, TypeError) from None
    if dtype not in (np.float64, np.float32):
        raise fail(name, "float64 or float32", value)
    return dtype


def finite_real(name: str, value: object, requirement: str = "a finite real number") -> float:
    """A finite real number (bools and strings refused; NaN and infinities refused)."""
    out = _real(name, value, requirement)
    if not math.isfinite(out):
        raise fail(name, requirement, value)
    return out


def _where(index: tuple[int, ...]) -> str:
    """An array index in an error message: ``3`` for a vector, ``(1, 2)`` for a matrix, nothing for a 0-d array."""
    if not index:
        return ""
    return f" at index {index[0] if len(index) == 1 else index}"


def finite_array(name: str, arr: np.ndarray) -> np.ndarray:
    """``arr`` itself when every entry is finite; else a ``ValueError`` naming the first bad entry."""
    bad = ~np.isfinite(arr)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])  # () for a 0-d array
        raise ValueError(f"`{name}` must be finite; got {arr[index]}{_where(index)}")
    return arr


def _as_numpy(name: str, value: object) -> np.ndarray:
    """``value`` as a numpy array, or a ``TypeError`` that says why it is none (a ragged list)."""
    if not isinstance(value, np.ndarray | np.generic | numbers.Number | list | tuple | str | bytes):
        try:
            return to_numpy(value)  # array-API arrays (torch, jax, ...): through DLPack
        except Exception as exc:
            raise fail(name, "a real numeric array", value, TypeError) from exc
    try:
        return np.asarray(value)
    except ValueError as exc:  # nested lists of different lengths
        if "inhomogeneous" in str(exc):
            raise fail(name, "a real numeric array (rows of one length, not a ragged list)", value, TypeError) from None
        raise fail(name, "a real numeric array", value, TypeError) from exc
    except Exception as exc:
        raise fail(name, "a real numeric array", value, TypeError) from exc


def precision(name: str, dtype: object) -> np.dtype:
    """The precision a floating array is differentiated in: its own when float64 or float32.

    float16 (or bfloat16, longdouble) is refused rather than silently upcast or computed in:
    with float16's 3 significant digits every difference quotient is rounding noise
    (``eps ~ 1e-3``: the best central step, ``eps^(1/3) ~ 0.1``, is no longer small).
    """
    if isinstance(dtype, np.dtype) and dtype in (np.float64, np.float32):
        return dtype
    # ``dtype`` may be another library's (torch.bfloat16): both numpy's and torch's have itemsize
    small = getattr(dtype, "itemsize", 2) < 4
    why = "finite differences in it are rounding noise" if small else "gradlab computes in those two"
    raise TypeError(f"`{name}` must be float64 or float32; got {dtype} ({why}): convert it to float64 first")


def real_array(name: str, value: object, dtype: np.dtype | None = None, *, copy: bool = True) -> np.ndarray:
    """A finite real float array; with ``copy`` a *new* one the caller's object never aliases.

    Integer and boolean input is converted to float64 (never differentiated
    into zeros); complex, object and string input is refused.  ``dtype``
    forces a precision; otherwise float32/float64 input keeps its own and other
    floating precisions (float16) are refused (see :func:`precision`).
    """
    arr = _as_numpy(name, value)
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    elif arr.dtype.kind != "f":
        raise fail(name, "a real numeric array", arr, TypeError)
    if dtype is None:
        dtype = precision(name, arr.dtype)
    out = np.array(arr, dtype=dtype, copy=True if copy else None, order="C")
    return finite_array(name, out)


def cotangent(value: object, shape: tuple[int, ...]) -> np.ndarray:
    """The upstream gradient ``u`` of a backward pass: a finite real array of ``shape`` (the shape
    of ``f(x)``), as a new float64 numpy array.  A complex ``u`` is refused, not cut to its real part."""
    arr = _as_numpy("cotangent", value)
    if arr.dtype.kind == "c":
        raise fail("cotangent", "a real array (f's output is real, so is its upstream gradient)", arr, TypeError)
    if arr.dtype.kind not in "biuf":
        raise fail("cotangent", f"a real numeric array of shape {shape} (the shape of f(x))", value, TypeError)
    if arr.shape != tuple(shape):
        raise ValueError(f"`cotangent` must have the shape of f(x), {tuple(shape)}; got {arr.shape}")
    return finite_array("cotangent", np.array(arr, dtype=np.float64, copy=True))
