"""What the benchmarks measured, as tables: printed after ``pytest --benchmark-only``.

pytest-benchmark's own tables show timings only.  The accuracy groups' point is the error
at each step and the checker groups' point is what each checker catches; both live in
``extra_info``, and this module turns them into small tables, with a third for the torch
group's ratios (called from ``pytest_terminal_summary`` in ``conftest.py``), followed by a
one-line warning for each group whose timings are too spread to trust (:func:`spread_lines`).
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


def torch_lines(benches) -> list[str]:
    """gradlab's time over torch's, per measure (rows) and N (columns), from the torch group."""
    table: dict[str, dict[int, float]] = {}
    for b in benches:
        info = b.extra_info
        if "torch_pair" in info:
            table.setdefault(info["torch_pair"], {})[int(info["n_params"])] = float(info["ratio"])
            if "gemm_floor" in info:  # what the same matrix products alone take: the ratio's floor
                table.setdefault("its GEMMs alone / torch autograd", {})[int(info["n_params"])] = float(
                    info["gemm_floor"]
                )
    if not table:
        return []
    sizes = sorted({n for row in table.values() for n in row})
    width = max(len(m) for m in table) + 2
    lines = [
        "gradlab / torch: median seconds over interleaved rounds, one thread each (below 1: gradlab is faster)",
        f"{'measure':<{width}}" + "".join(f"{f'N = {n:,}':>15}" for n in sizes),
    ]
    for measure, row in table.items():
        lines.append(f"{measure:<{width}}" + "".join(f"{row[n]:>15.3f}" if n in row else f"{'—':>15}" for n in sizes))
    return lines


def write_summary(terminalreporter, config) -> None:
    benches = _benchmarks(config)
    for lines in (accuracy_lines(benches), checker_lines(benches), torch_lines(benches)):
        if lines:
            terminalreporter.write_sep("-", lines[0])
            for line in lines[1:]:
                terminalreporter.write_line(line)


#: a group whose typical benchmark took more than this many times its fastest round in its median
#: round was timed on a busy machine: even idle, the machine's speed flips about 2x
#: (shared/notes/benchmarking.md), so a wider spread than that is other load, not the code.
#: Not max / min: over hundreds of rounds of a microsecond call the slowest is one preempted
#: round even on a quiet machine, which says nothing about the rest.
SPREAD_LIMIT = 2.0


def spread_lines(benches, limit: float = SPREAD_LIMIT) -> list[str]:
    """One warning per group whose median benchmark's median / min round exceeds ``limit``
    (benchmarks of 2 rounds or more), naming the worst benchmark."""
    groups: dict[str, list[tuple[float, str]]] = {}
    for b in benches:
        stats = getattr(b, "stats", None)
        lo, mid, rounds = (getattr(stats, k, None) for k in ("min", "median", "rounds"))
        if not lo or not mid or not rounds or rounds < 2 or lo <= 0:
            continue
        groups.setdefault(b.group or "(no group)", []).append((mid / lo, b.name))
    lines = []
    for group, spreads in sorted(groups.items()):
        ratios = sorted(r for r, _ in spreads)
        typical = ratios[len(ratios) // 2]
        if typical > limit:
            worst, name = max(spreads)
            lines.append(
                f"warning: {group!r}: the median round took {typical:.1f}x the fastest in the typical benchmark "
                f"(up to {worst:.1f}x, {name}); the machine was too busy to trust these timings: rerun when quiet"
            )
    return lines


def write_spread_warnings(terminalreporter, config) -> None:
    for line in spread_lines(_benchmarks(config)):
        terminalreporter.write_line(line, yellow=True)
