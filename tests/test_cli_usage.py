"""Usage errors of every command: one line on stderr, exit 2, nothing on stdout, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kmimg.cli import app

runner = CliRunner()
SAMPLE = str(Path(__file__).resolve().parent.parent / "sample_images" / "coins.png")


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["quantize", SAMPLE, "-k", "1"], "Invalid value for '--colors' / '-k'"),
        (["quantize", SAMPLE, "--bogus"], "No such option: --bogus"),
        (["quantize"], "Missing argument 'INPUT'"),
        (["quantize", SAMPLE, "-k"], "Option '-k' requires an argument"),
        (["segment", SAMPLE, "-k", "0"], "Invalid value for '--clusters' / '-k'"),
        (["compress-report", SAMPLE, "--seed", "-1"], "Invalid value for '--seed'"),
        (["classify", SAMPLE, "--jobs", "x"], "Invalid value for '--jobs'"),
        (["frobnicate"], "No such command 'frobnicate'"),
    ],
)
def test_usage_error_is_one_line(tmp_path: Path, argv: list[str], says: str) -> None:
    result = runner.invoke(app, argv)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("kmimg: error: ")
    assert says in lines[0]
    command = "kmimg" if argv[0] == "frobnicate" else f"kmimg {argv[0]}"
    assert lines[0].endswith(f"(see '{command} -h')")


def test_usage_error_from_the_installed_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kmimg", "quantize", SAMPLE, "-k", "300"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("kmimg: error: Invalid value for '--colors' / '-k'")


def test_bare_kmimg_shows_the_help_and_exits_2() -> None:
    result = runner.invoke(app, [])
    assert result.exit_code == 2
    assert "Usage: kmimg" in result.output
    assert "quantize" in result.output
