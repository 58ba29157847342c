"""Writing the report as a set: staged, published together, locked, and repaired after a crash.

- **One writer per folder.** :func:`locked` takes an exclusive ``fcntl.flock`` on the output
  folder itself for the whole run; a second run into the same folder is refused at once
  with a message that says so (:class:`ReportBusyError`), before it measures anything.
- **Staged, then published.** Every file is written into a private staging folder inside
  the output folder (same file system, so a rename is atomic); when all are written, a
  ``COMPLETE`` marker is written and the files are renamed into place, ``index.md`` last.
  SIGTERM is held back during the renames (milliseconds), so a terminated run leaves either
  the old set or the new one.
- **A manifest.** ``index.md`` ends with the SHA-256 of every file of its set, so a mix of
  two runs is detectable (:func:`verify`).
- **Repair.** A run killed outright (SIGKILL) may leave a staging folder, or a set half
  renamed.  The next run into the folder, holding the lock, first finishes publishing a
  complete staging folder (the renames are idempotent) and deletes an incomplete one
  (:func:`repair`), so the folder again holds one whole set.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

STAGING_PREFIX = ".gradlab-staging-"
COMPLETE = "COMPLETE"
INDEX = "index.md"
MANIFEST_START = "<!-- gradlab manifest: the files of this report and their SHA-256"
MANIFEST_END = "-->"


class ReportBusyError(RuntimeError):
    """Another run is writing a report into the same folder."""


class Terminated(SystemExit):
    """SIGTERM arrived: unwind (cleaning up) and exit with 128 + 15."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


def check_writable(out: Path) -> Path:
    """Create ``out`` if needed and prove it writable, before any work is done."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=STAGING_PREFIX + "probe-"):
            pass
    except OSError as exc:
        raise PermissionError(f"cannot write the report to {str(out)!r}: {exc.strerror or exc}") from exc
    return out


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on the folder ``out`` (which must exist) for the block."""
    fd = os.open(out, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise ReportBusyError(
                    f"another `gradlab report` is writing to {str(out)!r}; wait for it to finish, "
                    "or write this one elsewhere with --out"
                ) from None
            raise
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """Inside the block SIGTERM raises :class:`Terminated`, so ``finally`` clauses clean up
    (only in the main thread; elsewhere the block runs unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _sigterm_held() -> Iterator[None]:
    """SIGTERM blocked for the block (delivered when it ends); main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def manifest_block(digests: Mapping[str, str]) -> str:
    """The manifest appended to ``index.md``: one ``name sha256`` line per other file."""
    lines = [MANIFEST_START, *(f"{name} {digest}" for name, digest in sorted(digests.items())), MANIFEST_END]
    return "\n".join(lines) + "\n"


def read_manifest(index: Path) -> dict[str, str] | None:
    """The manifest of ``index.md`` (None when it has none)."""
    try:
        text = Path(index).read_text(encoding="utf-8")
    except OSError:
        return None
    start = text.rfind(MANIFEST_START)
    if start < 0:
        return None
    body = text[start + len(MANIFEST_START) :].split(MANIFEST_END, 1)[0]
    return dict(line.split(" ", 1) for line in body.strip().splitlines() if " " in line)


def verify(out: Path) -> list[str]:
    """What is wrong with the report set in ``out``: files missing, or not the ones its
    ``index.md`` was written with (a mix of two runs).  Empty: one whole set."""
    out = Path(out)
    manifest = read_manifest(out / INDEX)
    if manifest is None:
        return [f"{INDEX} is missing or has no manifest"]
    problems = []
    for name, digest in manifest.items():
        path = out / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif sha256(path) != digest:
            problems.append(f"{name} is not the file {INDEX} was written with")
    return problems


def _stagings(out: Path) -> list[Path]:
    # ".tmp-": the per-file temporaries of gradlab 0.1's writer
    return sorted(p for p in Path(out).iterdir() if p.name.startswith((STAGING_PREFIX, ".tmp-")))


def _publish(staging: Path, out: Path) -> None:
    """Rename every staged file into ``out``, ``index.md`` last, then drop the staging folder.
    Idempotent: a second call after an interruption finishes the job."""
    names = sorted(p.name for p in staging.iterdir() if p.name not in (COMPLETE, INDEX))
    with _sigterm_held():
        for name in [*names, INDEX]:
            src = staging / name
            if src.exists():
                os.replace(src, out / name)
        _fsync_dir(out)
        shutil.rmtree(staging, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def repair(out: Path) -> list[str]:
    """Finish or discard what a killed run left in ``out`` (call it holding the lock).

    A complete staging folder is published (the killed run got that far: its set is whole);
    an incomplete one, and any stray temporary file, is deleted.  Returns what was done.
    """
    done = []
    for stage in _stagings(out):
        if stage.is_dir() and (stage / COMPLETE).is_file():
            _publish(stage, out)
            done.append(f"finished publishing the complete report a killed run left in {stage.name}")
        else:
            if stage.is_dir():
                shutil.rmtree(stage, ignore_errors=True)
            else:
                stage.unlink(missing_ok=True)
            done.append(f"removed {stage.name}, left incomplete by a killed run")
    return done


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A private staging folder in ``out``; on leaving the block without an error its files
    are published as a set; on an error (or SIGTERM) it is removed and ``out`` is untouched."""
    staging = Path(tempfile.mkdtemp(dir=out, prefix=STAGING_PREFIX))
    try:
        os.chmod(staging, 0o777 & ~_umask())
        yield staging
        for p in staging.iterdir():  # mkstemp-like private modes: a report is for reading
            os.chmod(p, 0o666 & ~_umask())
        (staging / COMPLETE).write_bytes(b"")
        _publish(staging, out)
    finally:
        if staging.exists() and not (staging / COMPLETE).exists():
            shutil.rmtree(staging, ignore_errors=True)
