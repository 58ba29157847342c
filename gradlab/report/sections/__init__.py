"""The report's sections: one module each, found by name.

A section is a small object (:class:`Section`) that runs its experiment
(``run(config, progress) -> {name: DataFrame}``), draws its figure from those DataFrames,
and writes its findings and page text from them and from the experiment's parameters.
Every module in this package that defines ``SECTION`` is a section of the report, placed by
``SECTION.order``: adding a section is one file (plus its test).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

import pandas as pd
from matplotlib.figure import Figure

Data = dict[str, pd.DataFrame]


class Section:
    """One part of the report: an experiment, its CSVs, its figure and its text.

    Subclasses set ``name``, ``title``, ``order`` and ``csvs`` (the keys of ``run``'s
    result written as ``<key>.csv``) and implement :meth:`run`, :meth:`text`, and where
    they draw one, :meth:`figure` (written as ``<name>.png``).
    """

    name: str = ""
    title: str = ""
    order: int = 100
    csvs: tuple[str, ...] = ()
    #: whether the section measures time (its figures then depend on the machine's noise)
    timed: bool = False

    def check(self, config) -> None:
        """Validate what this section needs from ``config`` before any section runs."""

    def run(self, config, progress: Callable[[float, float], None]) -> Data:
        raise NotImplementedError

    def figure(self, data: Data, config) -> Figure | None:
        return None

    def findings(self, data: Data, config) -> list[str]:
        return []

    def text(self, data: Data, config) -> str:
        raise NotImplementedError

    @property
    def figure_file(self) -> str:
        return f"{self.name}.png"


def all_sections() -> list[Section]:
    """Every section of the report, in page order."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        section = getattr(module, "SECTION", None)
        if isinstance(section, Section):
            found.append(section)
    return sorted(found, key=lambda s: (s.order, s.name))


def fmt(x: float, digits: int = 2) -> str:
    """``x`` to ``digits`` significant digits, or an em dash where it is not finite."""
    try:
        finite = x == x and abs(x) != float("inf")
    except TypeError:
        return "—"
    return f"{x:.{digits}g}" if finite else "—"
