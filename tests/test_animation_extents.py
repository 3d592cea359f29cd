"""GIF frames that reach past the logical screen (Pillow grows its canvas for them; browsers clip
them): kmimg clips, and holds the grown canvas to the pixel limit before decoding it."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from kmimg.cli import app
from kmimg.errors import InputError
from kmimg.io.animation import load_animation


def _two_frame_gif() -> bytes:
    first = np.zeros((4, 4), dtype=np.uint8)
    second = np.ones((4, 4), dtype=np.uint8)
    frames = [Image.fromarray(a, "P") for a in (first, second)]
    for frame in frames:
        frame.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    return buffer.getvalue()


def _second_frame_at(raw: bytes, left: int) -> bytes:
    """The GIF with its second image descriptor moved ``left`` pixels to the right."""
    descriptor = b"\x2c\x00\x00\x00\x00\x04\x00\x04\x00"
    first = raw.index(descriptor)
    second = raw.index(descriptor, first + 1)
    return raw[: second + 1] + left.to_bytes(2, "little") + raw[second + 3 :]


def test_a_frame_past_the_screen_is_clipped_as_browsers_show_it() -> None:
    animation = load_animation(_second_frame_at(_two_frame_gif(), 2), source="x.gif", max_pixels=10_000)
    assert animation.rgb.shape == (2, 4, 4, 3)
    white = animation.rgb[1, :, :, 0] == 255
    assert white[:, 2:].all() and not white[:, :2].any()  # the frame's left half is on screen


def test_a_frame_growing_the_canvas_past_the_limit_is_refused_before_decoding() -> None:
    raw = _second_frame_at(_two_frame_gif(), 65000)
    with pytest.raises(InputError, match="claims more than 100,000 pixels"):
        load_animation(raw, source="x.gif", max_pixels=100_000)


def test_the_command_then_quantizes_the_first_frame_with_a_warning(tmp_path: Path) -> None:
    source = tmp_path / "bomb.gif"
    source.write_bytes(_second_frame_at(_two_frame_gif(), 65000))
    arguments = ["quantize", str(source), "-k", "2", "--max-pixels", "100000"]
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert "claims more than 100,000 pixels" in result.stderr
    assert "only the first of its 2 frames was used" in result.stderr
    with Image.open(tmp_path / "bomb-k2.png") as written:
        assert written.size == (4, 4) and getattr(written, "n_frames", 1) == 1
