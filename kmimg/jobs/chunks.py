"""One chunk of tasks, wherever it runs (this process, a worker process, a Dask worker): each
task guarded (an exception becomes its :class:`~kmimg.jobs.tasks.Failure`, its warnings one-line
notes), the files of the chunk put in place together (:func:`committed`)."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from kmimg import _gc
from kmimg.errors import KmimgError
from kmimg.jobs.tasks import Failure, FileTask, Produced

T = TypeVar("T", bound=FileTask)
R = TypeVar("R")

#: One task's value (or failure) and the warnings it raised.
Outcome1 = tuple[Any, tuple[str, ...]]

#: Tasks per chunk at most: small files (icons) cost less than a round trip to a worker each.
MAX_CHUNK = 64


def chunk_size(tasks: int, workers: int) -> int:
    """Tasks handed over at a time: one for a few large files, up to :data:`MAX_CHUNK` for
    thousands of small ones (about 16 chunks per worker)."""
    return max(1, min(MAX_CHUNK, tasks // (16 * max(1, workers))))


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


def run_chunk(
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
            done[index] = Failure(chunk[index].input.display, reason), ()
    return done


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
    display = task.input.display
    return value, tuple(dict.fromkeys(f"{display}: {text}" for text, _ in caught))


def guarded(work: Callable[[T], R], task: T) -> R | Failure:
    """Run one task, turning any exception into a :class:`Failure` carrying one line."""
    display = task.input.display
    try:
        return work(task)
    except KmimgError as exc:
        return Failure(display, str(exc))
    except MemoryError:
        return Failure(display, "out of memory")
    except Exception as exc:  # noqa: BLE001 - a bug must not stop the rest of a batch
        return Failure(display, f"internal error: {type(exc).__name__}: {exc}", traceback.format_exc())
