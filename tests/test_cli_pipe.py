"""A closed standard output (``kmimg quantize - < a.png | head -c 10``), with real pipes as a shell
makes them: exit 1 and one line on stderr, never a traceback, never exit 0."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

KMIMG = [sys.executable, "-m", "kmimg"]
CLOSED = "kmimg: error: <stdin>: standard output was closed before all the data was read (broken pipe)"


@pytest.fixture
def big_png(tmp_path: Path) -> Path:
    """Noise whose 256-colour PNG is far larger than a pipe's buffer (64 KiB)."""
    path = tmp_path / "noise.png"
    noise = np.random.default_rng(1).integers(0, 256, (400, 400, 3), dtype=np.uint8)
    Image.fromarray(noise).save(path)
    return path


def one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_reader_closed_before_the_write(samples: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read: the first write fails
    with open(samples / "coins.png", "rb") as stdin:
        command = [*KMIMG, "quantize", "-", "-k", "8"]
        done = subprocess.run(command, stdin=stdin, stdout=write_end, stderr=subprocess.PIPE, text=True)
    os.close(write_end)
    assert done.returncode == 1
    assert one_error_line(done.stderr) == CLOSED


@pytest.mark.skipif(shutil.which("head") is None, reason="needs head")
def test_head_closing_a_long_output(big_png: Path) -> None:
    done = subprocess.run(
        f'"{sys.executable}" -m kmimg quantize - -k 256 < "{big_png}" | head -c 10 > /dev/null;'
        ' exit "${PIPESTATUS[0]}"',
        shell=True,
        executable="/bin/bash",
        stderr=subprocess.PIPE,
        text=True,
    )
    assert done.returncode == 1
    assert one_error_line(done.stderr) == CLOSED


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="FIONREAD on a pipe: Linux")
def test_head_closing_an_output_that_fit_in_the_pipe(samples: Path) -> None:
    # The whole PNG fits in the pipe's buffer, so the write succeeds; head reads 10 bytes and
    # exits, and kmimg finds the rest unread. kmimg waits up to 0.1 s for head to go: on a
    # machine too loaded for head to exit in that time a run may end 0, so up to 3 tries.
    command = (
        f'"{sys.executable}" -m kmimg quantize - -k 4 < "{samples / "coins.png"}" | head -c 10 > /dev/null;'
        ' exit "${PIPESTATUS[0]}"'
    )
    for _ in range(3):
        done = subprocess.run(command, shell=True, executable="/bin/bash", stderr=subprocess.PIPE, text=True)
        assert "Traceback" not in done.stderr
        if done.returncode == 1:
            break
        assert done.returncode == 0 and done.stderr == ""
    assert done.returncode == 1
    assert "broken pipe" in one_error_line(done.stderr)


def test_a_reader_that_reads_everything_is_success(samples: Path) -> None:
    with open(samples / "coins.png", "rb") as stdin:
        done = subprocess.run([*KMIMG, "quantize", "-", "-k", "4"], stdin=stdin, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(b"\x89PNG") and done.stderr == b""


def test_json_to_a_closed_pipe(samples: Path, tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    png = str(tmp_path / "c.png")
    done = subprocess.run(
        [*KMIMG, "quantize", str(samples / "coins.png"), "-k", "4", "-o", png, "--json", "-"],
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(write_end)
    assert done.returncode == 1
    assert one_error_line(done.stderr) == (
        "kmimg: error: standard output was closed before all the data was read (broken pipe)"
    )


@pytest.mark.parametrize("target", [["-o", "-"], ["-o", "out.png", "--json", "-"]])
def test_standard_output_not_open_at_all(samples: Path, tmp_path: Path, target: list[str]) -> None:
    """``>&-``: Python has no ``sys.stdout``; one line and exit 1, not an internal error."""
    command = [*KMIMG, "quantize", str(samples / "coins.png"), "-k", "8", *target]
    done = subprocess.run(command, stdout=None, stderr=subprocess.PIPE, cwd=tmp_path, text=True,
                          close_fds=True, preexec_fn=lambda: os.close(1))  # fmt: skip
    assert done.returncode == 1
    assert one_error_line(done.stderr).endswith("standard output is not open (closed with >&-?)")
