"""The batch room: runs a command's per-file work over its inputs, in this process, in chunks
on worker processes, or on a Dask cluster, and collects results and one-line failures in input
order.

The work is a module-level function of one task (a :class:`~kmimg.jobs.tasks.FileTask`) that
touches no file: it returns its typed result and the files it made
(:class:`~kmimg.jobs.tasks.Produced`). The room's writer stage puts the files in place with the
atomic writes of :mod:`kmimg.io.files`: locally inside the worker process, in the chunk's commit
group; on a cluster (:mod:`kmimg.jobs.dask_pool`), in this process as results arrive, so that
workers need no shared file system. The executors are :class:`~kmimg.jobs.pool.Pool`
implementations behind the same loop. Ctrl-C, ``fail_fast`` and a worker that dies are handled
here and in :mod:`kmimg.jobs.local`.

What the user sees goes through a :class:`Listener` (the command line's ``Reporter``); the
library's batches pass :class:`Silent` and read failures and warnings from the results.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from kmimg import _gc
from kmimg.jobs.chunks import chunk_size, produce_and_place, run_chunk
from kmimg.jobs.paths import display_name
from kmimg.jobs.pool import Pool, open_pool
from kmimg.jobs.tasks import Failure, FileTask, Outcome, Produced

T = TypeVar("T", bound=FileTask)
R = TypeVar("R")


class Listener(Protocol):
    """What a batch tells as it runs: each failure, each warning, and its progress."""

    #: Keep the executors' own log lines (Dask's), and show a failure's traceback.
    debug: bool

    def failed(self, failure: Failure) -> None:
        """An input failed (reported as it happens)."""

    def warning(self, message: str) -> None:
        """A task raised a warning (``<input>: <message>``)."""

    def progress(self, total: int, label: str) -> contextlib.AbstractContextManager[Callable[[str], None]]:
        """A context whose value is called with each finished input's name."""


class Silent:
    """A :class:`Listener` that tells nothing: the library's batches, whose callers read the
    failures and warnings from the results."""

    debug = False

    def __init__(self) -> None:
        #: Every warning, in the order the tasks raised them.
        self.warnings: list[str] = []

    def failed(self, failure: Failure) -> None:
        """Nothing: the failure is in the outcome."""

    def warning(self, message: str) -> None:
        self.warnings.append(message)

    @contextlib.contextmanager
    def progress(self, total: int, label: str) -> Iterator[Callable[[str], None]]:
        yield lambda _name: None


def run_batch(
    tasks: Sequence[T],
    work: Callable[[T], Produced[R]],
    *,
    listener: Listener,
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
    :class:`Failure` and the batch goes on, unless ``fail_fast``. Errors are reported to the
    ``listener`` as they happen. Results come back in task order whatever the executor.
    ``refused`` maps inputs turned down while planning (an existing output, say) to their
    reasons: they are reported first and lead the failures. An unreachable scheduler is a
    :class:`UsageError` raised before any task is read.

    ``keep(index, result)``, called here with each result as it arrives (in the order they
    finish, ``index`` its task's place), returns what the outcome keeps in its place: a command
    that consumes its results as they come (classify's ``--batch-size``) keeps a smaller one.
    """
    outcome: Outcome[R] = Outcome()
    with open_pool(
        tasks, work, jobs=jobs, scheduler=scheduler, fail_fast=fail_fast, debug=listener.debug
    ) as pool:
        for source, reason in (refused or {}).items():
            failure = Failure(display_name(source), reason)
            listener.failed(failure)
            outcome.failures.append(failure)
        slots = _collect(tasks, work, pool, listener, fail_fast=fail_fast, label=label, keep=keep)
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
    listener: Listener,
    *,
    fail_fast: bool,
    label: str,
    keep: Callable[[int, R], R] | None = None,
) -> list[R | Failure | None]:
    """Every task's result or failure in task order, reported as each arrives."""
    slots: list[R | Failure | None] = [None] * len(tasks)
    stopping = threading.Event()
    with listener.progress(len(tasks), label) as advance:
        if pool is None:
            found = _serial_results(tasks, work, stop=stopping.is_set, fail_fast=fail_fast)
        else:
            found = _pooled_results(tasks, pool, stop=stopping.is_set)
        for index, value, notes in found:
            _gc.resume()  # the start-up is over (see kmimg._gc)
            slots[index] = value if keep is None or isinstance(value, Failure) else keep(index, value)
            advance(tasks[index].source)
            for note in notes:
                listener.warning(note)
            if isinstance(value, Failure):
                listener.failed(value)
                # --fail-fast starts nothing new; tasks already running finish and are counted,
                # so every file written is in the results.
                if fail_fast:
                    stopping.set()
    return slots


def _serial_results(
    tasks: Sequence[T], work: Callable[[T], Produced[R]], *, stop: Callable[[], bool], fail_fast: bool
) -> Iterator[tuple[int, R | Failure, tuple[str, ...]]]:
    size = chunk_size(len(tasks), 1)
    placing = functools.partial(produce_and_place, work)
    for start in range(0, len(tasks), size):
        if stop():
            return
        done = run_chunk(placing, tasks[start : start + size], stop, fail_fast=fail_fast)
        for offset, outcome in enumerate(done):
            if outcome is not None:
                yield start + offset, *outcome


def _pooled_results(
    tasks: Sequence[T], pool: Pool, *, stop: Callable[[], bool]
) -> Iterator[tuple[int, Any, tuple[str, ...]]]:
    """Tasks in chunks on the pool, results in task order within each chunk."""
    size = chunk_size(len(tasks), pool.workers)
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
