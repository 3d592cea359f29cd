"""The one interface of the executors (:class:`Pool`) and the choice of one for a batch
(:func:`open_pool`): this process, worker processes of this machine (:mod:`kmimg.jobs.local`)
or a Dask cluster (:mod:`kmimg.jobs.dask_pool`, imported only when a scheduler is given)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from kmimg.errors import UsageError
from kmimg.jobs.chunks import Outcome1
from kmimg.jobs.local import default_jobs, local_pool
from kmimg.jobs.tasks import FileTask, Produced

T = TypeVar("T", bound=FileTask)
R = TypeVar("R")


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
def open_pool(
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
    stdio = any(task.uses_stdio for task in tasks)
    if address and tasks and not stdio:
        from kmimg.jobs.dask_pool import dask_pool

        with dask_pool(address, work, fail_fast=fail_fast, debug=debug) as cluster:
            yield cluster
        return
    workers = default_jobs() if jobs is None else jobs
    if workers <= 1 or len(tasks) <= 1 or stdio:
        yield None
        return
    with local_pool(work, workers=min(workers, len(tasks)), fail_fast=fail_fast) as local:
        yield local


def scheduler_address(jobs: int | None, scheduler: str | None) -> str | None:
    """The Dask scheduler a batch runs on: ``--scheduler``, else ``DASK_SCHEDULER_ADDRESS`` (as
    Dask's own tools read it) unless ``--jobs`` asks for this machine's cores; ``None``: local."""
    if scheduler and jobs is not None:
        raise UsageError("give --jobs or --scheduler, not both")
    return scheduler or (os.environ.get("DASK_SCHEDULER_ADDRESS") or None if jobs is None else None)
