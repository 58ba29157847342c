"""Where gradlab's warnings point: at the user's line, not at gradlab's own."""

from __future__ import annotations

import sys


def caller_level() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside gradlab."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("gradlab"):
        frame, level = frame.f_back, level + 1
    return level
