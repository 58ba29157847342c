"""Plots of a gradient check: where in a weight block the analytic gradient is off, and by how much.

:func:`error_map` draws one block of a :class:`~gradlab.GradcheckResult` as a heatmap, one cell
per entry, coloured on a log scale by

    |analytic - reference| / tolerance

where the tolerance is what a correct gradient may differ by at that entry (``rtol`` times the
entry's scale plus the reference's own error bound, the ``allowed`` of :mod:`gradlab.check.judge`).
A cell at 1 is at its tolerance; a failing entry is beyond 3 (and outlined); a correct gradient
sits far below 1.  Entries nothing could measure (``result.unverified``) are hatched.

A 2-d block (a weight matrix) is drawn as it is, rows by columns; a 1-d block (a bias) as one
row; a block of more dimensions is reshaped to its first axis by the rest (a convolution's
``(out, in, kh, kw)`` as ``out`` rows of ``in * kh * kw``), and the title says so.

Only a full check keeps per-entry errors (a fast check that passed measured directions, not
entries): :func:`error_map` says so, and how to get them, when a result has none.

This module imports matplotlib; ``import gradlab`` does not import it (``gradlab.plot`` is loaded
on first use).  Nothing here calls ``plt.show()``: the figure is returned, for a notebook to show.

Examples
--------
A 1% error planted in one entry of ``W1``, drawn (this is what ``tests/test_plot.py`` runs, with
matplotlib's Agg backend; here as prose, since pyplot's import would cost every plain test run)::

    import numpy as np, gradlab, gradlab.plot
    net = gradlab.MLP([3, 4, 2], activation="tanh", output="softmax", loss="cross_entropy")
    X = np.random.default_rng(0).normal(size=(5, 3)); Y = np.eye(2)[[0, 1, 1, 0, 1]]
    obj, theta = net.objective(X, Y), net.init(seed=0)
    bug = lambda t: obj.gradient(t) * np.where(np.arange(t.size) == 3, 1.01, 1.0)
    ax = gradlab.plot.error_map(gradlab.gradcheck(obj, theta, grad=bug))   # the failing block, W1
    ax.get_title()      # 'W1 (4x3): |analytic - reference| / tolerance\n1 of 12 entries failed (outlined)'
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.patches import Rectangle

from .check.display import records
from .check.judge import GREY

#: the lowest ratio the colour scale shows (a cell below it is drawn in its lowest colour)
FLOOR = 1e-6

__all__ = ["error_map", "error_ratio"]


def _blocks(result) -> list[dict]:
    """The result's blocks as ``{"block", "offset", "size", "shape"}``, read from its public table."""
    out = []
    for row in records(result.table):
        text = str(row["shape"])
        shape = () if text == "scalar" else tuple(int(k) for k in text.split("x"))
        out.append({"block": row["block"], "offset": int(row["offset"]), "size": int(row["size"]), "shape": shape})
    return out


def _needs_entries(result) -> None:
    if getattr(result, "order", 1) != 1:
        raise ValueError(
            "`result` must be a first-order check to draw an error map (a second-order result's table has one row "
            f"per block pair, judged along directions); got order {result.order}: draw result.first_order"
        )
    if result.abs_error is None or result.tolerance is None or result.failing is None:
        raise ValueError(
            "`result` must carry per-entry errors to draw an error map: a full check keeps them, and so does a fast "
            f"check that failed and was localised by the full check; got a {result.mode!r} check with none "
            "(a fast check that passed measured directions, not entries): run gradlab.gradcheck(..., fast=False)"
        )


def _chosen(result, block: str | None) -> dict:
    blocks = _blocks(result)
    if block is None:
        # the worst failing block, else the block with the largest error: the one worth looking at
        rows = records(result.table)
        failing = [r for r in rows if r["n_failed"] > 0]
        pool = failing or rows
        worst = max(pool, key=lambda r: -math.inf if math.isnan(r["max_rel_error"]) else r["max_rel_error"])
        return next(b for b in blocks if b["block"] == worst["block"])
    if not isinstance(block, str):
        raise TypeError(f"`block` must be a block name (a str); got {type(block).__name__} {block!r}")
    for b in blocks:
        if b["block"] == block:
            return b
    raise ValueError(f"`block` must be one of the result's blocks, {[b['block'] for b in blocks]}; got {block!r}")


