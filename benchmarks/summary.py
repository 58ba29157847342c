"""What the benchmarks measured, as tables: printed after ``pytest --benchmark-only``.

pytest-benchmark's own tables show timings only.  The accuracy groups' point is the error
at each step and the checker groups' point is what each checker catches; both live in
``extra_info``, and this module turns them into two small tables (called from
``pytest_terminal_summary`` in ``conftest.py``).
"""

from __future__ import annotations


def _benchmarks(config) -> list:
    session = getattr(config, "_benchmarksession", None)
    return list(getattr(session, "benchmarks", None) or [])


def accuracy_lines(benches) -> list[str]:
    """Relative error against h, one row per (backend, dtype), steps in decreasing order."""
    table: dict[tuple[str, str], dict[float, float]] = {}
    for b in benches:
        info = b.extra_info
        if "h" in info and "rel_error" in info:
            table.setdefault((info["backend"], info["dtype"]), {})[float(info["h"])] = float(info["rel_error"])
    if not table:
        return []
    steps = sorted({h for row in table.values() for h in row}, reverse=True)
    head = f"{'backend':<14}{'dtype':<9}" + "".join(f"{h:>9.0e}" for h in steps)
    lines = ["accuracy: relative error of the gradient against the step h", head]
    for (backend, dtype), row in sorted(table.items()):
        cells = "".join(f"{row[h]:>9.1e}" if h in row else f"{'—':>9}" for h in steps)
        lines.append(f"{backend:<14}{dtype:<9}{cells}")
    return lines


def checker_lines(benches) -> list[str]:
    """Detection and false-alarm rates of each checker, with its evaluations."""
    rows = [b.extra_info for b in benches if "detection_rate" in b.extra_info]
    if not rows:
        return []
    width = max(len(r["checker"]) for r in rows) + 2
    lines = [
        "checkers: detection over the bug zoo, false alarms on correct gradients",
        f"{'checker':<{width}}{'detects':>9}{'false alarms':>14}{'evaluations':>13}",
    ]
    for r in rows:
        lines.append(
            f"{r['checker']:<{width}}{r['detection_rate']:>9.0%}{r['false_alarm_rate']:>14.0%}{r['evaluations']:>13,}"
        )
    return lines


def write_summary(terminalreporter, config) -> None:
    benches = _benchmarks(config)
    for lines in (accuracy_lines(benches), checker_lines(benches)):
        if lines:
            terminalreporter.write_sep("-", lines[0])
            for line in lines[1:]:
                terminalreporter.write_line(line)
