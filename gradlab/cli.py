"""The ``gradlab`` command: ``gradlab report`` and ``gradlab check``.

Exit status (the same table for both subcommands, in their ``--help``):

- 0: success (``check``: the gradient check passed; ``report``: written, or ``--verify``
  found the folder whole);
- 1: ``check``: the gradient check failed; ``report --verify``: the folder is not the set
  its manifest describes;
- 2: a usage error, found before any work: a bad option value, a step ``f`` cannot resolve,
  a network or batch that cannot fit in memory, a scheduler that does not answer, an output
  folder the report may not publish into, another report writing there.  One line on
  stderr names the option and the value;
- 3: ``check``: the check could not tell (inconclusive);
- 4: an internal error (a bug in gradlab): one line, ``internal error: ...``; ``--debug``
  shows the traceback instead;
- 130 / 143: interrupted by SIGINT (Ctrl-C) / SIGTERM, after cleaning up.

A closed output pipe (``gradlab check | head -1``) ends quietly.
"""

from __future__ import annotations

import argparse
import inspect
import os
import re
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from . import __version__, parallel
from . import _validate as v
from .backends import StepUnresolvedError, check_references
from .check import gradcheck
from .experiments.cost import from_benchmark_json
from .experiments.layercost import model as layer_model
from .nn import ACTIVATIONS, LOSSES, MLP, OUTPUT_ONLY
from .report import Config, FolderRefused, ReportBusyError, build, destination, verify
from .report.publish import Terminated

EXIT_CODES = """\
exit status:
  0  success{ok}
  1  {one}
  2  usage error, found before any work (one line naming the option and the value)
  3  {three}
  4  internal error in gradlab (one line; --debug shows the traceback)
  130, 143  interrupted by SIGINT, SIGTERM (after cleaning up)"""

# a scheduler address must answer within this many seconds, or it is a usage error
SCHEDULER_TIMEOUT = 3.0

# options that take a number: a value such as -1e-3 is theirs, not an option
_NUMERIC = {"--h", "--l2", "--seed", "--batch", "--directions", "--repeats", "--sizes", "--widths", "--width"}
_NUMBER = re.compile(r"-(\d|\.\d|inf|nan)", re.IGNORECASE)


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error on one line: ``gradlab check: argument --h: ...``."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _default(fn, name: str):
    """The default of ``fn``'s parameter ``name``: the command line reads its defaults from the
    functions it calls, so the two cannot drift."""
    return inspect.signature(fn).parameters[name].default


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.replace(" ", "").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers such as 4,16,3; got {text!r}") from None
    if len(sizes) < 2:
        raise argparse.ArgumentTypeError(f"must be at least two positive widths such as 4,16,3; got {text!r}")
    for i, w in enumerate(sizes, start=1):
        if w < 1:
            raise argparse.ArgumentTypeError(f"every width must be a positive integer; got {text!r} (width {i} is {w})")
    return sizes


def _widths(text: str) -> list[int]:
    """One or more positive widths (the cost ladder)."""
    try:
        widths = [int(s) for s in text.replace(" ", "").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers such as 4,16,64; got {text!r}") from None
    for i, w in enumerate(widths, start=1):
        if w < 1:
            raise argparse.ArgumentTypeError(f"every width must be a positive integer; got {text!r} (width {i} is {w})")
    return widths


def _typed(parse, check):
    """An argparse type: parse the text, then the validation layer's check (its message, minus the name)."""

    def convert(text: str):
        try:
            value = parse(text)
        except ValueError:
            kind = "an integer" if parse is int else "a number"
            raise argparse.ArgumentTypeError(f"must be {kind}; got {text!r}") from None
        try:
            return check("value", value)
        except (TypeError, ValueError) as exc:
            raise argparse.ArgumentTypeError(str(exc).replace("`value` ", "")) from None

    convert.__name__ = check.__name__  # argparse names the type in "invalid ... value"
    return convert


_nonneg_float = _typed(float, v.nonnegative_float)
_positive_float = _typed(float, v.positive_float)
_positive_int = _typed(int, v.positive_int)
_seed = _typed(int, v.seed)


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
    """A scheduler that can be used now: dask importable, and an address that answers."""
    try:
        parallel.check("--scheduler", text)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("`--scheduler` ", "")) from None
    try:
        import dask  # noqa: F401

        if text not in parallel.LOCAL:
            import distributed  # noqa: F401
    except ImportError:
        raise argparse.ArgumentTypeError(f"{text!r} needs dask: pip install 'gradlab[dask]'") from None
    if text not in parallel.LOCAL:
        _probe(text)
    return text


