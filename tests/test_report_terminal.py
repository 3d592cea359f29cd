"""`compress-report` on a terminal: a table per image, a summary for several, nothing when -q."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from terminal import run_kmimg


def on_terminal(*args: str) -> tuple[int, str]:
    """``kmimg compress-report ARGS`` with stderr on a 200-column pseudo-terminal."""
    return run_kmimg("compress-report", *args, columns=200)


@pytest.fixture
def folder(write_png, noisy_rgb: np.ndarray, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    write_png(noisy_rgb, "in/a.png")
    # pure noise: no small palette gets near the target that a.png meets
    write_png(np.random.default_rng(1).integers(0, 256, (30, 40, 3), dtype=np.uint8), "in/b.png")
    return tmp_path / "in"


def test_one_image_gets_a_table_with_the_recommendation_marked(folder: Path) -> None:
    code, stderr = on_terminal(str(folder / "a.png"), "--ks", "2,4,8", "--target-psnr", "19")
    assert code == 0
    for heading in ("k", "bytes", "× input", "bpp", "PSNR dB", "SSIM", "ΔE2000"):
        assert heading in stderr
    assert "◀ recommended" in stderr
    found = re.search(r"recommended: k=(\d+)", stderr)
    assert found is not None and 4 < int(found.group(1)) <= 8  # the search's, or the smallest k given
    assert "summary" not in stderr


def test_folder_gets_a_summary_with_the_total_saved_and_names_unmet_targets(folder: Path) -> None:
    # a.png reaches 31 dB with fewer than 256 colours (the search finds how many); b.png never
    code, stderr = on_terminal(str(folder), "--ks", "2,4", "--target-psnr", "31", "-j", "1")
    assert code == 0
    assert "summary at the recommended k" in stderr
    assert "total (1/2 meet the target)" in stderr
    assert "no k meets PSNR ≥ 31 dB" in stderr  # b.png's table caption
    assert (
        f"kmimg: warning: {folder / 'b.png'}: no k up to 256 meets PSNR ≥ 31 dB (ks 2,4, then searched)"
        in stderr
    )


def test_quiet_shows_nothing(folder: Path) -> None:
    code, stderr = on_terminal(str(folder / "a.png"), "--ks", "2,4", "--target-psnr", "10", "-q")
    assert code == 0
    assert stderr == ""
