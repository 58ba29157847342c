"""The ``gradlab`` command: ``gradlab report`` and ``gradlab check``.

Exit status: 0 success, 1 a gradient check failed, 2 a usage error (argparse's convention:
any bad option value, found before any work is done), 3 a check that could not tell
(inconclusive).  An unexpected error inside gradlab is reported as such, never as a usage
error; a closed output pipe (``gradlab check | head -1``) ends quietly.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import _validate as v
from . import parallel
from .backends import references
from .check import gradcheck
from .experiments.cost import from_benchmark_json
from .nn import ACTIVATIONS, LOSSES, MLP, OUTPUT_ONLY
from .report import Config, ReportBusyError, build
from .report.publish import check_writable


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers such as 4,16,3; got {text!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"must be at least two positive widths such as 4,16,3; got {text!r}")
    return sizes


def _typed(parse, check):
    """An argparse type: parse the text, then the validation layer's check (its message, minus the name)."""

    def convert(text: str):
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a {parse.__name__}; got {text!r}") from None
        try:
            return check("value", value)
        except (TypeError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc).replace("`value` ", "")) from None

    return convert


_nonneg_float = _typed(float, v.nonnegative_float)
_positive_float = _typed(float, v.positive_float)
_positive_int = _typed(int, v.positive_int)
_seed = _typed(int, v.seed)


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer; got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer; got {text!r}")
    return value


def _benchmark_json(text: str) -> Path:
    """An existing pytest-benchmark JSON file holding cost benchmarks, parsed and checked now."""
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text!r}")
    try:
        from_benchmark_json(path)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return path


def _scheduler(text: str) -> str:
    try:
        return parallel.check("--scheduler", text)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gradlab", description="Finite differences and backpropagation side by side.")
    sub = p.add_subparsers(dest="command", required=True, metavar="{report,check}")

    r = sub.add_parser(
        "report",
        help="run the experiments and write charts, CSVs and index.md",
        description="Run the accuracy sweep, the cost ladder, the gradcheck and bug zoos and the training "
        "comparison, and write their charts, CSVs and index.md into one folder, as one set.",
    )
    r.add_argument(
        "--out", type=Path, default=Path("reports"), help="output folder (default: reports/, ignored by git)"
    )
    size = r.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="the larger ladders (N up to 10^6; several minutes)")
    size.add_argument("--smoke", action="store_true", help="tiny experiments, every file in seconds (to try it out)")
    r.add_argument("--seed", type=_seed, default=0, help="seed of networks and data (default: 0)")
    r.add_argument(
        "--benchmark-json",
        type=_benchmark_json,
        metavar="FILE",
        help="take the cost chart and table from `pytest --benchmark-only --benchmark-json FILE`",
    )
    r.add_argument(
        "--widths",
        type=_sizes,
        metavar="W,W,...",
        help="hidden widths of the cost ladder (default: 2..256 quick, 2..700 with --full)",
    )
    r.add_argument(
        "--repeats", type=_positive_int, default=None, help="interleaved timing rounds per size (default: 5 quick)"
    )
    r.add_argument("--scheduler", default=None, help="scheduler for gradlab.parallel, where installed")
    r.add_argument("--no-progress", action="store_true", help="no progress lines")

    c = sub.add_parser(
        "check",
        help="gradcheck backprop of a network given on the command line",
        description="Compare backprop with finite differences on a random network and batch; "
        "print the per-block table; exit 1 if the check fails.",
    )
    c.add_argument("--sizes", type=_sizes, default=[4, 16, 3], help="layer widths, e.g. 4,16,16,3")
    c.add_argument("--activation", choices=sorted(ACTIVATIONS), default="tanh", help="hidden nonlinearity")
    c.add_argument(
        "--output", choices=sorted([*ACTIVATIONS, *OUTPUT_ONLY]), default="softmax", help="output nonlinearity"
    )
    c.add_argument("--loss", choices=sorted(LOSSES), default="cross_entropy")
    c.add_argument("--l2", type=_nonneg_float, default=0.0, help="L2 penalty on the weights")
    c.add_argument("--batch", type=_positive_int, default=32, help="samples in the random batch")
    c.add_argument("--seed", type=_seed, default=0, help="seed of weights, data and directions")
    c.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    c.add_argument(
        "--reference",
        choices=["auto", *references()],
        default="auto",
        help="reference backend: auto (the complex step, cross-checked, for a network), or any registered "
        "backend that takes a step, third-party ones included (default: auto)",
    )
    c.add_argument("--h", type=_positive_float, default=None, help="finite-difference step (default: scaled)")
    c.add_argument(
        "--fast", action="store_true", help="random directional derivatives per block first (a handful of evaluations)"
    )
    c.add_argument("--directions", type=_positive_int, default=2, help="random directions per block with --fast")
    c.add_argument(
        "--scheduler",
        type=_scheduler,
        default=None,
        metavar="ADDRESS|threads|processes",
        help="evaluate the reference on dask: a scheduler address (tcp://host:8786) or a local pool "
        "(default: serial; needs gradlab[dask])",
    )
    return p


def _report(args, p) -> int:
    try:
        check_writable(args.out)
    except PermissionError as exc:
        p.error(f"argument --out: {exc}")
    extra = {"widths": tuple(args.widths)} if args.widths else {}
    if args.repeats is not None:
        extra["repeats"] = args.repeats
    config = Config.make(
        "full" if args.full else "smoke" if args.smoke else "quick",
        seed=args.seed,
        benchmark_json=args.benchmark_json,
        scheduler=args.scheduler,
        progress=False if args.no_progress else None,
        **extra,
    )
    try:
        files = build(args.out, config)
    except ReportBusyError as exc:
        print(f"gradlab report: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {len(files)} files to {args.out}/: " + ", ".join(sorted(f.name for f in files.values())))
    return 0


def _check(args, p) -> int:
    try:
        net = MLP(
            args.sizes, activation=args.activation, output=args.output, loss=args.loss, l2=args.l2, dtype=args.dtype
        )
    except (TypeError, ValueError) as exc:
        p.error(str(exc))
    X, Y = net.random_batch(args.batch, seed=args.seed)
    theta = net.init(seed=args.seed)
    objective = net.objective(X, Y)
    # every option value is checked before the work starts: a usage error, never a traceback
    if args.h is not None:
        spacing = float(np.spacing(np.abs(theta).max()))
        if args.h <= spacing:
            p.error(
                f"argument --h: {args.h:g} is below the floating-point spacing of the parameters "
                f"({spacing:.3g} in {net.dtype.name} at |theta| = {float(np.abs(theta).max()):.3g}); use a larger step"
            )
    try:
        objective(theta)
    except FloatingPointError as exc:
        p.error(f"the network as given cannot be evaluated (--l2 {args.l2:g}, --sizes, --dtype?): {exc}")
    try:
        result = gradcheck(
            objective,
            theta,
            reference=args.reference,
            h=args.h,
            fast=args.fast,
            directions=args.directions,
            seed=args.seed,
            scheduler=args.scheduler,
        )
    except parallel.SchedulerUnreachable as exc:
        p.error(f"argument --scheduler: {exc}")
    print(f"{net!r}, batch {args.batch}, seed {args.seed}, {net.n_params} parameters")
    print(result.message())
    return {"passed": 0, "failed": 1, "inconclusive": 3}[result.status]


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    handler = {"report": _report, "check": _check}[args.command]
    try:
        return handler(args, p)
    except BrokenPipeError:
        # the reader went away (`gradlab check | head -1`): stop quietly, and keep Python
        # from complaining again when it flushes stdout at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
