"""Publishing the report as one set: a folder of its own, swapped in whole, never a mix.

The rules, in the order a run meets them:

- **The folder is the report's own.**  ``D`` (``--out``) may be missing, empty, or hold an
  earlier report, recognised by the manifest at the end of its ``index.md`` (each file's
  name and SHA-256, and the digest of ``index.md``'s own text).  Anything else in ``D`` is
  refused before any work (:class:`FolderRefused`, exit 2 on the command line):

  * an entry whose name is a report file's but which is not the earlier report's (your own
    ``index.md``, an edited ``cost.png``, a folder or a link named ``cost.png``) is *in the
    way*: refused unless ``force``.  With ``force`` it is replaced, never deleted: the
    replaced entries end up in a visible sibling folder ``<D>.replaced-<time>``.
  * an entry whose name is not a report file's (``notes.txt``, ``.tmp-notes``, a folder
    ``.gradlab-staging-x``) is *foreign*: always refused, ``force`` or not, because the
    switch below swaps the whole folder and would carry it away.
  * ``D`` that is the current folder, the home folder, one of their ancestors, ``/`` or a
    mount point is refused even when empty: swapping it would pull the folder out from under
    a shell (``--out .``, ``--out ~``), or cannot be done (a mount point).

- **Built beside, switched in one step.**  The set is written into a sibling staging folder
  ``<D.parent>/.<D.name>.gradlab-staging-<token>/``, which carries a marker file holding its
  token while it is being written (a name alone proves nothing; the marker does).  When it is
  whole, the marker is removed and the staging folder and ``D`` are exchanged in one system
  call (Linux ``renameat2(RENAME_EXCHANGE)``, glibc >= 2.28), or renamed into place with one
  ``rename`` when ``D`` does not exist yet.  A reader, or a SIGKILL at any instant, sees the
  complete old set or the complete new one.  Where the exchange is not supported (another
  OS, a file system without it) the fallback is two renames, ``D`` aside then the new set in:
  a kill between them leaves ``D`` missing for a moment, never mixed, and the next run puts
  the old set back.
- **The old set is removed only where it is provably gradlab's**: after the switch it sits at
  the staging path, and only files that match its manifest are deleted (``index.md`` last,
  so a removal cut short can be finished by the next run).
- **Signals.**  SIGINT and SIGTERM are held during the switch and the removal (milliseconds)
  and delivered after it; SIGKILL cannot be held, and needs no care by the design above.
- **One writer at a time.**  :meth:`Destination.locked` takes an exclusive ``flock`` on the
  parent folder (it outlives the swap, unlike ``D`` itself); a second run is refused at once
  (:class:`ReportBusyError`).  The cost: two reports into sibling folders of one parent
  cannot run at the same moment.
- **Repair.**  A killed run may leave a staging folder (marked: partly written; unmarked:
  a whole set, old or new, or an emptied one).  The next run, holding the lock, removes the
  files of it that are gradlab's and the folder when that empties it; anything else found
  there is moved to a visible ``<D>.replaced-<time>`` folder, never deleted.  A folder that
  only has the staging folder's name (no marker, no manifest) is left alone unless empty.

This module uses the standard library only.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import os
import re
import secrets
import signal
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

INDEX = "index.md"
MARKER = ".gradlab-staging"
STAGING = ".gradlab-staging-"
ASIDE = ".gradlab-old-"
MANIFEST_START = "<!-- gradlab manifest: the files of this report and their SHA-256"
MANIFEST_END = "-->"
# what the marker file of a staging folder holds: its own token, so a copied or forged marker
# (another folder's token, or none) proves nothing
_MARKER_TEXT = "gradlab staging folder {token}\n"
_TOKEN = re.compile("[0-9a-f]{16}")

#: test hook: called with the name of every step of publishing and repairing (tests kill the
#: process there); None in normal use
_STEP_HOOK: Callable[[str], None] | None = None
#: tests set False to exercise the two-rename fallback
_USE_EXCHANGE = True


class ReportBusyError(RuntimeError):
    """Another run is writing a report into the same folder."""


class FolderRefused(ValueError):
    """The output folder holds what the report must not touch (refused before any work)."""


class Terminated(SystemExit):
    """SIGTERM arrived: unwind (cleaning up) and exit with 128 + 15."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


