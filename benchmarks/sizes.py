"""The one switch for the size of the benchmark suite: ``--bench-size`` or ``GRADLAB_BENCH_SIZE``.

``quick``
    Every benchmark on a reduced ladder (a few small networks, a few steps, one round of the
    interleaved comparisons): what CI runs, once and untimed, with ``--benchmark-disable``.
``default``
    What ``pytest --benchmark-only`` runs: ladders that fit a laptop (minutes, not tens of minutes).
``full``
    The whole ladder: networks to about 10^6 parameters for backprop and 8,970 for the difference
    schemes, the cluster speed-ups up to 10^5 parameters.  Ask for it explicitly.

The option wins over the environment variable; ``benchmarks/conftest.py`` declares the option and
copies it into the variable before the benchmark modules are imported, so that their
parametrizations, which are fixed at import, read one value.
"""

from __future__ import annotations

import os

SIZES = ("quick", "default", "full")
ENV = "GRADLAB_BENCH_SIZE"


def size() -> str:
    """The size in force: ``GRADLAB_BENCH_SIZE`` (set from ``--bench-size``), else ``"default"``."""
    value = os.environ.get(ENV, "").strip() or "default"
    if value not in SIZES:
        raise ValueError(f"`{ENV}` must be one of {', '.join(SIZES)}; got {value!r}")
    return value


def pick(*, quick, default, full):
    """The value for the size in force."""
    return {"quick": quick, "default": default, "full": full}[size()]


def n_id(n: int) -> str:
    """A test id part naming a size so that ids sort in N order: ``N0000960``."""
    return f"N{int(n):07d}"
