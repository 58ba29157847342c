"""What a gradient check returns: a verdict with three outcomes and everything behind it."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from .columns import TABLE_COLUMNS  # noqa: F401  (the columns of GradcheckResult.table, the same in every mode)
from .display import result_html, result_markdown
from .taylor import TaylorResult


class Deferred:
    """A table not built yet: ``build(*args)`` runs on the first read of the field that holds it.

    A fast check that passes costs a handful of evaluations, and building two DataFrames
    (about a millisecond each) would cost as much as the check itself; most callers read
    ``status`` and never the table.  ``build`` must be a module-level function and ``args``
    plain data, so that a result with a deferred table still pickles (dask returns results
    from its workers).
    """

    __slots__ = ("build", "args")

    def __init__(self, build, *args):
        self.build, self.args = build, args

    def __call__(self):
        return self.build(*self.args)


class _Lazy:
    """A dataclass field that takes a value or a :class:`Deferred`, built on first read and kept.

    A data descriptor, installed on the class after ``@dataclass`` has made the field (which
    keeps its ``repr=False`` and its place in ``__init__``): the frozen dataclass's ``__init__``
    stores through :meth:`__set__`, and the value lives in the instance's ``__dict__`` under the
    field's own name, so that pickling and copying carry it as it is, built or not.
    """

    def __init__(self, name: str):
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        value = obj.__dict__[self.name]
        if isinstance(value, Deferred):
            value = value()
            obj.__dict__[self.name] = value
        return value

    def __set__(self, obj, value):
        obj.__dict__[self.name] = value

    def built(self, obj) -> bool:
        return not isinstance(obj.__dict__[self.name], Deferred)


class GradcheckError(AssertionError):
    """Raised by :func:`~gradlab.assert_gradcheck` (and :meth:`GradcheckResult.raise_if_failed`)
    when a check did not pass: it failed, or it could not tell."""

    def __init__(self, message: str, result: GradcheckResult):
        super().__init__(message)
        self.result = result


@dataclass(frozen=True)
class GradcheckResult:
    """The verdict of :func:`~gradlab.gradcheck`, with everything needed to see where it came from.

    ``status`` is ``"passed"``, ``"failed"`` or ``"inconclusive"`` (some entries could not be
    measured, or the reference was too coarse to judge); ``passed`` is true only for
    ``"passed"``.  ``table`` has one row per parameter block (``W1, b1, ...``; ``x`` for a
    plain vector) with its worst entry (in a fast check that passed: its worst direction),
    and the same columns in every mode.  ``rel_error``/``abs_error``/``numeric`` are per
    entry, shaped like the point (``None`` after a fast check that passed); ``unverified``
    marks the entries no reference could measure.  ``evaluations`` counts the check's own
    evaluations; the Taylor test's are in ``taylor.evaluations``.

    A second-order check (``hvp=``, ``hessian=``, ``order=2``) has ``order`` 2, the first-order
    result it ran first in ``first_order``, and one table row per block pair, ``H[A, B]``.
    """

    status: str
    max_rel_error: float
    max_abs_error: float
    norm_rel_error: float
    table: pd.DataFrame = field(repr=False)
    analytic: np.ndarray = field(repr=False)
    numeric: np.ndarray | None = field(default=None, repr=False)
    rel_error: np.ndarray | None = field(default=None, repr=False)
    abs_error: np.ndarray | None = field(default=None, repr=False)
    unverified: np.ndarray | None = field(default=None, repr=False)
    #: per entry, what a correct gradient may differ by, and whether the entry failed (full checks;
    #: ``None`` otherwise): what :func:`gradlab.plot.error_map` draws
    tolerance: np.ndarray | None = field(default=None, repr=False)
    failing: np.ndarray | None = field(default=None, repr=False)
    taylor: TaylorResult | None = field(default=None, repr=False)
    directions: pd.DataFrame | None = field(default=None, repr=False)
    mode: str = "full"
    rtol: float = 0.0
    atol: float = 0.0
    analytic_source: str = ""
    reference: str = ""
    h: float | None = None
    dtype: str = "float64"
    evaluations: int = 0
    notes: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    #: 1: the gradient was checked; 2: the Hessian too, after it (see gradlab.check.second_order)
    order: int = 1
    #: for a second-order check, the first-order check that ran first
    first_order: GradcheckResult | None = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def n_unverified(self) -> int:
        return 0 if self.unverified is None else int(self.unverified.sum())

    def __str__(self) -> str:
        return self.message()

    def message(self) -> str:
        """A report a person can act on: which block, which entry, both values, tolerances."""
        step = "default step" if self.h is None else f"h={self.h:g}"
        head = (
            f"gradcheck {self.status.upper() if self.status != 'passed' else 'passed'}: {self.analytic_source} vs "
            f"{self.reference} ({self.mode} check, {step}, {self.dtype}, {self.evaluations} evaluations), "
            f"rtol={self.rtol:g}, atol={self.atol:g}; max relative error {self.max_rel_error:.3g}"
        )
        lines = [head, *self.notes, *self.reasons]
        bad = self.table[self.table["n_failed"] > 0]
        if len(bad):
            worst = bad.loc[bad["max_rel_error"].idxmax()]
            index = "[" + ", ".join(str(i) for i in worst["worst_index"]) + "]"
            lines.append(
                f"worst entry {worst['block']}{index}: analytic {worst['analytic']:.10g}, "
                f"numeric {worst['numeric']:.10g} (abs error {worst['max_abs_error']:.3g}, "
                f"rel error {worst['max_rel_error']:.3g} > rtol {self.rtol:g})"
            )
            lines.append(
                "failing blocks: " + ", ".join(f"{r.block} ({r.n_failed}/{r.size} entries)" for r in bad.itertuples())
            )
        lines.extend(self.hints)
        if self.taylor is not None and np.isfinite(self.taylor.rate):
            lines.append(
                f"Taylor remainder |f(x+td) - f(x) - t<g,d>| ~ t^{self.taylor.rate:.2f} "
                f"(2 for a correct gradient, 1 for a wrong one): {self.taylor.verdict}"
            )
        shown = self.table.drop(columns=["offset"]).copy()
        shown["worst_index"] = ["[" + ", ".join(str(i) for i in w) + "]" for w in shown["worst_index"]]
        lines.append(shown.to_string(index=False, float_format=lambda x: f"{x:.3g}"))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The result in a notebook: banner, per-block table (failing blocks highlighted), notes."""
        return result_html(self)

    def _repr_markdown_(self) -> str:
        """The result as markdown: the same rows as the HTML table."""
        return result_markdown(self)

    def raise_if_failed(self) -> GradcheckResult:
        """Raise :class:`GradcheckError` with :meth:`message` unless the check passed."""
        if not self.passed:
            raise GradcheckError(self.message(), self)
        return self


for _name in ("table", "directions"):
    setattr(GradcheckResult, _name, _Lazy(_name))


def replaced(result: GradcheckResult, **changes) -> GradcheckResult:
    """:func:`dataclasses.replace` that leaves a deferred table deferred (``replace`` reads every
    field, which would build it)."""
    kept = {f.name: result.__dict__[f.name] for f in fields(result) if f.init and f.name not in changes}
    return type(result)(**kept, **changes)
