"""The garbage collector of a kmimg process (kmimg._gc): off for the start-up, back on after the
first task, frozen at exit; untouched when kmimg is a library."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from kmimg import _gc
from kmimg.jobs.chunks import guarded_with_warnings
from kmimg.jobs.tasks import FileTask, ImageInput


@pytest.fixture
def collector() -> Iterator[None]:
    """Whatever a test does to the collector, the test session gets it back as it was."""
    enabled = gc.isenabled()
    yield
    _gc._deferred = False
    gc.unfreeze()
    if enabled:
        gc.enable()


@pytest.mark.usefixtures("collector")
def test_defer_then_resume_freezes_the_start_up_and_turns_the_collector_back_on() -> None:
    gc.enable()
    _gc.defer()
    assert not gc.isenabled()
    _gc.resume()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0
    gc.unfreeze()
    _gc.resume()  # once only: a second resume freezes nothing
    assert gc.get_freeze_count() == 0


@pytest.mark.usefixtures("collector")
def test_resume_leaves_a_collector_it_did_not_turn_off() -> None:
    gc.disable()  # an embedding program's own choice
    _gc.resume()
    assert not gc.isenabled()
    assert gc.get_freeze_count() == 0


@pytest.mark.usefixtures("collector")
def test_a_finished_task_ends_the_start_up() -> None:
    gc.enable()
    _gc.defer()
    value, notes = guarded_with_warnings(lambda task: len(task.source) * 2, FileTask(ImageInput("x" * 21)))
    assert (value, notes) == (42, ())
    assert gc.isenabled()


def _run_entry(argv: list[str]) -> str:
    """The console script's ``main`` in a fresh process; what the collector looks like after it."""
    code = (
        "import gc, sys\n"
        f"sys.argv = ['kmimg', *{argv!r}]\n"
        "from kmimg.__main__ import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(gc.isenabled(), gc.get_freeze_count() > 0, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stderr.strip().splitlines()[-1]


def test_the_console_script_resumes_after_its_first_task_and_freezes_at_exit(
    write_png, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    source = write_png(np.arange(48 * 3, dtype=np.uint8).reshape(4, 12, 3))
    assert _run_entry(["quantize", str(source), "-k", "4", "-o", str(tmp_path / "out.png")]) == "True True"
    assert (tmp_path / "out.png").exists()


def test_a_run_with_no_task_keeps_the_collector_off_and_freezes_at_exit() -> None:
    assert _run_entry(["--version"]) == "False True"
