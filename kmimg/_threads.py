"""Running independent blocks of numpy work on several cores with threads.

numpy ufuncs, scipy.ndimage filters and CIEDE2000 release the GIL on large arrays, so strips of
an image can be processed in parallel threads. Results always come back in input order and are
combined by the caller in that order: the figures are the same whatever the number of threads.

The thread count honours ``OMP_NUM_THREADS`` like the BLAS/OpenMP libraries do (kmimg's batch
worker processes set it to 1 so that processes x threads never exceeds the cores).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_MAX_THREADS = 4


def engine_threads() -> int:
    """Threads kmimg's engine may use: ``OMP_NUM_THREADS`` when set, else the usable cores (<= 4)."""
    setting = os.environ.get("OMP_NUM_THREADS", "").strip()
    if setting.isdigit() and int(setting) > 0:
        return int(setting)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(_MAX_THREADS, cores))


def ordered_map(work: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[work(item) for item in items]``, computed by up to :func:`engine_threads` threads."""
    threads = min(engine_threads(), len(items))
    if threads <= 1:
        return [work(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(work, items))
