"""What every kmimg command shares: exit codes, the one place errors become stderr lines,
input expansion, output naming and overwrite policy, the batch runner, progress and JSON.

Nothing here imports numpy, scikit-learn or Rich at module level: ``kmimg --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any, Generic, TypeVar

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
    pattern = "**/*" if recursive else "*"
    found = [
        path
        for path in folder.glob(pattern)
        if path.suffix.lower() in IMAGE_SUFFIXES
        and path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    ]
    return [InputItem(str(path), path.relative_to(folder)) for path in sorted(found)]


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
    inputs' reasons.
    """
    seen: dict[Path, str] = {}
    refused: dict[str, str] = {}
    inputs = _file_identities(Path(item.source) for item, _ in pairs if not item.is_stdin)
    for item, target in pairs:
        resolved = target.resolve()
        if resolved in seen:
            raise UsageError(f"{item.display} and {seen[resolved]} would both write {target}")
        seen[resolved] = item.display
        if not item.is_stdin and _same_file(Path(item.source), target):
            raise UsageError(f"{item.display}: output {target} is the input itself")
        clobbered = next((inputs[key] for key in _file_identities([target]) if key in inputs), None)
        if clobbered is not None:
            raise UsageError(f"{item.display}: output {target} is another input ({clobbered})")
        check_writable_folder(target.parent)
        if len(os.fsencode(target.name)) > NAME_MAX:
            refused[item.source] = f"output name {target.name} is longer than {NAME_MAX} bytes"
        elif target.is_dir():
            refused[item.source] = f"output {target} is a folder"
        elif (target.exists() or target.is_symlink()) and not force:
            refused[item.source] = f"output {target} exists (use --force to overwrite)"
    return refused


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
        for index, value, notes in _results(tasks, work, jobs=workers, stop=stopping.is_set):
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
    tasks: Sequence[T], work: Callable[[T], R], *, jobs: int, stop: Callable[[], bool]
) -> Iterator[tuple[int, R | Failure, tuple[str, ...]]]:
    # Standard input can only be read by this process (workers get /dev/null): run serially.
    reads_stdin = any(getattr(task, "source", None) == STDIO for task in tasks)
    if jobs <= 1 or len(tasks) <= 1 or reads_stdin:
        for index, task in enumerate(tasks):
            if stop():
                return
            yield index, *guarded_with_warnings(work, task)
        return
    workers = min(jobs, len(tasks))
    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    executor = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(_threads_per_worker(workers),),
    )
    # At most one task per worker is handed to the pool at a time: the pool cannot take back
    # calls already queued, so a --fail-fast stop or Ctrl-C must find nothing else waiting.
    queue = iter(enumerate(tasks))
    pending: dict[Future[tuple[R | Failure, tuple[str, ...]]], int] = {}

    def submit_next() -> None:
        if stop():
            return
        for index, task in queue:
            try:
                future = executor.submit(_guarded_in_worker, work, task)
            except BrokenProcessPool as exc:  # a worker died: the rest fail through the same path
                future = Future()
                future.set_exception(exc)
            pending[future] = index
            return

    try:
        for _ in range(workers):
            submit_next()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: pending[f]):
                index = pending.pop(future)
                yield index, *_worker_result(future, tasks[index])
                submit_next()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _worker_result(
    future: Future[tuple[R | Failure, tuple[str, ...]]], task: T
) -> tuple[R | Failure, tuple[str, ...]]:
    # A worker killed outright (out of memory, a crash in a decoder) breaks the pool: its task
    # and every task not yet done fail with one line each instead of ending the whole run.
    try:
        return future.result()
    except BrokenProcessPool:
        source = str(getattr(task, "source", "?"))
        display = "<stdin>" if source == STDIO else source
        return Failure(display, "worker process died (out of memory, or a crash in a decoder)"), ()


def _threads_per_worker(workers: int) -> int:
    """Threads each worker process may use so that processes x threads fits the cores."""
    return max(1, default_jobs() // max(1, workers))


def _init_worker(threads: int = 1) -> None:
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


def _guarded_in_worker(work: Callable[[T], R], task: T) -> tuple[R | Failure, tuple[str, ...]]:
    # KeyboardInterrupt is raised only while a task runs: write_atomic then removes its temporary
    # file, and the parent, interrupted too, cancels the rest and exits 130.
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            return guarded_with_warnings(work, task)
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
    except KeyboardInterrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        return Failure(str(getattr(task, "source", "?")), "interrupted"), ()


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
