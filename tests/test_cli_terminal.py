"""Terminal behaviour: a summary table on a terminal, silence in pipes; `python -m kmimg`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from terminal import run_kmimg


def kmimg(*args: str, stderr_tty: bool) -> tuple[int, str]:
    return run_kmimg(*args, stderr_tty=stderr_tty)


@pytest.fixture
def folder(write_png, noisy_rgb: np.ndarray, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    write_png(noisy_rgb, "in/a.png")
    write_png(noisy_rgb[::-1], "in/b.png")
    return tmp_path / "in"


def test_summary_table_on_a_terminal(folder: Path, tmp_path: Path) -> None:
    code, stderr = kmimg(
        "quantize", str(folder), "--out-dir", str(tmp_path / "o1"), "-j", "1", stderr_tty=True
    )
    assert code == 0
    assert "PSNR" in stderr
    assert "a.png" in stderr and "b.png" in stderr


def test_quiet_on_a_terminal(folder: Path, tmp_path: Path) -> None:
    code, stderr = kmimg("quantize", str(folder), "--out-dir", str(tmp_path / "o2"), "-q", stderr_tty=True)
    assert code == 0
    assert stderr.strip() == ""


def test_silent_and_uncoloured_in_a_pipe(folder: Path, tmp_path: Path) -> None:
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    code, stderr = kmimg("quantize", str(folder), "--out-dir", str(tmp_path / "o3"), stderr_tty=False)
    assert code == 1
    assert stderr.splitlines() == [
        f"kmimg: error: {folder / 'broken.png'}: " + stderr.split(": ", 3)[3].rstrip()
    ]
    assert "\x1b[" not in stderr
    assert sorted(p.name for p in (tmp_path / "o3").iterdir()) == ["a-k16.png", "b-k16.png"]
