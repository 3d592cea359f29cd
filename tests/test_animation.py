"""Animations kept whole (issue 27): reading composited frames, one palette across frames, dither
without flicker on static pixels, animated GIF and APNG writers, the command line."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from kmimg.cli import app
from kmimg.core.animation import quantize_frames
from kmimg.errors import LimitError
from kmimg.io.animation import frame_count, load_animation
from kmimg.io.apng import encode_apng
from kmimg.io.gif import encode_animated_gif
from kmimg.options import QuantizeOptions

runner = CliRunner()


def moving_disk(count: int = 12, height: int = 48, width: int = 64, *, clear: bool = False) -> np.ndarray:
    """RGBA frames: a gradient (or nothing, with ``clear``) and a red disk moving right."""
    y, x = np.mgrid[0:height, 0:width]
    frames = np.zeros((count, height, width, 4), dtype=np.uint8)
    for number in range(count):
        frame = frames[number]
        if not clear:
            frame[..., 0] = x * 255 // width
            frame[..., 1] = y * 255 // height
            frame[..., 2] = 90
            frame[..., 3] = 255
        disk = (x - 8 - number * (width - 16) // count) ** 2 + (y - height // 2) ** 2 < 64
        frame[disk] = (220, 30, 40, 255)
    return frames


def animation_bytes(frames: np.ndarray, fmt: str, durations: list[int], **params: object) -> bytes:
    images = [Image.fromarray(frame, "RGBA") for frame in frames]
    if fmt == "GIF" and not (frames[..., 3] == 0).any():
        images = [image.convert("RGB") for image in images]
    buffer = io.BytesIO()
    images[0].save(buffer, fmt, save_all=True, append_images=images[1:], duration=durations, **params)
    return buffer.getvalue()


def shown(animation_rgb: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """RGBA of decoded frames (colours under alpha 0 are black already)."""
    if alpha is None:
        alpha = np.full(animation_rgb.shape[:3], 255, dtype=np.uint8)
    return np.concatenate([animation_rgb, alpha[..., None]], axis=3)


def random_frames(rng: np.random.Generator, entries: int, *, clear: int | None) -> np.ndarray:
    """Index frames: noise, then small rectangles painted frame by frame, one frame all one
    index (all clear when ``clear`` is that index), the last frame repeated."""
    current = rng.integers(0, entries, (30, 40)).astype(np.uint8)
    frames = []
    for number in range(7):
        current = current.copy()
        top, left = rng.integers(0, 25), rng.integers(0, 35)
        current[top : top + rng.integers(1, 6), left : left + rng.integers(1, 6)] = rng.integers(0, entries)
        if number == 3:
            current[:] = clear if clear is not None else current[0, 0]
        frames.append(current)
    frames.append(frames[-1].copy())
    return np.stack(frames)


# ----------------------------------------------------------------------------- writers


@pytest.mark.parametrize("encode", [encode_animated_gif, encode_apng], ids=["gif", "apng"])
@pytest.mark.parametrize("with_clear", [False, True])
def test_the_writers_frames_decode_to_exactly_the_indices_given(encode, with_clear: bool) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(7)
    for entries in (2, 5, 16, 32, 200, 256):
        palette = rng.integers(0, 256, (entries, 4)).astype(np.uint8)
        palette[:, 3] = 255
        clear = 1 if with_clear else None
        if clear is not None:
            palette[clear] = 0
        indices = random_frames(rng, entries, clear=clear)
        durations = [int(d) * 10 for d in rng.integers(1, 30, len(indices))]
        data = encode(indices, palette, durations, 0)
        if with_clear and encode is encode_animated_gif:  # frame 3 is all clear: frame 2 disposes
            with Image.open(io.BytesIO(data)) as image:
                image.seek(2)
                assert image.disposal_method == 2
        decoded = load_animation(data, source="x", max_pixels=10**8)
        assert decoded.frame_count == len(indices)
        assert decoded.durations == tuple(durations)
        assert decoded.loop == 0
        expected = palette[indices]
        expected[expected[..., 3] == 0] = 0
        assert np.array_equal(shown(decoded.rgb, decoded.alpha), expected), entries


def test_later_frames_store_only_their_changed_rectangle() -> None:
    quantized = quantize_frames(moving_disk()[..., :3], None, QuantizeOptions(k=16), measure=False)
    indices, rgba = quantized.indices, quantized.palette
    data = encode_animated_gif(indices, rgba, [50] * len(indices), 0)
    with Image.open(io.BytesIO(data)) as image:
        image.seek(5)
        (tile,) = image.tile
        left, top, right, bottom = tile[1]
        assert (right - left) * (bottom - top) < 0.25 * 64 * 48  # the disk's two positions, not the canvas
    full = b"".join(encode_animated_gif(indices[i : i + 1], rgba, [50], 0) for i in range(len(indices)))
    assert len(data) < 0.5 * len(full)


def test_apng_keeps_translucent_colours_and_no_loop_is_played_once() -> None:
    palette = np.array([[0, 0, 0, 0], [255, 0, 0, 128], [0, 0, 255, 255], [0, 255, 0, 40]], dtype=np.uint8)
    rng = np.random.default_rng(3)
    indices = random_frames(rng, 4, clear=0)
    data = encode_apng(indices, palette, [100] * len(indices), None)
    decoded = load_animation(data, source="x", max_pixels=10**8)
    assert decoded.loop == 1
    expected = palette[indices]
    expected[expected[..., 3] == 0] = 0
    assert np.array_equal(shown(decoded.rgb, decoded.alpha), expected)


def test_a_gif_without_loop_is_written_without_one() -> None:
    indices = np.zeros((3, 4, 4), dtype=np.uint8)
    indices[1, 1, 1] = 1
    palette = np.array([[0, 0, 0, 255], [255, 255, 255, 255]], dtype=np.uint8)
    data = encode_animated_gif(indices, palette, [20, 30, 40], None)
    decoded = load_animation(data, source="x", max_pixels=10**8)
    assert decoded.loop is None and decoded.durations == (20, 30, 40)
    assert b"NETSCAPE2.0" not in data


# ----------------------------------------------------------------------------- reading


@pytest.mark.parametrize(
    ("fmt", "operations"),
    [
        ("GIF", {"disposal": 2}),  # restore to background
        ("GIF", {"disposal": 1}),  # keep: Pillow's writer then stores what changed, over the canvas
        ("PNG", {"disposal": 1, "blend": 0}),  # APNG: dispose to background, blend source
        ("PNG", {"disposal": 2, "blend": 1}),  # APNG: dispose to previous, blend over
        ("PNG", {"disposal": 0, "blend": 1}),
        ("WEBP", {"lossless": True}),
    ],
)
def test_frames_are_read_composited_with_durations_and_loop(fmt: str, operations: dict[str, int]) -> None:
    frames = moving_disk(clear=True)  # transparent canvas: disposal/blend decide what stays
    durations = [40 + 10 * (i % 3) for i in range(len(frames))]
    params: dict[str, object] = {"loop": 2, **operations}
    data = animation_bytes(frames, fmt, durations, **params)
    assert frame_count(data) == len(frames)
    decoded = load_animation(data, source="x", max_pixels=10**8)
    assert decoded.format == fmt and decoded.loop == 2 and decoded.durations == tuple(durations)
    expected = frames.copy()
    kept = (fmt == "GIF" and operations.get("disposal") == 1) or operations == {"disposal": 0, "blend": 1}
    if kept:  # nothing disposed, transparent pixels drawn over: the disks leave trails
        for number in range(1, len(expected)):
            drawn = frames[number][..., 3] > 0
            expected[number] = np.where(drawn[..., None], frames[number], expected[number - 1])
    expected[expected[..., 3] == 0] = 0
    assert np.array_equal(shown(decoded.rgb, decoded.alpha), expected)


def test_a_still_is_one_frame_and_the_limit_counts_every_frame() -> None:
    frames = moving_disk(count=10)
    data = animation_bytes(frames, "PNG", [50] * 10, loop=0)
    assert frame_count(animation_bytes(frames[:1], "PNG", [50])) == 1
    with pytest.raises(LimitError, match="10 frames of 64x48"):
        load_animation(data, source="x", max_pixels=64 * 48 * 9)


# ----------------------------------------------------------------------------- quantizing


def test_one_palette_serves_every_frame_and_maps_each_colour_the_same_way() -> None:
    frames = moving_disk()
    result = quantize_frames(frames[..., :3], None, QuantizeOptions(k=8))
    assert result.frame_count == len(frames) and len(result.palette) <= 8
    assert len(result.frame_psnr) == len(frames)
    assert result.quality is not None and result.quality.psnr == pytest.approx(np.mean(result.frame_psnr))
    colours = frames[..., :3].reshape(-1, 3)
    keys = colours[:, 0].astype(np.int64) << 16 | colours[:, 1].astype(np.int64) << 8 | colours[:, 2]
    flat = result.indices.reshape(-1)
    for key in np.unique(keys)[:50]:
        assert len(np.unique(flat[keys == key])) == 1


def test_a_terminal_measures_the_frames_psnr_alone() -> None:
    """``measure="psnr"`` (the terminal's table, no --json): the same PSNR per frame, SSIM and
    ΔE2000 not computed (NaN), on one palette and dithered alike."""
    frames = moving_disk()[..., :3]
    for dither in (0.0, 1.0):
        options = QuantizeOptions(k=8, dither=dither)
        every, psnr_only = (
            quantize_frames(frames, None, options),
            quantize_frames(frames, None, options, measure="psnr"),
        )
        assert every.quality is not None and psnr_only.quality is not None
        assert psnr_only.frame_psnr == every.frame_psnr
        assert psnr_only.quality.psnr == every.quality.psnr
        assert np.isnan(psnr_only.quality.ssim) and np.isnan(psnr_only.quality.delta_e)
        assert np.isfinite(every.quality.ssim) and np.isfinite(every.quality.delta_e)


def test_dithered_frames_keep_the_index_of_every_pixel_that_did_not_change() -> None:
    frames = moving_disk()[..., :3]
    plain = quantize_frames(frames, None, QuantizeOptions(k=6), measure=False)
    dithered = quantize_frames(frames, None, QuantizeOptions(k=6, dither=1.0), measure=False)
    assert not np.array_equal(plain.indices, dithered.indices)  # it does dither
    for number in range(1, len(frames)):
        static = (frames[number] == frames[number - 1]).all(axis=2)
        assert static.mean() > 0.8
        assert np.array_equal(dithered.indices[number][static], dithered.indices[number - 1][static])


def test_transparent_pixels_get_the_transparent_entry_in_every_frame() -> None:
    frames = moving_disk(clear=True)
    result = quantize_frames(frames[..., :3], frames[..., 3], QuantizeOptions(k=4))
    clear = np.flatnonzero(result.palette[:, 3] == 0)
    assert len(clear) == 1
    assert np.array_equal(result.indices == clear[0], frames[..., 3] == 0)


# ----------------------------------------------------------------------------- command line


def test_gif_output_gets_frame_tables_by_default_and_one_palette_on_request(tmp_path: Path) -> None:
    """An animated GIF output is written as ``--frame-palettes`` writes it unless ``--one-palette``
    is given; an APNG output, and a given palette, keep one palette without an error."""
    frames = moving_disk(count=8)
    source = tmp_path / "in.gif"
    source.write_bytes(animation_bytes(frames, "GIF", [50] * 8, loop=0))
    written = {}
    for name, extra in (("default", ()), ("frames", ("--frame-palettes",)), ("one", ("--one-palette",))):
        target = tmp_path / f"{name}.gif"
        result = runner.invoke(app, ["quantize", str(source), "-k", "6", "-o", str(target), *extra])
        assert result.exit_code == 0, result.output
        written[name] = target.read_bytes()
    assert written["default"] == written["frames"] != written["one"]
    one = load_animation(written["one"], source="one", max_pixels=10**8)
    assert len(np.unique(one.rgb.reshape(-1, 3), axis=0)) <= 6
    palette = tmp_path / "p.gpl"
    palette.write_text("GIMP Palette\n#\n0 0 0 black\n255 255 255 white\n220 30 40 red\n")
    for extra in (
        ("-k", "6", "-o", str(tmp_path / "a.png")),
        ("-o", str(tmp_path / "p.gif"), "--palette", str(palette)),
    ):
        result = runner.invoke(app, ["quantize", str(source), *extra])
        assert result.exit_code == 0, result.output
    mapped = load_animation((tmp_path / "p.gif").read_bytes(), source="p", max_pixels=10**8)
    assert len(np.unique(mapped.rgb.reshape(-1, 3), axis=0)) <= 3


@pytest.mark.parametrize(("fmt", "out"), [("GIF", "out.gif"), ("GIF", "out.png"), ("PNG", "out.gif")])
def test_quantize_keeps_frames_durations_and_loop(tmp_path: Path, fmt: str, out: str) -> None:
    frames = moving_disk(count=20)
    durations = [30 + 10 * (i % 4) for i in range(20)]
    source = tmp_path / f"in.{fmt.lower()}"
    source.write_bytes(animation_bytes(frames, fmt, durations, loop=0))
    target = tmp_path / out
    result = runner.invoke(app, ["quantize", str(source), "-k", "16", "-o", str(target), "--json", "-"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    (record,) = json.loads(result.stdout)["results"]
    assert record["frames"] == 20 and record["output_bytes"] == target.stat().st_size
    decoded = load_animation(target.read_bytes(), source=str(target), max_pixels=10**8)
    assert decoded.format == ("GIF" if out.endswith(".gif") else "PNG")
    assert decoded.frame_count == 20 and decoded.durations == tuple(durations) and decoded.loop == 0
    colours = np.unique(decoded.rgb.reshape(-1, 3), axis=0)
    if not out.endswith(".gif"):  # GIF output: a frame may take a colour table of its own
        assert len(colours) <= 16  # an APNG: one palette across all frames
    assert record["psnr"] > 22
    again = tmp_path / f"again{target.suffix}"
    runner.invoke(app, ["quantize", str(source), "-k", "16", "-o", str(again)])
    assert again.read_bytes() == target.read_bytes()


def test_quantize_refuses_an_animation_over_the_pixel_limit(tmp_path: Path) -> None:
    source = tmp_path / "in.gif"
    source.write_bytes(animation_bytes(moving_disk(count=10), "GIF", [50] * 10, loop=0))
    result = runner.invoke(
        app, ["quantize", str(source), "-k", "8", "-o", str(tmp_path / "o.gif"), "--max-pixels", "20000"]
    )
    assert result.exit_code == 1
    assert "10 frames of 64x48" in result.stderr and not (tmp_path / "o.gif").exists()


def test_a_still_gif_codes_its_indices_in_the_palettes_bits_and_is_smaller_than_pillows() -> None:
    from kmimg.io.gif import encode_indexed_gif

    rng = np.random.default_rng(5)
    palette = np.column_stack([rng.integers(0, 256, (16, 3)), np.full(16, 255)]).astype(np.uint8)
    indices = np.repeat(rng.integers(0, 16, (40, 8)), 6, axis=1).astype(np.uint8)
    ours = encode_indexed_gif(indices, palette)
    image = Image.frombytes("P", (48, 40), indices.tobytes())
    image.putpalette(palette[:, :3].tobytes())
    buffer = io.BytesIO()
    image.save(buffer, "GIF", optimize=False)
    assert len(ours) < len(buffer.getvalue())
    with Image.open(io.BytesIO(ours)) as decoded:
        assert np.array_equal(np.asarray(decoded), indices)
        assert getattr(decoded, "n_frames", 1) == 1 and "transparency" not in decoded.info


def test_dithered_gif_shows_static_pixels_unchanged_from_frame_to_frame(tmp_path: Path) -> None:
    frames = moving_disk(count=10)
    source = tmp_path / "in.png"
    source.write_bytes(animation_bytes(frames, "PNG", [50] * 10, loop=0))
    target = tmp_path / "out.gif"
    result = runner.invoke(app, ["quantize", str(source), "-k", "6", "--dither", "-o", str(target)])
    assert result.exit_code == 0, result.output
    decoded = load_animation(target.read_bytes(), source="x", max_pixels=10**8)
    for number in range(1, 10):
        static = (frames[number] == frames[number - 1]).all(axis=2)
        assert np.array_equal(decoded.rgb[number][static], decoded.rgb[number - 1][static])


def test_quantize_files_and_a_given_palette_keep_animations(tmp_path: Path) -> None:
    import kmimg

    source = tmp_path / "in" / "anim.gif"
    source.parent.mkdir()
    source.write_bytes(animation_bytes(moving_disk(count=8), "GIF", [70] * 8, loop=3))
    (done,) = kmimg.quantize_files(str(source.parent), 8, out_dir=str(tmp_path / "out"), jobs=1)
    assert done.ok and done.record is not None and done.record.frames == 8
    written = load_animation((tmp_path / "out" / "anim-k8.png").read_bytes(), source="x", max_pixels=10**8)
    assert written.format == "PNG" and written.frame_count == 8 and written.loop == 3
    colours = "#000000,#ffffff,#dc1e28,#808080"
    palette = tmp_path / "p.hex"
    palette.write_text(colours.replace(",", "\n") + "\n")
    target = tmp_path / "mapped.gif"
    result = runner.invoke(app, ["quantize", str(source), "--palette", str(palette), "-o", str(target)])
    assert result.exit_code == 0, result.output
    mapped = load_animation(target.read_bytes(), source="x", max_pixels=10**8)
    shown_colours = {tuple(c) for c in np.unique(mapped.rgb.reshape(-1, 3), axis=0).tolist()}
    assert mapped.frame_count == 8 and shown_colours <= {
        (0, 0, 0),
        (255, 255, 255),
        (220, 30, 40),
        (128, 128, 128),
    }


def test_an_apng_default_image_outside_the_animation_is_not_a_frame() -> None:
    images = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        "PNG",
        save_all=True,
        append_images=images[1:],
        default_image=True,
        duration=[100, 200],
        loop=0,
    )
    decoded = load_animation(buffer.getvalue(), source="x", max_pixels=10**6)
    assert decoded.frame_count == 2
    assert [tuple(frame[0, 0].tolist()) for frame in decoded.rgb] == [(0, 255, 0), (0, 0, 255)]


def test_a_gif_damaged_after_its_first_frame_gives_that_frame_with_a_warning(tmp_path: Path) -> None:
    images = [Image.new("RGB", (8, 8), colour) for colour in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], duration=100, loop=0)
    source = tmp_path / "cut.gif"
    source.write_bytes(buffer.getvalue()[:-30])
    result = runner.invoke(app, ["quantize", str(source), "-k", "4", "-o", str(tmp_path / "o.gif")])
    assert result.exit_code == 0
    assert result.stderr == (
        f"kmimg: warning: {source}: damaged GIF data after the first frame: only the first frame was used\n"
    )


# ----------------------------------------------------------------------------- hostile files


def _gif_with_frames(canvas: tuple[int, int], rects: list[tuple[int, int, int, int]]) -> bytes:
    """A GIF of ``canvas`` (h, w) whose frames have the given rectangles (left, top, w, h),
    each filled with its frame number + 1 (a frame may reach past the logical screen)."""
    from kmimg.io import gif
    from kmimg.io.frames import Rect

    palette = np.array([[0, 0, 0, 255], [255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255]], np.uint8)
    frames = [
        gif._GifFrame(Rect(*rect), gif._lzw(np.full((rect[3], rect[2]), number + 1, np.uint8), 2), None, 1)
        for number, rect in enumerate(rects)
    ]
    return gif._gif_file(palette, canvas, 2, None, 0, frames, [100] * len(frames))


def test_a_frame_reaching_past_the_logical_screen_is_clipped_to_it() -> None:
    data = _gif_with_frames((4, 4), [(0, 0, 4, 4), (2, 2, 4, 4)])
    decoded = load_animation(data, source="x", max_pixels=10**6)
    assert decoded.rgb.shape == (2, 4, 4, 3)
    assert decoded.rgb[1, 3, 3].tolist() == [0, 255, 0] and decoded.rgb[1, 0, 0].tolist() == [255, 0, 0]


def test_a_frame_claiming_more_than_the_limit_leaves_the_first_frame_with_a_warning(tmp_path: Path) -> None:
    from kmimg.errors import KmimgWarning
    from kmimg.io.animation import animation_of

    data = _gif_with_frames((8, 8), [(0, 0, 8, 8), (0, 0, 300, 300)])
    with pytest.warns(KmimgWarning, match="a frame of the animation claims more than 1,000 pixels"):
        assert animation_of(data, source="x", max_pixels=1000) is None
    source = tmp_path / "bomb.gif"
    source.write_bytes(data)
    result = runner.invoke(
        app, ["quantize", str(source), "-k", "4", "-o", str(tmp_path / "o.png"), "--max-pixels", "1000"]
    )
    assert result.exit_code == 0 and (tmp_path / "o.png").exists()
    assert result.stderr.endswith("animated GIF: only the first of its 2 frames was used\n")


def test_an_apng_missing_frame_data_gives_its_first_frame_with_warnings(tmp_path: Path) -> None:
    indices = np.array([np.full((6, 6), i % 3, np.uint8) for i in range(3)])
    palette = np.array([[255, 0, 0, 255], [0, 255, 0, 255], [0, 0, 255, 255]], np.uint8)
    data = encode_apng(indices, palette, [100] * 3, 0)
    last = data.rindex(b"fdAT") - 4  # the last frame's data chunk cut out
    length = int.from_bytes(data[last : last + 4], "big")
    source = tmp_path / "cut.png"
    source.write_bytes(data[:last] + data[last + 12 + length :])
    target = tmp_path / "o.png"
    result = runner.invoke(app, ["quantize", str(source), "-k", "4", "-o", str(target)])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"kmimg: warning: {source}: damaged animation data: ")
    assert lines[1] == f"kmimg: warning: {source}: animated PNG: only the first of its 3 frames was used"
    assert frame_count(target.read_bytes()) == 1


def blinking(count: int = 9, height: int = 40, width: int = 48) -> np.ndarray:
    """Index frames: noise (a picture), and every third frame a large block flashing over it
    that the next frame takes away again."""
    rng = np.random.default_rng(5)
    still = rng.integers(0, 6, (height, width)).astype(np.uint8)
    frames = np.repeat(still[None], count, axis=0)
    for number in range(count):
        frames[number, 30:34, 2 + 4 * number : 6 + 4 * number] = 6  # a small sprite walks
        if number % 3 == 1:
            frames[number, 4:26, 6:42] = 7
    return frames


def test_a_frame_may_be_drawn_on_the_canvas_the_one_before_was_drawn_on() -> None:
    """A flash that goes away again: the frame after it is drawn on the canvas before it (its
    disposal "restore to previous"), a smaller file than redrawing the picture under the flash,
    and every frame decodes to its indices."""
    from kmimg.io.gif import _animated

    indices = blinking()
    palette = np.array([[30 * i, 255 - 30 * i, 17 * i, 255] for i in range(8)], dtype=np.uint8)
    data = encode_animated_gif(indices, palette, [50] * len(indices), 0)
    plain = _animated(indices, palette, [50] * len(indices), 0, None, None, False)
    assert len(data) < len(plain)
    disposals = []
    with Image.open(io.BytesIO(data)) as image:
        for number in range(len(indices)):
            image.seek(number)
            disposals.append(image.disposal_method)
    assert 3 in disposals
    decoded = load_animation(data, source="x", max_pixels=10**8)
    assert np.array_equal(decoded.rgb, palette[indices][..., :3])


@pytest.mark.parametrize("with_clear", [False, True])
def test_the_gif_writer_is_never_larger_than_without_restoring(with_clear: bool) -> None:
    from kmimg.io.gif import _animated

    rng = np.random.default_rng(17)
    for entries in (2, 16, 200):
        palette = rng.integers(0, 256, (entries, 4)).astype(np.uint8)
        palette[:, 3] = 255
        clear = 1 if with_clear else None
        if clear is not None:
            palette[clear] = 0
        indices = random_frames(rng, entries, clear=clear)
        spare = clear if clear is not None or entries == 256 else entries
        data = encode_animated_gif(indices, palette, [50] * len(indices), 0)
        assert len(data) <= len(_animated(indices, palette, [50] * len(indices), 0, clear, spare, False))


def code_sizes(data: bytes) -> list[int]:
    """Each frame's LZW minimum code size."""
    flags = data[10]
    at = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    sizes = []
    while data[at] != 0x3B:
        if data[at] == 0x21:  # an extension: skip its sub-blocks
            at += 2
        else:
            packed = data[at + 9]
            at += 10 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)
            sizes.append(data[at])
            at += 1
        while data[at]:
            at += data[at] + 1
        at += 1
    return sizes


