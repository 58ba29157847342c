"""Results as notebooks show them: HTML and markdown renderings of a check's verdict and table.

Jupyter calls ``_repr_html_`` (or ``_repr_markdown_``) on the last value of a cell; the result
classes delegate to the functions here.  A rendering has three parts, the same in both forms:

- a **banner**: the status in words and colour, what was checked against what, and the headline
  figures (largest relative error, evaluations, tolerances, precision);
- the **per-block table**, one row per block (``W1``, ``b1``; ``H[A, B]`` for a second-order
  check) with its worst entry; a failing block's row is highlighted in red and its status cell
  says ``failed``, an inconclusive block's row is shaded amber and says ``inconclusive``;
- the **notes, reasons and hints** of the result, as a list.

The HTML carries its styles inline (no stylesheet, no script: a notebook viewer, GitHub and
nbviewer strip both) and sets no text colour of its own: the highlights are translucent
backgrounds over whatever the theme's text colour is, so the table reads in Jupyter's light and
dark themes alike.  Every piece of text that comes from the user (block names, the names of their
functions, notes quoting their values) is escaped with :func:`html.escape`; in markdown the
characters that would break a table cell or start markup are escaped with a backslash.

The table is read through the result's public ``table`` attribute, as a table of columns and
rows (``table.to_dict("records")``, or whatever pandas can read as a DataFrame): nothing here
depends on how it is stored.
"""

from __future__ import annotations

import html
import math
import re

import pandas as pd

from .columns import SHOWN_COLUMNS

#: translucent backgrounds: over dark text on white and light text on near-black alike
BACKGROUND = {
    "passed": "rgba(34, 160, 80, 0.16)",
    "failed": "rgba(220, 40, 40, 0.22)",
    "inconclusive": "rgba(230, 160, 20, 0.22)",
}
#: a stronger edge of the same hue for the banner
EDGE = {
    "passed": "rgb(34, 160, 80)",
    "failed": "rgb(220, 40, 40)",
    "inconclusive": "rgb(230, 160, 20)",
}
#: the marker of a status in markdown, which has no colour
MARK = {"passed": "passed", "failed": "**FAILED**", "inconclusive": "_inconclusive_"}


# -- cells -----------------------------------------------------------------------------------------


def _number(value: object, digits: int = 3) -> str:
    """A figure as the table shows it: ``digits`` significant digits, ``n/a`` where nothing was measured."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return "n/a"
    return f"{x:.{digits}g}"


def _cell(column: str, value: object) -> str:
    """One cell's text (not yet escaped)."""
    if column == "worst_index":
        return "[" + ", ".join(str(int(i)) for i in value) + "]" if len(value) else ""
    if column in ("analytic", "numeric"):
        return _number(value, 6)
    if column in ("max_rel_error", "max_abs_error", "resolution"):
        return _number(value)
    return str(value)


def records(table) -> list[dict]:
    """A result table's rows as dicts, through the table's public face (a DataFrame's ``to_dict``; any
    other table pandas can read, as a DataFrame)."""
    if not hasattr(table, "to_dict"):
        table = pd.DataFrame(table)
    return table.to_dict("records")


def rows(result) -> tuple[list[str], list[dict]]:
    """The columns shown (those of :data:`SHOWN_COLUMNS` the table has, in that order) and the table's
    rows as dicts of shown text (unescaped), each with its ``status``."""
    found = records(result.table)
    present = set(found[0]) if found else set(SHOWN_COLUMNS)
    columns = [c for c in SHOWN_COLUMNS if c in present]
    return columns, [{c: _cell(c, record[c]) for c in columns} for record in found]


def _step(result) -> str:
    return "default step" if result.h is None else f"h={result.h:g}"


def _headline(result) -> str:
    """What was checked and the figures, as one line of plain text (unescaped)."""
    second = " (second order: the gradient first, then the Hessian)" if result.order == 2 else ""
    parts = [
        f"{result.analytic_source} vs {result.reference}{second}",
        f"{result.mode} check, {_step(result)}, {result.dtype}",
        f"{result.evaluations} evaluations",
        f"rtol={result.rtol:g}, atol={result.atol:g}",
        f"max relative error {_number(result.max_rel_error)}",
    ]
    if result.n_unverified:
        parts.append(f"{result.n_unverified} entries unverified")
    return "; ".join(parts)


def _remarks(result) -> list[tuple[str, str]]:
    """``(kind, text)`` for every note, reason and hint, and the Taylor test's verdict where it ran."""
    out = [("note", n) for n in result.notes]
    out += [("reason", r) for r in result.reasons]
    out += [("hint", h) for h in result.hints]
    taylor = result.taylor
    if taylor is not None and math.isfinite(taylor.rate):
        out.append(
            (
                "taylor",
                f"Taylor remainder ~ t^{taylor.rate:.2f} (2 for a correct gradient, 1 for a wrong one): "
                f"{taylor.verdict}",
            )
        )
    return out


