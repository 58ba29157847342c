"""The ``gradlab`` command: ``gradlab report`` and ``gradlab check``.

Exit status: 0 success, 1 a gradient check failed, 2 a usage error (argparse's convention).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers such as 4,16,3; got {text!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"must be at least two positive widths such as 4,16,3; got {text!r}")
    return sizes


def _nonneg_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number; got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a non-negative finite number; got {text!r}")
    return value


def _positive_float(text: str) -> float:
    value = _nonneg_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"must be positive; got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {text!r}")
    return value


def _existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {text!r}")
    return path


def _scheduler(text: str) -> str:
    from .parallel import check

    try:
        return check("--scheduler", text)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parser() -> argparse.ArgumentParser:
    from .backends import references
    from .nn.activations import ACTIVATIONS, OUTPUT_ONLY
    from .nn.losses import LOSSES

    p = argparse.ArgumentParser(prog="gradlab", description="Finite differences and backpropagation side by side.")
    sub = p.add_subparsers(dest="command", required=True, metavar="{report,check}")

    r = sub.add_parser(
        "report",
        help="run the sweeps and write charts, CSVs and index.md",
        description="Run the accuracy sweep, the gradcheck zoo and the cost sweep, and write "
        "accuracy.png, cost.png, gradcheck.png, their CSVs and index.md.",
    )
    r.add_argument("--out", type=Path, default=Path("reports"), help="output folder (default: reports/)")
    size = r.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="the larger ladders (N up to 10^6; a few minutes)")
    size.add_argument("--smoke", action="store_true", help="tiny sweeps, every file in seconds (to try the pipeline)")
    r.add_argument("--seed", type=int, default=0, help="seed of networks and data (default: 0)")
    r.add_argument(
        "--benchmark-json",
        type=_existing_file,
        metavar="FILE",
        help="take the cost chart and table from `pytest --benchmark-only --benchmark-json FILE`",
    )
    r.add_argument(
        "--widths",
        type=_sizes,
        metavar="W,W,...",
        help="hidden widths of the cost ladder (default: 2..256 quick, 2..700 with --full)",
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bars")

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
    c.add_argument("--seed", type=int, default=0, help="seed of weights, data and directions")
    c.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    c.add_argument(
        "--reference",
        choices=references(),
        default="central",
        help="finite-difference reference (default: central)",
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
    from .report import Config, build

    try:
        from .report.writer import check_writable

        check_writable(args.out)
    except PermissionError as exc:
        p.error(f"argument --out: {exc}")
    extra = {"widths": tuple(args.widths)} if args.widths else {}
    config = Config.make(
        "full" if args.full else "smoke" if args.smoke else "quick",
        seed=args.seed,
        benchmark_json=args.benchmark_json,
        progress=False if args.no_progress else None,
        **extra,
    )
    try:
        files = build(args.out, config)
    except ValueError as exc:
        p.error(str(exc))
    print(f"wrote {len(files)} files to {args.out}/: " + ", ".join(sorted(f.name for f in files.values())))
    return 0


def _check(args, p) -> int:

    from .check import gradcheck
    from .nn.mlp import MLP
    from .parallel import SchedulerUnreachable

    try:
        net = MLP(
            args.sizes, activation=args.activation, output=args.output, loss=args.loss, l2=args.l2, dtype=args.dtype
        )
    except ValueError as exc:
        p.error(str(exc))
    X, Y = net.random_batch(args.batch, seed=args.seed)
    theta = net.init(seed=args.seed)
    try:
        result = gradcheck(
            net.objective(X, Y),
            theta,
            reference=args.reference,
            h=args.h,
            fast=args.fast,
            directions=args.directions,
            seed=args.seed,
            scheduler=args.scheduler,
        )
    except SchedulerUnreachable as exc:
        p.error(f"argument --scheduler: {exc}")
    print(f"{net!r}, batch {args.batch}, seed {args.seed}, {net.n_params} parameters")
    print(result.message())
    return 0 if result.passed else 1


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    handler = {"report": _report, "check": _check}[args.command]
    return handler(args, p)


if __name__ == "__main__":
    sys.exit(main())
