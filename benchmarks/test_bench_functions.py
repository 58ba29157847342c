"""Accuracy and cost on the function set: every gradlab step backend (from the registry) and
the optional peers numdifftools and scipy.differentiate, on the hard functions of
:mod:`gradlab.experiments.functions` with exact derivatives.  The timing is one pass over the
whole set; ``extra_info`` holds the summary (``median``, ``p90``, ``fails``,
``evaluations_per_entry``, ``bounds``) and, per entry, ``rel_error`` and
``evaluations_per_entry``.  The summary table is printed at the end of the session.

Each benchmark asserts, on the smooth control cases: no failure, and a median error within 10x
of the scheme's optimum ``eps^(p/(p+1))`` for a scheme of fixed order p (measured 0.4-0.9x),
within 4 eps for the complex step, within its own estimate for adaptive, below 1e-10 for the
peers (measured 2e-14); on every case, the evaluation counts the backend declares.
"""

import numpy as np
import pytest

from benchmarks.functions_summary import ROWS
from benchmarks.sizes import pick
from gradlab.backends import get, references
from gradlab.backends.scale import LOOKS
from gradlab.experiments import functions as F

PEERS = {"scipy.differentiate": "scipy.differentiate", "numdifftools": "numdifftools"}
ROUNDS = pick(quick=1, default=3, full=5)
EPS = float(np.finfo(np.float64).eps)


def check_counts(df, method) -> None:
    b = get(method)
    for _, g in df.groupby("function", sort=False):
        n = len(g)
        count = float(g["evaluations_per_entry"].iloc[0]) * n
        if np.isnan(count):  # it raised (outside the domain at its step): no count
            continue
        # a default step of 1e-2 or more (log at 1e20) gets a look at f's scale (backends/scale.py): counted,
        # at most 1 + 2 LOOKS, and apart from the scheme's own count
        looks = int(g["look_evaluations"].iloc[0])
        assert 0 <= looks <= 1 + 2 * LOOKS
        count -= looks
        if method == "complex_step":  # n complex, 4 real of its cross-check, more where h f' underflows
            assert count >= n
        elif b.evaluations_exact:
            assert round(count) == b.evaluations(n), (g["function"].iloc[0], count)
        else:
            assert 0 < count <= b.evaluations(n)


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
    smooth = df[df["smooth"]]
    assert len(smooth) and not smooth["failed"].any(), smooth[smooth["failed"]]["message"].tolist()
    median = float(smooth["rel_error"].median())
    if method in PEERS:
        assert median <= 1e-10
    else:
        b = get(method)
        check_counts(df, method)
        if b.kind == "complex":
            assert median <= 4 * EPS and not df["failed"].any()
        elif b.order is not None:
            assert median <= 10 * EPS ** (b.order / (b.order + 1)), median
        else:  # adaptive: its own estimate bounds its error on every smooth entry, and it never fails
            assert smooth["bounded"].astype(bool).all() and not df["failed"].any()
    benchmark.pedantic(F.accuracy, args=(F.CASES, {method: run}), rounds=ROUNDS, iterations=1)
