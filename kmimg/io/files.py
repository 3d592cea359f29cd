"""Writing files: atomic writes, commit groups, links, standard output.

Writing goes to a temporary file in the destination folder that is renamed into place, so an
output is either complete or absent. Inside :func:`commit_group` the flushes and renames of many
small files wait for one sync of the whole group.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kmimg._records import frozen
from kmimg.errors import InputError, OutputError

#: The target name of standard output.
STDIO = "-"


def write_atomic(path: str | Path, data: bytes, *, parents: bool = False) -> None:
    """Write ``data`` to ``path`` so that it is either complete or untouched.

    The bytes go to a temporary file in the same folder, are flushed to disk, and the file is
    renamed over ``path``; on any failure the temporary file is removed and ``path`` is left as
    it was. Inside :func:`commit_group` the flush and the rename wait for the group's commit.
    ``parents`` creates the missing folders above ``path`` first.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    group = _GROUP.get()
    # The temporary file's name is known here before the file exists, so that a Ctrl-C at any
    # point after it is created (a KeyboardInterrupt between two bytecodes) still removes it.
    names: list[str] = []
    try:
        handle = _open_temporary(folder, f".{target.name[:64]}.", parents, names)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(handle, view) :]
            if group is None:
                os.fsync(handle)
            os.fchmod(handle, 0o644 & ~_umask())
        finally:
            os.close(handle)
        if group is not None:
            group.pending.append(_Pending(names[-1], target, folder))
            return
        os.replace(names[-1], target)
        _sync_folder(folder)
    except BaseException as exc:
        if group is not None:  # interrupted just after the file joined the group: it leaves it
            group.pending = [entry for entry in group.pending if entry.temp not in names]
        for name in names:
            with contextlib.suppress(OSError):
                os.unlink(name)
        if isinstance(exc, OutputError):
            raise
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write: {exc.strerror or exc}") from None
        raise


def _open_temporary(folder: Path, prefix: str, parents: bool, names: list[str]) -> int:
    """:func:`_create_temporary`, creating the missing folders first with ``parents`` when the
    file could not be created; :class:`OutputError` when it cannot be."""
    # The name is shortened (``prefix``) so that a target near the 255-byte limit still gets a
    # temporary file. The folder exists in the usual case (a batch): the mkdir call and the
    # stat behind it are made only when the file could not be created.
    try:
        try:
            return _create_temporary(folder, prefix, names)
        except OSError:
            if not parents:
                raise
            _make_folders(folder)
            return _create_temporary(folder, prefix, names)
    except OutputError:
        raise  # _make_folders' message names the folder already
    except OSError as exc:
        raise OutputError(f"cannot write in {folder}: {exc.strerror or exc}") from None


_TEMPORARY_NAMES = itertools.count()


def _create_temporary(folder: Path, prefix: str, names: list[str]) -> int:
    """A new file ``<prefix><pid>-<n>.kmimg-tmp`` in ``folder``, created exclusively (what
    ``tempfile.mkstemp`` does, without its ~10 ms import); its name is the last of ``names``,
    appended before the file is created."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        names.append(str(folder / f"{prefix}{os.getpid()}-{next(_TEMPORARY_NAMES)}.kmimg-tmp"))
        try:
            return os.open(names[-1], flags, 0o600)
        except FileExistsError:
            names.pop()  # another process's file: not ours to remove
        except OSError:
            names.pop()  # no file was made
            raise


@frozen
class _Pending:
    """A complete temporary file waiting for its group's commit to be renamed to ``target``."""

    temp: str
    target: Path
    folder: Path


@dataclass
class CommitGroup:
    """The files :func:`write_atomic` wrote while the group was open, not yet in place.

    A batch of small outputs would spend most of its time in two ``fsync`` calls per file; a
    group makes them durable together (one ``syncfs`` per file system) before renaming each
    into place and syncing each folder once. The guarantee is the same: a file appears under
    its name only complete and on disk; until the commit it is only a hidden temporary file.
    """

    pending: list[_Pending] = field(default_factory=list)

    def take(self) -> list[_Pending]:
        """The files written since the last call (to tell which task wrote which)."""
        taken, self.pending = self.pending, []
        return taken

    def commit(self, files: list[_Pending]) -> dict[Path, str]:
        """Put ``files`` in place; returns the targets that could not be, with the reason."""
        failed: dict[Path, str] = {}
        if not files:
            return failed
        placed = 0
        try:
            _sync_data(files)
            for entry in files:
                try:
                    os.replace(entry.temp, entry.target)
                except OSError as exc:
                    failed[entry.target] = f"cannot write: {exc.strerror or exc}"
                    with contextlib.suppress(OSError):
                        os.unlink(entry.temp)
                placed += 1
        finally:  # interrupted: what is not in place yet is removed
            self.discard(files[placed:])
        for folder in dict.fromkeys(entry.folder for entry in files):
            _sync_folder(folder)
        return failed

    @staticmethod
    def discard(files: list[_Pending]) -> None:
        for entry in files:
            with contextlib.suppress(OSError):
                os.unlink(entry.temp)


