"""The columns of a check's per-block table: every mode's table has exactly :data:`TABLE_COLUMNS`
(built by :func:`~gradlab.check.judge.block_row`); a notebook shows :data:`SHOWN_COLUMNS`."""

TABLE_COLUMNS = (
    "block",
    "shape",
    "size",
    "offset",
    "max_rel_error",
    "max_abs_error",
    "worst_index",
    "analytic",
    "numeric",
    "n_failed",
    "n_unverified",
    "resolution",
    "status",
    "passed",
)
#: the table's columns as shown, in order (``offset`` and ``passed`` say nothing ``status`` does not)
SHOWN_COLUMNS = tuple(c for c in TABLE_COLUMNS if c not in ("offset", "passed"))
