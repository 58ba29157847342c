"""Arrays of other libraries (torch, jax, cupy, array-api-strict) seen from numpy.

The two facts every module needs before it can validate or flatten a value: is it an
array-API array of a library other than numpy, and what are its values as a numpy array.
Kept apart from :mod:`gradlab.structure` so that validation (which reads values) and
structures (which validate) do not import each other.
"""

from __future__ import annotations

import array_api_compat
import numpy as np


def is_array_api(value: object) -> bool:
    """An array of a library other than numpy that speaks the array API, natively
    (``__array_namespace__``) or through array-api-compat's wrappers (torch, jax, cupy, dask)."""
    if isinstance(value, np.ndarray | np.generic):
        return False
    if hasattr(value, "__array_namespace__"):
        return True
    return array_api_compat.is_array_api_obj(value)


def to_numpy(value: object) -> np.ndarray:
    """A numpy view or copy of a numpy, scalar or array-API value (brought to the host if need be)."""
    if isinstance(value, np.ndarray):
        return value
    if not is_array_api(value):
        return np.asarray(value)
    if hasattr(value, "detach"):  # torch: a tensor that requires grad refuses DLPack
        value = value.detach()
    if array_api_compat.is_torch_array(value) and value.device.type == "cpu":
        try:  # a view, about 4x faster than DLPack: this runs after every call of f on a torch leaf
            return value.numpy()
        except (RuntimeError, TypeError):  # conjugate or negative views, bfloat16: DLPack below says why
            pass
    try:
        return np.from_dlpack(value)
    except (BufferError, RuntimeError, TypeError, ValueError):
        pass
    try:  # on an accelerator: ask the producer for a host copy (DLPack 1.0)
        return np.from_dlpack(value, device="cpu", copy=True)
    except (BufferError, RuntimeError, TypeError, ValueError, AttributeError):
        pass
    for host in ("cpu", "get"):  # torch .cpu(), cupy .get()
        if callable(getattr(value, host, None)):
            return np.asarray(getattr(value, host)())
    return np.asarray(value)
