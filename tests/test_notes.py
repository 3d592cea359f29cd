"""Warnings stay with the task that raised them when tasks run at once on threads of one process
(a multi-threaded Dask worker): kmimg's own, other libraries', and the ones decoding raises."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from kmimg import notes
from kmimg._records import frozen
from kmimg.errors import KmimgWarning
from kmimg.jobs.chunks import guarded_with_warnings
from kmimg.jobs.tasks import FileTask, ImageInput


@frozen
class Task(FileTask):
    pass


def _in_step(barrier: threading.Barrier) -> Callable[[Task], str]:
    """A work function whose tasks each warn twice (kmimg's way and a library's way) while the
    other task is inside its collector too: the barrier holds both until both have warned."""

    def work(task: Task) -> str:
        barrier.wait(timeout=10)
        notes.warn(f"own note of {task.source}")
        warnings.warn(f"library warning of {task.source}", RuntimeWarning, stacklevel=1)
        barrier.wait(timeout=10)
        return task.source

    return work


def test_two_threads_warning_at_once_each_keep_their_own() -> None:
    for _ in range(20):  # the threads interleave differently each time
        work = _in_step(threading.Barrier(2))
        with ThreadPoolExecutor(2) as pool:
            done = list(
                pool.map(
                    guarded_with_warnings,
                    [work, work],
                    [Task(ImageInput("a.png")), Task(ImageInput("b.png"))],
                )
            )
        for (value, lines), name in zip(done, ["a.png", "b.png"], strict=True):
            assert value == name
            assert lines == (f"{name}: own note of {name}", f"{name}: library warning of {name}")


def test_the_same_warning_twice_is_collected_twice() -> None:
    """``always``: a library warning raised again at the same place is not swallowed as
    already shown."""

    def work(task: Task) -> None:
        warnings.warn("again", UserWarning, stacklevel=1)

    for name in ("a.png", "b.png"):
        assert guarded_with_warnings(work, Task(ImageInput(name)))[1] == (f"{name}: again",)


def test_outside_a_collector_warnings_are_the_usual_ones() -> None:
    with notes.collecting():
        pass  # installs the filter and the handler
    with pytest.warns(KmimgWarning, match="plain"):
        notes.warn("plain")
    with pytest.warns(RuntimeWarning, match="library"):
        warnings.warn("library", RuntimeWarning, stacklevel=1)


def test_ignoring_drops_its_categories_and_passes_the_rest_on() -> None:
    with notes.collecting() as outer, notes.ignoring(RuntimeWarning):
        warnings.warn("dropped", RuntimeWarning, stacklevel=1)
        warnings.warn("kept", UserWarning, stacklevel=1)
        notes.warn("mine")
    assert outer == [("kept", UserWarning), ("mine", KmimgWarning)]


def test_a_decode_warning_in_a_thread_stays_with_its_image(tmp_path: pytest.TempPathFactory) -> None:
    """Decoding damaged PNGs with allow_truncated on two threads at once: one note each."""
    import numpy as np
    from PIL import Image

    from kmimg.io import load_image

    path = tmp_path / "x.png"  # type: ignore[operator]
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    damaged = path.read_bytes()[:-400]
    barrier = threading.Barrier(4)

    def work(task: Task) -> str:
        barrier.wait(timeout=10)
        load_image(task.source, data=damaged, allow_truncated=True)
        return task.source

    names = [f"{index}.png" for index in range(4)]
    with ThreadPoolExecutor(4) as pool:
        done = list(pool.map(lambda name: guarded_with_warnings(work, Task(ImageInput(name))), names))
    for (value, lines), name in zip(done, names, strict=True):
        assert value == name
        assert len(lines) == 1
        assert lines[0].startswith(f"{name}: ") and "--allow-truncated" in lines[0]
