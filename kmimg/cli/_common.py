"""What every kmimg command shares: exit codes, the one place errors become stderr lines,
input expansion, output naming and overwrite policy, the batch runner, progress and JSON.

Nothing here imports numpy, scikit-learn or Rich at module level: ``kmimg --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future

from kmimg.errors import KmimgError, OutputError, UsageError

#: File name endings a folder scan picks up (case-insensitive). Named files are judged by content.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp"})
STDIO = "-"
#: Longest file name (bytes) on common file systems (ext4, APFS, NTFS in UTF-16 units).
NAME_MAX = 255

T = TypeVar("T")
R = TypeVar("R")


class ExitCode(IntEnum):
    """kmimg's exit codes (documented in the README)."""

    OK = 0
    #: At least one input failed; every other input was processed and written.
    FAILED = 1
    #: Bad usage: unknown option, invalid value, conflicting outputs; nothing was done.
    USAGE = 2
    #: Interrupted by Ctrl-C (SIGINT); no partial file was left behind.
    INTERRUPTED = 130


# ----------------------------------------------------------------------------- reporting


@dataclass
class Reporter:
    """Everything the user sees on stderr: errors, warnings, progress, the summary.

    Bars, tables and colour appear only when stderr is a terminal and ``quiet`` is off; errors
    and warnings always appear, one line each.
    """

    quiet: bool = False
    debug: bool = False
    interactive: bool = field(default_factory=lambda: sys.stderr.isatty())

    @property
    def fancy(self) -> bool:
        return self.interactive and not self.quiet

    def error(self, where: str, reason: str) -> None:
        text = f"{where}: {reason}" if where else reason
        print(f"kmimg: error: {one_line(text)}", file=sys.stderr)

    def warning(self, message: str) -> None:
        print(f"kmimg: warning: {one_line(message)}", file=sys.stderr)

    def console(self) -> Any:
        from rich.console import Console

        return Console(stderr=True, highlight=False)

    @contextlib.contextmanager
    def progress(self, total: int, label: str) -> Iterator[Callable[[str], None]]:
        """A progress bar on stderr for batches of more than one input (terminal only)."""
        if not self.fancy or total < 2:
            yield lambda _name: None
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=self.console(), transient=True) as bar:
            task = bar.add_task(label, total=total)
            yield lambda _name: bar.advance(task)


