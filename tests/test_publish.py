"""Publishing the report: what it refuses, what it never touches, and what a kill at any step
leaves (the complete old set or the complete new one, never a mix).

Most tests publish a tiny synthetic set through :class:`Destination` (the same code path as
``gradlab report``); the kill tests run it in a subprocess that loads ``publish.py`` alone
(standard library only, so each costs a Python start-up, not gradlab's imports)."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gradlab import cli
from gradlab.report import assemble
from gradlab.report import publish as P
from gradlab.report.publish import Destination, FolderRefused, ReportBusyError, verify

NAMES = {"a.csv", "cost.png", "index.md"}


def write_set(folder, tag, names=NAMES, *, old_format=False):
    """A report set: every file's content carries ``tag``; index.md ends with the manifest."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    digests = {}
    for name in sorted(set(names) - {"index.md"}):
        (folder / name).write_text(f"{name} of run {tag}\n")
        digests[name] = P.sha256(folder / name)
    body = f"# report {tag}\n"
    (folder / "index.md").write_text(body + P.manifest_block(digests, None if old_format else body))


def writer(tag, names=NAMES):
    return lambda staging: write_set(staging, tag, names)


def snapshot(root):
    """Every path under ``root`` (recursively, links not followed) with its bytes or kind."""
    root = Path(root)
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            out[rel] = "<link>" if p.is_symlink() else "<dir>" if p.is_dir() else p.read_bytes()
    return out


def publish(out, tag, *, force=False, names=NAMES):
    dest = Destination(out, names, force=force)
    dest.preflight()
    with dest.locked():
        notes = dest.repair()
        dest.preflight()
        return notes + dest.publish(writer(tag, names))


def tag_of(folder):
    return (Path(folder) / "index.md").read_text().splitlines()[0].removeprefix("# report ")


# --- what the report refuses, and what it never touches ------------------------------------------


def test_publishes_into_a_missing_folder_and_over_an_earlier_report_leaving_nothing_else(tmp_path):
    out = tmp_path / "deep" / "D"
    publish(out, "1")
    assert verify(out) == [] and tag_of(out) == "1"
    publish(out, "2")
    assert verify(out) == [] and tag_of(out) == "2"
    assert sorted(os.listdir(out)) == sorted(NAMES)
    assert os.listdir(tmp_path / "deep") == ["D"]  # no staging folder, no old set left beside it


def test_foreign_entries_are_refused_even_with_force_and_left_untouched(tmp_path):
    out = tmp_path / "D"
    write_set(out, "old")
    (out / ".tmp-notes").write_text("my notes")
    (out / ".gradlab-staging-x").mkdir()
    (out / ".gradlab-staging-x" / "draft.txt").write_text("my draft")
    before = snapshot(tmp_path)
    for force in (False, True):
        with pytest.raises(FolderRefused, match=r"not files of a report: \.gradlab-staging-x/, \.tmp-notes"):
            publish(out, "new", force=force)
        assert snapshot(tmp_path) == before


