"""The printed summary of ``test_bench_functions.py``: one row per method, collected while the
benchmarks run and printed as the issue's table at the end of the session."""

from __future__ import annotations

import pandas as pd

#: summary rows (``gradlab.experiments.functions.summary`` of one method), appended by the benchmarks
ROWS: list[pd.DataFrame] = []


def report(terminalreporter) -> None:
    """Print the table, if the function-set benchmarks ran in this session."""
    if not ROWS:
        return
    from gradlab.experiments.functions import markdown

    terminalreporter.write_sep("-", "accuracy and cost on the function set (gradlab.experiments.functions)")
    terminalreporter.write_line(markdown(pd.concat(ROWS, ignore_index=True)))