def one_line(text: str) -> str:
    """``text`` with control characters escaped (a file name may hold a newline), so that each
    message stays one line for scripts reading stderr."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def install_warning_handler(reporter: Reporter) -> None:
    """Show library warnings as single ``kmimg: warning:`` lines, never raw Python text."""

    def show(message: Warning | str, category: type[Warning], *_args: Any, **_kwargs: Any) -> None:
        reporter.warning(_one_line(message, category))

    warnings.showwarning = show


# ----------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class InputItem:
    """One input: ``source`` is a path or ``-``; ``relative`` is its path below the folder it
    was found in (for mirroring into ``--out-dir``), or its bare name."""

    source: str
    relative: Path

    @property
    def is_stdin(self) -> bool:
        return self.source == STDIO

    @property
    def display(self) -> str:
        return "<stdin>" if self.is_stdin else self.source


def expand_inputs(inputs: Sequence[str], *, recursive: bool) -> list[InputItem]:
    """Files as given, folders as their image files (sorted; ``recursive`` descends).

    Inputs that are only folders holding no image are a :class:`UsageError` naming the first
    (``DIR: no images``), so that a script running kmimg over many folders can tell which.
    """
    items: list[InputItem] = []
    for raw in inputs:
        if raw == STDIO:
            items.append(InputItem(STDIO, Path("stdin")))
        elif Path(raw).is_dir():
            items.extend(_scan_folder(Path(raw), recursive=recursive))
        else:
            items.append(InputItem(raw, Path(Path(raw).name)))
    if sum(item.is_stdin for item in items) > 1:
        raise UsageError("'-' (standard input) can be given only once")
    if inputs and not items:  # every other kind of input gives an item: all are empty folders
        raise UsageError(f"{inputs[0]}: no images")
    return items


def _scan_folder(folder: Path, *, recursive: bool) -> list[InputItem]:
    found: list[Path] = []
    _walk(folder, Path(), recursive=recursive, found=found)
    return [InputItem(str(folder / relative), relative) for relative in sorted(found)]


def _walk(folder: Path, below: Path, *, recursive: bool, found: list[Path]) -> None:
    """Image files under ``folder / below`` (relative to ``folder``), skipping hidden names and
    links to folders; one ``scandir`` per folder instead of a ``stat`` per file."""
    try:
        entries = list(os.scandir(folder / below))
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        relative = below / entry.name
        if entry.is_dir(follow_symlinks=False):
            if recursive:
                _walk(folder, relative, recursive=recursive, found=found)
        elif Path(entry.name).suffix.lower() in IMAGE_SUFFIXES and entry.is_file():
            found.append(relative)


# ----------------------------------------------------------------------------- outputs


def output_path(item: InputItem, *, suffix: str, out_dir: Path | None) -> Path:
    """Where an input's output goes by default: ``<stem><suffix>`` in ``out_dir`` (mirroring
    sub-folders of a folder input) or next to the input."""
    name = item.relative.with_name(item.relative.stem + suffix)
    if out_dir is not None:
        return out_dir / name
    return Path(item.source).with_name(name.name)


def check_outputs(pairs: Sequence[tuple[InputItem, Path]], *, force: bool) -> dict[str, str]:
    """Decide before any work which outputs cannot be written.

    Two inputs with the same output, an output that is its own input (also through a symbolic
    or hard link) or any other input, are usage errors (:class:`UsageError`). An output folder
    that cannot be written is an :class:`OutputError`. An existing output without ``force``, or
    an output path that is a folder, fails only that input: the returned mapping gives such
    inputs' reasons. About one ``lstat`` per path: a folder of 10,000 icons is planned in
    milliseconds.
    """
    places = _Places()
    seen: dict[Path, str] = {}
    refused: dict[str, str] = {}
    own: dict[str, set[object]] = {}
    inputs: dict[object, Path] = {}
    for item, _ in pairs:
        if not item.is_stdin:
            keys = places.identities(Path(item.source))
            own[item.source] = set(keys)
            for key in keys:
                inputs.setdefault(key, Path(item.source))
    for item, target in pairs:
        resolved, info = places.resolve(target)
        if resolved in seen:
            raise UsageError(f"{item.display} and {seen[resolved]} would both write {target}")
        seen[resolved] = item.display
        keys = places.identities(target)
        if any(key in own.get(item.source, ()) for key in keys):
            raise UsageError(f"{item.display}: output {target} is the input itself")
        clobbered = next((inputs[key] for key in keys if key in inputs), None)
        if clobbered is not None:
            raise UsageError(f"{item.display}: output {target} is another input ({clobbered})")
        places.check_folder(target.parent)
        if len(os.fsencode(target.name)) > NAME_MAX:
            refused[item.source] = f"output name {target.name} is longer than {NAME_MAX} bytes"
        elif info is not None and stat.S_ISDIR(info.st_mode):
            refused[item.source] = f"output {target} is a folder"
        elif (info is not None or target.is_symlink()) and not force:
            refused[item.source] = f"output {target} exists (use --force to overwrite)"
    return refused


class _Places:
    """Paths resolved with each folder resolved once (``Path.resolve`` walks every component
    of every path: dozens of system calls per file in a folder of thousands)."""

    def __init__(self) -> None:
        self._folders: dict[Path, Path] = {}
        self._writable: set[Path] = set()
        self._known: dict[Path, tuple[Path, os.stat_result | None]] = {}

    def resolve(self, path: Path) -> tuple[Path, os.stat_result | None]:
        """``path.resolve()`` and what it names (followed through a link), or ``None``."""
        known = self._known.get(path)
        if known is None:
            known = self._known[path] = self._look_up(path)
        return known

    def _look_up(self, path: Path) -> tuple[Path, os.stat_result | None]:
        try:
            link = os.lstat(path)
        except OSError:
            link = None
        if link is not None and stat.S_ISLNK(link.st_mode):
            try:
                return path.resolve(), os.stat(path)
            except OSError:
                return path.resolve(), None
        folder = self._folders.get(path.parent)
        if folder is None:
            folder = self._folders[path.parent] = path.parent.resolve()
        return (folder / path.name if path.name not in ("", ".", "..") else path.resolve()), link

    def identities(self, path: Path) -> list[object]:
        """Keys under which two paths name the same file: the resolved path and, for an
        existing file, its device and inode (a hard link has another path, the same inode)."""
        resolved, info = self.resolve(path)
        return [resolved] if info is None else [resolved, (info.st_dev, info.st_ino)]

    def check_folder(self, folder: Path) -> None:
        if folder not in self._writable:
            check_writable_folder(folder)
            self._writable.add(folder)


def check_side_output(destination: str | None, option: str, pairs: Sequence[tuple[InputItem, str]]) -> None:
    """Refuse (:class:`UsageError`) a summary file (``--json PATH``, ``--html PATH``...) that is
    an input or one of the outputs: it would destroy it at the end of the run."""
    if destination is None or destination == STDIO:
        return
    if Path(destination).is_dir():
        raise UsageError(f"{option} {destination} is a folder, not a file")
    taken = _file_identities(Path(item.source) for item, _ in pairs if not item.is_stdin)
    taken.update(_file_identities(Path(target) for _, target in pairs if target != STDIO))
    clash = next((taken[key] for key in _file_identities([Path(destination)]) if key in taken), None)
    if clash is not None:
        raise UsageError(f"{option} {destination} would overwrite {clash}")


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


def _file_identities(paths: Iterable[Path]) -> dict[object, Path]:
    """Keys under which two paths name the same file: the resolved path and, for an existing
    file, its device and inode (a hard link has a different path but the same inode)."""
    keys: dict[object, Path] = {}
    for path in paths:
        keys.setdefault(path.resolve(), path)
        with contextlib.suppress(OSError):
            info = path.stat()
            keys.setdefault((info.st_dev, info.st_ino), path)
    return keys


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def ensure_folder(folder: Path) -> None:
    """Create an output folder (and parents); a clear error if that is impossible."""
    check_writable_folder(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot create folder ({exc.strerror or exc})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(f"{folder}: folder is not writable")


def write_json(document: dict[str, Any], destination: str) -> None:
    """Write a JSON document to a file (atomically) or to stdout for ``-``."""
    from kmimg.io import write_atomic, write_stdout

    text = (json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()
    if destination == STDIO:
        write_stdout(text)
    else:
        write_atomic(destination, text)


# ----------------------------------------------------------------------------- batches


@dataclass(frozen=True)
class Record:
    """What the summary table and the JSON say about one processed input (its JSON fields)."""

    fields: dict[str, Any]

    @property
    def source(self) -> str:
        return str(self.fields["input"])


@dataclass(frozen=True)
class Failure:
    """An input that could not be processed, and why (one line)."""

    source: str
    reason: str
    detail: str = ""


@dataclass
class Outcome(Generic[R]):
    """Results and failures of a batch, in input order."""

    results: list[R] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    interrupted: bool = False


def run_batch(
    tasks: Sequence[T],
    work: Callable[[T], R],
    *,
    name_of: Callable[[T], str],
    reporter: Reporter,
    jobs: int | None = 1,
    fail_fast: bool = False,
    label: str = "working",
    refused: Mapping[str, str] | None = None,
) -> Outcome[R]:
    """Run ``work`` on every task, in worker processes when ``jobs > 1`` (``None``: one per
    core, what ``--jobs`` left out means).

    A task that raises :class:`KmimgError` (or any other exception) becomes a
    :class:`Failure` and the batch goes on, unless ``fail_fast``. Errors are reported on stderr
    as they happen. Results come back in task order whatever the number of jobs. ``refused``
    maps inputs turned down while planning (an existing output, say) to their reasons: they are
    reported first and lead the failures.
    """
    outcome: Outcome[R] = Outcome()
    for source, reason in (refused or {}).items():
        failure = Failure("<stdin>" if source == STDIO else source, reason)
        reporter.error(failure.source, failure.reason)
        outcome.failures.append(failure)
    slots: list[R | Failure | None] = [None] * len(tasks)
    stopping = threading.Event()
    with reporter.progress(len(tasks), label) as advance:
        workers = default_jobs() if jobs is None else jobs
        for index, value, notes in _results(
            tasks, work, jobs=workers, stop=stopping.is_set, fail_fast=fail_fast
        ):
            slots[index] = value
            advance(name_of(tasks[index]))
            for note in notes:
                reporter.warning(note)
            if isinstance(value, Failure):
                reporter.error(value.source, value.reason)
                if reporter.debug and value.detail:
                    print(value.detail, file=sys.stderr, end="")
                # --fail-fast starts nothing new; tasks already running finish and are counted,
                # so every file written is in the results.
                if fail_fast:
                    stopping.set()
    for slot in slots:
        if isinstance(slot, Failure):
            outcome.failures.append(slot)
        elif slot is not None:
            outcome.results.append(slot)
    return outcome


def _results(
    tasks: Sequence[T], work: Callable[[T], R], *, jobs: int, stop: Callable[[], bool], fail_fast: bool
) -> Iterator[tuple[int, R | Failure, tuple[str, ...]]]:
    # Standard input can only be read by this process (workers get /dev/null): run serially.
    reads_stdin = any(getattr(task, "source", None) == STDIO for task in tasks)
    if jobs <= 1 or len(tasks) <= 1 or reads_stdin:
        size = _chunk_size(len(tasks), 1)
        for start in range(0, len(tasks), size):
            if stop():
                return
            done = _run_chunk(work, tasks[start : start + size], stop, fail_fast=fail_fast)
            for offset, outcome in enumerate(done):
                if outcome is not None:
                    yield start + offset, *outcome
        return
    yield from _pooled_results(tasks, work, jobs=jobs, stop=stop, fail_fast=fail_fast)


def _pooled_results(
    tasks: Sequence[T], work: Callable[[T], R], *, jobs: int, stop: Callable[[], bool], fail_fast: bool
) -> Iterator[tuple[int, R | Failure, tuple[str, ...]]]:
    """Tasks in chunks on worker processes, results in task order within each chunk."""
    # Imported here: ~15 ms of start-up that a single-file run does not need.
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    workers = min(jobs, len(tasks))
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    halt = context.Event()  # set by the parent: workers start no further task of their chunks
    executor = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(_threads_per_worker(workers), halt),
    )
    size = _chunk_size(len(tasks), workers)
    chunks = iter(range(0, len(tasks), size))
    pending: dict[Future[list[Outcome1 | None]], int] = {}

    def submit_next() -> None:
        # A chunk queued in the pool cannot be taken back, but a worker starts none of its
        # tasks once `halt` is set: a --fail-fast stop or Ctrl-C starts nothing new.
        if stop():
            halt.set()
            return
        for start in chunks:
            chunk = tasks[start : start + size]
            try:
                future = executor.submit(_chunk_in_worker, work, chunk, fail_fast)
            except BrokenProcessPool as exc:  # a worker died: the rest fail through the same path
                future = Future()
                future.set_exception(exc)
            pending[future] = start
            return

    try:
        for _ in range(2 * workers):  # two chunks per worker: one runs while the next is sent
            submit_next()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: pending[f]):
                start = pending.pop(future)
                chunk = tasks[start : start + size]
                for offset, outcome in enumerate(_chunk_result(future, chunk)):
                    if outcome is not None:
                        yield start + offset, *outcome
                submit_next()
    finally:
        halt.set()
        executor.shutdown(wait=True, cancel_futures=True)


#: One task's value (or failure) and the warnings it raised.
Outcome1 = tuple[Any, tuple[str, ...]]

#: Tasks per chunk at most: small files (icons) cost less than a round trip to a worker each.
_MAX_CHUNK = 32


def _chunk_size(tasks: int, workers: int) -> int:
    """Tasks handed over at a time: one for a few large files, up to :data:`_MAX_CHUNK` for
    thousands of small ones (about 16 chunks per worker)."""
    return max(1, min(_MAX_CHUNK, tasks // (16 * max(1, workers))))


def _run_chunk(
    work: Callable[[T], R], chunk: Sequence[T], stop: Callable[[], bool], *, fail_fast: bool = False
) -> list[Outcome1 | None]:
    """Run the tasks of a chunk in order; ``None`` for a task not started (``stop``, or a
    failure before it with ``fail_fast``).

    With more than one task, the files they write are committed together
    (:func:`kmimg.io.commit_group`: one disk sync for the chunk, not two per file); a file that
    cannot be put in place turns its task into a failure.
    """
    if len(chunk) == 1:
        return [None if stop() else guarded_with_warnings(work, chunk[0])]
    from kmimg.io import commit_group

    done: list[Outcome1 | None] = []
    written: list[list[Any]] = []
    with commit_group() as group:
        try:
            for task in chunk:
                failed_before = fail_fast and any(isinstance(d[0], Failure) for d in done if d is not None)
                if failed_before or stop():
                    done.append(None)
                    continue
                done.append(guarded_with_warnings(work, task))
                written.append(group.take())
        except BaseException:  # Ctrl-C in this process: nothing of the chunk is put in place
            group.discard([entry for entries in written for entry in entries])
            raise
        failed = group.commit([entry for entries in written for entry in entries])
    for index, entries in enumerate(written):  # the started tasks lead the chunk
        reason = next((failed[e.target] for e in entries if e.target in failed), None)
        if reason is not None:
            display = _display(chunk[index])
            done[index] = Failure(display, reason), ()
    return done


def _chunk_in_worker(
    work: Callable[[T], R], chunk: Sequence[T], fail_fast: bool = False
) -> list[Outcome1 | None]:
    # KeyboardInterrupt is raised only while a task runs: write_atomic then removes its temporary
    # file, the rest of the chunk is not started, and the parent, interrupted too, cancels the
    # rest and exits 130. Files the chunk completed before are still committed.
    interrupted: list[int] = []

    def halted() -> bool:
        return bool(interrupted) or (_HALT is not None and _HALT.is_set())

    def guarded_task(task: T) -> R | Failure:
        try:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            try:
                return work(task)
            finally:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            interrupted.append(1)
            return Failure(_display(task), "interrupted")

    return _run_chunk(guarded_task, chunk, halted, fail_fast=fail_fast)


def _display(task: object) -> str:
    source = str(getattr(task, "source", "?"))
    return "<stdin>" if source == STDIO else source


def _chunk_result(future: Future[list[Outcome1 | None]], chunk: Sequence[T]) -> list[Outcome1 | None]:
    # A worker killed outright (out of memory, a crash in a decoder) breaks the pool: its tasks
    # and every task not yet done fail with one line each instead of ending the whole run.
    from concurrent.futures.process import BrokenProcessPool

    try:
        return future.result()
    except BrokenProcessPool:
        reason = "worker process died (out of memory, or a crash in a decoder)"
        return [(Failure(_display(task), reason), ()) for task in chunk]


def _threads_per_worker(workers: int) -> int:
    """Threads each worker process may use so that processes x threads fits the cores."""
    return max(1, default_jobs() // max(1, workers))


#: In a worker process: the parent's signal to start no further task.
_HALT: Any = None


def _init_worker(threads: int = 1, halt: Any = None) -> None:
    global _HALT
    _HALT = halt
    # Ctrl-C reaches the workers too (the whole foreground process group gets SIGINT): an idle
    # worker ignores it (a KeyboardInterrupt in the pool's own loop would print a traceback);
    # a busy one turns it into a Failure of its task (see _guarded_in_worker).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # BLAS/OpenMP pools and kmimg's own engine threads (kmimg._threads reads OMP_NUM_THREADS)
    # share the cores with the other workers: with one worker per core, one thread each.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)


def guarded_with_warnings(work: Callable[[T], R], task: T) -> tuple[R | Failure, tuple[str, ...]]:
    """:func:`guarded`, also collecting the warnings the task raised as one-line messages
    ``<input>: <message>`` (deduplicated), for the parent process to report.

    Recording them here, in whichever process runs the task, keeps worker processes from
    printing raw Python warning text and keeps each warning next to its input.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = guarded(work, task)
    source = str(getattr(task, "source", "?"))
    display = "<stdin>" if source == STDIO else source
    lines = (_one_line(record.message, record.category) for record in caught)
    return value, tuple(dict.fromkeys(f"{display}: {line}" for line in lines))


