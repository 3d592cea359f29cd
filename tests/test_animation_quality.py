"""Quality mode (``--quality``, ``--target-*``) on an animation: the fewest colours that reach
the goal over all frames, one palette as always; below MIN nothing is written (exit 99)."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image
from test_animation import animation_bytes, moving_disk
from typer.testing import CliRunner

from kmimg.cli import app

runner = CliRunner()


def _animation(tmp_path: Path) -> Path:
    source = tmp_path / "in.png"
    source.write_bytes(animation_bytes(moving_disk(count=8), "PNG", [40] * 8, loop=0))
    return source


def test_quality_mode_finds_fewer_colours_for_an_animation_and_keeps_its_frames(tmp_path: Path) -> None:
    source = _animation(tmp_path)
    target = tmp_path / "out.png"
    result = runner.invoke(
        app,
        [
            "quantize",
            str(source),
            "--quality",
            "30-50",
            "-o",
            str(target),
            "--json",
            str(tmp_path / "r.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "r.json").read_text())["results"][0]
    assert record["frames"] == 8 and record["goal_met"] is True
    assert 2 <= record["k_chosen"] < 256 and record["quality"] >= 50
    with Image.open(target) as written:
        assert written.n_frames == 8
        assert len(written.getpalette() or []) // 3 <= record["k_chosen"] + 1
    fixed = runner.invoke(
        app, ["quantize", str(source), "-k", str(record["k_chosen"]), "-o", str(tmp_path / "k.png")]
    )
    assert fixed.exit_code == 0
    assert (tmp_path / "k.png").read_bytes() == target.read_bytes()  # the K found, fitted as -k K is


def test_an_animation_below_the_minimum_is_not_written(tmp_path: Path) -> None:
    source = _animation(tmp_path)
    target = tmp_path / "out.png"
    result = runner.invoke(
        app, ["quantize", str(source), "--quality", "99-100", "-k", "2", "-o", str(target)]
    )
    assert result.exit_code == 99, result.output
    assert "below the minimum 99" in result.stderr and not target.exists()
