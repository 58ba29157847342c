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
    if not _is_integer(value):
        raise fail(name, "a positive integer", value, TypeError)
    if value < 1:
        raise fail(name, "a positive integer", value)
    return int(value)


def seed(name: str, value: object) -> int:
    """A seed for numpy's generators: a non-negative integer (``True`` is not seed 1)."""
    if not _is_integer(value):
        raise fail(name, "a non-negative integer seed", value, TypeError)
    if value < 0:
        raise fail(name, "a non-negative integer seed", value)
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


def real_array(name: str, value: object, dtype: np.dtype | None = None, *, copy: bool = True) -> np.ndarray:
    """A finite real float array; with ``copy`` a *new* one the caller's object never aliases.

    Integer and boolean input is converted to float64 (never differentiated
    into zeros); complex, object and string input is refused.  ``dtype``
    forces a precision; otherwise float32/float64 input keeps its own.
    """
    try:
        arr = np.asarray(value)
    except Exception as exc:  # e.g. ragged nested lists
        raise fail(name, "a real numeric array", value, TypeError) from exc
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    elif arr.dtype.kind != "f":
        raise fail(name, "a real numeric array", arr, TypeError)
    if dtype is None:
        dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    out = np.array(arr, dtype=dtype, copy=True if copy else None, order="C")
    if not np.isfinite(out).all():
        bad = np.argwhere(~np.isfinite(out))[0]
        where = tuple(int(i) for i in bad)
        raise ValueError(f"`{name}` must be finite; got {out[where]} at index {where if out.ndim > 1 else where[0]}")
    return out
