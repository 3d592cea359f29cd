"""The batch room: runs a command's per-file work over its inputs, in this process, in chunks
on worker processes, or on a Dask cluster, and collects results and one-line failures in input
order.

The work is a module-level function of one task (a picklable value) that touches no file: it
returns its typed result and the files it made (:class:`Produced`). The room's writer stage
puts the files in place with the atomic writes of :mod:`kmimg.io.files`: locally inside the
worker process, in the chunk's commit group; on a cluster (:mod:`kmimg.cli.dask_pool`), in this
process as results arrive, so that workers need no shared file system. The two executors are
two :class:`Pool` implementations behind the same loop. Ctrl-C, ``--fail-fast`` and a worker
that dies are handled here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future

    from kmimg.io.files import OutputFile

from kmimg import _gc
from kmimg._records import frozen
from kmimg.cli.frame import Reporter
from kmimg.cli.paths import STDIO, display_name
from kmimg.errors import KmimgError, UsageError

T = TypeVar("T")


R = TypeVar("R")


@frozen
class Failure:
    """An input that could not be processed, and why (one line)."""

    source: str
    reason: str
    detail: str = ""


@frozen
class Produced(Generic[R]):
    """What a work function hands back: its typed result and the files it made, still in memory
    (the writer stage of the batch room puts them in place; a work function may also return a
    plain result when it makes no file)."""

    record: R
    files: tuple[OutputFile, ...] = ()


def without_data(task: T) -> T:
    """``task`` without the input bytes a cluster run embedded in it (``data``): a result that
    names its task carries no copy of the input back."""
    if getattr(task, "data", None) is None:
        return task
    return dataclasses.replace(task, data=None)  # type: ignore[type-var]


@dataclass
class Outcome(Generic[R]):
    """Results and failures of a batch, in input order."""

    results: list[R] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    interrupted: bool = False


def run_batch(
    tasks: Sequence[T],
    work: Callable[[T], Produced[R]],
    *,
    name_of: Callable[[T], str],
    reporter: Reporter,
    jobs: int | None = 1,
    scheduler: str | None = None,
    fail_fast: bool = False,
    label: str = "working",
    refused: Mapping[str, str] | None = None,
    keep: Callable[[int, R], R] | None = None,
) -> Outcome[R]:
    """Run ``work`` on every task and put the files it makes in place: in worker processes when
    ``jobs > 1`` (``None``: one per core, what ``--jobs`` left out means), on the Dask cluster
    at ``scheduler`` (or ``DASK_SCHEDULER_ADDRESS`` when neither is given).

    A task that raises :class:`KmimgError` (or any other exception) becomes a
    :class:`Failure` and the batch goes on, unless ``fail_fast``. Errors are reported on stderr
    as they happen. Results come back in task order whatever the executor. ``refused`` maps
    inputs turned down while planning (an existing output, say) to their reasons: they are
    reported first and lead the failures. An unreachable scheduler is a :class:`UsageError`
    raised before any task is read.

    ``keep(index, result)``, called here with each result as it arrives (in the order they
    finish, ``index`` its task's place), returns what the outcome keeps in its place: a command
    that consumes its results as they come (classify's ``--batch-size``) keeps a smaller one.
    """
    outcome: Outcome[R] = Outcome()
    with _pool_for(
        tasks, work, jobs=jobs, scheduler=scheduler, fail_fast=fail_fast, debug=reporter.debug
    ) as pool:
        for source, reason in (refused or {}).items():
            failure = Failure(display_name(source), reason)
            reporter.error(failure.source, failure.reason)
            outcome.failures.append(failure)
        slots = _collect(
            tasks, work, pool, reporter, name_of=name_of, fail_fast=fail_fast, label=label, keep=keep
        )
    for slot in slots:
        if isinstance(slot, Failure):
            outcome.failures.append(slot)
        elif slot is not None:
            outcome.results.append(slot)
    return outcome


def _collect(
    tasks: Sequence[T],
    work: Callable[[T], Produced[R]],
    pool: Pool | None,
    reporter: Reporter,
    *,
    name_of: Callable[[T], str],
    fail_fast: bool,
    label: str,
    keep: Callable[[int, R], R] | None = None,
) -> list[R | Failure | None]:
    """Every task's result or failure in task order, reported as each arrives."""
    slots: list[R | Failure | None] = [None] * len(tasks)
    stopping = threading.Event()
    with reporter.progress(len(tasks), label) as advance:
        if pool is None:
            found = _serial_results(tasks, work, stop=stopping.is_set, fail_fast=fail_fast)
        else:
            found = _pooled_results(tasks, pool, stop=stopping.is_set)
        for index, value, notes in found:
            _gc.resume()  # the start-up is over (see kmimg._gc)
            slots[index] = value if keep is None or isinstance(value, Failure) else keep(index, value)
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
    return slots


class Pool(Protocol):
    """An executor of the batch room: runs chunks of tasks somewhere and hands back, for each
    chunk, its tasks' results (files in place) or failures."""

    #: Tasks that can run at once (worker processes, or the cluster's worker threads).
    workers: int

    def submit(self, chunk: Sequence[Any]) -> Any:
        """Start a chunk; returns a handle for :meth:`wait` and :meth:`settle`."""

    def wait(self, handles: Collection[Any]) -> Collection[Any]:
        """Block until at least one of ``handles`` is done; returns those that are."""

    def settle(self, done: Sequence[tuple[Any, Sequence[Any]]]) -> list[list[Outcome1 | None]]:
        """Finished chunks' outcomes (``(handle, chunk)`` pairs), their files in place; ``None``
        for a task not started. The chunks that finished together are settled together (their
        files committed at once where the writing happens here)."""

    def halt(self) -> None:
        """Start no further task of the chunks submitted (``--fail-fast``, Ctrl-C)."""


@contextlib.contextmanager
def _pool_for(
    tasks: Sequence[T],
    work: Callable[[T], Produced[R]],
    *,
    jobs: int | None,
    scheduler: str | None,
    fail_fast: bool,
    debug: bool,
) -> Iterator[Pool | None]:
    """The executor for this batch: ``None`` runs it in this process."""
    address = scheduler_address(jobs, scheduler)
    # Standard input and output are this process's own: such a batch runs here, whatever the
    # executor (worker processes get /dev/null).
    stdio = any(STDIO in (getattr(task, "source", None), getattr(task, "target", None)) for task in tasks)
    if address and tasks and not stdio:
        from kmimg.cli.dask_pool import dask_pool

        with dask_pool(address, work, fail_fast=fail_fast, debug=debug) as cluster:
            yield cluster
        return
    workers = default_jobs() if jobs is None else jobs
    if workers <= 1 or len(tasks) <= 1 or stdio:
        yield None
        return
    with _local_pool(work, workers=min(workers, len(tasks)), fail_fast=fail_fast) as local:
        yield local


def scheduler_address(jobs: int | None, scheduler: str | None) -> str | None:
    """The Dask scheduler a batch runs on: ``--scheduler``, else ``DASK_SCHEDULER_ADDRESS`` (as
    Dask's own tools read it) unless ``--jobs`` asks for this machine's cores; ``None``: local."""
    if scheduler and jobs is not None:
        raise UsageError("give --jobs or --scheduler, not both")
    return scheduler or (os.environ.get("DASK_SCHEDULER_ADDRESS") or None if jobs is None else None)


def _serial_results(
    tasks: Sequence[T], work: Callable[[T], Produced[R]], *, stop: Callable[[], bool], fail_fast: bool
) -> Iterator[tuple[int, R | Failure, tuple[str, ...]]]:
    size = _chunk_size(len(tasks), 1)
    placing = functools.partial(produce_and_place, work)
    for start in range(0, len(tasks), size):
        if stop():
            return
        done = _run_chunk(placing, tasks[start : start + size], stop, fail_fast=fail_fast)
        for offset, outcome in enumerate(done):
            if outcome is not None:
                yield start + offset, *outcome


def _pooled_results(
    tasks: Sequence[T], pool: Pool, *, stop: Callable[[], bool]
) -> Iterator[tuple[int, Any, tuple[str, ...]]]:
    """Tasks in chunks on the pool, results in task order within each chunk."""
    size = _chunk_size(len(tasks), pool.workers)
    chunks = iter(range(0, len(tasks), size))
    pending: dict[Any, int] = {}
    handle_of: dict[int, Any] = {}

    def submit_next() -> None:
        if stop():
            pool.halt()
            return
        for start in chunks:
            handle = pool.submit(tasks[start : start + size])
            pending[handle], handle_of[start] = start, handle
            return

    for _ in range(2 * pool.workers):  # two chunks per worker: one runs while the next is sent
        submit_next()
    while pending:
        starts = sorted(pending.pop(handle) for handle in pool.wait(list(pending)))
        done = pool.settle([(handle_of[start], tasks[start : start + size]) for start in starts])
        for start, outcomes in zip(starts, done, strict=True):
            for offset, outcome in enumerate(outcomes):
                if outcome is not None:
                    yield start + offset, *outcome
            submit_next()


@dataclass
class _LocalPool:
    """Worker processes of this machine (``--jobs``): each chunk runs and writes its files in
    one worker, inside the chunk's commit group."""

    executor: Any
    halted: Any
    work: Callable[[Any], Produced[Any]]
    fail_fast: bool
    workers: int

    def submit(self, chunk: Sequence[Any]) -> Future[list[Outcome1 | None]]:
        from concurrent.futures import Future
        from concurrent.futures.process import BrokenProcessPool

        placing = functools.partial(produce_and_place, self.work)
        try:
            future: Future[list[Outcome1 | None]] = self.executor.submit(
                _chunk_in_worker, placing, chunk, self.fail_fast
            )
        except BrokenProcessPool as exc:  # a worker died: the rest fail through the same path
            future = Future()
            future.set_exception(exc)
        return future

    def wait(self, handles: Collection[Any]) -> Collection[Any]:
        from concurrent.futures import FIRST_COMPLETED, wait

        return wait(handles, return_when=FIRST_COMPLETED).done

    def settle(self, done: Sequence[tuple[Any, Sequence[Any]]]) -> list[list[Outcome1 | None]]:
        return [_chunk_result(handle, chunk) for handle, chunk in done]

    def halt(self) -> None:
        # A chunk queued in the pool cannot be taken back, but a worker starts none of its
        # tasks once `halted` is set: a --fail-fast stop or Ctrl-C starts nothing new.
        self.halted.set()


@contextlib.contextmanager
def _local_pool(work: Callable[[T], Produced[R]], *, workers: int, fail_fast: bool) -> Iterator[_LocalPool]:
    # Imported here: ~15 ms of start-up that a single-file run does not need.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    halt = context.Event()  # set by the parent: workers start no further task of their chunks
    executor = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(_threads_per_worker(workers), halt),
    )
    try:
        yield _LocalPool(executor, halt, work, fail_fast, workers)
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


def produce_and_place(work: Callable[[T], Produced[R]], task: T) -> R:
    """The writer stage where the work ran: ``work(task)``'s files put in place; its result."""
    return placed(work(task))


def placed(value: Produced[R]) -> R:
    """Put a :class:`Produced`'s files in place and return its result (a plain result, from a
    work function that makes no file, as is)."""
    if not isinstance(value, Produced):
        return value  # type: ignore[unreachable]
    if value.files:
        from kmimg.io.files import write_outputs

        write_outputs(value.files)
    return value.record


def _run_chunk(
    work: Callable[[T], R], chunk: Sequence[T], stop: Callable[[], bool], *, fail_fast: bool = False
) -> list[Outcome1 | None]:
    """Run the tasks of a chunk in order; ``None`` for a task not started (``stop``, or a
    failure before it with ``fail_fast``).

    With more than one task, the files they write are committed together (:func:`committed`).
    """
    if len(chunk) == 1:
        return [None if stop() else guarded_with_warnings(work, chunk[0])]
    done: list[Outcome1 | None] = []

    def step(index: int) -> Outcome1 | None:
        failed_before = fail_fast and any(isinstance(d[0], Failure) for d in done if d is not None)
        done.append(None if failed_before or stop() else guarded_with_warnings(work, chunk[index]))
        return done[-1]

    return committed(chunk, step)


def committed(chunk: Sequence[T], step: Callable[[int], Outcome1 | None]) -> list[Outcome1 | None]:
    """``step(i)`` for every task of ``chunk``, the files they write committed together
    (:func:`kmimg.io.commit_group`: one disk sync for the chunk, not two per file); a file that
    cannot be put in place turns its task into a failure."""
    from kmimg.io import commit_group

    done: list[Outcome1 | None] = []
    written: list[list[Any]] = []
    with commit_group() as group:
        try:
            for index in range(len(chunk)):
                done.append(step(index))
                written.append(group.take())
        except BaseException:  # Ctrl-C in this process: nothing of the chunk is put in place
            group.discard([entry for entries in written for entry in entries])
            raise
        failed = group.commit([entry for entries in written for entry in entries])
    for index, entries in enumerate(written):
        reason = next((failed[e.target] for e in entries if e.target in failed), None)
        if reason is not None:
            done[index] = Failure(_display(chunk[index]), reason), ()
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
    printing raw Python warning text and keeps each warning next to its input. They are
    collected in this thread's context (:mod:`kmimg.notes`), not with the process-wide
    :func:`warnings.catch_warnings`: tasks running at once on the threads of one Dask worker
    each keep their own.
    """
    from kmimg.notes import collecting

    with collecting() as caught:
        value = guarded(work, task)
    _gc.resume()  # this process's start-up (its first task's imports) is over: see kmimg._gc
    display = _display(task)
    return value, tuple(dict.fromkeys(f"{display}: {text}" for text, _ in caught))


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