def test_the_command_refuses_before_any_work_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(assemble, "measure", lambda *a, **k: pytest.fail("measured a refused folder"))
    out = tmp_path / "D"
    out.mkdir()
    (out / "index.md").write_text("# my own notes\n")
    (out / "cost.png").mkdir()  # a folder in the way of a report file
    (out / "cost.png" / "keep.txt").write_text("mine")
    before = snapshot(tmp_path)
    with pytest.raises(SystemExit) as info:
        cli.main(["report", "--out", str(out), "--smoke", "--no-progress"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "Traceback" not in err and len(err.splitlines()) == 1
    assert "argument --out" in err and "cost.png/, index.md" in err and "--force" in err
    assert snapshot(tmp_path) == before


def test_force_replaces_what_is_in_the_way_and_keeps_it_beside(tmp_path):
    out = tmp_path / "D"
    write_set(out, "old")
    (out / "index.md").write_text("# my own index, not the report's\n")  # an edited index: in the way
    (out / "cost.png").unlink()
    (out / "cost.png").mkdir()
    (out / "cost.png" / "keep.txt").write_text("mine")
    with pytest.raises(FolderRefused, match="pass --force"):
        publish(out, "new")
    notes = publish(out, "new", force=True)
    assert verify(out) == [] and tag_of(out) == "new"
    (kept,) = [p for p in tmp_path.iterdir() if p.name.startswith("D.replaced-")]
    assert any(str(kept) in n for n in notes)
    assert (kept / "index.md").read_text() == "# my own index, not the report's\n"
    assert (kept / "cost.png" / "keep.txt").read_text() == "mine"
    # without a manifest nothing in D was provably gradlab's: a.csv is kept too, not deleted
    assert (kept / "a.csv").read_text() == "a.csv of run old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["D", kept.name]


def test_an_edited_report_file_is_in_the_way(tmp_path):
    out = tmp_path / "D"
    write_set(out, "old")
    (out / "a.csv").write_text("edited by hand\n")
    with pytest.raises(FolderRefused, match=r"holds a\.csv with the names of report files"):
        publish(out, "new")
    assert (out / "a.csv").read_text() == "edited by hand\n"


@pytest.mark.parametrize("where", ["cwd", "home", "ancestor of cwd"])
def test_the_current_and_home_folders_are_refused_even_when_empty(tmp_path, monkeypatch, where):
    inner = tmp_path / "inner"
    inner.mkdir()
    monkeypatch.chdir(inner if where != "home" else tmp_path)
    monkeypatch.setenv("HOME", str(inner))
    out = {"cwd": ".", "home": "~", "ancestor of cwd": ".."}[where]
    with pytest.raises(FolderRefused, match="needs a folder of its own"):
        Destination(out, NAMES).preflight()
    assert os.listdir(inner) == []


def test_a_file_as_folder_and_an_unwritable_parent_are_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(FolderRefused, match="is a file, not a folder"):
        Destination(tmp_path / "f", NAMES).preflight()
    with pytest.raises(FolderRefused, match="not a writable folder"):
        Destination(tmp_path / "f" / "D", NAMES).preflight()


def test_a_staging_name_without_marker_is_not_a_marker(tmp_path):
    """Folders that merely look like gradlab's leftovers, beside D, are left alone."""
    out = tmp_path / "D"
    token = "0123456789abcdef"
    lookalike = tmp_path / f".D.gradlab-staging-{token}"
    lookalike.mkdir()
    (lookalike / "a.csv").write_text("a user's file with a report name")
    forged = tmp_path / ".D.gradlab-staging-fedcba9876543210"
    forged.mkdir()
    (forged / P.MARKER).write_text(f"gradlab staging folder {token}\n")  # another folder's token
    (forged / "cost.png").write_text("mine")
    other = tmp_path / ".D.gradlab-staging-notes"  # not a token at all
    other.mkdir()
    before = snapshot(tmp_path)
    publish(out, "1")
    after = snapshot(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith("D")} == before


def test_a_killed_runs_marked_staging_folder_is_removed_by_the_next_run(tmp_path):
    out = tmp_path / "D"
    publish(out, "1")
    token = "00112233445566aa"
    stale = tmp_path / f".D.gradlab-staging-{token}"
    stale.mkdir()
    (stale / P.MARKER).write_text(f"gradlab staging folder {token}\n")
    (stale / "a.csv").write_text("half written")
    notes = publish(out, "2")
    assert any("left by a killed run" in n for n in notes)
    assert os.listdir(tmp_path) == ["D"] and verify(out) == []


def test_the_folder_keeps_its_permissions(tmp_path):
    out = tmp_path / "D"
    publish(out, "1")
    out.chmod(0o750)
    publish(out, "2")
    assert out.stat().st_mode & 0o777 == 0o750


# --- verify --------------------------------------------------------------------------------------


def test_verify_detects_a_changed_byte_an_edited_index_and_an_extra_file(tmp_path, capsys):
    out = tmp_path / "D"
    publish(out, "1")
    assert cli.main(["report", "--verify", str(out)]) == 0
    assert "whole: 3 files" in capsys.readouterr().out
    data = bytearray((out / "cost.png").read_bytes())
    data[3] ^= 1
    (out / "cost.png").write_bytes(bytes(data))
    assert verify(out) == ["cost.png is not the file index.md was written with"]
    assert cli.main(["report", "--verify", str(out)]) == 1
    assert "cost.png is not the file index.md was written with" in capsys.readouterr().out
    publish(out, "2", force=True)
    text = (out / "index.md").read_text()
    (out / "index.md").write_text(text.replace("# report 2", "# report 3"))
    (out / "notes.txt").write_text("")
    assert verify(out) == [
        "index.md is not the text its manifest was written with",
        "notes.txt is not part of the report",
    ]


def test_verify_of_the_older_manifest_says_what_it_cannot_cover(tmp_path, capsys):
    out = tmp_path / "D"
    write_set(out, "old", old_format=True)  # gradlab 0.2's manifest: no line for index.md
    problems = verify(out)
    assert len(problems) == 1 and "older manifest" in problems[0] and "write the report again" in problems[0]
    assert cli.main(["report", "--verify", str(out)]) == 1
    publish(out, "new")  # still recognised as an earlier report
    assert verify(out) == [] and os.listdir(tmp_path) == ["D"]


def test_verify_of_a_missing_folder_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["report", "--verify", str(tmp_path / "nothing")])
    assert info.value.code == 2 and "argument --verify: no such folder" in capsys.readouterr().err


# --- kills, interrupts, concurrency ---------------------------------------------------------------

# runs of publish.py alone (a small process without threads, so fork is safe and fast): for every
# step number k, a forked child publishes into its own folder and kills itself (SIGKILL) at step k
KILLED = textwrap.dedent(
    """
    import importlib.util, os, signal, sys
    from pathlib import Path
    spec = importlib.util.spec_from_file_location("publish", sys.argv[1])
    P = sys.modules["publish"] = importlib.util.module_from_spec(spec); spec.loader.exec_module(P)
    sys.path.insert(0, sys.argv[2]); import helpers
    root, n, force, exchange = Path(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1", sys.argv[6] == "1"
    P._USE_EXCHANGE = exchange
    for k in range(1, n + 1):
        pid = os.fork()
        if pid == 0:
            steps = []
            def hook(step):
                steps.append(step)
                if len(steps) == k:
                    os.kill(os.getpid(), signal.SIGKILL)
            P._STEP_HOOK = hook
            dest = P.Destination(root / f"k{k}" / "D", helpers.NAMES, force=force)
            with dest.locked():
                dest.repair(); dest.preflight(); dest.publish(helpers.writer("new"))
            os._exit(0)  # not killed: the test sees status 0
        _, status = os.waitpid(pid, 0)
        print(k, status)
    """
)

HELPERS = textwrap.dedent(
    """
    from pathlib import Path
    import importlib.util, sys
    P = sys.modules["publish"]
    NAMES = {names!r}
    def writer(tag):
        def write(folder):
            digests = {{}}
            for name in sorted(NAMES - {{"index.md"}}):
                (folder / name).write_text(f"{{name}} of run {{tag}}\\n")
                digests[name] = P.sha256(folder / name)
            body = f"# report {{tag}}\\n"
            (folder / "index.md").write_text(body + P.manifest_block(digests, body))
        return write
    """
).format(names=NAMES)


def _steps(tmp_path, scenario):
    """The steps of one publish in ``scenario``, recorded in-process."""
    out = _prepare(tmp_path / "dry", scenario)
    steps = []
    P._STEP_HOOK, P._USE_EXCHANGE = steps.append, scenario != "fallback"
    try:
        publish(out, "new", force=scenario == "force")
    finally:
        P._STEP_HOOK, P._USE_EXCHANGE = None, True
    return steps


def _prepare(root, scenario):
    root.mkdir()
    out = root / "D"
    if scenario != "missing":
        write_set(out, "old")
    if scenario == "force":
        (out / "cost.png").unlink()
        (out / "cost.png").mkdir()
        (out / "cost.png" / "keep.txt").write_text("mine")
    return out


def _kill_sweep(tmp_path, scenario):
    (tmp_path / "helpers.py").write_text(HELPERS)
    steps = _steps(tmp_path, scenario)
    assert "switched" in steps and len(steps) >= 3
    for k in range(1, len(steps) + 1):
        _prepare(tmp_path / f"k{k}", scenario)
    flags = [str(int(scenario == "force")), str(int(scenario != "fallback"))]
    run = subprocess.run(
        [sys.executable, "-c", KILLED, P.__file__, str(tmp_path), str(tmp_path), str(len(steps)), *flags],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    statuses = dict(line.split() for line in run.stdout.splitlines())
    for k in range(1, len(steps) + 1):
        out = tmp_path / f"k{k}" / "D"
        assert os.WIFSIGNALED(int(statuses[str(k)])), f"not killed at step {k} ({steps[k - 1]})"
        step = steps[k - 1]
        new = steps.index("switched") < k
        if scenario == "force":
            # the user's folder in the way is in D or beside it, intact, exactly once
            copies = [p for p in out.parent.glob("*/cost.png/keep.txt")]
            assert [p.read_text() for p in copies] == ["mine"], step
        if scenario == "force" and not new:  # the old set was never whole (cost.png was the user's)
            assert tag_of(out) == "old" and set(os.listdir(out)) <= NAMES
        elif out.exists():  # the old set or the new one, whole, and nothing else in it
            assert verify(out) == [], f"killed after {step}"
            assert tag_of(out) == ("new" if new else "old") and sorted(os.listdir(out)) == sorted(NAMES)
        else:  # only where there was none, or between the fallback's two renames
            assert scenario == "missing" or (scenario == "fallback" and step == "moved aside"), step
        was = tag_of(out) if out.exists() else None
        repaired = Destination(out, NAMES, force=scenario == "force")
        with repaired.locked():
            repaired.repair()
        if was is not None:
            assert tag_of(out) == was  # repair does not undo a publish
        elif scenario == "fallback":
            assert tag_of(out) == "old" and verify(out) == []  # put back
        left = sorted(os.listdir(out.parent))
        assert left[:1] == ["D"] or (scenario == "missing" and left == []), (step, left)
        assert all(scenario == "force" and name.startswith("D.replaced-") for name in left[1:]), (step, left)


@pytest.mark.parametrize("scenario", ["missing", "earlier report"])
def test_sigkill_at_every_step_leaves_a_whole_set(tmp_path, scenario):
    _kill_sweep(tmp_path, scenario)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["force", "fallback"])
def test_sigkill_at_every_step_leaves_a_whole_set_with_force_and_without_exchange(tmp_path, scenario):
    _kill_sweep(tmp_path, scenario)


def test_the_fallback_publishes_and_its_repair_puts_the_old_set_back(tmp_path, monkeypatch):
    monkeypatch.setattr(P, "_USE_EXCHANGE", False)
    out = tmp_path / "D"
    publish(out, "1")
    publish(out, "2")
    assert verify(out) == [] and tag_of(out) == "2" and os.listdir(tmp_path) == ["D"]
    aside = tmp_path / ".D.gradlab-old-0123456789abcdef"
    out.rename(aside)  # what a kill between the two renames leaves
    notes = publish(out, "3")
    assert any("put back" in n for n in notes) and tag_of(out) == "3" and os.listdir(tmp_path) == ["D"]


def _fake_report(monkeypatch):
    """``gradlab report`` with its experiments and files replaced by a tiny set of the same names."""
    monkeypatch.setattr(assemble, "measure", lambda *a, **k: {})

    def render(staging, config, sections, data):
        write_set(staging, "new", assemble.files_of(sections))

    monkeypatch.setattr(assemble, "render", render)


@pytest.mark.parametrize("at", ["staged", "switched", "removed index.md"])
def test_sigint_during_publishing_leaves_a_whole_set_and_no_traceback(tmp_path, monkeypatch, capsys, at):
    _fake_report(monkeypatch)
    out = tmp_path / "D"
    write_set(out, "old", assemble.files_of())

    def interrupt(step):
        if step == at:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, in the middle of it

    monkeypatch.setattr(P, "_STEP_HOOK", interrupt)
    # Ctrl-C's usual handler, whatever pytest was started with: a shell without job control starts
    # its background commands with SIGINT ignored, and then the kill above would do nothing
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code = cli.main(["report", "--out", str(out), "--smoke", "--no-progress"])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert code == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip() == "gradlab report: interrupted (nothing half-written is left behind)"
    assert verify(out) == [] and tag_of(out) == ("old" if at == "staged" else "new")
    assert os.listdir(tmp_path) == ["D"]  # the held signal came after the old set was removed


def test_a_second_run_is_refused_cleanly_while_the_first_holds_the_folder(tmp_path, monkeypatch, capsys):
    _fake_report(monkeypatch)
    out = tmp_path / "D"
    write_set(out, "old", assemble.files_of())
    before = snapshot(tmp_path)
    with Destination(out, NAMES).locked():
        with pytest.raises(SystemExit) as info:
            cli.main(["report", "--out", str(out), "--smoke", "--no-progress"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "another `gradlab report` is writing" in err and "Traceback" not in err
    assert snapshot(tmp_path) == before


CONCURRENT = textwrap.dedent(
    """
    import importlib.util, sys, time
    from pathlib import Path
    spec = importlib.util.spec_from_file_location("publish", sys.argv[1])
    P = sys.modules["publish"] = importlib.util.module_from_spec(spec); spec.loader.exec_module(P)
    sys.path.insert(0, sys.argv[2]); import helpers
    out, tag, ready, go = Path(sys.argv[3]), sys.argv[4], Path(sys.argv[5]), Path(sys.argv[6])
    def slow(folder):  # holds the folder until the test says go
        helpers.writer(tag)(folder); ready.write_text("writing")
        deadline = time.monotonic() + 60
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    dest = P.Destination(out, helpers.NAMES)
    try:
        with dest.locked():
            dest.repair(); dest.preflight(); dest.publish(slow)
    except P.ReportBusyError as exc:
        print(exc); sys.exit(2)
    """
)


def test_two_concurrent_runs_never_mix(tmp_path):
    (tmp_path / "helpers.py").write_text(HELPERS)
    out = tmp_path / "runs" / "D"
    write_set(out, "old")

    go = tmp_path / "go"

    def start(tag):
        ready = tmp_path / f"{tag}.ready"
        args = [P.__file__, str(tmp_path), str(out), tag, str(ready), str(go)]
        return subprocess.Popen([sys.executable, "-c", CONCURRENT, *args], stdout=subprocess.PIPE, text=True), ready

    first, ready = start("first")
    deadline = time.monotonic() + 30
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    second, _ = start("second")
    assert second.wait(timeout=30) == 2 and "another `gradlab report`" in second.stdout.read()
    assert verify(out) == [] and tag_of(out) == "old"  # the first has not switched yet
    go.write_text("go")
    assert first.wait(timeout=30) == 0
    assert verify(out) == [] and tag_of(out) == "first" and os.listdir(out.parent) == ["D"]


def test_a_report_run_that_fails_leaves_no_folder_it_created(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(assemble, "measure", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    assert cli.main(["report", "--out", str(tmp_path / "a" / "b" / "D"), "--smoke", "--no-progress"]) == 4
    assert "internal error: RuntimeError: boom" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_busy_error_is_raised_by_the_lock(tmp_path):
    dest = Destination(tmp_path / "D", NAMES)
    with dest.locked(), pytest.raises(ReportBusyError), Destination(tmp_path / "D", NAMES).locked():
        pass


def test_a_folder_that_changes_while_the_report_is_measured_is_refused_at_the_switch(tmp_path):
    out = tmp_path / "D"
    publish(out, "old")
    dest = Destination(out, NAMES)
    dest.preflight()

    def write_while_the_user_adds_a_file(staging):
        write_set(staging, "new")
        (out / "notes.txt").write_text("added while the report ran")

    with dest.locked(), pytest.raises(FolderRefused, match=r"notes\.txt"):
        dest.publish(write_while_the_user_adds_a_file)
    assert tag_of(out) == "old" and (out / "notes.txt").read_text() == "added while the report ran"
    assert os.listdir(tmp_path) == ["D"]  # the staging folder is gone


def test_the_fallback_puts_the_old_set_back_when_its_second_rename_fails(tmp_path, monkeypatch):
    out = tmp_path / "D"
    publish(out, "old")
    monkeypatch.setattr(P, "_USE_EXCHANGE", False)
    real, failed = os.rename, []

    def second_fails(src, dst):
        if Path(dst) == out and ".gradlab-staging-" in str(src):  # the new set's rename into place
            failed.append(src)
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(P.os, "rename", second_fails)
    with pytest.raises(OSError, match="No space left"):
        publish(out, "new")
    monkeypatch.setattr(P.os, "rename", real)
    assert len(failed) == 1 and verify(out) == [] and tag_of(out) == "old" and os.listdir(tmp_path) == ["D"]


def test_the_command_with_force_replaces_an_own_index_and_says_where_it_is(tmp_path, monkeypatch, capsys):
    _fake_report(monkeypatch)
    out = tmp_path / "D"
    out.mkdir()
    (out / "index.md").write_text("# my own notes\n")
    assert cli.main(["report", "--out", str(out), "--force", "--smoke", "--no-progress"]) == 0
    captured = capsys.readouterr()
    (kept,) = [p for p in tmp_path.iterdir() if p.name != "D"]
    assert f"gradlab report: replaced index.md: kept in '{kept}'" in captured.err
    assert (kept / "index.md").read_text() == "# my own notes\n" and os.listdir(kept) == ["index.md"]
    assert verify(out) == [] and f"wrote {len(assemble.files_of())} files" in captured.out
