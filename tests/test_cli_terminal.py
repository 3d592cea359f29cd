"""Terminal behaviour: a summary table on a terminal, silence in pipes; `python -m kmimg`."""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import sys
import termios
from pathlib import Path

import numpy as np
import pytest


def kmimg(*args: str, stderr_tty: bool) -> tuple[int, str]:
    """Run ``python -m kmimg`` with stderr on a pseudo-terminal or a pipe; return (code, stderr)."""
    env = {**os.environ, "COLUMNS": "400", "TERM": "xterm"}
    if not stderr_tty:
        done = subprocess.run(
            [sys.executable, "-m", "kmimg", *args], capture_output=True, text=True, env=env, check=False
        )
        return done.returncode, done.stderr
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 250, 0, 0))
    with subprocess.Popen(
        [sys.executable, "-m", "kmimg", *args], stderr=slave, stdout=subprocess.DEVNULL, env=env
    ) as process:
        os.close(slave)
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = process.wait()
    os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


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
