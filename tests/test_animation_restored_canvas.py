"""Frames drawn on a restored canvas (issue 27): the frame-table core may draw a frame on the
canvas the frame before was drawn on (that frame's disposal "restore to previous") where that
costs less, choosing the pixels it keeps against that canvas; every decoder must then composite
the frames the core intended."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from kmimg.cli import app
from kmimg.core import animation
from kmimg.core.animation import FramePalettes, quantize_frame_palettes
from kmimg.io.animation import load_animation
from kmimg.io.gif import encode_gif_frame_palettes, gif_frame_bytes
from kmimg.options import QuantizeOptions
from tests.test_animation_frame_palettes import disposals, pillow_rgba


def _visible(frames: np.ndarray) -> np.ndarray:
    """RGBA frames with the colour of every transparent pixel zeroed (decoders differ there)."""
    out = frames.copy()
    out[out[..., 3] == 0] = 0
    return out


def kmimg_frames(data: bytes) -> np.ndarray:
    decoded = load_animation(data, source="x", max_pixels=10**8)
    alpha = decoded.alpha if decoded.alpha is not None else np.full(decoded.rgb.shape[:3], 255, np.uint8)
    return _visible(np.concatenate([decoded.rgb, alpha[..., None]], axis=3))


def gifsicle_frames(data: bytes, folder: Path) -> np.ndarray:
    """The frames of gifsicle's unoptimized copy (every frame whole, composited by gifsicle; it
    unoptimizes only a one-table GIF, so its one-table copy first), as Pillow reads them."""
    source, one, copy = folder / "in.gif", folder / "one.gif", folder / "copy.gif"
    source.write_bytes(data)
    subprocess.run(["gifsicle", "--colors=255", str(source), "-o", str(one)], check=True, capture_output=True)
    subprocess.run(["gifsicle", "--unoptimize", str(one), "-o", str(copy)], check=True, capture_output=True)
    return pillow_rgba(copy.read_bytes())


def written(
    frames: np.ndarray, k: int, alpha: np.ndarray | None, dither: float = 0.0
) -> tuple[FramePalettes, bytes]:
    options = QuantizeOptions(k=k, dither=dither)
    result = quantize_frame_palettes(frames[..., :3], alpha, options, frame_bytes=gif_frame_bytes)
    data = encode_gif_frame_palettes(
        result.indices, result.drawn, result.palettes, result.own, result.shared, result.cleared,
        [50] * result.frame_count, 0, result.restored,
    )  # fmt: skip
    return result, data


def intended(result: FramePalettes, transparent: bool) -> np.ndarray:
    assert result.shown is not None
    shown = _visible(result.shown)
    if not transparent:
        shown[..., 3] = 255
    return shown


def returning(rng: np.random.Generator, *, transparent: bool, smooth: bool) -> np.ndarray:
    """Random RGBA frames that often come back to the picture two frames before: a background
    (flat colours, or with ``smooth`` a noisy gradient: more colours than K), blocks that flash
    for one frame and go again, a sprite that moves on a floor, and a halo that grows and shrinks
    back; on a transparent background (the floor, blocks and halo its only visible pixels) where
    ``transparent``."""
    count, height, width = int(rng.integers(4, 9)), int(rng.integers(12, 36)), int(rng.integers(12, 36))
    colours = rng.integers(0, 256, (6, 3))
    y, x = np.mgrid[0:height, 0:width]
    background = np.zeros((height, width, 4), dtype=np.int64)
    background[..., :3] = colours[(y // 5 + x // 7) % 3]
    if smooth:
        background[..., 0] = 4 * x + rng.integers(0, 6, (height, width))
        background[..., 1] = 5 * y + rng.integers(0, 6, (height, width))
    background[..., 3] = 0 if transparent else 255
    frames = np.zeros((count, height, width, 4), dtype=np.int64)
    cy, cx = height // 2, width // 2
    for number in range(count):
        frame = frames[number]
        frame[...] = background
        reach = 3 + 3 * (number % 2) + int(rng.integers(0, 2))  # grows and shrinks back
        halo = (y - cy) ** 2 + (x - cx) ** 2 <= reach**2
        frame[halo] = (*colours[3], 255)
        frame[(y - cy) ** 2 + (x - cx) ** 2 <= 4] = (*colours[4], 255)
        if number % 2 and rng.random() < 0.7:  # a flash that the next frame takes away
            top, left = int(rng.integers(0, height - 4)), int(rng.integers(0, width - 4))
            tall, wide = int(rng.integers(2, 8)), int(rng.integers(2, 8))
            frame[top : top + tall, left : left + wide] = (*colours[5], 255)
        frame[height - 4 :] = (*colours[2], 255)  # a floor (visible on a transparent background too)
        spot = int(rng.integers(0, width - 2))
        frame[height - 3 : height - 1, spot : spot + 2] = (*colours[number % 2], 255)  # a moving sprite
    frames = np.clip(frames, 0, 255).astype(np.uint8)
    frames[frames[..., 3] == 0] = 0
    return frames


@pytest.mark.parametrize("transparent", [False, True])
def test_random_returning_animations_decode_to_the_frames_the_core_intended(transparent: bool) -> None:
    """On random animations that come back to earlier pictures (exact and lossy, some dithered,
    opaque and on a transparent background): every file decodes, in Pillow and in kmimg's reader,
    to the frames the core composited (the restored canvases included), the frames the core drew
    on a restored canvas follow a frame of disposal 3, and some frames are drawn so."""
    rng = np.random.default_rng(41 if transparent else 42)
    taken = 0
    for case in range(24):
        smooth = case % 2 == 1
        frames = returning(rng, transparent=transparent, smooth=smooth)
        alpha = frames[..., 3] if transparent else None
        k = 8 if smooth else 16
        result, data = written(frames, k, alpha, 1.0 if case % 4 == 3 else 0.0)
        assert len(result.restored) == len(frames) and not any(result.restored[:2])
        for number, on in enumerate(result.restored):
            assert not on or result.cleared[number] is None
        expected = intended(result, transparent)
        assert np.array_equal(pillow_rgba(data), expected)
        assert np.array_equal(kmimg_frames(data), expected)
        found = disposals(data)
        assert all(found[number - 1] == 3 for number, on in enumerate(result.restored) if on)
        taken += sum(result.restored)
        if not smooth:  # at most K colours a frame: exact, whatever canvas it is drawn on
            assert result.error == 0.0
    assert taken >= 30


@pytest.mark.skipif(shutil.which("gifsicle") is None, reason="gifsicle is not installed")
def test_gifsicle_composites_the_restored_canvases_as_the_core_intended(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    taken = 0
    for case in range(10):
        transparent = case % 2 == 0
        frames = returning(rng, transparent=transparent, smooth=case % 3 == 0)
        result, data = written(frames, 16, frames[..., 3] if transparent else None)
        taken += sum(result.restored)
        assert np.array_equal(gifsicle_frames(data, tmp_path), intended(result, transparent))
    assert taken >= 10


def pulse(count: int = 7, size: int = 40) -> np.ndarray:
    """A disk on a transparent background that grows for one frame and shrinks back, a one-pixel
    spark moving around it: every other frame shows the picture of two frames before but for
    the spark (as a pulsing glow does)."""
    y, x = np.mgrid[0:size, 0:size]
    frames = np.zeros((count, size, size, 4), dtype=np.uint8)
    distance = np.hypot(y - size / 2, x - size / 2)
    for number in range(count):
        reach = 14 if number % 2 else 10
        for ring, colour in enumerate(((250, 160, 60), (240, 200, 120), (255, 250, 230))):
            frames[number][distance <= reach - 4 * ring] = (*colour, 255)
        frames[number, 20, 14 + number] = (40, 40, 200, 255)
    return frames


def test_a_frame_is_drawn_on_the_canvas_it_comes_back_to() -> None:
    """The frame after the disk grew shows the picture of two frames before but for the spark:
    drawn on that canvas (the grown frame disposing "to previous"), it keeps every pixel but the
    spark's; without (the frame before cleared, as before) it redraws the whole disk. The file is
    smaller and every frame comes out exact."""
    frames = pulse()
    alpha = frames[..., 3]
    result, data = written(frames, 8, alpha)
    assert result.restored == (False, False, True, False, True, False, True)
    assert all(box is None for box, on in zip(result.cleared, result.restored, strict=True) if on)
    for number in (2, 4, 6):
        assert int(result.drawn[number].sum()) <= 2  # the spark, where it was and where it is
    assert disposals(data)[1:6:2] == [3, 3, 3]
    expected = _visible(frames)
    assert np.array_equal(pillow_rgba(data), expected)
    assert np.array_equal(kmimg_frames(data), expected)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(animation, "_restored_canvas", lambda *args: None)
        before, plain = written(frames, 8, alpha)
    assert not any(before.restored)
    assert len(data) < len(plain)
    assert np.array_equal(pillow_rgba(plain), expected)


def test_the_writer_refuses_a_restored_frame_it_cannot_write() -> None:
    """A first frame has no canvas before it to restore, and a frame drawn on a restored canvas
    cannot also follow a clear (a frame has one disposal)."""
    frames = pulse(count=3)
    result, _ = written(frames, 8, frames[..., 3])
    arguments = (
        result.indices, result.drawn, result.palettes, result.own, result.shared, result.cleared,
        [50] * 3, 0,
    )  # fmt: skip
    with pytest.raises(ValueError, match="restored"):
        encode_gif_frame_palettes(*arguments, (True, False, False))
    cleared = [None, (0, 40, 0, 40), None]
    with pytest.raises(ValueError, match="restored"):
        encode_gif_frame_palettes(*arguments[:5], cleared, *arguments[6:], (False, True, False))
    with pytest.raises(ValueError, match="restored"):
        encode_gif_frame_palettes(*arguments, (False, False))


def test_dithered_frames_on_a_transparent_background_whose_changed_pixels_are_all_visible() -> None:
    """A frame's palette fitted to its changed pixels has no transparent entry when they are all
    visible; dithering maps the whole frame, transparent pixels too (an IndexError before)."""
    height, width = 24, 32
    frames = np.zeros((8, height, width, 4), np.uint8)
    y, x = np.mgrid[0:height, 0:width]
    for number in range(8):
        frames[number, ..., 1] = 7 * y
        frames[number, 4:20, 4:28, 3] = 255
        frames[number, 4:20, 4:28, 0] = 6 * x[4:20, 4:28]
        if number % 2:
            frames[number, 6:18, 6:26, :3] = (250, 30, 30)
        frames[number, 1, number] = (0, 0, 0, 255)
    frames[frames[..., 3] == 0] = 0
    result, data = written(frames, 8, frames[..., 3], 1.0)
    expected = intended(result, True)
    assert np.array_equal(pillow_rgba(data), expected)
    assert np.array_equal(kmimg_frames(data), expected)


def test_the_command_keeps_the_file_without_the_cores_restores_where_it_costs_less(tmp_path: Path) -> None:
    """Frames the core draws on a restored canvas leave the writer fewer frames to restore on its
    own: on this lossless animation the core's restores give 380 bytes of frames and the writer's
    alone 356, so the command writes the latter (the same frames)."""
    rng = np.random.default_rng(100)
    for case in range(7):
        frames = returning(rng, transparent=bool(case % 2), smooth=case % 3 != 0)
        k = int(rng.choice([4, 8, 16, 32]))
    restoring, restoring_data = written(frames, k, None)
    options = QuantizeOptions(k=k)
    plain = quantize_frame_palettes(
        frames[..., :3], None, options, frame_bytes=gif_frame_bytes, restore=False
    )
    assert any(restoring.restored) and not any(plain.restored)
    plain_data = encode_gif_frame_palettes(
        plain.indices, plain.drawn, plain.palettes, plain.own, plain.shared, plain.cleared,
        [50] * plain.frame_count, 0, plain.restored,
    )  # fmt: skip
    assert restoring.error == plain.error == 0.0
    assert len(plain_data) < len(restoring_data)
    source, target = tmp_path / "in.gif", tmp_path / "out.gif"
    pictures = [Image.fromarray(frame[..., :3]) for frame in frames]
    pictures[0].save(source, save_all=True, append_images=pictures[1:], duration=50, loop=0)
    result = CliRunner().invoke(app, ["quantize", str(source), "-k", str(k), "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert np.array_equal(pillow_rgba(source.read_bytes())[..., :3], frames[..., :3])
    assert np.array_equal(pillow_rgba(target.read_bytes())[..., :3], frames[..., :3])
    assert len(target.read_bytes()) <= len(plain_data)


def _same_frames(one: FramePalettes, other: FramePalettes) -> bool:
    """Whether two results hold the same frames, tables, flags and figures."""
    arrays = ("indices", "drawn", "shown", "palette", "counts")
    return (
        all(np.array_equal(getattr(one, name), getattr(other, name)) for name in arrays)
        and all(np.array_equal(a, b) for a, b in zip(one.palettes, other.palettes, strict=True))
        and (one.own, one.cleared, one.exact, one.restored)
        == (other.own, other.cleared, other.exact, other.restored)
        and (one.error, one.price, one.one_error, one.one_inexact)
        == (other.error, other.price, other.one_error, other.one_inexact)
        and one.quality == other.quality
        and one.frame_psnr == other.frame_psnr
    )


def test_the_frames_without_restores_made_in_one_go_are_those_restore_false_makes() -> None:
    """:func:`frame_palettes_unrestored` goes on from the first frame drawn on a restored canvas
    instead of drawing every frame again: the same frames as ``restore=False``, and with restores
    the same as :func:`quantize_frame_palettes`; ``None`` where no frame is restored."""
    from kmimg.core.animation import frame_palettes_unrestored

    rng = np.random.default_rng(7)
    forked = 0
    for case in range(8):
        frames = returning(rng, transparent=bool(case % 2), smooth=case % 3 != 0)
        alpha = frames[..., 3] if case % 2 else None
        options = QuantizeOptions(k=int(rng.choice([4, 8, 16, 32])), dither=0.5 if case == 3 else 0.0)
        restoring, plain = frame_palettes_unrestored(
            frames[..., :3], alpha, options, frame_bytes=gif_frame_bytes
        )
        assert _same_frames(
            restoring, quantize_frame_palettes(frames[..., :3], alpha, options, frame_bytes=gif_frame_bytes)
        )
        if plain is None:
            assert not any(restoring.restored)
            continue
        forked += 1
        alone = quantize_frame_palettes(
            frames[..., :3], alpha, options, frame_bytes=gif_frame_bytes, restore=False
        )
        assert _same_frames(plain, alone)
    assert forked >= 3
