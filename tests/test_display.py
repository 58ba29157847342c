"""Results in notebooks: the HTML and markdown renderings of gradlab.check.display.

The HTML is read back with :mod:`html.parser` (the rows, their status, each cell's text as a
browser would show it), never by pattern-matching the markup; the markdown table is split into
its cells.  The planted bugs make the failing blocks known from the math, not from the table.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pytest

import gradlab


class _Rows(HTMLParser):
    """The table rows of an HTML fragment: ``(attributes of <tr>, [cell texts])``, header row included;
    and every element's tag seen (to check no script or style element exists)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows: list[tuple[dict, list[str]]] = []
        self.tags: list[str] = []
        self.banner: dict | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag == "tr":
            self.rows.append((attrs, []))
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "div" and attrs.get("class") == "gradlab-banner":
            self.banner = attrs

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1][1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _parsed(text: str) -> _Rows:
    p = _Rows()
    p.feed(text)
    p.close()
    return p


# f of a dict whose keys a browser would take for markup; W is 3x4, b has 3 entries
KEYS = ("W<script>alert(1)</script>", "b & c", "ok|pipe")
rng = np.random.default_rng(3)
POINT = {KEYS[0]: rng.normal(size=(3, 4)), KEYS[1]: rng.normal(size=3), KEYS[2]: rng.normal(size=2)}


def f(p):
    W, b, c = p[KEYS[0]], p[KEYS[1]], p[KEYS[2]]
    return float(np.sum(np.sin(W @ np.arange(1.0, 5.0) + b)) + np.sum(c**2) * np.sum(b))


def exact(p):
    W, b, c = p[KEYS[0]], p[KEYS[1]], p[KEYS[2]]
    s = np.cos(W @ np.arange(1.0, 5.0) + b)
    return {KEYS[0]: np.outer(s, np.arange(1.0, 5.0)), KEYS[1]: s + np.sum(c**2), KEYS[2]: 2 * c * np.sum(b)}


def planted(p):
    """The 'b & c' block off by a factor 2 (a term counted twice): the only block that fails."""
    g = exact(p)
    g[KEYS[1]] = 2 * g[KEYS[1]]
    return g


@pytest.fixture(scope="module")
def failed():
    res = gradlab.gradcheck(f, POINT, grad=planted)
    assert res.status == "failed"
    return res


def test_html_highlights_exactly_the_failing_blocks_and_escapes_user_text(failed):
    text = failed._repr_html_()
    parsed = _parsed(text)
    header, *rows = parsed.rows
    assert header[1][0] == "block" and header[1][-1] == "status"
    # the names as a browser shows them (the parser un-escapes): the user's keys, verbatim
    names = [cells[0] for _, cells in rows]
    assert names == [f"x[{k!r}]" for k in KEYS]
    # the key's markup never reaches the page as markup: no <script> element, no raw "<script>"
    assert "script" not in parsed.tags and "<script>" not in text and "&lt;script&gt;" in text
    assert " & c" not in text and "&amp; c" in text
    highlighted = [cells[0] for attrs, cells in rows if attrs.get("data-status") == "failed"]
    assert highlighted == [f"x[{KEYS[1]!r}]"]
    # highlighted means a background of its own; the passing rows have none
    assert all(("background" in attrs.get("style", "")) == (attrs["data-status"] != "passed") for attrs, _ in rows)
    assert [cells[-1] for _, cells in rows] == ["passed", "failed", "passed"]
    assert parsed.banner["data-status"] == "failed"
    # the headline figures and the hint (factor 2) come along
    assert f"{failed.evaluations} evaluations" in text and "a factor 2" in text
    assert "style" not in parsed.tags and "link" not in parsed.tags  # no stylesheet: inline styles only
    # no text colour of its own: the theme's text stays readable over the translucent highlights
    assert not re.search(r"(?<![-\w])color\s*:", text)


def test_markdown_renders_the_same_rows_as_the_html(failed):
    md = failed._repr_markdown_()
    lines = md.splitlines()
    assert lines[0].startswith("**gradcheck FAILED**")
    table = [ln for ln in lines if ln.startswith("|")]
    # cells split on pipes that are not escaped (the key "ok|pipe" is one cell)
    cells = [[c.strip() for c in re.split(r"(?<!\\)\|", ln)[1:-1]] for ln in table]
    header, rule, *rows = cells
    html_rows = _parsed(failed._repr_html_()).rows
    assert header == html_rows[0][1]
    assert all(set(c) <= set(":-") for c in rule)
    assert len(rows) == len(html_rows) - 1 == 3
    unescape = lambda s: re.sub(r"\\(.)", r"\1", s)  # noqa: E731
    for md_row, (attrs, html_cells) in zip(rows, html_rows[1:]):
        assert [unescape(c) for c in md_row[:-1]] == html_cells[:-1]
        status = attrs["data-status"]
        assert md_row[-1] == {"passed": "passed", "failed": "**FAILED**", "inconclusive": "_inconclusive_"}[status]
    assert r"ok\|pipe" in md and "<script>" not in md


def test_inconclusive_blocks_are_marked_and_shaded():
    # a random f: no difference quotient can be trusted, every block is inconclusive
    noise = np.random.default_rng(0)
    res = gradlab.gradcheck(lambda p: f(p) + 1e-3 * noise.normal(), POINT, grad=exact)
    assert res.status == "inconclusive"
    _, *rows = _parsed(res._repr_html_()).rows
    assert [a["data-status"] for a, _ in rows] == ["inconclusive"] * 3
    assert all("background" in a["style"] for a, _ in rows)
    assert all(cells[3] == "n/a" for _, cells in rows)  # nothing measured: not a number made up
    md = res._repr_markdown_()
    assert md.count("_inconclusive_") == 3 and "f is random" in md


def test_a_passing_result_renders_without_highlight():
    res = gradlab.gradcheck(f, POINT, grad=exact)
    assert res.status == "passed"
    parsed = _parsed(res._repr_html_())
    assert parsed.banner["data-status"] == "passed"
    assert all("style" not in attrs for attrs, _ in parsed.rows[1:])
    assert "FAILED" not in res._repr_markdown_()


def test_the_adjoint_result_renders_too():
    A = np.arange(6.0).reshape(2, 3)
    ok = gradlab.adjoint_test(lambda x: A @ x, np.ones(3), jvp=lambda x, v: A @ v, vjp=lambda x, u: A.T @ u)
    bad = gradlab.adjoint_test(lambda x: A @ x, np.ones(3), jvp=lambda x, v: A @ v, vjp=lambda x, u: 2 * A.T @ u)
    assert _parsed(ok._repr_html_()).banner["data-status"] == "passed"
    assert _parsed(bad._repr_html_()).banner["data-status"] == "failed"
    assert "FAILED" in bad._repr_markdown_() and "FAILED" not in ok._repr_markdown_()