@pytest.mark.parametrize("with_clear", [False, True])
def test_the_entries_most_frames_use_go_first_in_the_global_table(
    with_clear: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frames of 12 colours that sit at entries 40-51 of a table of 64 (and its transparent entry
    63) code with 4-bit LZW roots instead of 6-bit ones once those entries go first (a frame that
    keeps pixels with the entry one past the table's colours still needs its bits): a smaller file
    of the same pictures, from either GIF writer (one palette, and frame tables)."""
    from kmimg.io import gif

    rng = np.random.default_rng(11)
    palette = rng.integers(0, 256, (64, 4)).astype(np.uint8)
    palette[:, 3] = 255
    frames = random_frames(rng, 12, clear=None) + 40
    if with_clear:
        palette[63] = 0
        frames[:, :4, :] = 63
    expected = palette[frames]
    expected[expected[..., 3] == 0] = 0
    count = len(frames)
    drawn = np.ones(frames.shape, dtype=bool)
    drawn[1:] = frames[1:] != frames[:-1]
    drawn[0] = True

    def both() -> tuple[bytes, bytes]:
        one = encode_animated_gif(frames, palette, [50] * count, 0)
        tables = gif.encode_gif_frame_palettes(
            frames, drawn, [palette] * count, [False] * count, palette, [None] * count, [50] * count, 0
        )
        return one, tables

    ordered = both()
    for data in ordered:
        decoded = load_animation(data, source="x", max_pixels=10**8)
        assert np.array_equal(shown(decoded.rgb, decoded.alpha), expected)
        assert code_sizes(data)[0] == 4
    monkeypatch.setattr(gif, "_use_order", lambda *args: None)
    for data, before in zip(ordered, both(), strict=True):
        assert code_sizes(before)[0] == 6
        assert all(ours <= theirs for ours, theirs in zip(code_sizes(data), code_sizes(before), strict=True))
        assert len(data) < len(before)


def test_a_table_is_kept_in_its_order_where_another_would_not_lower_the_code_sizes() -> None:
    from kmimg.io.gif import _use_order

    used = [np.arange(16, dtype=np.uint8), np.array([1, 2], dtype=np.uint8)]
    assert _use_order(16, used, [False, True], None) is None  # 4 bits and 2 bits either way
    order = _use_order(64, [np.array([60, 61, 62], dtype=np.uint8)] * 2, [False, True], 63)
    assert order is not None and sorted(order[:4].tolist()) == [60, 61, 62, 63]
