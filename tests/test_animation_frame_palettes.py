"""``--frame-palettes`` (issue 27): an animated GIF's frames on colour tables of their own, each
fitted to the pixels the frame changes, or on the one palette fitted across all frames, whichever
costs less in error and bytes."""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from kmimg.cli import app
from kmimg.core import animation
from kmimg.core.animation import (
    FramePalettes,
    _Drawn,
    measured_rate,
    quantize_frame_palettes,
    quantize_frames,
    with_keep,
)
from kmimg.io.animation import load_animation
from kmimg.io.gif import encode_gif_frame_palettes, gif_frame_bytes
from kmimg.metrics import psnr_from_mse
from kmimg.options import QuantizeOptions
from tests.test_animation import animation_bytes, moving_disk

runner = CliRunner()


def cross_fade(count: int = 10, height: int = 40, width: int = 56) -> np.ndarray:
    """RGBA frames fading from one colourful pattern to another, with a grey bar that stays."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    first = np.dstack([255 * x / width, 128 + 100 * np.sin(y / 6), 255 * (1 - y / height)])
    second = np.dstack([200 * (1 - x / width), 255 * y / height, 128 + 120 * np.cos(x / 5)])
    frames = np.stack([(1 - w) * first + w * second for w in np.linspace(0, 1, count)])
    frames[:, 34:38, :] = 128
    rgb = np.clip(np.rint(frames), 0, 255).astype(np.uint8)
    return np.concatenate([rgb, np.full((*rgb.shape[:3], 1), 255, dtype=np.uint8)], axis=3)


def local_tables(data: bytes) -> list[int | None]:
    """Each frame's local colour table size (entries), ``None`` for a frame on the global one."""
    flags = data[10]
    at = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    tables: list[int | None] = []
    while data[at] != 0x3B:
        if data[at] == 0x21:  # an extension: skip its sub-blocks
            at += 2
            while data[at]:
                at += data[at] + 1
            at += 1
            continue
        packed = data[at + 9]
        size = 1 << ((packed & 7) + 1) if packed & 0x80 else None
        tables.append(size)
        at += 10 + 3 * (size or 0) + 1  # the descriptor, its table, the LZW code size
        while data[at]:
            at += data[at] + 1
        at += 1
    return tables


def decoded_psnr(frames: np.ndarray, data: bytes) -> list[float]:
    decoded = load_animation(data, source="x", max_pixels=10**8)
    return [
        psnr_from_mse(float(np.mean((a.astype(np.float64) - b) ** 2)))
        for a, b in zip(frames[..., :3], decoded.rgb, strict=True)
    ]


def encoded(
    frames: np.ndarray, options: QuantizeOptions, alpha: np.ndarray | None = None, *, lossy: bool = True
) -> tuple[FramePalettes, bytes]:
    result = quantize_frame_palettes(
        frames[..., :3], alpha, options, frame_bytes=gif_frame_bytes, lossy=lossy
    )
    data = encode_gif_frame_palettes(
        result.indices, result.drawn, result.palettes, result.own, result.shared, result.cleared,
        [50] * result.frame_count, 0, result.restored,
    )  # fmt: skip
    return result, data


def test_frames_decode_to_what_the_palettes_show_each_at_most_k_colours() -> None:
    frames = cross_fade()
    result, data = encoded(frames, QuantizeOptions(k=8))
    assert all(len(palette) <= 8 for palette in result.palettes)
    assert any(result.own)
    tables = local_tables(data)
    assert len(tables) == len(frames)
    assert [size is not None for size in tables] == list(result.own)
    assert all(size is None or size <= 16 for size in tables)  # 8 colours and the "keep" entry
    assert decoded_psnr(frames, data) == pytest.approx(result.frame_psnr)


def test_own_palettes_leave_room_for_keep_in_their_table() -> None:
    """At a power of two, a frame's own palette holds one colour less, so that the "keep" entry
    does not double its colour table (and a bit on every LZW code)."""
    assert [with_keep(k) for k in (2, 3, 4, 8, 48, 64, 256)] == [2, 3, 3, 7, 48, 63, 255]
    result, data = encoded(cross_fade(), QuantizeOptions(k=8))
    assert all(
        len(palette) <= 7 for palette, own in zip(result.palettes[1:], result.own[1:], strict=True) if own
    )
    assert all(size is None or size <= 8 for size in local_tables(data))