def _step(name: str) -> None:
    if _STEP_HOOK is not None:
        _STEP_HOOK(name)


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
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM held for the block and delivered when it ends (so Ctrl-C raises
    KeyboardInterrupt after the switch, not inside it).

    Held by a Python handler that only records them, not by a signal mask: a mask on the main
    thread would not hold a signal the kernel hands to another thread (numpy's BLAS threads),
    whose Python-level effect still lands in the main thread at once.  Only the main thread can
    set handlers; elsewhere the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def hold(signum, frame):
        pending.append(signum)

    previous = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for s in dict.fromkeys(pending):
            signal.raise_signal(s)  # now, to the handler that was in force before


# --- the manifest ------------------------------------------------------------------------------


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def manifest_block(digests: Mapping[str, str], body: str | None = None) -> str:
    """The manifest appended to ``index.md``: one ``name sha256`` line per other file, and,
    given ``body`` (the text of ``index.md`` before the manifest), a line for ``index.md``
    (gradlab 0.2 wrote manifests without that line; :func:`verify` says so)."""
    entries = dict(digests)
    if body is not None:
        entries[INDEX] = _text_digest(body)
    lines = [MANIFEST_START, *(f"{name} {digest}" for name, digest in sorted(entries.items())), MANIFEST_END]
    return "\n".join(lines) + "\n"


def _read_manifest(folder: Path) -> tuple[dict[str, str], str] | None:
    """``(entries, digest of index.md's text before the manifest)``, or None when ``index.md``
    is not a plain file with a manifest."""
    index = Path(folder) / INDEX
    try:
        if not stat.S_ISREG(index.lstat().st_mode):
            return None
        text = index.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    start = text.rfind(MANIFEST_START)
    if start < 0:
        return None
    body = text[start + len(MANIFEST_START) :].split(MANIFEST_END, 1)[0]
    entries = {}
    for line in body.strip().splitlines():
        name, _, digest = line.partition(" ")
        if not digest or "/" in name or name in ("", ".", ".."):
            return None  # not a manifest gradlab wrote
        entries[name] = digest.strip()
    return entries, _text_digest(text[:start])


def _is_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _owned(folder: Path) -> tuple[set[str], dict[str, str]]:
    """The entries of ``folder`` provably written by gradlab (plain files matching its
    manifest), and the manifest (empty when there is none)."""
    found = _read_manifest(folder)
    if found is None:
        return set(), {}
    entries, index_digest = found
    owned = {
        name for name, d in entries.items() if name != INDEX and _is_file(folder / name) and sha256(folder / name) == d
    }
    if INDEX in entries:
        if entries[INDEX] == index_digest:
            owned.add(INDEX)
    elif all(name in owned for name in entries if (folder / name).exists()):
        # an older manifest that does not cover index.md: trusted when every file it lists that is
        # still there matches (a removal cut short leaves some of them gone)
        owned.add(INDEX)
    return owned, entries


def verify(out: Path) -> list[str]:
    """What is wrong with the report set in ``out`` against the manifest of its ``index.md``:
    files missing, changed, or not of the report.  Empty: one whole set, exactly."""
    out = Path(out)
    if not out.is_dir():
        return [f"{str(out)!r} is not a folder"]
    found = _read_manifest(out)
    if found is None:
        return [f"{INDEX} is missing or has no manifest"]
    entries, index_digest = found
    problems = []
    for name, digest in sorted(entries.items()):
        path = out / name
        if name == INDEX:
            if digest != index_digest:
                problems.append(f"{INDEX} is not the text its manifest was written with")
        elif not path.exists() and not path.is_symlink():
            problems.append(f"{name} is missing")
        elif not _is_file(path):
            problems.append(f"{name} is not a plain file")
        elif sha256(path) != digest:
            problems.append(f"{name} is not the file {INDEX} was written with")
    if INDEX not in entries:
        problems.append(
            f"{INDEX} carries an older manifest, which does not cover {INDEX} itself; "
            "write the report again to verify it whole"
        )
    for name in sorted(set(os.listdir(out)) - set(entries) - {INDEX}):
        problems.append(f"{name} is not part of the report")
    return problems


# --- file-system steps -------------------------------------------------------------------------

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_renameat2_fn = None


def _renameat2():
    global _renameat2_fn
    if _renameat2_fn is None:
        try:
            fn = ctypes.CDLL(None, use_errno=True).renameat2  # glibc >= 2.28
            fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
            fn.restype = ctypes.c_int
        except (OSError, AttributeError):
            fn = False
        _renameat2_fn = fn
    return _renameat2_fn or None


def _rename2(src: Path, dst: Path, flags: int) -> bool:
    """``renameat2(src, dst, flags)``; False where the call or the flag is not supported."""
    fn = _renameat2() if _USE_EXCHANGE else None
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(src), None, str(dst))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on a folder; the rename is atomic all the same
    finally:
        os.close(fd)