_GROUP: contextvars.ContextVar[CommitGroup | None] = contextvars.ContextVar("kmimg_group", default=None)


@contextlib.contextmanager
def commit_group() -> Iterator[CommitGroup]:
    """Make :func:`write_atomic` defer its flush and rename to the group's :meth:`~CommitGroup.commit`
    in this block; whatever is still pending when the block ends is discarded (removed)."""
    group = CommitGroup()
    token = _GROUP.set(group)
    try:
        yield group
    finally:
        _GROUP.reset(token)
        group.discard(group.take())


def _sync_data(files: list[_Pending]) -> None:
    """Flush the data of the temporary ``files`` to disk: one ``syncfs`` for the file system of
    each folder on Linux (the kernel writes every dirty page of it at once), else one ``fsync``
    per file."""
    unsynced: list[_Pending] = []
    for folder in dict.fromkeys(entry.folder for entry in files):
        try:
            handle = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            handle = -1
        try:
            if handle < 0 or not _syncfs(handle):
                unsynced.extend(entry for entry in files if entry.folder == folder)
        finally:
            if handle >= 0:
                os.close(handle)
    for entry in unsynced:
        with contextlib.suppress(OSError):
            handle = os.open(entry.temp, os.O_RDONLY)
            try:
                os.fsync(handle)
            finally:
                os.close(handle)


def _syncfs(handle: int) -> bool:
    """``syncfs(2)`` on the file system holding ``handle``; False where it is not available."""
    function = _libc_syncfs()
    return function is not None and function(handle) == 0


@functools.lru_cache(maxsize=1)
def _libc_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        syncfs: Callable[[int], int] = ctypes.CDLL(None, use_errno=True).syncfs
        return syncfs
    except (OSError, AttributeError):
        return None


def link_atomic(path: str | Path, source: str | Path) -> None:
    """Make ``path`` a symbolic link to ``source`` (absolute), replacing what was there in one
    rename: ``path`` is the old entry or the new link, never missing, and no temporary link is
    left behind, whatever interrupts it (Ctrl-C included)."""
    target = Path(path)
    temp = target.with_name(f".{target.name[:64]}.kmimg-link")
    try:
        if os.path.lexists(temp):
            temp.unlink()
        temp.symlink_to(Path(source).resolve())
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            if os.path.lexists(temp):
                temp.unlink()
        if isinstance(exc, OSError):
            raise OutputError(f"cannot link {target}: {exc.strerror or exc}") from None
        raise


def _sync_folder(folder: Path) -> None:
    # Make the rename itself durable (a crash right after could otherwise lose the new name);
    # best effort: not every platform or file system lets a folder be opened and synced.
    with contextlib.suppress(OSError, AttributeError):
        handle = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    # Read once: setting and restoring it for every file costs two system calls each.
    mask = os.umask(0)
    os.umask(mask)
    return mask


@frozen
class OutputFile:
    """An output made in memory by work that never touches the file system (it may have run
    on another machine), for :func:`write_outputs` to put in place.

    ``target`` is a path or ``-`` (standard output). ``refuse_existing``: the overwrite policy
    could only be decided once the work was done (compress-report's best PNG, whose name holds
    the recommended k): an existing target then fails the input instead of being replaced.
    """

    target: str
    data: bytes = field(repr=False)
    refuse_existing: bool = False


def write_outputs(files: Sequence[OutputFile]) -> None:
    """Put an input's outputs in place: every policy checked first (nothing is written if one
    refuses), then each file written atomically, creating missing folders, or to standard
    output for ``-``.

    Several files outside a :func:`commit_group` are committed together (one disk sync for the
    input's files, not two per file); inside one, they join it.
    """
    for file in files:
        if file.refuse_existing and Path(file.target).exists():
            raise OutputError(f"output {file.target} exists (use --force to overwrite)")
    if len(files) > 1 and _GROUP.get() is None:
        with commit_group() as group:
            _write_each(files)
            failed = group.commit(group.take())
        if failed:
            raise OutputError(next(iter(failed.values())))
        return
    _write_each(files)


def _write_each(files: Sequence[OutputFile]) -> None:
    for file in files:
        if file.target == STDIO:
            write_stdout(file.data)
        else:
            write_atomic(file.target, file.data, parents=True)


#: Whether :func:`write_stdout` wrote anything (what :func:`check_stdout_delivered` checks).
_STDOUT_USED: list[bool] = []

#: The one line a closed standard output gives (``kmimg ... | head``).
STDOUT_CLOSED = "standard output was closed before all the data was read (broken pipe)"
#: Standard output not open at all (``>&-``): Python's ``sys.stdout`` is ``None``.
STDOUT_MISSING = "standard output is not open (closed with >&-?)"


