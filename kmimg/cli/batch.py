"""The batch room: runs a command's per-file work over its inputs, in this process or in chunks
on worker processes, and collects results and one-line failures in input order.

This is where an executor plugs in: tasks are picklable values, the work is a module-level
function of one task, results come back in task order. Ctrl-C, ``--fail-fast`` and a worker that
dies are handled here; files written by a chunk are committed together (:mod:`kmimg.io.files`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future

from kmimg.cli.frame import Reporter, warning_line
from kmimg.cli.paths import STDIO, display_name
from kmimg.errors import KmimgError

T = TypeVar("T")


R = TypeVar("R")


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
        failure = Failure(display_name(source), reason)
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
    return display_name(str(getattr(task, "source", "?")))


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
    display = _display(task)
    lines = (warning_line(record.message, record.category) for record in caught)
    return value, tuple(dict.fromkeys(f"{display}: {line}" for line in lines))


def guarded(work: Callable[[T], R], task: T) -> R | Failure:
    """Run one task, turning any exception into a :class:`Failure` carrying one line."""
    display = _display(task)
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