def _remove_owned(folder: Path, owned: Iterable[str]) -> None:
    """Delete the files named ``owned`` from ``folder``, ``index.md`` last (while it is there,
    the manifest still tells the next run what is gradlab's)."""
    owned = set(owned)
    for name in sorted(owned - {INDEX}):
        (folder / name).unlink(missing_ok=True)
        _step(f"removed {name}")
    if INDEX in owned:
        (folder / INDEX).unlink(missing_ok=True)
        _step(f"removed {INDEX}")


def _is_ancestor_or_same(a: Path, b: Path) -> bool:
    return a == b or a in b.parents


def _entry_kind(path: Path) -> str:
    try:
        mode = path.lstat().st_mode
    except OSError:
        return "gone"
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "folder"
    return "file" if stat.S_ISREG(mode) else "special file"


def _listing(names: Iterable[str], folder: Path, limit: int = 8) -> str:
    names = sorted(names)
    shown = [f"{n}/" if _entry_kind(folder / n) == "folder" else n for n in names[:limit]]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(shown) + more


@dataclass
class Contents:
    """What the output folder holds, sorted by what the report may do with it."""

    exists: bool
    ours: set[str] = field(default_factory=set)
    in_way: set[str] = field(default_factory=set)
    foreign: set[str] = field(default_factory=set)


