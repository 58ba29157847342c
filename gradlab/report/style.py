"""How a series is drawn and named: registered backends from the registry, anything else
(one evaluation of J, a peer from a benchmark file) from its name."""

from __future__ import annotations

from ..backends import Style, get, names

#: not a backend: the unit in which difference cost is counted
OBJECTIVE_STYLE = Style("one evaluation of J", "#666666", "x")


def style_of(name: str) -> Style:
    """The :class:`~gradlab.backends.Style` of ``name``."""
    if name in names():
        return get(name).drawn
    if name == "objective":
        return OBJECTIVE_STYLE
    return Style.derived(name, marker="^")


def evaluations_label(name: str) -> str:
    """The evaluation count of a registered backend as its formula in n ("central: 2n")."""
    if name not in names():
        return name
    b = get(name)
    return f"{b.drawn.label}: {b.evaluations_formula()}"
