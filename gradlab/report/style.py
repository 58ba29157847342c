"""How a series is drawn and named: registered backends from the registry, anything else
(one evaluation of J, a peer from a benchmark file) from its name."""

from __future__ import annotations

import zlib

from ..backends import Style, get, names

#: not a backend: the unit in which difference cost is counted
OBJECTIVE_STYLE = Style("one evaluation of J", "#666666", "x")
_FALLBACK = ("#e7298a", "#17becf", "#8c564b", "#bcbd22", "#e6ab02")


def style_of(name: str) -> Style:
    """The :class:`~gradlab.backends.Style` of ``name``."""
    if name in names():
        return get(name).drawn
    if name == "objective":
        return OBJECTIVE_STYLE
    return Style(name, _FALLBACK[zlib.crc32(name.encode()) % len(_FALLBACK)], "^")


def evaluations_label(name: str) -> str:
    """The evaluation count of a registered backend as a formula in n, read from the backend
    (``evaluations`` is affine in n): "n + 1", "2n", "1 + 1 backward pass"."""
    if name not in names():
        return name
    b = get(name)
    const, slope = b.evaluations(0), b.evaluations(1) - b.evaluations(0)
    n_part = "n" if slope == 1 else f"{slope}n"
    if b.kind == "analytic":
        text = f"{const} forward + 1 backward pass"
    elif b.kind == "complex":  # the entries in complex arithmetic, a constant of real ones (a cross-check)
        text = f"{n_part} complex" + (f" + {const} real" if const else "")
    elif slope == 0:
        text = f"{const}"
    else:
        text = n_part + (f" + {const}" if const else "")
    if b.order is None and b.kind != "analytic":
        text = "at most " + text
    return f"{b.drawn.label}: {text}"