def _probe(address: str) -> None:
    """Refuse an address where nothing answers within :data:`SCHEDULER_TIMEOUT` seconds (dask
    itself waits 30 s before saying so).  Only TCP-based schemes can be probed; others pass."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme not in ("tcp", "tls"):
        return
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or port is None:
        raise argparse.ArgumentTypeError(f"must be a scheduler address such as tcp://host:8786; got {address!r}")
    try:
        socket.create_connection((host, port), timeout=SCHEDULER_TIMEOUT).close()
    except OSError as exc:
        why = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise argparse.ArgumentTypeError(
            f"no dask scheduler answers at {address!r} within {SCHEDULER_TIMEOUT:g} s ({why}); start one "
            f"(`dask scheduler`) or check the address"
        ) from None


def _available_memory() -> int | None:
    """Bytes of memory available now (MemAvailable on Linux), None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def _bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    raise AssertionError  # pragma: no cover


def check_memory(sizes: Sequence[int], batch: int, itemsize: int, available: int | None) -> tuple[str, str] | None:
    """``(option, message)`` when a check of this network and batch cannot fit in ``available``
    bytes; None when it can (or nothing is known).

    The estimate, deliberately generous: the parameters, the gradients and the complex-step
    copies take about 8 vectors of N complex values (16 bytes each); the forward and backward
    passes keep about 4 complex copies of every layer's batch of activations.  A check needs
    more than that, never less, so a refusal is never a false alarm by more than these factors.
    """
    n_params = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))
    complex_size = 2 * itemsize

    def need(m: int) -> int:
        return 8 * n_params * complex_size + 4 * m * sum(sizes) * complex_size

    if available is None or need(batch) <= available:
        return None
    # the network's fault when even one sample cannot fit, the batch's otherwise
    option = "--sizes" if need(1) > available else "--batch"
    return option, (
        f"a network of {n_params:,} parameters checked on a batch of {batch:,} needs about "
        f"{_bytes(need(batch))}; {_bytes(available)} is available: use a smaller {option}"
    )