def _grid(shape: tuple[int, ...]) -> tuple[tuple[int, int], str]:
    """The 2-d grid a block is drawn on, and what the title says of it."""
    if len(shape) == 2:
        return shape, ""
    if len(shape) <= 1:
        return (1, math.prod(shape)), ""
    rows, cols = shape[0], math.prod(shape[1:])
    return (rows, cols), f"reshaped from {'x'.join(map(str, shape))} to {rows}x{cols}"


def error_ratio(result, block: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """``(ratio, failing, unverified, block)`` for one block: ``|analytic - reference| / tolerance`` per
    entry, and the two masks, each shaped like the block (a scalar block: shape ``(1,)``); ``block``
    is the block's ``{"block", "offset", "size", "shape"}``.  The numbers :func:`error_map` draws."""
    _needs_entries(result)
    b = _chosen(result, block)
    sl = slice(b["offset"], b["offset"] + b["size"])
    shape = b["shape"] or (1,)
    abs_error = np.asarray(result.abs_error, dtype=np.float64).reshape(-1)[sl]
    tolerance = np.asarray(result.tolerance, dtype=np.float64).reshape(-1)[sl]
    with np.errstate(divide="ignore", invalid="ignore"):
        # a tolerance of 0 (both sides exactly 0, no floor): no error at all, or an infinite ratio
        ratio = np.where(tolerance > 0, abs_error / tolerance, np.where(abs_error > 0, np.inf, 0.0))
    failing = np.asarray(result.failing, dtype=bool).reshape(-1)[sl]
    unverified = np.zeros(b["size"], dtype=bool)
    if result.unverified is not None:
        unverified = np.asarray(result.unverified, dtype=bool).reshape(-1)[sl]
    return ratio.reshape(shape), failing.reshape(shape), unverified.reshape(shape), b


def error_map(result, block: str | None = None, *, ax=None, cmap: str = "viridis", colorbar: bool = True):
    """Draw one block's per-entry error map: ``|analytic - reference| / tolerance`` on a log scale.

    Parameters
    ----------
    result : GradcheckResult
        A full check (or a fast one localised by the full check): it keeps per-entry errors.
    block : str, optional
        The block to draw (``"W1"``, ``"x"``, ``"layers[0].W"``); default: the failing block with the
        largest relative error, else the block with the largest error.
    ax : matplotlib Axes, optional
        Where to draw; default: a new figure's.
    cmap : str
        The colour map.
    colorbar : bool
        Add a colour bar, labelled.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn into (``ax.figure`` is the figure).  Failing entries are outlined in red,
        unverified ones hatched; the title names the block, its shape and its failures.
    """
    ratio, failing, unverified, b = error_ratio(result, block)
    (rows, cols), reshaped = _grid(b["shape"])
    grid = ratio.reshape(rows, cols)
    if ax is None:
        _, ax = plt.subplots(figsize=(min(2 + 0.5 * cols, 12), min(1.5 + 0.5 * rows, 9)))
    finite = grid[np.isfinite(grid) & (grid > 0)]
    top = max(float(finite.max()) if finite.size else 1.0, GREY * 10)
    low = max(min(float(finite.min()) if finite.size else FLOOR, 1e-2), FLOOR)
    shown = np.clip(np.where(np.isfinite(grid), grid, top), low, top)
    image = ax.imshow(shown, cmap=cmap, norm=LogNorm(vmin=low, vmax=top), aspect="auto", interpolation="nearest")
    for (i, j), bad in np.ndenumerate(failing.reshape(rows, cols)):
        if bad:
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2.0))
    for (i, j), unknown in np.ndenumerate(unverified.reshape(rows, cols)):
        if unknown:
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//", edgecolor="0.5", linewidth=0))
    name = b["block"]
    size = "x".join(map(str, b["shape"])) or "scalar"
    n_failed, n_unverified = int(failing.sum()), int(unverified.sum())
    detail = f"{n_failed} of {b['size']} entries failed (outlined)"
    if n_unverified:
        detail += f", {n_unverified} unverified (hatched)"
    if reshaped:
        detail += f"; {reshaped}"
    ax.set_title(f"{name} ({size}): |analytic - reference| / tolerance\n{detail}", fontsize=9)
    ax.set_xlabel("column" if len(b["shape"]) >= 2 else "entry")
    ax.set_ylabel("row" if len(b["shape"]) >= 2 else "")
    if cols <= 24:
        ax.set_xticks(range(cols))
    if len(b["shape"]) < 2:
        ax.set_yticks([])
    elif rows <= 24:
        ax.set_yticks(range(rows))
    if colorbar:
        bar = ax.figure.colorbar(image, ax=ax)
        bar.set_label(f"error / tolerance (failed beyond {GREY:g})")
    return ax