class Destination:
    """The output folder of one report run: checked, locked, repaired and published into.

    Parameters
    ----------
    out : path
        The folder ``D``.  A link to a folder is followed (the report goes where it points).
    names : iterable of str
        The file names of the new set (``index.md`` included).
    force : bool
        Replace entries with a report file's name that are not from an earlier report (they
        are moved to ``<D>.replaced-<time>``, never deleted).  Foreign entries are refused
        all the same.
    """

    def __init__(self, out: Path, names: Iterable[str], *, force: bool = False) -> None:
        self.given = Path(out)
        self.out = Path(os.path.realpath(os.path.expanduser(os.fspath(out))))
        self.parent = self.out.parent
        self.names = frozenset(names)
        if INDEX not in self.names:
            raise ValueError(f"a report set needs an {INDEX}; got {sorted(self.names)}")
        self.force = force
        self._created: list[Path] = []
        #: what the user should know about the last :meth:`publish` (replaced entries and where
        #: they are kept), also when it failed half-way
        self.notes: list[str] = []

    # -- what is there ---------------------------------------------------------------------

    def contents(self) -> Contents:
        if not self.out.exists():
            return Contents(exists=False)
        owned, manifest = _owned(self.out)
        c = Contents(exists=True)
        for name in os.listdir(self.out):
            if name in owned:
                c.ours.add(name)
            elif name in self.names or name in manifest:
                c.in_way.add(name)
            else:
                c.foreign.add(name)
        return c

    def preflight(self) -> Contents:
        """Refuse (:class:`FolderRefused`, one line saying what is in the way) a folder the
        report may not publish into; return what it holds.  Reads only: creates nothing."""
        shown = str(self.given)
        out = self.out
        if out.exists() and not out.is_dir():
            raise FolderRefused(f"{shown!r} is a {_entry_kind(out)}, not a folder")
        guarded = [(Path(os.path.realpath(os.getcwd())), "the current folder")]
        with contextlib.suppress(RuntimeError, KeyError):
            guarded.append((Path(os.path.realpath(Path.home())), "your home folder"))
        for path, what in guarded:
            if _is_ancestor_or_same(out, path):
                where = what if out == path else f"an ancestor of {what}"
                raise FolderRefused(
                    f"{shown!r} is {where}: the report replaces its folder as a whole when it publishes, "
                    "so it needs a folder of its own, such as --out reports"
                )
        if out == out.parent or (out.is_dir() and os.path.ismount(out)):
            raise FolderRefused(
                f"{shown!r} is a mount point; give the report a folder inside it, such as {shown}/reports"
            )
        # the staging folder is created beside D: the nearest existing ancestor must be writable
        probe = self.parent
        while not probe.exists():
            probe = probe.parent
        if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
            raise FolderRefused(f"cannot write the report to {shown!r}: {str(probe)!r} is not a writable folder")
        try:
            c = self.contents()
        except OSError as exc:
            raise FolderRefused(f"cannot read {shown!r}: {exc.strerror or exc}") from None
        if c.foreign:
            raise FolderRefused(
                f"{shown!r} holds entries that are not files of a report: {_listing(c.foreign, out)}; the report "
                "replaces its folder as a whole when it publishes, so it needs a folder of its own "
                f"(choose another --out, such as {shown.rstrip('/')}/reports, or move them out)"
            )
        if c.in_way and not self.force:
            raise FolderRefused(
                f"{shown!r} holds {_listing(c.in_way, out)} with the names of report files, not from an earlier "
                f"report (their manifest does not match); move them, or pass --force to replace them (they "
                f"are kept in {self.out.name}.replaced-<time>/ beside it, never deleted)"
            )
        return c

    # -- the lock ------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[Destination]:
        """Create the parent folders if needed and hold the exclusive lock for the block.
        Parent folders created here are removed again if the run leaves them empty."""
        missing = []
        p = self.parent
        while not p.exists():
            missing.append(p)
            p = p.parent
        for p in reversed(missing):
            try:
                p.mkdir()
            except FileExistsError:
                continue
            self._created.append(p)
        fd = os.open(self.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise ReportBusyError(
                        f"another `gradlab report` is writing into {str(self.parent)!r} (to {str(self.given)!r} "
                        "or a folder beside it); wait for it to finish, or write this one elsewhere with --out"
                    ) from None
                raise
            yield self
        finally:
            os.close(fd)  # closing the descriptor releases the lock
            for p in reversed(self._created):
                with contextlib.suppress(OSError):
                    p.rmdir()  # only if still empty: nothing was published there

    # -- leftovers of a killed run -----------------------------------------------------------

    def _leftovers(self) -> list[tuple[Path, str]]:
        prefix = f".{self.out.name}"
        found = []
        for name in sorted(os.listdir(self.parent)):
            for infix in (STAGING, ASIDE):
                if name.startswith(prefix + infix):
                    token = name[len(prefix + infix) :]
                    path = self.parent / name
                    if _TOKEN.fullmatch(token) and _entry_kind(path) == "folder":
                        found.append((path, token))
        return found

    def _replaced_path(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        path = self.parent / f"{self.out.name}.replaced-{stamp}"
        n = 1
        while path.exists() or path.is_symlink():
            n += 1
            path = self.parent / f"{self.out.name}.replaced-{stamp}-{n}"
        return path

    def _clear(self, folder: Path, marked: bool) -> list[str]:
        """Remove from ``folder`` what is gradlab's (manifest-verified files; in a marked staging
        folder also the files of the set being written, and the marker) and the folder if that
        empties it; anything else is moved to a visible ``<D>.replaced-<time>`` folder, never
        deleted.  Returns notes for the user."""
        owned, manifest = _owned(folder)
        if marked:
            owned |= {n for n in (self.names | set(manifest)) if _is_file(folder / n)}
        _remove_owned(folder, owned)
        if marked:
            (folder / MARKER).unlink(missing_ok=True)
            _step("removed marker")
        try:
            folder.rmdir()
            _step("removed folder")
            return []
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        kept = self._replaced_path()
        os.rename(folder, kept)
        return [f"kept {_listing(os.listdir(kept), kept)}, found where gradlab publishes, in {str(kept)!r}"]

    def repair(self) -> list[str]:
        """Finish what a killed run left beside the folder (call it holding the lock): put the
        old set back where the two-rename fallback was cut between its renames, then clear
        every leftover that is provably gradlab's: a staging folder with its marker, one whose
        files match its manifest, or an empty one of exactly gradlab's name (removing an empty
        folder loses nothing).  Anything else is left alone.  Returns what was done."""
        notes = []
        leftovers = self._leftovers()
        if not self.out.exists() and not self.out.is_symlink():
            for path, _ in leftovers:
                owned, manifest = _owned(path)
                if path.name.startswith(f".{self.out.name}{ASIDE}") and manifest and set(os.listdir(path)) <= owned:
                    os.rename(path, self.out)
                    notes.append(f"put back the report a killed run had moved aside to {path.name}")
                    leftovers = self._leftovers()
                    break
        for path, token in leftovers:
            marker = path / MARKER
            marked = _is_file(marker) and marker.read_text(errors="replace") == _MARKER_TEXT.format(token=token)
            if marked or _read_manifest(path) or not os.listdir(path):
                notes += self._clear(path, marked)
                notes.append(f"removed {path.name}, left by a killed run")
        return notes

    # -- publishing ----------------------------------------------------------------------

    def publish(self, write: Callable[[Path], object]) -> list[str]:
        """Write the new set with ``write(staging)`` into a marked staging folder, then switch
        it with the folder in one step and remove the old set (see the module's notes).
        Call it holding the lock, after :meth:`preflight`.  Returns notes for the user."""
        while True:
            token = secrets.token_hex(8)
            staging = self.parent / f".{self.out.name}{STAGING}{token}"
            try:
                os.mkdir(staging)
                break
            except FileExistsError:
                continue
        switched = False
        self.notes.clear()
        try:
            (staging / MARKER).write_text(_MARKER_TEXT.format(token=token), encoding="utf-8")
            write(staging)
            written = set(os.listdir(staging)) - {MARKER}
            if written != self.names:
                raise RuntimeError(f"the report wrote {sorted(written)}, not the files of its set {sorted(self.names)}")
            for name in written:
                _fsync(staging / name)
            _step("staged")
            with _signals_held():
                (staging / MARKER).unlink()
                _step("unmarked")
                problems = verify(staging)
                if problems:
                    raise RuntimeError("the staged report does not match its manifest: " + "; ".join(problems))
                _fsync(staging)
                before = self.preflight()  # again: the folder may have changed while the report was measured
                old = self._switch(staging, before)
                switched = True
                _step("switched")
                _fsync(self.parent)
                if old is not None:
                    self.notes += self._clear(old, marked=False)
                return self.notes
        finally:
            if not switched and staging.exists():
                self._clear(staging, marked=True)

    def _switch(self, staging: Path, before: Contents) -> Path | None:
        """Make ``staging`` the folder; return where the old folder now is (None: nothing to remove)."""
        if before.in_way:
            # --force: entries in the way leave first, one by one, for a visible folder (they were
            # never part of a set, so the old set stays whole while they go)
            kept = self._replaced_path()
            os.mkdir(kept)
            for name in sorted(before.in_way):
                os.rename(self.out / name, kept / name)
                _step(f"kept {name}")
            self.notes.append(f"replaced {_listing(before.in_way, kept)}: kept in {str(kept)!r}")
        if before.exists and not os.listdir(self.out):
            self.out.rmdir()  # nothing to keep: a missing folder, then the new one
            _step("removed empty folder")
            before = Contents(exists=False)
        if not before.exists:
            if not _rename2(staging, self.out, _RENAME_NOREPLACE):
                os.rename(staging, self.out)
            return None
        with contextlib.suppress(OSError):
            os.chmod(staging, stat.S_IMODE(self.out.stat().st_mode))  # D keeps its permissions
        if _rename2(staging, self.out, _RENAME_EXCHANGE):
            return staging
        # fallback: two renames; a kill between them leaves D missing, and repair() puts it back
        aside = self.parent / f".{self.out.name}{ASIDE}{staging.name.rsplit('-', 1)[1]}"
        os.rename(self.out, aside)
        _step("moved aside")
        try:
            os.rename(staging, self.out)
        except BaseException:
            os.rename(aside, self.out)  # the old set back where it was
            raise
        return aside