def _one_line(message: Warning | str, category: type[Warning]) -> str:
    text = str(message).strip()
    return text.splitlines()[0] if text else category.__name__


def guarded(work: Callable[[T], R], task: T) -> R | Failure:
    """Run one task, turning any exception into a :class:`Failure` carrying one line."""
    source = str(getattr(task, "source", "?"))
    display = "<stdin>" if source == STDIO else source
    try:
        return work(task)
    except KmimgError as exc:
        return Failure(display, str(exc))
    except MemoryError:
        return Failure(display, "out of memory")
    except Exception as exc:  # noqa: BLE001 - a bug must not stop the rest of a batch
        return Failure(display, f"internal error: {type(exc).__name__}: {exc}", traceback.format_exc())


def skip_blas_threads() -> None:
    """For commands whose engine does no BLAS work (quantize, compress-report): OpenBLAS starts
    a thread per core when numpy loads (~30 ms of CPU per run); one is enough. A value the
    user set is kept, and nothing changes once numpy is loaded."""
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def default_jobs() -> int:
    """All cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class Stopwatch:
    """Seconds since creation, for the ``seconds`` field of JSON results."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    def seconds(self) -> float:
        return round(time.perf_counter() - self._start, 4)


@contextlib.contextmanager
def boundary(reporter: Reporter) -> Iterator[None]:
    """The one place where errors become a stderr line and an exit code.

    :class:`UsageError` exits 2, any other :class:`KmimgError` 1, Ctrl-C 130; with ``--debug``
    the traceback is shown as well.
    """
    import typer

    install_warning_handler(reporter)
    _silence_library_logs()
    _ignore_file_size_signal()
    try:
        yield
    except UsageError as exc:
        _show_traceback(reporter)
        reporter.error("", str(exc))
        raise typer.Exit(ExitCode.USAGE) from None
    except KmimgError as exc:
        _show_traceback(reporter)
        reporter.error("", str(exc))
        raise typer.Exit(ExitCode.FAILED) from None
    except KeyboardInterrupt:
        reporter.error("", "interrupted")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    except typer.Exit:
        raise  # an exit code already decided inside (finish() in a command), not an error
    except Exception as exc:  # noqa: BLE001 - users never see a traceback without --debug
        _show_traceback(reporter)
        reporter.error("", f"internal error: {type(exc).__name__}: {exc} (rerun with --debug)")
        raise typer.Exit(ExitCode.FAILED) from None


def _silence_library_logs() -> None:
    # Pillow and tifffile log lines of their own before raising on some hostile files ("More
    # samples per pixel than can be decoded"); with no handler configured Python would print
    # them raw. kmimg reports the error itself, once.
    import logging

    for name in ("PIL", "tifffile"):
        logger = logging.getLogger(name)
        if not any(isinstance(handler, logging.NullHandler) for handler in logger.handlers):
            logger.addHandler(logging.NullHandler())
        logger.propagate = False


def _ignore_file_size_signal() -> None:
    # Over a file-size limit (ulimit -f), SIGXFSZ would kill kmimg mid-write and leave a
    # temporary file behind; ignored, the write fails with EFBIG and write_atomic cleans up.
    if hasattr(signal, "SIGXFSZ"):
        with contextlib.suppress(ValueError, OSError):  # ValueError: not the main thread
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _show_traceback(reporter: Reporter) -> None:
    if reporter.debug:
        traceback.print_exc()


def finish(outcome: Outcome[Any]) -> None:
    """Exit with the batch's exit code: 1 when any input failed."""
    import typer

    if outcome.failures:
        raise typer.Exit(ExitCode.FAILED)
