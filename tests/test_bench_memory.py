"""The benchmark harness sums the memory of a process tree (a ``--jobs`` run), not just its largest
process (GNU time's ``%M``)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="the tree sampler reads /proc (Linux)"
)


def test_tree_memory_is_the_sum_of_the_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    run = importlib.import_module("run")
    monkeypatch.setattr(run, "WORK", tmp_path)
    if run.TIME is None:
        pytest.skip("the largest-process figure needs GNU time (/usr/bin/time)")
    hold = "import time; block = bytearray(60_000_000); block[::4096] = b'x' * 14649; time.sleep(1.0)"
    two_workers = f'{sys.executable} -c "{hold}" & {sys.executable} -c "{hold}" & wait'
    result = run.measure(["sh", "-c", two_workers], tree=True)
    assert result.processes >= 2
    assert result.rss_mb < 100  # the largest single process: one 60 MB block
    assert result.tree_rss_mb > 110  # both blocks
    assert result.tree_pss_mb > 110
