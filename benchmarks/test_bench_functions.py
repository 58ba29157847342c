"""Accuracy and cost on the function set: every gradlab step backend (from the registry) and
the optional peers numdifftools and scipy.differentiate, on the hard functions of
:mod:`gradlab.experiments.functions` with exact derivatives.  The timing is one pass over the
whole set; ``extra_info`` holds the summary (``median``, ``p90``, ``fails``,
``evaluations_per_entry``, ``bounds``) and, per entry, ``rel_error`` and
``evaluations_per_entry``.  The summary table is printed at the end of the session."""

import numpy as np
import pytest

from benchmarks.functions_summary import ROWS
from gradlab.backends import references
from gradlab.experiments import functions as F

PEERS = {"scipy.differentiate": "scipy.differentiate", "numdifftools": "numdifftools"}


@pytest.mark.benchmark(group="function set: accuracy and cost", max_time=0.5)
@pytest.mark.parametrize("method", [*references(), *PEERS])
def test_function_set(benchmark, method):
    pytest.importorskip("mpmath")  # the exact derivatives
    if method in PEERS:
        pytest.importorskip(PEERS[method])
        run = F.peer_methods()[method]
    else:
        run = F.backend_method(method)
    df = F.accuracy(F.CASES, {method: run})
    row = F.summary(df)
    ROWS.append(row)
    benchmark.extra_info.update({k: (v.item() if isinstance(v, np.generic) else v) for k, v in row.iloc[0].items()})
    benchmark.extra_info.update(
        functions=df["function"].tolist(),
        entry=df["entry"].tolist(),
        rel_error=[float(v) for v in df["rel_error"]],
        evaluations_per_entry=[float(v) for v in df["evaluations_per_entry"]],
    )
    benchmark.pedantic(F.accuracy, args=(F.CASES, {method: run}), rounds=3, iterations=1)
