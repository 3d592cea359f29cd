"""Terminal behaviour: a summary table on a terminal, silence in pipes; `python -m kmimg`."""

from __future__ import annotations

import json
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


def test_folder_table_ends_with_a_total_row_and_measures_psnr_only(folder: Path, tmp_path: Path) -> None:
    code, stderr = kmimg(
        "quantize", str(folder), "--out-dir", str(tmp_path / "o4"), "-j", "1", stderr_tty=True
    )
    assert code == 0
    written = sum(p.stat().st_size for p in (tmp_path / "o4").iterdir())
    read = sum(p.stat().st_size for p in folder.iterdir())
    total = next(line for line in stderr.splitlines() if "total: 2 files" in line)
    assert "2 written" in total and f"{read:,} → {written:,}" in total and "mean " in total
    # Without --json only the PSNR is computed: no SSIM or ΔE2000 column to fill.
    assert "PSNR" in stderr and "SSIM" not in stderr and "ΔE2000" not in stderr


def test_json_on_a_terminal_measures_every_figure(folder: Path, tmp_path: Path) -> None:
    report = tmp_path / "q.json"
    code, stderr = kmimg(
        "quantize", str(folder), "--out-dir", str(tmp_path / "o5"), "-j", "1", "--json", str(report),
        stderr_tty=True,
    )  # fmt: skip
    assert code == 0
    assert "SSIM" in stderr and "ΔE2000" in stderr and "total: 2 files" in stderr
    records = json.loads(report.read_text())["results"]
    assert all(r["psnr"] and r["ssim"] and r["delta_e2000"] is not None for r in records)


def test_one_file_has_no_total_row(folder: Path, tmp_path: Path) -> None:
    target = tmp_path / "one.png"
    code, stderr = kmimg("quantize", str(folder / "a.png"), "-o", str(target), stderr_tty=True)
    assert code == 0 and "PSNR" in stderr and "total:" not in stderr


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
