"""Disposal comes through as what a viewer shows (issue 27): GIF and APNG inputs using each
disposal (none or keep, background, previous; APNG blend source and over) quantized with K at
least the colours present give outputs whose composited frames are the input's, whatever
disposal codes kmimg's writers chose."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kmimg.cli import app
from kmimg.io.animation import load_animation
from tests.test_animation import animation_bytes

runner = CliRunner()


def few_colours(count: int = 8, height: int = 40, width: int = 56) -> np.ndarray:
    """RGBA frames of six colours at most: a transparent canvas, a green bar that stays, a red
    square moving right and a blue square moving down."""
    frames = np.zeros((count, height, width, 4), dtype=np.uint8)
    frames[:, 30:36, 4:50] = (20, 160, 60, 255)
    for number in range(count):
        left = 2 + number * 5
        frames[number, 4:12, left : left + 8] = (220, 30, 40, 255)
        top = 2 + number * 3
        frames[number, top : top + 6, 40:46] = (30, 60, 220, 255)
    return frames


@pytest.mark.parametrize(
    ("fmt", "operations"),
    [
        ("GIF", {"disposal": 0}),  # none
        ("GIF", {"disposal": 1}),  # keep
        ("GIF", {"disposal": 2}),  # restore to background
        ("GIF", {"disposal": 3}),  # restore to previous
        ("PNG", {"disposal": 0, "blend": 0}),  # APNG: none, blend source
        ("PNG", {"disposal": 0, "blend": 1}),  # none, blend over: trails
        ("PNG", {"disposal": 1, "blend": 0}),  # background
        ("PNG", {"disposal": 2, "blend": 1}),  # previous
    ],
)
@pytest.mark.parametrize("out", ["out.gif", "out.png"])
def test_each_disposal_round_trips_to_the_same_composited_frames(
    tmp_path: Path, fmt: str, operations: dict[str, int], out: str
) -> None:
    frames = few_colours()
    durations = [40 + 10 * (i % 3) for i in range(len(frames))]
    source = tmp_path / f"in.{fmt.lower()}"
    source.write_bytes(animation_bytes(frames, fmt, durations, loop=3, **operations))
    before = load_animation(source.read_bytes(), source="in", max_pixels=10**8)
    assert before.alpha is not None and bool((before.alpha == 0).any())  # the canvas shows through
    colours = np.concatenate([before.rgb, before.alpha[..., None]], axis=3).reshape(-1, 4)
    assert len(np.unique(colours, axis=0)) <= 16  # -k 16 holds them all: lossless
    target = tmp_path / out
    result = runner.invoke(app, ["quantize", str(source), "-k", "16", "-o", str(target)])
    assert result.exit_code == 0, result.output
    after = load_animation(target.read_bytes(), source="out", max_pixels=10**8)
    assert after.frame_count == before.frame_count
    assert after.durations == before.durations and after.loop == before.loop
    assert np.array_equal(after.rgb, before.rgb)
    assert (after.alpha is None) == (before.alpha is None)
    assert after.alpha is None or before.alpha is None or np.array_equal(after.alpha, before.alpha)


def test_the_inputs_differ_by_their_disposal() -> None:
    """The cases above are different animations: with nothing disposed and blend over, the
    squares leave trails; disposed to background, they do not."""
    frames = few_colours()
    durations = [50] * len(frames)

    def shown(**operations: int) -> np.ndarray:
        data = animation_bytes(frames, "PNG", durations, loop=0, **operations)
        return load_animation(data, source="x", max_pixels=10**8).rgb

    trails, clean = shown(disposal=0, blend=1), shown(disposal=1, blend=0)
    assert not np.array_equal(trails, clean)
    assert np.array_equal(clean[..., :3], np.where(frames[..., 3:] > 0, frames[..., :3], 0))