# -- HTML ------------------------------------------------------------------------------------------

_CELL = "padding: 2px 8px; text-align: {align}; border-bottom: 1px solid rgba(128, 128, 128, 0.35);"


def _td(text: str, column: str, tag: str = "td") -> str:
    align = "left" if column in ("block", "shape", "worst_index", "status") else "right"
    return f'<{tag} style="{_CELL.format(align=align)}">{html.escape(text)}</{tag}>'


def result_html(result) -> str:
    """A :class:`~gradlab.check.result.GradcheckResult` as one self-contained HTML fragment."""
    status = result.status
    columns, shown = rows(result)
    banner = (
        f'<div class="gradlab-banner" data-status="{html.escape(status)}" style="border-left: 6px solid '
        f'{EDGE[status]}; background: {BACKGROUND[status]}; padding: 4px 10px; margin-bottom: 6px;">'
        f"<strong>gradcheck {html.escape(status.upper() if status != 'passed' else status)}</strong>"
        f"<br>{html.escape(_headline(result))}</div>"
    )
    head = "".join(_td(c, c, "th") for c in columns)
    body = []
    for row in shown:
        s = row.get("status", "passed")
        style = f' style="background: {BACKGROUND[s]};"' if s != "passed" else ""
        cells = "".join(_td(row[c], c) for c in columns)
        body.append(f'<tr class="gradlab-{html.escape(s)}" data-status="{html.escape(s)}"{style}>{cells}</tr>')
    table = (
        '<table class="gradlab-table" style="border-collapse: collapse; font-variant-numeric: tabular-nums;">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )
    remarks = _remarks(result)
    listing = ""
    if remarks:
        items = "".join(
            f'<li class="gradlab-{kind}"><em>{kind}</em>: {html.escape(text)}</li>' for kind, text in remarks
        )
        listing = f'<ul class="gradlab-remarks" style="margin-top: 6px;">{items}</ul>'
    return f'<div class="gradlab-result">{banner}{table}{listing}</div>'


def adjoint_html(result) -> str:
    """An :class:`~gradlab.check.forward.AdjointResult` as an HTML fragment: its verdict and figures."""
    status = "passed" if result.passed else "failed"
    figures = [
        ("<u, J v>", f"{result.forward:.17g}"),
        ("<J^T u, v>", f"{result.backward:.17g}"),
        ("difference", f"{result.difference:.3g}"),
        ("relative", f"{result.rel_error:.3g}"),
        ("rounding bound", f"{result.bound:.3g}"),
    ]
    cells = "".join(f"<tr>{_td(k, 'block', 'th')}{_td(val, 'value')}</tr>" for k, val in figures)
    what = f"{result.jvp} and {result.vjp}, seed {result.seed}, {result.dtype}, n = {result.n}, m = {result.m}"
    return (
        f'<div class="gradlab-result"><div class="gradlab-banner" data-status="{status}" style="border-left: 6px '
        f'solid {EDGE[status]}; background: {BACKGROUND[status]}; padding: 4px 10px; margin-bottom: 6px;">'
        f"<strong>adjoint test {status if result.passed else 'FAILED'}</strong><br>"
        f"{html.escape(what)}"
        f'</div><table class="gradlab-table" style="border-collapse: collapse;">{cells}</table></div>'
    )


# -- markdown --------------------------------------------------------------------------------------

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_<>|])")


def _md(text: str) -> str:
    """Text safe in a markdown table cell: markup characters and ``|`` escaped, line breaks joined."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text).replace("\n", " ")


def result_markdown(result) -> str:
    """A :class:`~gradlab.check.result.GradcheckResult` as markdown: a status line, the table (a failing
    block's status in bold capitals, an inconclusive one's in italics), then the notes."""
    status = result.status
    columns, shown = rows(result)
    verdict = status if status == "passed" else status.upper()
    lines = [f"**gradcheck {verdict}**: {_md(_headline(result))}", ""]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append(
        "|" + "|".join(":---" if c in ("block", "shape", "worst_index", "status") else "---:" for c in columns) + "|"
    )
    for row in shown:
        cells = [MARK[row[c]] if c == "status" else _md(row[c]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    remarks = _remarks(result)
    if remarks:
        lines.append("")
        lines.extend(f"- _{kind}_: {_md(text)}" for kind, text in remarks)
    return "\n".join(lines) + "\n"


def adjoint_markdown(result) -> str:
    """An :class:`~gradlab.check.forward.AdjointResult` as markdown: its one-line message."""
    return _md(result.message()) + "\n"