def write_stdout(data: bytes) -> None:
    """Write bytes to standard output (used for ``-o -`` and ``--json -``).

    The bytes go to the file descriptor in a loop of ``os.write`` calls: a reader that closes
    the pipe (``| head``) is an :class:`OutputError`, never silently short output. Standard
    output is then pointed at ``/dev/null``, so that the interpreter's own flush at exit
    prints nothing.
    """
    stream = sys.stdout
    if stream is None:
        raise OutputError(STDOUT_MISSING)
    try:
        stream.flush()
        try:
            handle = stream.fileno()
        except (OSError, ValueError):  # not a file (a test's captured stream)
            stream.buffer.write(data)
            stream.buffer.flush()
            return
        stream.buffer.flush()
        view = memoryview(data)
        while view:
            view = view[os.write(handle, view) :]
    except BrokenPipeError:
        _silence_stdout()
        raise OutputError(STDOUT_CLOSED) from None
    _STDOUT_USED.append(True)


def check_stdout_delivered(wait: float = 0.1) -> None:
    """Raise :class:`OutputError` when data written to standard output was lost: the pipe's
    reader is gone and left bytes unread (``kmimg quantize - < a.png | head -c 10``, where the
    whole PNG fit in the pipe before ``head`` exited). Waits up to ``wait`` seconds for a
    reader that has not finished yet: one that reads everything, or is still reading after
    that, is success. Pipes on Linux (``FIONREAD`` and ``POLLERR``); elsewhere only the
    broken-pipe error of :func:`write_stdout` is seen."""
    if not _STDOUT_USED:
        return
    _STDOUT_USED.clear()
    deadline = time.monotonic() + wait
    try:
        handle = sys.stdout.fileno()
        if not stat.S_ISFIFO(os.fstat(handle).st_mode):
            return
        while _pipe_unread(handle) > 0:
            if _pipe_closed(handle):
                _silence_stdout()
                raise OutputError(STDOUT_CLOSED)
            if time.monotonic() > deadline:
                return
            time.sleep(0.002)
    except (OSError, ValueError, ImportError, AttributeError) as exc:
        if isinstance(exc, OutputError):
            raise


def _pipe_unread(handle: int) -> int:
    import fcntl
    import struct
    import termios

    return int(struct.unpack("i", fcntl.ioctl(handle, termios.FIONREAD, b"\0\0\0\0"))[0])


def _pipe_closed(handle: int) -> bool:
    import select

    poller = select.poll()
    poller.register(handle, select.POLLOUT)
    return any(event & select.POLLERR for _, event in poller.poll(0))


def _silence_stdout() -> None:
    with contextlib.suppress(OSError, ValueError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)


def check_writable_folder(folder: Path) -> None:
    """Raise :class:`OutputError` unless files can be created in ``folder``, or in the nearest
    existing folder above it (where the missing ones would be created)."""
    existing = Path(folder) if str(folder) else Path(".")
    while not existing.exists() and existing != existing.parent:
        if existing.is_symlink():
            raise OutputError(f"{folder}: cannot create folder (broken symbolic link)")
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{folder}: cannot create folder ({existing} is not a folder)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{existing}: folder is not writable")


def _make_folders(folder: Path) -> None:
    # One mkdir call when the folder exists (the usual case in a batch), unlike ensure_folder.
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot create folder ({exc.strerror or exc})") from None


def ensure_folder(folder: Path) -> None:
    """Create an output folder (and parents); a clear error if that is impossible."""
    check_writable_folder(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot create folder ({exc.strerror or exc})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{folder}: folder is not writable")


def place_file(source: Path, target: Path, *, copy: bool, force: bool) -> None:
    """Put ``source`` at ``target`` as a symbolic link (or, with ``copy``, an atomic copy).

    An existing ``target`` is kept when it already is that link or an identical copy (a rerun),
    refused without ``force``, and never the source itself.
    """
    if os.path.lexists(target):
        if _already_placed(source, target, copy=copy):
            return
        if not force:
            raise OutputError(f"output {target} exists (use --force to overwrite)")
        if target.exists() and not target.is_symlink() and os.path.samefile(source, target):
            raise OutputError(f"output {target} is the input itself")
    if copy:
        try:
            data = source.read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read: {exc.strerror or exc}") from None
        write_atomic(target, data)
        return
    link_atomic(target, source)


def _already_placed(source: Path, target: Path, *, copy: bool) -> bool:
    """A rerun finds its own link (or an identical copy): nothing to do, nothing clobbered."""
    try:
        if not copy:
            return target.is_symlink() and target.resolve() == source.resolve()
        return not target.is_symlink() and target.read_bytes() == source.read_bytes()
    except OSError:
        return False
