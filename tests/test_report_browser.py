"""The HTML report in a real browser: headless Chromium loads it, sees one chart point per k, and
logs no console message (the page has no script, so any message is an error or a blocked fetch)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kmimg.cli import app

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium"),
]


def load_in_chromium(page: Path, profile: Path) -> tuple[str, list[str]]:
    """The DOM after load, and the console lines Chromium logged while loading ``page``."""
    done = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [
        line
        for line in done.stderr.splitlines()
        if ":CONSOLE" in line or "Uncaught" in line or "ERR_" in line
    ]
    return done.stdout, console


def test_console_check_catches_a_broken_page(tmp_path: Path) -> None:
    # The detector must be able to fail: a blocked fetch and a script error are both seen.
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><html><head>"
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'">'
        '</head><body><img src="http://127.0.0.1:9/x.png"><p>bad</p></body></html>',
        encoding="utf-8",
    )
    dom, console = load_in_chromium(bad, tmp_path / "profile")
    assert "<p>bad</p>" in dom
    assert console


def test_report_page_loads_with_one_point_per_k_and_no_console_errors(  # type: ignore[no-untyped-def]
    write_png, noisy_rgb: np.ndarray, tmp_path: Path
) -> None:
    write_png(noisy_rgb, "in/a.png")
    write_png(noisy_rgb[:, ::-1], "in/b.png")
    page = tmp_path / "report.html"
    args = ["compress-report", str(tmp_path / "in"), "--ks", "2,4,8,16,32", "--target-psnr", "19"]
    result = CliRunner().invoke(app, [*args, "--html", str(page), "--thumb", "48", "-j", "1"])
    assert result.exit_code == 0, result.output
    dom, console = load_in_chromium(page, tmp_path / "profile")
    assert console == []
    sections = re.findall(r'<section class="image".*?</section>', dom, flags=re.S)
    assert len(sections) == 2
    for section in sections:
        ks = [int(k) for k in re.findall(r'<circle class="point[^"]*" data-k="(\d+)"', section)]
        # the swept ks, and the recommendation's search may add the one K it found (sorted in)
        assert ks == sorted(ks) and {2, 4, 8, 16, 32} <= set(ks) and len(ks) <= 6
        recommended = re.findall(r'<circle class="point recommended" data-k="(\d+)"', section)
        extra = set(ks) - {2, 4, 8, 16, 32}
        assert extra <= {int(k) for k in recommended}
        assert len(re.findall(r'<img class="sheet" src="data:image/png;base64,', section)) == 1
    assert dom.count('class="point recommended"') == 2
