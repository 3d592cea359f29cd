"""Running independent blocks of numpy work on several cores with threads.

numpy ufuncs, scipy.ndimage filters and CIEDE2000 release the GIL on large arrays, so strips of
an image can be processed in parallel threads. Results always come back in input order and are
combined by the caller in that order: the figures are the same whatever the number of threads.

The thread count honours ``OMP_NUM_THREADS`` like the BLAS/OpenMP libraries do (kmimg's batch
worker processes set it to 1 so that processes x threads never exceeds the cores).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

T = TypeVar("T")
R = TypeVar("R")

_MAX_THREADS = 4
_THREAD_PREFIX = "kmimg-engine"


def engine_threads() -> int:
    """Threads kmimg's engine may use: ``OMP_NUM_THREADS`` when set, else the usable cores (<= 4)."""
    setting = os.environ.get("OMP_NUM_THREADS", "").strip()
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    return max(1, min(_MAX_THREADS, _usable_cores()))


@functools.lru_cache(maxsize=1)
def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def ordered_map(work: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[work(item) for item in items]``, computed by up to :func:`engine_threads` threads.

    Called from one of those threads (work that itself maps, say encoding several PNGs at once,
    each deflated in pieces), it runs serially: the pool's threads would otherwise all wait for
    work queued behind them.
    """
    threads = min(engine_threads(), len(items))
    if threads <= 1 or threading.current_thread().name.startswith(_THREAD_PREFIX):
        return [work(item) for item in items]
    return list(_pool(threads).map(work, items))


def fork_join(work: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """:func:`ordered_map` for a few items each worth a thread (the two halves of a deflate): the
    first in the calling thread, each other one in a thread of its own, started for the call.
    No pool, so no ``concurrent.futures`` import (~8 ms of a one-file run). Serial on one
    thread, from an engine thread, or with more items than threads (then :func:`ordered_map`)."""
    threads = min(engine_threads(), len(items))
    if threads <= 1 or threading.current_thread().name.startswith(_THREAD_PREFIX):
        return [work(item) for item in items]
    if threads < len(items):
        return ordered_map(work, items)
    results: list[R | None] = [None] * len(items)
    failures: list[BaseException | None] = [None] * len(items)

    def run(number: int) -> None:
        try:
            results[number] = work(items[number])
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread, the first item's first
            failures[number] = exc

    helpers = [
        threading.Thread(target=run, args=(number,), name=f"{_THREAD_PREFIX}-{number}", daemon=True)
        for number in range(1, len(items))
    ]
    for helper in helpers:
        helper.start()
    try:
        run(0)
    finally:
        for helper in helpers:
            helper.join()
    failure = next((exc for exc in failures if exc is not None), None)
    if failure is not None:
        raise failure
    return results  # type: ignore[return-value]  # every slot filled: no failure


def pieces(count: int, *, smallest: int, largest: int) -> range:
    """Starts of the pieces that split ``count`` items between the engine's threads: one per
    thread, each at least ``smallest`` and at most ``largest`` items. How the work is split
    never changes a result (the pieces write disjoint slices)."""
    share = -(-count // max(1, engine_threads()))
    return range(0, count, min(largest, max(smallest, share)))


@functools.lru_cache(maxsize=4)
def _pool(threads: int) -> ThreadPoolExecutor:
    """One pool per thread count for the life of the process (starting threads for every
    call would cost more than small calls do)."""
    from concurrent.futures import ThreadPoolExecutor  # ~8 ms to import: only when threads run

    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix=_THREAD_PREFIX)


def _forget_pools() -> None:
    # A forked child (a batch worker) has none of its parent's threads: the pools must be new.
    _pool.cache_clear()
    _usable_cores.cache_clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools)
