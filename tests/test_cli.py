"""The command line: every usage error is exit 2 and one line naming the option and the value,
before any work; an internal error is exit 4 and one line; --version; the exit codes in --help;
defaults read from the functions the command calls.  In-process (``main([...])``): fast."""

import inspect
import socket

import numpy as np
import pytest

import gradlab
from gradlab import cli
from gradlab.check import gradcheck
from gradlab.nn import MLP
from gradlab.report import Config
from gradlab.report import assemble as build_module


def usage_error(argv, capsys):
    """Run the command; it must exit 2 with one line on stderr and no traceback: that line."""
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    return err


def _closed_port() -> int:
    """A local port where nothing listens (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "argv, option, needle",
    [
        (["report", "--scheduler", "bogus"], "--scheduler", "got 'bogus'"),
        (["check", "--scheduler", "bogus"], "--scheduler", "got 'bogus'"),
        (["check", "--h", "-1e-3"], "--h", "must be a positive finite float; got -0.001"),
        (["check", "--h", "-inf"], "--h", "got -inf"),
        (["check", "--l2", "-1e-3"], "--l2", "got -0.001"),
        (["check", "--h", "abc"], "--h", "must be a number; got 'abc'"),
        (["check", "--directions", "-2"], "--directions", "must be a positive integer; got -2"),
        (["check", "--batch", "-5"], "--batch", "must be a positive integer; got -5"),
        (["check", "--sizes", "4,0,3"], "--sizes", "(width 2 is 0)"),
        (["check", "--sizes", "4,-3,3"], "--sizes", "(width 2 is -3)"),
        (["report", "--widths", "2,0"], "--widths", "(width 2 is 0)"),
        (["report", "--repeats", "-1"], "--repeats", "got -1"),
        (["report", "--seed", "-1"], "--seed", "got -1"),
        (["check", "--sizes", "1000000000000,2"], "--sizes", "2,000,000,000,002 parameters"),
        (["check", "--batch", "1000000000000"], "--batch", "a batch of 1,000,000,000,000"),
        (["check", "--sizes", "3,5,2", "--h", "1e-13"], "--h", "1e-13 is too small for f to resolve"),
    ],
)
def test_every_usage_error_exits_2_with_one_line_naming_its_option(argv, option, needle, capsys, monkeypatch):
    monkeypatch.setattr(build_module, "measure", lambda *a, **k: pytest.fail("measured before validating"))
    err = usage_error(argv, capsys)
    assert f"argument {option}" in err and needle in err


def test_a_scheduler_that_does_not_answer_is_a_usage_error_in_seconds(capsys, monkeypatch):
    pytest.importorskip("distributed")
    import time

    port = _closed_port()
    start = time.monotonic()
    for command in ("check", "report"):
        err = usage_error([command, "--scheduler", f"tcp://127.0.0.1:{port}"], capsys)
        assert "argument --scheduler" in err and f"no dask scheduler answers at 'tcp://127.0.0.1:{port}'" in err
    assert time.monotonic() - start < 2 * cli.SCHEDULER_TIMEOUT + 2  # not dask's 30 s


def test_a_silent_address_is_refused_after_the_timeout(capsys, monkeypatch):
    pytest.importorskip("distributed")

    def silent(address, timeout):
        assert timeout == cli.SCHEDULER_TIMEOUT
        raise TimeoutError("timed out")

    monkeypatch.setattr(cli.socket, "create_connection", silent)
    err = usage_error(["check", "--scheduler", "10.255.255.1:8786"], capsys)
    assert "within 3 s (no answer)" in err


def test_the_memory_estimate_refuses_what_cannot_fit_and_blames_the_right_option():
    assert cli.check_memory([4, 16, 3], 32, 8, available=10**9) is None
    assert cli.check_memory([4, 16, 3], 32, 8, available=None) is None  # unknown: not refused
    option, message = cli.check_memory([10**6, 10**3, 10], 10, 8, available=10**9)
    n = (10**6 + 1) * 10**3 + (10**3 + 1) * 10
    assert option == "--sizes" and f"{n:,} parameters" in message
    # 131 parameters; the batch alone is too much: 4 copies of 1e9 x 23 complex values
    option, message = cli.check_memory([4, 16, 3], 10**9, 8, available=10**9)
    assert (
        option == "--batch"
        and "a batch of 1,000,000,000" in message
        and "about 1.3 TiB; 953.7 MiB is available" in message
    )
    # the estimate, from its formula: 8 complex copies of the parameters + 4 of the activations
    need = 8 * 131 * 16 + 4 * 32 * 23 * 16
    assert cli.check_memory([4, 16, 3], 32, 8, available=need) is None
    assert cli.check_memory([4, 16, 3], 32, 8, available=need - 1) is not None


def test_internal_error_is_one_line_and_exit_4_and_debug_shows_the_traceback(capsys, monkeypatch):
    def boom(*a, **k):
        raise KeyError("a bug\nover two lines")

    monkeypatch.setattr(MLP, "objective", boom)
    assert cli.main(["check", "--sizes", "3,2"]) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gradlab check: internal error: KeyError:")
    with pytest.raises(KeyError):
        cli.main(["--debug", "check", "--sizes", "3,2"])
    with pytest.raises(KeyError):
        cli.main(["check", "--sizes", "3,2", "--debug"])


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out == f"gradlab {gradlab.__version__}\n"


@pytest.mark.parametrize("command", ["report", "check"])
def test_help_lists_every_exit_code(command, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([command, "--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    codes = out[out.index("exit status:") :].splitlines()[1:]
    assert [line.split()[0] for line in codes] == ["0", "1", "2", "3", "4", "130,"]
    if command == "check":
        assert "3  inconclusive" in out
    else:
        assert "--verify" in codes[1] and "--force" in out


def test_defaults_are_the_signatures_defaults():
    def default(fn, name):
        return inspect.signature(fn).parameters[name].default

    args = cli.parser().parse_args(["check"])
    assert args.directions == default(gradcheck, "directions") == 1
    assert args.seed == default(gradcheck, "seed")
    assert args.reference == default(gradcheck, "reference")
    assert args.h == default(gradcheck, "h")
    assert args.scheduler == default(gradcheck, "scheduler")
    for name in ("activation", "output", "loss", "l2"):
        assert getattr(args, name) == default(MLP.__init__, name)
    assert np.dtype(args.dtype) == np.dtype(default(MLP.__init__, "dtype"))
    report = cli.parser().parse_args(["report"])
    assert report.seed == Config.seed and report.debug is False and report.force is False


def test_negative_looking_values_are_values_of_numeric_options_only():
    assert cli._numbers_as_values(["check", "--h", "-1e-3", "--fast"]) == ["check", "--h=-1e-3", "--fast"]
    assert cli._numbers_as_values(["check", "--h", "-x"]) == ["check", "--h", "-x"]  # not a number
    assert cli._numbers_as_values(["report", "--out", "-1"]) == ["report", "--out", "-1"]  # not numeric


def test_the_check_command_still_passes_with_the_signature_defaults(capsys):
    assert cli.main(["check", "--sizes", "3,4,2", "--batch", "4"]) == 0
    assert "gradcheck passed" in capsys.readouterr().out


def test_the_readme_lists_the_same_exit_codes_as_the_help():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme.split("Exit status, the same for both commands")[1].split("\n\n")[1]
    codes = [row.split("|")[1].strip() for row in table.splitlines()[2:]]
    helped = [line.split()[0].rstrip(",") for line in cli.EXIT_CODES.splitlines()[1:]]
    assert codes == ["0", "1", "2", "3", "4", "130, 143"] and helped == ["0", "1", "2", "3", "4", "130"]
    assert f"within {cli.SCHEDULER_TIMEOUT:g} s" in readme


def test_a_refused_report_creates_no_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for argv in (["--scheduler", "bogus"], ["--widths", "0"], ["--out", "a/b/c", "--repeats", "0"]):
        usage_error(["report", *argv], capsys)
    assert list(tmp_path.iterdir()) == []


def test_the_top_level_help_lists_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "exit status:" in out and "4  internal error" in out and "3  check: inconclusive" in out


def test_the_package_version_has_one_source():
    # pyproject reads it from gradlab/__init__.py (hatch's dynamic version): the wheel, `--version` and
    # `gradlab.__version__` can no longer disagree (they did: 0.1.0 against 0.2.0)
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    meta = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert "version" not in meta["project"] and meta["project"]["dynamic"] == ["version"]
    assert meta["tool"]["hatch"]["version"]["path"] == "gradlab/__init__.py"
