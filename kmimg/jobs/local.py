"""The local executor (``--jobs``, ``jobs=``): chunks of tasks on worker processes of this
machine, each chunk run and its files written in one worker, inside the chunk's commit group.
Ctrl-C and a worker that dies are handled here: a task interrupted or on a dead worker fails
with one line, the rest of the batch is not started or goes on."""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import signal
import sys
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from kmimg.jobs.chunks import Outcome1, produce_and_place, run_chunk
from kmimg.jobs.tasks import Failure, FileTask, Produced

if TYPE_CHECKING:
    from concurrent.futures import Future

T = TypeVar("T", bound=FileTask)
R = TypeVar("R")


@dataclass
class LocalPool:
    """Worker processes of this machine (``--jobs``): each chunk runs and writes its files in
    one worker, inside the chunk's commit group."""

    executor: Any
    halted: Any
    work: Callable[[Any], Produced[Any]]
    fail_fast: bool
    workers: int
    interrupts: Interrupts
    #: Each chunk's future as it finishes (a done callback puts it here).
    finished: queue.SimpleQueue[Future[list[Outcome1 | None]]] = field(default_factory=queue.SimpleQueue)

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
        future.add_done_callback(self.finished.put)
        return future

    def wait(self, handles: Collection[Any]) -> Collection[Any]:
        # Every handle given is one not returned yet, and each future is put in `finished`
        # once: what is there is done and among them. Ctrl-C is raised here only, while
        # blocked in a C-level get that holds no lock (see Interrupts).
        with self.interrupts.raising():
            done = {self.finished.get()}
        with contextlib.suppress(queue.Empty):
            while True:
                done.add(self.finished.get_nowait())
        return done

    def settle(self, done: Sequence[tuple[Any, Sequence[Any]]]) -> list[list[Outcome1 | None]]:
        return [_chunk_result(handle, chunk) for handle, chunk in done]

    def halt(self) -> None:
        # A chunk queued in the pool cannot be taken back, but a worker starts none of its
        # tasks once `halted` is set: a --fail-fast stop or Ctrl-C starts nothing new.
        self.halted.set()


@contextlib.contextmanager
def local_pool(work: Callable[[T], Produced[R]], *, workers: int, fail_fast: bool) -> Iterator[LocalPool]:
    """A :class:`LocalPool` of ``workers`` processes, shut down at the end (also on Ctrl-C)."""
    # Imported here: ~15 ms of start-up that a single-file run does not need.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    halt = context.Event()  # set by the parent: workers start no further task of their chunks
    with Interrupts.deferred() as interrupts:
        executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(threads_per_worker(workers), halt),
        )
        try:
            yield LocalPool(executor, halt, work, fail_fast, workers, interrupts)
        finally:
            # Not interruptible: a second Ctrl-C here is ignored (see Interrupts).
            halt.set()
            executor.shutdown(wait=True, cancel_futures=True)


class Interrupts:
    """Ctrl-C in the parent while its pool is open: a KeyboardInterrupt is raised only where
    one is safe, in :meth:`LocalPool.wait`; at any other point it waits for the next wait.

    Raised anywhere, it could leave a lock of the pool held: the halt Event's process-shared
    lock (workers then wait on it forever), a future's condition in ``concurrent.futures.wait``
    (the executor's thread then waits on it). And a second Ctrl-C (a terminal's Ctrl-C pressed
    twice; ``timeout -s INT`` signals kmimg and then its process group) interrupting
    ``executor.shutdown(wait=True)`` left the pool half shut down: on Python 3.11 an interrupted
    ``Thread.join`` marks the still running executor thread stopped, nothing waits for it at
    exit, multiprocessing's exit hooks stop the call queue's feeder thread before the workers'
    stop sentinels are sent, and the workers and the exiting parent waited for each other
    forever. So the first Ctrl-C is raised (at the next wait) and the rest are ignored until
    the pool is shut down, which the workers, signalled too or halted, make short.

    A worker forked before its initializer ignores SIGINT runs this handler too: it ignores the
    signal (not this process), instead of a KeyboardInterrupt that kills it mid-start.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.pending = False  # a Ctrl-C not raised yet
        self.raised = False  # raised once: any later one is ignored
        self.safe = False  # the main thread is blocked in LocalPool.wait

    def handler(self, signum: int, frame: Any) -> None:
        if os.getpid() != self.pid or self.raised:
            return
        self.pending = True
        if self.safe:
            self.raise_pending()

    def raise_pending(self) -> None:
        if self.pending and not self.raised:
            self.raised = True
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def raising(self) -> Iterator[None]:
        """The block where a Ctrl-C is raised at once (one pending is raised on entry)."""
        self.safe = True  # first: a Ctrl-C from here on is raised by the handler itself
        try:
            self.raise_pending()
            yield
        finally:
            self.safe = False

    @classmethod
    @contextlib.contextmanager
    def deferred(cls) -> Iterator[Interrupts]:
        """Ctrl-C deferred as above for the block; one that came and was not raised is raised
        at its end. Only Python's own handler is replaced (none outside the main thread)."""
        interrupts = cls()
        try:
            installed = signal.getsignal(signal.SIGINT) is signal.default_int_handler
            if installed:
                signal.signal(signal.SIGINT, interrupts.handler)
        except ValueError:  # not the main thread: no KeyboardInterrupt reaches it anyway
            installed = False
        if not installed:  # KeyboardInterrupt, if any, comes wherever Python raises it
            yield interrupts
            return
        try:
            yield interrupts
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        interrupts.raise_pending()  # a Ctrl-C while the batch ended: it is still interrupted


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
            return Failure(task.input.display, "interrupted")

    return run_chunk(guarded_task, chunk, halted, fail_fast=fail_fast)


def _chunk_result(future: Future[list[Outcome1 | None]], chunk: Sequence[T]) -> list[Outcome1 | None]:
    # A worker killed outright (out of memory, a crash in a decoder) breaks the pool: its tasks
    # and every task not yet done fail with one line each instead of ending the whole run.
    from concurrent.futures.process import BrokenProcessPool

    try:
        return future.result()
    except BrokenProcessPool:
        reason = "worker process died (out of memory, or a crash in a decoder)"
        return [(Failure(task.input.display, reason), ()) for task in chunk]


def threads_per_worker(workers: int) -> int:
    """Threads each worker process may use so that processes x threads fits the cores."""
    return max(1, default_jobs() // max(1, workers))


#: In a worker process: the parent's signal to start no further task.
_HALT: Any = None


def _init_worker(threads: int = 1, halt: Any = None) -> None:
    global _HALT
    _HALT = halt
    # Ctrl-C reaches the workers too (the whole foreground process group gets SIGINT): an idle
    # worker ignores it (a KeyboardInterrupt in the pool's own loop would print a traceback);
    # a busy one turns it into a Failure of its task (see _chunk_in_worker).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # BLAS/OpenMP pools and kmimg's own engine threads (kmimg._threads reads OMP_NUM_THREADS)
    # share the cores with the other workers: with one worker per core, one thread each.
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits

        threadpool_limits(threads)


def default_jobs() -> int:
    """All cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)