def parser() -> argparse.ArgumentParser:
    net = MLP.__init__
    p = _Parser(
        prog="gradlab",
        description="Finite differences and backpropagation side by side.",
        epilog=EXIT_CODES.format(
            ok="", one="check: the check failed; report --verify: the folder differs", three="check: inconclusive"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    p.add_argument("--debug", action="store_true", help="show the traceback of an internal error")
    sub = p.add_subparsers(dest="command", required=True, metavar="{report,check}")

    def debug(q):
        q.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="traceback of an internal error")

    r = sub.add_parser(
        "report",
        help="run the experiments and write charts, CSVs and index.md",
        description="Run the accuracy sweep, the cost ladder, the gradcheck and bug zoos and the training "
        "comparison, and write their charts, CSVs and index.md into one folder, as one set.  The folder is "
        "the report's own: missing, empty, or an earlier report (recognised by its manifest); it is replaced "
        "in one step, so a reader or a kill sees the old set or the new one, never a mix.",
        epilog=EXIT_CODES.format(
            ok=" (the report written, or --verify: the folder is whole)",
            one="--verify: the folder differs from its manifest (each difference on a line)",
            three="not used by report",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    r.add_argument(
        "--out", type=Path, default=Path("reports"), help="output folder (default: reports/, ignored by git)"
    )
    r.add_argument(
        "--force",
        action="store_true",
        help="replace entries of --out that have a report file's name but are not from an earlier report "
        "(they are moved to <out>.replaced-<time>/ beside it, never deleted); other entries are refused all "
        "the same",
    )
    r.add_argument(
        "--verify",
        type=Path,
        metavar="DIR",
        help="check the report in DIR against the manifest of its index.md and do nothing else",
    )
    size = r.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="the larger ladders (N up to 10^6; several minutes)")
    size.add_argument("--smoke", action="store_true", help="tiny experiments, every file in seconds (to try it out)")
    seed = Config.__dataclass_fields__["seed"].default
    r.add_argument("--seed", type=_seed, default=seed, help=f"seed of networks and data (default: {seed})")
    r.add_argument(
        "--benchmark-json",
        type=_benchmark_json,
        metavar="FILE",
        help="take the cost chart and table from `pytest --benchmark-only --benchmark-json FILE`",
    )
    r.add_argument(
        "--widths",
        type=_widths,
        metavar="W,W,...",
        help="hidden widths of the cost ladder (default: 2..256 quick, 2..700 with --full)",
    )
    r.add_argument(
        "--repeats", type=_positive_int, default=None, help="interleaved timing rounds per size (default: 5 quick)"
    )
    r.add_argument(
        "--scheduler",
        type=_scheduler,
        default=None,
        metavar="ADDRESS|threads|processes",
        help="run the experiments on dask (needs gradlab[dask]; default: serial)",
    )
    r.add_argument("--no-progress", action="store_true", help="no progress lines")
    debug(r)

    c = sub.add_parser(
        "check",
        help="gradcheck backprop of a network given on the command line",
        description="Compare backprop with finite differences on a random network and batch; "
        "print the per-block table; exit 1 if the check fails, 3 if it cannot tell.",
        epilog=EXIT_CODES.format(
            ok=": the check passed", one="the check failed", three="inconclusive: it could not tell"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument(
        "--model",
        choices=["mlp", "cnn", "lstm"],
        default="mlp",
        help="mlp: the network of --sizes; cnn: Conv2d(1, w, 3, padding=1), relu, MaxPool2d(2), Dense on 8x8 "
        "images; lstm: LSTM(4, w), Dense over 6 steps (default: %(default)s)",
    )
    c.add_argument(
        "--width", type=_positive_int, default=2, help="w of --model cnn or lstm: channels or hidden units (default: 2)"
    )
    c.add_argument("--sizes", type=_sizes, default=[4, 16, 3], help="layer widths, e.g. 4,16,16,3 (default: 4,16,3)")
    c.add_argument(
        "--activation", choices=sorted(ACTIVATIONS), default=_default(net, "activation"), help="hidden nonlinearity"
    )
    c.add_argument(
        "--output",
        choices=sorted([*ACTIVATIONS, *OUTPUT_ONLY]),
        default=_default(net, "output"),
        help="output nonlinearity (default: %(default)s)",
    )
    c.add_argument("--loss", choices=sorted(LOSSES), default=_default(net, "loss"), help="(default: %(default)s)")
    c.add_argument("--l2", type=_nonneg_float, default=_default(net, "l2"), help="L2 penalty on the weights")
    c.add_argument("--batch", type=_positive_int, default=32, help="samples in the random batch (default: 32)")
    c.add_argument(
        "--seed", type=_seed, default=_default(gradcheck, "seed"), help="seed of weights, data and directions"
    )
    c.add_argument(
        "--dtype", choices=["float64", "float32"], default=v.float_dtype("dtype", _default(net, "dtype")).name
    )
    c.add_argument(
        "--reference",
        choices=["auto", *check_references()],
        default=_default(gradcheck, "reference"),
        help="reference backend: auto (the complex step, cross-checked, for a network), or any registered "
        "backend that takes a step, third-party ones included, or forward_ad (exact) (default: %(default)s)",
    )
    c.add_argument(
        "--h", type=_positive_float, default=_default(gradcheck, "h"), help="finite-difference step (default: scaled)"
    )
    c.add_argument(
        "--fast", action="store_true", help="random directional derivatives per block first (a handful of evaluations)"
    )
    c.add_argument(
        "--directions",
        type=_positive_int,
        default=_default(gradcheck, "directions"),
        help="random directions per block with --fast (default: %(default)s)",
    )
    c.add_argument(
        "--order",
        type=int,
        choices=[1, 2],
        default=_default(gradcheck, "order"),
        help="1: the gradient; 2: the gradient, then the network's exact HVP per block pair (default: %(default)s)",
    )
    c.add_argument(
        "--scheduler",
        type=_scheduler,
        default=_default(gradcheck, "scheduler"),
        metavar="ADDRESS|threads|processes",
        help="evaluate the reference on dask: a scheduler address (tcp://host:8786) or a local pool "
        "(default: serial; needs gradlab[dask])",
    )
    debug(c)
    p.commands = {"report": r, "check": c}  # their own error() names the subcommand
    return p


def _verify(folder: Path, p) -> int:
    if not folder.is_dir():
        p.error(f"argument --verify: no such folder: {str(folder)!r}")
    problems = verify(folder)
    if problems:
        for problem in problems:
            print(f"{folder}: {problem}")
        return 1
    n = len(os.listdir(folder))
    print(f"{folder}: whole: {n} files, each the one the manifest of its index.md was written with")
    return 0


def _report(args, p) -> int:
    if args.verify is not None:
        return _verify(args.verify, p)
    try:
        destination(args.out, force=args.force)  # before any work; checked again when it starts
    except FolderRefused as exc:
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
        files = build(args.out, config, force=args.force)
    except ReportBusyError as exc:
        p.error(f"argument --out: {exc}")
    except FolderRefused as exc:  # it changed while the report was measured: nothing was touched
        p.error(f"argument --out: {exc}")
    print(f"wrote {len(files)} files to {args.out}/: " + ", ".join(sorted(f.name for f in files.values())))
    return 0


def _layer_network(args, p):
    """The network of ``--model cnn|lstm`` (layers of gradlab.nn); the MLP's own options are refused."""
    for name in ("sizes", "activation", "output", "loss", "l2"):
        if getattr(args, name) != p.get_default(name):
            p.error(f"argument --{name}: --model {args.model} takes --width, not --{name}")
    return layer_model(args.model, args.width, dtype=args.dtype)


def _check(args, p) -> int:
    itemsize = np.dtype(args.dtype).itemsize
    if args.model != "mlp":
        if args.order == 2:  # the layers have no R-operator: nothing to check the Hessian with
            p.error(f"argument --order: 2 checks the MLP's exact HVP; --model {args.model} has none")
        net = _layer_network(args, p)
    else:
        too_big = check_memory(args.sizes, args.batch, itemsize, _available_memory())
        if too_big:
            p.error(f"argument {too_big[0]}: {too_big[1]}")
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
            order=args.order,
        )
    except parallel.SchedulerUnreachable as exc:
        p.error(f"argument --scheduler: {exc}")
    except StepUnresolvedError as exc:  # the step is the user's: f cannot resolve it
        p.error(f"argument --h: {str(exc).replace('`h` = ', '')}")
    print(f"{net!r}, batch {args.batch}, seed {args.seed}, {net.n_params} parameters")
    print(result.message())
    return {"passed": 0, "failed": 1, "inconclusive": 3}[result.status]


def _numbers_as_values(argv: Sequence[str]) -> list[str]:
    """``--h -1e-3`` as ``--h=-1e-3``: argparse would read a negative-looking value that is not a
    plain integer as an option; a numeric option's value is refused with its own message instead."""
    out = list(argv)
    i = 0
    while i < len(out) - 1:
        if out[i] in _NUMERIC and _NUMBER.match(out[i + 1]):
            out[i : i + 2] = [f"{out[i]}={out[i + 1]}"]
        i += 1
    return out


_CLEAN = {"report": " (nothing half-written is left behind)", "check": ""}


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = parser()
    args = p.parse_args(_numbers_as_values(argv))
    handler = {"report": _report, "check": _check}[args.command]
    prog = f"gradlab {args.command}"
    try:
        return handler(args, p.commands[args.command])
    except BrokenPipeError:
        # the reader went away (`gradlab check | head -1`): stop quietly, and keep Python
        # from complaining again when it flushes stdout at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"{prog}: interrupted{_CLEAN[args.command]}", file=sys.stderr)
        return 130
    except Terminated as exc:
        print(f"{prog}: terminated{_CLEAN[args.command]}", file=sys.stderr)
        return exc.code
    except Exception as exc:
        if args.debug:
            raise
        text = " ".join(str(exc).split()) or "(no message)"
        print(f"{prog}: internal error: {type(exc).__name__}: {text} (--debug shows the traceback)", file=sys.stderr)
        return 4


if __name__ == "__main__":
    sys.exit(main())