def test_k_256_fits_every_frame_in_a_byte_and_k_4_measures_nothing_it_cannot(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``-k 256``: the first frame's own palette holds 255 colours (its "keep" is entry 255, not
    256, which no byte holds). K = 4: after the first frame the own palette and the one of 3K/4
    both hold 3 colours, so nothing is fitted to measure a rate."""
    frames = cross_fade(count=3)
    result, data = encoded(frames, QuantizeOptions(k=256))
    assert all(len(palette) <= 255 for palette in result.palettes)
    assert decoded_psnr(frames, data) == pytest.approx(result.frame_psnr)
    fitted: list[int] = []
    inner = animation.fit_frame

    def counted(*args: object) -> object:
        fitted.append(args[4].k)  # type: ignore[attr-defined]  # the options
        return inner(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(animation, "fit_frame", counted)
    encoded(frames, QuantizeOptions(k=4))
    assert fitted == [4, 3, 3, 3]  # frame 0: its own 4 and 3 to measure; then only the own 3


def noisy_fade(count: int = 8) -> np.ndarray:
    frames = cross_fade(count=count, height=64, width=96).astype(np.float64)
    noise = np.random.default_rng(3).normal(0, 10, frames.shape[1:])
    frames[..., :3] += noise[..., :3]
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def test_the_lossy_coder_saves_bytes_and_decodes_to_what_was_measured() -> None:
    frames = noisy_fade()
    options = QuantizeOptions(k=16)
    exact, exact_data = encoded(frames, options, lossy=False)
    lossy, data = encoded(frames, options)
    assert len(data) < 0.98 * len(exact_data)
    assert decoded_psnr(frames, data) == pytest.approx(lossy.frame_psnr)
    assert lossy.quality is not None and exact.quality is not None
    # within a dB of the exact coding: an index the coder takes may also be closer than the pixel's
    # own ("keep" where the screen is closer), so the PSNR may even rise a little
    assert exact.quality.psnr - 1.0 < lossy.quality.psnr < exact.quality.psnr + 0.5
    _, same = encoded(frames, options)
    assert same == data


def banded_jumps(count: int = 8, height: int = 72, width: int = 96) -> np.ndarray:
    """A square jumping over a gradient, each frame reduced to 48 colours of its own by Pillow
    (as a GIF's palette per frame): the background's bands move a little in every frame."""
    from PIL import Image

    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    frames = []
    for number in range(count):
        frame = np.dstack([128 + 100 * np.cos(x / 12), 255 * y / height, 200 - 150 * x / width])
        left, top = (number * 37) % (width - 16), (number * 23) % (height - 16)
        frame[top : top + 16, left : left + 16] = (230, 40, 50)
        image = Image.fromarray(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
        frames.append(np.asarray(image.quantize(48 + number % 3).convert("RGB")))
    rgb = np.stack(frames)
    return np.concatenate([rgb, np.full((*rgb.shape[:3], 1), 255, dtype=np.uint8)], axis=3)


def test_measured_rate_is_the_error_the_larger_palette_saves_per_byte() -> None:
    def drawn(error: float, size: int) -> _Drawn:
        nothing = np.zeros((1, 1), dtype=bool)
        return _Drawn(np.zeros((1, 4), np.uint8), True, nothing, np.zeros(0, np.uint8), error, size)

    assert measured_rate(drawn(100.0, 60), drawn(400.0, 50)) == pytest.approx(30.0)
    assert measured_rate(drawn(100.0, 50), drawn(400.0, 60)) is None  # not larger
    assert measured_rate(drawn(400.0, 60), drawn(100.0, 50)) is None  # not better


def test_bytes_are_priced_at_the_rate_measured_on_the_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where twice the colours buy little per byte (the background's bands moving a little in
    every frame), the measured price redraws fewer of them than the assumed one (a frame whose
    rate is not measured keeps it): a smaller file, still well ahead of one palette. (Both on the
    canvas the frame before left: at the assumed price three of these frames are also smaller
    drawn on a restored canvas, 11,357 -> 10,523 bytes, which is not what is measured here.)"""
    frames = banded_jumps()
    options = QuantizeOptions(k=32)
    monkeypatch.setattr(animation, "_restored_canvas", lambda *args: None)
    measured, data = encoded(frames, options)
    monkeypatch.setattr(animation, "measured_rate", lambda full, fewer: None)
    assumed, assumed_data = encoded(frames, options)
    one = quantize_frames(frames[..., :3], None, options)
    assert len(data) < 0.95 * len(assumed_data)
    assert measured.quality is not None and assumed.quality is not None and one.quality is not None
    assert measured.quality.psnr > one.quality.psnr + 1.0
    assert decoded_psnr(frames, data) == pytest.approx(measured.frame_psnr)


def slideshow(held: int = 3, height: int = 64, width: int = 96) -> np.ndarray:
    """RGBA frames of three unrelated pictures (reds, greens, blues), hard cuts between them, each
    held ``held`` frames while a white bar grows along the bottom."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    shade = 0.5 + 0.5 * np.sin(x / 11) * np.cos(y / 7)
    ramp = (x + y) / (width + height)
    pictures = [
        np.dstack([120 + 130 * shade, 40 + 60 * ramp, 30 + 0 * x]),
        np.dstack([30 + 50 * ramp, 110 + 140 * shade, 60 + 40 * (1 - ramp)]),
        np.dstack([40 + 0 * x, 60 + 70 * ramp, 110 + 140 * shade]),
    ]
    rng = np.random.default_rng(5)
    frames = []
    for picture in pictures:
        picture = picture + rng.normal(0, 2, picture.shape)
        for step in range(held):
            frame = picture.copy()
            frame[-4:, : (step + 1) * width // held] = 255
            frames.append(frame)
    rgb = np.clip(np.rint(frames), 0, 255).astype(np.uint8)
    return np.concatenate([rgb, np.full((*rgb.shape[:3], 1), 255, dtype=np.uint8)], axis=3)


def test_a_hard_cut_is_coded_at_the_error_of_its_own_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """At a cut to an unrelated picture the shared palette (fitted across all three) is far worse
    than the frame's own table; priced at the shared palette's error (the rule before), the lossy
    coder took 1.2-1.9 dB from every frame of each picture (the frames after a cut show it), priced
    relative to the frames before it, at most 0.5 dB of the lossless coding's."""
    frames = slideshow()
    options = QuantizeOptions(k=32)
    exact, exact_data = encoded(frames, options, lossy=False)
    result, data = encoded(frames, options)
    assert decoded_psnr(frames, data) == pytest.approx(result.frame_psnr)
    assert all(ours > theirs - 0.5 for ours, theirs in zip(result.frame_psnr, exact.frame_psnr, strict=True))
    monkeypatch.setattr(animation, "_lossy_price", lambda assumed, taken, ratios: assumed)
    before, before_data = encoded(frames, options)
    assert all(ours < theirs - 1.0 for ours, theirs in zip(before.frame_psnr, exact.frame_psnr, strict=True))
    assert len(before_data) < len(data) < len(exact_data)


def test_the_lossy_price_follows_the_error_taken_relative_to_the_frames_before() -> None:
    """Where every frame's own table gains alike over the shared palette (a pan over one photo:
    ratios alike), the price stays the shared palette's; a frame that gains far more than the
    frames before it (a cut) is priced at the error of its own table, relative to them; the first
    frame at its own error; never above the shared palette's price; a frame exact on the shared
    palette at 0."""
    price = animation._lossy_price
    assert price(100.0, 20.0, [0.2, 0.2, 0.2]) == pytest.approx(100.0)
    assert price(100.0, 10.0, [1.0, 0.9, 1.0]) == pytest.approx(10.0)
    assert price(100.0, 15.0, [0.2, 0.3, 0.1]) == pytest.approx(75.0)
    assert price(100.0, 50.0, [0.25, 0.25]) == pytest.approx(100.0)
    assert price(100.0, 10.0, []) == pytest.approx(10.0)
    assert price(0.0, 0.0, [0.5]) == 0.0
    assert price(100.0, 10.0, [0.0]) == pytest.approx(100.0)


def test_a_cross_fade_gains_over_one_palette() -> None:
    """(At K = 16: at K = 8 the 56x40 frames' own tables are a large part of their bytes, and the
    measured price takes +0.7 dB in 16 % fewer bytes than the assumed one's +1.7 dB.)"""
    frames = cross_fade()
    options = QuantizeOptions(k=16)
    one = quantize_frames(frames[..., :3], None, options)
    result, _ = encoded(frames, options)
    assert result.quality is not None and one.quality is not None
    assert result.quality.psnr > one.quality.psnr + 1.0


def scrolling_text(count: int = 10, height: int = 64, width: int = 96) -> np.ndarray:
    """Rows of "words" in a few colours on white, scrolling up 3 pixels a frame: most pixels of
    the moved rows are white in the frame before too."""
    rng = np.random.default_rng(11)
    sheet = np.full((height * 2, width, 3), 255, dtype=np.uint8)
    colours = np.array([(20, 20, 20), (30, 90, 200), (190, 50, 40)], dtype=np.uint8)
    for top in range(2, height * 2 - 8, 9):
        left = 2
        while left < width - 12:
            length = int(rng.integers(4, 12))
            glyphs = rng.random((5, length)) < 0.5
            sheet[top : top + 5, left : left + length][glyphs] = colours[(top // 9) % 3]
            left += length + 3
    frames = np.stack([sheet[3 * number : 3 * number + height] for number in range(count)])
    return np.concatenate([frames, np.full((*frames.shape[:3], 1), 255, dtype=np.uint8)], axis=3)


def test_pixels_left_as_shown_are_coded_with_the_entry_that_shows_them() -> None:
    """Scrolling text: a pixel that stays white between moved letters is coded as the white entry
    (the LZW strings of the rows continue), not as "keep": no larger than one palette's file
    with every frame drawn on the frame before (the default writer may also restore the canvas
    a frame was drawn on: a gain of its own)."""
    from kmimg.io.gif import _animated

    frames = scrolling_text()
    options = QuantizeOptions(k=8)
    one = quantize_frames(frames[..., :3], None, options)
    spare = len(one.palette) if len(one.palette) < 256 else None
    one_data = _animated(one.indices, one.palette, [50] * len(frames), 0, None, spare, False)
    result, data = encoded(frames, options)
    assert len(data) <= len(one_data)
    unchanged = ~(frames[1:, ..., :3] != frames[:-1, ..., :3]).any(axis=3)
    assert bool((result.drawn[1:] & unchanged).any())  # drawn as they are shown
    assert decoded_psnr(frames, data) == pytest.approx(result.frame_psnr)


def test_pixels_turning_transparent_are_cleared_and_lossless_frames_stay_exact() -> None:
    frames = moving_disk(clear=True)
    result, data = encoded(frames, QuantizeOptions(k=4), frames[..., 3])
    decoded = load_animation(data, source="x", max_pixels=10**8)
    expected = frames.copy()
    expected[expected[..., 3] == 0] = 0
    assert decoded.alpha is not None
    assert np.array_equal(decoded.rgb, expected[..., :3]) and np.array_equal(decoded.alpha, expected[..., 3])
    assert any(box is not None for box in result.cleared)


def test_a_lossy_transparent_animation_decodes_to_what_was_measured() -> None:
    frames = moving_disk()
    frames[..., 3] = 255
    frames[:, :10, :20, 3] = 0  # a transparent corner, and a disk passing under it
    for number in range(0, len(frames), 3):
        frames[number, 20:30, 30:40, 3] = 0  # pixels turning transparent, then back
    frames[frames[..., 3] == 0] = 0
    result, data = encoded(frames, QuantizeOptions(k=6), frames[..., 3])
    decoded = load_animation(data, source="x", max_pixels=10**8)
    assert decoded.alpha is not None and np.array_equal(decoded.alpha, frames[..., 3])
    visible = frames[..., 3] > 0
    for number, measured in enumerate(result.frame_psnr):
        seen = visible[number]
        diff = frames[number][..., :3][seen].astype(np.float64) - decoded.rgb[number][seen]
        assert psnr_from_mse(float(np.mean(diff**2))) == pytest.approx(measured)


def noisy_pan(count: int = 8, height: int = 48, width: int = 72) -> np.ndarray:
    """A noisy gradient panning one pixel a frame under a still grey bar."""
    rng = np.random.default_rng(11)
    y, x = np.mgrid[0:height, 0 : width + count].astype(np.float64)
    scene = np.dstack([2.5 * x, 128 + 90 * np.sin(y / 7), 255 - 4 * y]) + rng.normal(
        0, 9, (height, width + count, 3)
    )
    frames = np.stack([scene[:, n : n + width] for n in range(count)])
    frames[:, 20:26, :] = 128
    rgb = np.clip(np.rint(frames), 0, 255).astype(np.uint8)
    return np.concatenate([rgb, np.full((*rgb.shape[:3], 1), 255, dtype=np.uint8)], axis=3)


@pytest.mark.skipif(shutil.which("gifsicle") is None, reason="gifsicle is not installed")
@pytest.mark.parametrize("make", [noisy_pan, noisy_fade])
def test_a_lossy_animation_reads_the_same_in_gifsicle_and_keeps_still_pixels(
    tmp_path: Path, make: Callable[[], np.ndarray]
) -> None:
    """gifsicle reads the lossy coder's frames (its --info without a warning, and its copy decodes
    to the same frames as kmimg's file), and the pixels that never change are never redrawn."""
    frames = make()
    result, data = encoded(frames, QuantizeOptions(k=16))
    source, copy = tmp_path / "lossy.gif", tmp_path / "copy.gif"
    source.write_bytes(data)
    info = subprocess.run(["gifsicle", "--info", str(source)], capture_output=True, text=True, check=True)
    assert "warning" not in (info.stdout + info.stderr).lower()
    subprocess.run(["gifsicle", str(source), "-o", str(copy)], check=True)
    ours = load_animation(data, source="x", max_pixels=10**8)
    theirs = load_animation(copy.read_bytes(), source="y", max_pixels=10**8)
    assert np.array_equal(ours.rgb, theirs.rgb) and ours.frame_count == len(frames)
    still = (frames == frames[:1]).all(axis=(0, 3))
    assert still.any() and not result.drawn[1:][:, still].any()
    assert (ours.rgb[:, still] == ours.rgb[:1, still]).all()


def _run(
    tmp_path: Path, frames: np.ndarray, *extra: str, out: str = "out.gif", fmt: str = "GIF"
) -> tuple[Result, Path]:
    source = tmp_path / f"in.{fmt.lower()}"
    if not source.exists():
        durations = [40 + 10 * (i % 3) for i in range(len(frames))]
        source.write_bytes(animation_bytes(frames, fmt, durations, loop=0))
    target = tmp_path / out
    result = runner.invoke(app, ["quantize", str(source), "-o", str(target), "--frame-palettes", *extra])
    return result, target


def test_the_option_keeps_frames_durations_and_loop_and_is_deterministic(tmp_path: Path) -> None:
    frames = cross_fade(count=12)
    result, target = _run(tmp_path, frames, "-k", "16", "--json", "-")
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)["results"]
    assert record["frames"] == 12
    before = load_animation((tmp_path / "in.gif").read_bytes(), source="in", max_pixels=10**8)
    after = load_animation(target.read_bytes(), source="out", max_pixels=10**8)
    assert after.frame_count == 12 and after.durations == before.durations and after.loop == 0
    first = target.read_bytes()
    again, target = _run(tmp_path, frames, "-k", "16", out="again.gif")
    assert again.exit_code == 0 and target.read_bytes() == first


def test_tables_that_fit_one_are_written_as_the_global_table() -> None:
    """Frames on small tables of their own whose colours fit one table are written on it, no
    local tables: a smaller file that shows the same."""
    from kmimg.io.gif import _frame_tables

    rng = np.random.default_rng(5)
    colours = rng.integers(0, 256, size=(6, 3), dtype=np.uint8)
    palettes = [np.column_stack([colours[i : i + 3], np.full(3, 255, np.uint8)]) for i in range(4)]
    indices = rng.integers(0, 3, size=(4, 24, 24), dtype=np.uint8)
    drawn = np.ones(indices.shape, dtype=bool)
    arguments = (indices, drawn, palettes, [True] * 4, palettes[0], [None] * 4, [50] * 4, 0)
    data, as_given = encode_gif_frame_palettes(*arguments), _frame_tables(*arguments)
    assert local_tables(as_given) == [4] * 4 and local_tables(data) == [None] * 4
    assert len(data) < len(as_given)
    same = load_animation(as_given, source="x", max_pixels=10**8)
    assert np.array_equal(load_animation(data, source="x", max_pixels=10**8).rgb, same.rgb)


def test_a_transparent_first_frame_stores_the_box_of_its_visible_pixels() -> None:
    from PIL import Image

    frames = moving_disk(clear=True)
    _, data = encoded(frames, QuantizeOptions(k=4), frames[..., 3])
    with Image.open(io.BytesIO(data)) as image:
        left, top, right, bottom = image.dispose_extent
    visible = np.argwhere(frames[0, ..., 3] > 0)
    assert (top, left) == tuple(visible.min(axis=0)) and (bottom, right) == tuple(visible.max(axis=0) + 1)
    decoded = load_animation(data, source="x", max_pixels=10**8)
    assert decoded.alpha is not None and np.array_equal(decoded.alpha, frames[..., 3])


def test_one_palette_is_kept_when_it_costs_less_in_error_and_bytes() -> None:
    """The comparison of the whole files: squared error plus bytes at the frames' median price."""
    import dataclasses

    result, _ = encoded(cross_fade(), QuantizeOptions(k=16))
    assert result.one is not None and result.price > 0
    assert result.error < result.one_error  # the frames' own palettes show them closer
    gap = (result.one_error - result.error) / result.price  # the bytes that closeness is worth
    assert not result.one_palette_cheaper(1000, 1000 - int(gap) + 1)
    assert result.one_palette_cheaper(1000, 1000 - int(gap) - 1)
    assert not dataclasses.replace(result, one=None).one_palette_cheaper(1000, 1)


def test_the_option_writes_the_one_palette_file_when_that_costs_less(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When one palette costs less, ``--frame-palettes`` writes what the default writes, and its
    record measures that file."""
    frames = cross_fade(count=8)
    monkeypatch.setattr(FramePalettes, "one_palette_cheaper", lambda self, size, one_size: True)
    result, target = _run(tmp_path, frames, "-k", "16", "--json", "-")
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)["results"]
    default = tmp_path / "default.gif"
    plain = runner.invoke(
        app, ["quantize", str(tmp_path / "in.gif"), "-o", str(default), "-k", "16", "--one-palette"]
    )
    assert plain.exit_code == 0, plain.output
    assert target.read_bytes() == default.read_bytes()
    assert local_tables(target.read_bytes()) == [None] * 8
    decoded = load_animation(target.read_bytes(), source="out", max_pixels=10**8)
    source = load_animation((tmp_path / "in.gif").read_bytes(), source="in", max_pixels=10**8)
    psnrs = [
        psnr_from_mse(float(np.mean((a.astype(np.float64) - b) ** 2)))
        for a, b in zip(source.rgb, decoded.rgb, strict=True)
    ]
    assert record["psnr"] == pytest.approx(float(np.mean(psnrs)), abs=0.01)


def test_dithered_static_pixels_do_not_flicker(tmp_path: Path) -> None:
    frames = moving_disk(count=10)
    result, target = _run(tmp_path, frames, "-k", "6", "--dither", fmt="PNG")  # an APNG: exact frames
    assert result.exit_code == 0, result.output
    before = load_animation((tmp_path / "in.png").read_bytes(), source="in", max_pixels=10**8)
    after = load_animation(target.read_bytes(), source="out", max_pixels=10**8)
    for number in range(1, after.frame_count):
        static = (before.rgb[number] == before.rgb[number - 1]).all(axis=2)
        assert static.mean() > 0.8
        assert np.array_equal(after.rgb[number][static], after.rgb[number - 1][static])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("-o", "out.png"), "an APNG holds one palette"),
        (("-o", "out.webp"), "so does a WebP"),
        (("--shared-palette",), "not with --palette"),
    ],
)
def test_the_option_refuses_apng_and_given_palettes(
    tmp_path: Path, extra: tuple[str, ...], message: str
) -> None:
    source = tmp_path / "in.gif"
    source.write_bytes(animation_bytes(cross_fade(count=4), "GIF", [50] * 4, loop=0))
    target = ["-o", str(tmp_path / "out.gif")] if "-o" not in extra else []
    arguments = [str(tmp_path / a) if a.startswith("out.") else a for a in extra]
    result = runner.invoke(app, ["quantize", str(source), "--frame-palettes", *target, *arguments])
    assert result.exit_code == 2
    assert message in result.output
    assert not any(tmp_path.glob("out.*"))


def test_the_local_table_parser_sees_a_global_only_gif() -> None:
    data = struct.pack("<6sHHBBB", b"GIF89a", 1, 1, 0x80, 0, 0) + bytes(6)
    data += struct.pack("<BHHHHB", 0x2C, 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00;"
    assert local_tables(data) == [None]


def test_the_library_batch_writes_the_command_lines_bytes(tmp_path: Path) -> None:
    import kmimg

    result, target = _run(tmp_path, cross_fade(), "-k", "8", out="cli.gif")
    assert result.exit_code == 0, result.output
    source = tmp_path / "in.gif"
    done = kmimg.quantize_files(source, 8, out_dir=tmp_path / "lib", ext=".gif", frame_palettes=True, jobs=1)
    assert [r.ok for r in done] == [True]
    assert (tmp_path / "lib" / "in.gif").read_bytes() == target.read_bytes()
    assert any(size is not None for size in local_tables(target.read_bytes()))
    with pytest.raises(ValueError, match="GIF"):
        kmimg.quantize_files(source, 8, out_dir=tmp_path / "png", frame_palettes=True, jobs=1)
    with pytest.raises(ValueError, match="per frame"):
        kmimg.quantize_files(source, 8, ext=".gif", frame_palettes=True, quality="60-80", jobs=1)


def test_lossless_frames_keep_the_one_palette_file_when_it_is_smaller() -> None:
    """Every frame exact on either file: their error is 0, and so is the price of a byte, so the
    one-palette file is kept when it has fewer bytes (not the frames' when it has as many)."""
    frames = moving_disk()
    frames[..., :3] //= 64  # a few exact colours
    frames[..., :3] *= 64
    result = quantize_frame_palettes(
        frames[..., :3], None, QuantizeOptions(k=64), frame_bytes=gif_frame_bytes
    )
    assert result.error == result.one_error == 0.0 and result.price == 0.0
    assert result.one_palette_cheaper(1000, 999)
    assert not result.one_palette_cheaper(1000, 1000)
    assert not result.one_palette_cheaper(1000, 1001)


def test_frame_tables_measured_for_a_terminal_give_the_psnr_alone() -> None:
    """``measure="psnr"``: the same frames and PSNR, SSIM and ΔE2000 not computed (NaN)."""
    frames = cross_fade()[..., :3]
    every = quantize_frame_palettes(frames, None, QuantizeOptions(k=16), frame_bytes=gif_frame_bytes)
    psnr_only = quantize_frame_palettes(
        frames, None, QuantizeOptions(k=16), frame_bytes=gif_frame_bytes, measure="psnr"
    )
    assert every.quality is not None and psnr_only.quality is not None
    assert all(np.array_equal(a, b) for a, b in zip(every.indices, psnr_only.indices, strict=True))
    assert psnr_only.frame_psnr == every.frame_psnr and psnr_only.quality.psnr == every.quality.psnr
    assert np.isnan(psnr_only.quality.ssim) and np.isnan(psnr_only.quality.delta_e)


# ----------------------------------------------------------------------------- restoring


#: :func:`encode_gif_frame_palettes`'s arguments before the durations and the loop.
Tables = tuple[
    np.ndarray, np.ndarray, list[np.ndarray], list[bool], np.ndarray, list[tuple[int, int, int, int] | None]
]


def pillow_rgba(data: bytes) -> np.ndarray:
    """Every frame as Pillow composites it, RGBA, the colour of a transparent pixel zeroed."""
    from PIL import Image

    frames = []
    with Image.open(io.BytesIO(data)) as image:
        for number in range(image.n_frames):
            image.seek(number)
            frame = np.array(image.convert("RGBA"))
            frame[frame[..., 3] == 0] = 0
            frames.append(frame)
    return np.stack(frames)


def disposals(data: bytes) -> list[int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        found = []
        for number in range(image.n_frames):
            image.seek(number)
            found.append(image.disposal_method)
    return found


def assert_same_frames(data: bytes, expected: bytes) -> None:
    """``data`` decodes to ``expected``'s frames, in Pillow and in kmimg's reader."""
    assert np.array_equal(pillow_rgba(data), pillow_rgba(expected))
    ours, theirs = (load_animation(d, source="x", max_pixels=10**8) for d in (data, expected))
    assert np.array_equal(ours.rgb, theirs.rgb)
    assert (ours.alpha is None) == (theirs.alpha is None)
    assert ours.alpha is None or theirs.alpha is None or np.array_equal(ours.alpha, theirs.alpha)


def blinking_tables(local: bool = True) -> Tables:
    """:func:`encode_gif_frame_palettes`'s arguments for a picture with a flash every third frame
    that the next frame takes away again, each frame on a table of its own (the same colours in
    an order of its own) where ``local``."""
    from tests.test_animation import blinking

    frames = blinking()
    rng = np.random.default_rng(3)
    colours = np.array([[30 * i, 255 - 30 * i, 17 * i, 255] for i in range(8)], dtype=np.uint8)
    palettes, indices = [], np.zeros_like(frames)
    for number, frame in enumerate(frames):
        order = rng.permutation(8) if local else np.arange(8)
        palettes.append(colours[order])
        indices[number] = np.argsort(order)[frame]
    drawn = np.ones(frames.shape, dtype=bool)
    drawn[1:] = frames[1:] != frames[:-1]
    return indices, drawn, palettes, [local] * len(frames), colours, [None] * len(frames)


@pytest.mark.parametrize("local", [True, False])
def test_frames_on_their_own_tables_may_be_drawn_on_a_restored_canvas(local: bool) -> None:
    """The frame after a flash is drawn on the canvas the flash was drawn on (the flash's
    disposal "restore to previous"): a smaller file than redrawing the picture under the flash,
    with its local tables, decoding to the same frames in Pillow and kmimg's reader."""
    from kmimg.io.gif import _frame_tables, _table_files

    arguments = blinking_tables(local)
    durations = [50] * len(arguments[0])
    plain, restored = _table_files(*arguments, durations, 0, True)
    assert plain == _frame_tables(*arguments, durations, 0)
    assert len(restored) < len(plain)
    assert 3 in disposals(restored) and 3 not in disposals(plain)
    if local:
        assert None not in local_tables(restored) and None not in local_tables(plain)
    assert_same_frames(restored, plain)
    data = encode_gif_frame_palettes(*arguments, durations, 0)
    assert len(data) <= len(restored)
    assert_same_frames(data, plain)


def random_tables(rng: np.random.Generator) -> Tables:
    """Random arguments for :func:`encode_gif_frame_palettes` as the core makes them: tables of
    their own (some with a transparent entry, some lacking colours the frame before drew) or
    the shared one, drawn pixels in blocks or scattered, clears of a box holding the frame
    before's drawn pixels."""
    count, height, width = int(rng.integers(3, 9)), int(rng.integers(4, 24)), int(rng.integers(4, 24))
    colours = rng.integers(0, 256, (int(rng.integers(2, 12)), 4)).astype(np.uint8)
    colours[:, 3] = 255
    transparent = bool(rng.random() < 0.5)
    shared = np.concatenate([colours, np.zeros((1, 4), np.uint8)]) if transparent else colours
    indices = np.zeros((count, height, width), dtype=np.uint8)
    drawn = np.zeros((count, height, width), dtype=bool)
    palettes, own, cleared = [], [], []
    for number in range(count):
        if rng.random() < 0.4:
            palette, local = shared, False
        else:
            palette, local = colours[rng.integers(0, len(colours), int(rng.integers(1, 10)))], True
            if transparent and rng.random() < 0.5:
                palette = np.concatenate([palette, np.zeros((1, 4), np.uint8)])
        palettes.append(palette)
        own.append(local)
        if not number:
            drawn[number] = True
        elif rng.random() < 0.3:
            drawn[number] = rng.random((height, width)) < 0.3
        else:
            top, left = int(rng.integers(0, height)), int(rng.integers(0, width))
            drawn[
                number, top : top + int(rng.integers(1, height)), left : left + int(rng.integers(1, width))
            ] = True
        indices[number][drawn[number]] = rng.integers(0, len(palette), int(drawn[number].sum()))
        box = None
        if number and transparent and rng.random() < 0.25:
            before = drawn[number - 1].copy()
            before[int(rng.integers(0, height)), int(rng.integers(0, width))] = True
            rows, cols = np.flatnonzero(before.any(axis=1)), np.flatnonzero(before.any(axis=0))
            box = (int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1)
        cleared.append(box)
    return indices, drawn, palettes, own, shared, cleared


def test_restoring_never_makes_a_file_larger_or_changes_a_frame() -> None:
    """On random tables, clears and transparency: every file written with restored canvases
    decodes (Pillow, kmimg's reader) to the frames of the one written without, and the file
    returned is the smallest, never larger than without restoring."""
    from kmimg.io.gif import _merged_tables, _table_files

    rng = np.random.default_rng(23)
    restored = 0
    for _ in range(60):
        indices, drawn, palettes, own, shared, cleared = random_tables(rng)
        durations = [50] * len(indices)
        groups = [_table_files(indices, drawn, palettes, own, shared, cleared, durations, 0, True)]
        merged = _merged_tables(indices, drawn, palettes, own)
        if merged is not None:
            one = [merged[1]] * len(palettes)
            groups.append(
                _table_files(
                    merged[0], drawn, one, [False] * len(one), merged[1], cleared, durations, 0, True
                )
            )
        for files in groups:
            for data in files[1:]:
                assert 3 in disposals(data)
                assert_same_frames(data, files[0])
                restored += 1
        data = encode_gif_frame_palettes(indices, drawn, palettes, own, shared, cleared, durations, 0)
        assert len(data) == min(len(data) for files in groups for data in files)
        assert len(data) <= min(len(files[0]) for files in groups)
        assert data == encode_gif_frame_palettes(indices, drawn, palettes, own, shared, cleared, durations, 0)
    assert restored >= 30


@pytest.mark.skipif(shutil.which("gifsicle") is None, reason="gifsicle is not installed")
def test_a_restored_canvas_reads_the_same_in_gifsicle(tmp_path: Path) -> None:
    """gifsicle reads the frames drawn on restored canvases: its unoptimized copy (every frame
    whole, composited by gifsicle; it unoptimizes a GIF only on one table, so its one-table copy
    first) decodes to the frames of the file written without restoring."""
    from kmimg.io.gif import _table_files

    arguments = blinking_tables()
    plain, restored = _table_files(*arguments, [50] * len(arguments[0]), 0, True)
    source, one, copy = tmp_path / "restored.gif", tmp_path / "one.gif", tmp_path / "copy.gif"
    source.write_bytes(restored)
    info = subprocess.run(["gifsicle", "--info", str(source)], capture_output=True, text=True, check=True)
    assert "warning" not in (info.stdout + info.stderr).lower()
    subprocess.run(["gifsicle", "--colors=255", str(source), "-o", str(one)], check=True, capture_output=True)
    subprocess.run(["gifsicle", "--unoptimize", str(one), "-o", str(copy)], check=True, capture_output=True)
    assert set(disposals(copy.read_bytes())) == {0}
    assert_same_frames(copy.read_bytes(), plain)


def test_the_option_draws_a_blinking_animation_on_restored_canvases(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the core: a picture with a flash that goes away again, on frames' own tables; the
    core draws the frame after each flash on the canvas the flash was drawn on, and the file is
    smaller than the core's without restored canvases (where the writer alone restores), showing
    the same frames."""
    from tests.test_animation import blinking

    rng = np.random.default_rng(9)
    colours = rng.integers(0, 256, (8, 3)).astype(np.uint8)
    frames = colours[blinking(count=12)]
    frames = np.concatenate([frames, np.full((*frames.shape[:3], 1), 255, np.uint8)], axis=3)
    result, data = encoded(frames, QuantizeOptions(k=16))
    assert [number for number, on in enumerate(result.restored) if on] == [2, 5, 8, 11]
    monkeypatch.setattr(animation, "_restored_canvas", lambda *args: None)
    before, plain = encoded(frames, QuantizeOptions(k=16))
    assert not any(before.restored)
    assert len(data) < len(plain) and 3 in disposals(data) and 3 in disposals(plain)
    assert_same_frames(data, plain)
    decoded = load_animation(data, source="x", max_pixels=10**8)
    assert np.array_equal(decoded.rgb, frames[..., :3])  # 8 colours at K = 16: exact


def few_colour_frames(
    count: int = 6, height: int = 40, width: int = 48, *, clear: bool = False
) -> np.ndarray:
    """RGBA frames of 7 colours each (a background and six stripes whose shades differ from
    frame to frame: 43 colours in all), the stripes sliding down; with ``clear`` on a
    transparent background, the stripes only."""
    frames = np.zeros((count, height, width, 4), dtype=np.uint8)
    for number in range(count):
        frame = frames[number]
        frame[..., :3], frame[..., 3] = (240, 236, 220), 0 if clear else 255
        for stripe in range(6):
            top = (4 + 6 * stripe + number) % height
            frame[top : top + 4, 4 + stripe * 7 : 9 + stripe * 7] = (
                30 + 35 * stripe, 200 - 25 * number, 60 + 20 * (stripe + number) % 190, 255,
            )  # fmt: skip
    if clear:
        frames[frames[..., 3] == 0] = 0
    return frames


@pytest.mark.parametrize("clear", [False, True])
def test_frames_whose_colours_fit_a_table_come_out_exact(clear: bool) -> None:
    """A frame of at most K colours (K - 1 beside "keep" at a power of two; the first frame K with
    its transparent entry) is shown exactly, as a still image of at most K colours, though the
    one palette across the frames is not exact and the price would trade the exactness away; the
    one-palette file is then never kept in its place."""
    frames = few_colour_frames(clear=clear)
    alpha = frames[..., 3] if clear else None
    result, data = encoded(frames, QuantizeOptions(k=8), alpha)
    assert result.exact == (True,) * len(frames)
    assert result.error == 0.0 and result.one_error > 0 and result.one_inexact
    assert not result.one_palette_cheaper(10**6, 1)
    decoded = load_animation(data, source="x", max_pixels=10**8)
    visible = frames[..., 3] > 0
    assert np.array_equal(decoded.rgb[visible], frames[..., :3][visible])
    if clear:
        assert decoded.alpha is not None and np.array_equal(decoded.alpha > 0, visible)


def test_frames_with_more_colours_than_their_table_holds_are_priced_as_before() -> None:
    """Eight colours in a frame at K = 8: "keep" leaves room for seven, so the frame is chosen by
    error and bytes (the first frame, whose table holds eight, is exact)."""
    frames = few_colour_frames()
    frames[:, -3:, -3:, :3] = (0, 0, 255)  # an eighth colour in every frame
    result, _ = encoded(frames, QuantizeOptions(k=8))
    assert result.exact == (True,) + (False,) * (len(frames) - 1)


def test_an_exact_frame_redraws_what_an_earlier_frame_showed_with_an_error() -> None:
    """A frame of few colours after one of many: pixels that did not change but were shown with an
    error are drawn too, so the frame is exact."""
    frames = few_colour_frames(count=4)
    y, x = np.mgrid[0:40, 0:48]
    frames[0, ..., 0], frames[0, ..., 1] = x * 5, y * 6  # a gradient: more than K colours
    frames[1, ..., :3] = frames[0, ..., :3]  # the same gradient: not exact either
    frames[2, ..., :3] = (240, 236, 220)  # flat: one colour, exact again
    result, data = encoded(frames, QuantizeOptions(k=8))
    assert result.exact == (False, False, True, True)
    decoded = load_animation(data, source="x", max_pixels=10**8)
    assert np.array_equal(decoded.rgb[2:], frames[2:, ..., :3])


def test_the_library_batch_gives_gif_outputs_frame_tables_by_default(tmp_path: Path) -> None:
    """``quantize_files``' default is the command line's: frame tables for an animated GIF output
    (the ``--frame-palettes`` bytes), one palette with ``frame_palettes=False`` (``--one-palette``),
    and no error where one palette is the only way (an APNG output, a quality search)."""
    import kmimg

    result, target = _run(tmp_path, cross_fade(), "-k", "8", out="cli.gif")
    assert result.exit_code == 0, result.output
    source = tmp_path / "in.gif"
    default = kmimg.quantize_files(source, 8, out_dir=tmp_path / "lib", ext=".gif", jobs=1)
    assert [r.ok for r in default] == [True]
    assert (tmp_path / "lib" / "in.gif").read_bytes() == target.read_bytes()
    one = kmimg.quantize_files(source, 8, out_dir=tmp_path / "one", ext=".gif", frame_palettes=False, jobs=1)
    assert [r.ok for r in one] == [True]
    assert local_tables((tmp_path / "one" / "in.gif").read_bytes()) == [None] * 10
    cli_one = runner.invoke(
        app, ["quantize", str(source), "-k", "8", "-o", str(tmp_path / "c1.gif"), "--one-palette"]
    )
    assert cli_one.exit_code == 0, cli_one.output
    assert (tmp_path / "c1.gif").read_bytes() == (tmp_path / "one" / "in.gif").read_bytes()
    for done in (
        kmimg.quantize_files(source, 8, out_dir=tmp_path / "png", jobs=1),
        kmimg.quantize_files(source, 8, out_dir=tmp_path / "q", ext=".gif", quality="0-100", jobs=1),
    ):
        assert [r.ok for r in done] == [True]
    searched = runner.invoke(
        app, ["quantize", str(source), "-o", str(tmp_path / "q.gif"), "--quality", "0-100"]
    )
    assert searched.exit_code == 0, searched.output


def test_the_one_palette_file_is_written_only_where_it_may_pay() -> None:
    """:meth:`FramePalettes.one_palette_may_pay` false means :meth:`one_palette_cheaper` is false
    whatever the one-palette file's bytes, so the command need not write it."""
    cases = [
        (cross_fade(), QuantizeOptions(k=8), None),
        (noisy_fade(), QuantizeOptions(k=16), None),
        (moving_disk(clear=True), QuantizeOptions(k=4), moving_disk(clear=True)[..., 3]),
    ]
    skipped = 0
    for frames, options, alpha in cases:
        result, data = encoded(frames, options, alpha)
        for size in (len(data) // 2, len(data), 2 * len(data)):
            if not result.one_palette_may_pay(size):
                skipped += 1
                assert not any(result.one_palette_cheaper(size, one) for one in (0, 1, size, 10**9))
    assert skipped
