"""WebP output (issue 27): ``-o x.webp``, ``--ext .webp`` write a lossless WebP holding exactly
the pixels kmimg's PNG (or APNG) of the same command holds; animations keep every frame, each
frame's duration and the loop count."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features
from typer.testing import CliRunner

import kmimg
from kmimg.cli import app
from kmimg.io.apng import encode_apng
from kmimg.io.formats import NO_WEBP

runner = CliRunner()
SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"

pytestmark = pytest.mark.skipif(not features.check("webp"), reason="Pillow without WebP support")


def decoded(path: Path) -> tuple[np.ndarray, list[int], int | None, str]:
    """Every frame of ``path`` as a viewer shows it (RGBA), the durations, the loop, the format."""
    with Image.open(path) as image:
        frames, durations = [], []
        for number in range(getattr(image, "n_frames", 1)):
            image.seek(number)
            image.load()
            frames.append(np.asarray(image.convert("RGBA")))
            durations.append(round(float(image.info.get("duration", 0) or 0)))
        return np.stack(frames), durations, image.info.get("loop"), str(image.format)


def quantize(source: Path, target: Path, *options: str) -> dict[str, object]:
    result = runner.invoke(app, ["quantize", str(source), "-o", str(target), "--json", "-", *options])
    assert result.exit_code == 0, result.output
    record: dict[str, object] = json.loads(result.stdout)["results"][0]
    return record


def translucent_picture() -> np.ndarray:
    """Opaque, translucent and fully transparent pixels, with colours under alpha 0."""
    rng = np.random.default_rng(3)
    pixels = np.zeros((41, 53, 4), dtype=np.uint8)
    pixels[..., :3] = rng.integers(0, 256, (41, 53, 3))  # colour under alpha 0
    pixels[5:30, 4:40] = (200, 40, 40, 255)
    pixels[10:20, 10:50] = (20, 60, 220, 128)
    pixels[25:35, 20:30] = (250, 250, 20, 40)
    return pixels


def test_still_webp_holds_the_pngs_pixels_and_no_metadata(tmp_path: Path) -> None:
    png = quantize(SAMPLES / "flower.jpg", tmp_path / "out.png", "-k", "16")
    webp = quantize(SAMPLES / "flower.jpg", tmp_path / "out.webp", "-k", "16")
    data = (tmp_path / "out.webp").read_bytes()
    assert data[:4] == b"RIFF" and data[8:16] == b"WEBPVP8L"  # lossless, a simple file: no metadata
    assert webp["output_bytes"] == len(data) and webp["frames"] == 1
    assert webp["palette"] == png["palette"]
    frames, _, _, kind = decoded(tmp_path / "out.webp")
    assert kind == "WEBP"
    assert np.array_equal(frames, decoded(tmp_path / "out.png")[0])


def test_translucent_webp_keeps_the_palettes_rgba_under_alpha_zero(tmp_path: Path) -> None:
    source = tmp_path / "icon.png"
    Image.fromarray(translucent_picture()).save(source)
    for name in ("out.png", "out.webp"):
        quantize(source, tmp_path / name, "-k", "6")
    webp, png = decoded(tmp_path / "out.webp")[0], decoded(tmp_path / "out.png")[0]
    assert bool((webp[..., 3] == 0).any()) and bool(((webp[..., 3] > 0) & (webp[..., 3] < 255)).any())
    assert np.array_equal(webp, png)  # every channel, the colour under alpha 0 too


def animation(tmp_path: Path) -> Path:
    """An APNG with identical frames in a row, translucent pixels, pixels turning transparent
    and changes at odd coordinates (kmimg's APNG writer keeps every frame)."""
    palette = np.array(
        [[0, 0, 0, 0], [200, 30, 40, 255], [20, 90, 200, 120], [240, 240, 240, 255], [30, 160, 60, 255]],
        dtype=np.uint8,
    )
    frames = np.full((7, 33, 45), 3, dtype=np.uint8)
    frames[:, 20:30, 5:15] = 2
    for number in range(7):
        frames[number, 3 + number : 10 + number, 1 + 3 * number : 8 + 3 * number] = 1
    frames[3] = frames[2]
    frames[4] = frames[2]
    frames[5, 0:5, 0:7] = 0  # transparent
    frames[6, 31, 43] = 4
    path = tmp_path / "anim.png"
    path.write_bytes(encode_apng(frames, palette, [40, 50, 60, 70, 80, 90, 1000], 3))
    return path


def test_animated_webp_keeps_every_frame_duration_and_the_loop(tmp_path: Path) -> None:
    source = animation(tmp_path)
    apng = quantize(source, tmp_path / "out.png", "-k", "5")
    webp = quantize(source, tmp_path / "out.webp", "-k", "5")
    assert webp["frames"] == apng["frames"] == 7
    frames, durations, loop, kind = decoded(tmp_path / "out.webp")
    expected, expected_durations, expected_loop, _ = decoded(tmp_path / "out.png")
    assert kind == "WEBP" and len(frames) == 7
    assert durations == expected_durations == [40, 50, 60, 70, 80, 90, 1000]
    assert loop == expected_loop == 3
    assert np.array_equal(frames, expected)


def test_an_animated_gif_as_webp_shows_the_apngs_frames(tmp_path: Path) -> None:
    source = tmp_path / "pan.gif"
    pictures = [
        Image.open(SAMPLES / "coffee.png").convert("RGB").crop((x, 0, x + 90, 60)) for x in range(0, 60, 6)
    ]
    pictures[0].save(source, save_all=True, append_images=pictures[1:], duration=70, loop=0)
    for name in ("out.png", "out.webp"):
        quantize(source, tmp_path / name, "-k", "32")
    frames, durations, loop, _ = decoded(tmp_path / "out.webp")
    expected, expected_durations, expected_loop, _ = decoded(tmp_path / "out.png")
    assert np.array_equal(frames, expected)
    assert (durations, loop) == (expected_durations, expected_loop)


@pytest.mark.parametrize("animated", [False, True])
def test_webp_bytes_are_the_same_twice(tmp_path: Path, animated: bool) -> None:
    source = animation(tmp_path) if animated else SAMPLES / "coffee.png"
    quantize(source, tmp_path / "a.webp", "-k", "12", "--seed", "7")
    quantize(source, tmp_path / "b.webp", "-k", "12", "--seed", "7")
    assert (tmp_path / "a.webp").read_bytes() == (tmp_path / "b.webp").read_bytes()


def test_ext_webp_names_the_outputs_in_an_output_folder(tmp_path: Path) -> None:
    done = runner.invoke(
        app,
        ["quantize", str(SAMPLES / "coins.png"), str(SAMPLES / "chelsea.png"), "-k", "8", "--ext", "-k8.webp",
         "--out-dir", str(tmp_path)],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert sorted(path.name for path in tmp_path.iterdir()) == ["chelsea-k8.webp", "coins-k8.webp"]
    for name in ("chelsea-k8.webp", "coins-k8.webp"):
        assert decoded(tmp_path / name)[3] == "WEBP"


def test_skip_if_larger_compares_the_webps_bytes(tmp_path: Path) -> None:
    first = tmp_path / "first.webp"
    written = quantize(SAMPLES / "coffee.png", first, "-k", "16", "--skip-if-larger")
    assert written["skipped"] is None and first.exists()
    # kmimg's own WebP quantized again at the same K: the same bytes, not smaller
    again = runner.invoke(
        app, ["quantize", str(first), "-k", "16", "--skip-if-larger", "-o", str(tmp_path / "again.webp")]
    )
    assert again.exit_code == 98, again.output
    assert "-byte WebP would not be smaller than the input" in again.stderr
    assert not (tmp_path / "again.webp").exists()


@pytest.mark.parametrize("level", ["0", "3"])
def test_optimize_changes_the_bytes_not_the_pixels(tmp_path: Path, level: str) -> None:
    quantize(SAMPLES / "coffee.png", tmp_path / "default.webp", "-k", "16")
    quantize(SAMPLES / "coffee.png", tmp_path / "level.webp", "-k", "16", "--optimize", level)
    assert np.array_equal(decoded(tmp_path / "default.webp")[0], decoded(tmp_path / "level.webp")[0])


def test_the_library_saves_webp_by_name(tmp_path: Path) -> None:
    result = kmimg.quantize(str(SAMPLES / "coins.png"), 8)
    result.save(tmp_path / "coins.webp")
    result.save(tmp_path / "coins.png")
    assert np.array_equal(decoded(tmp_path / "coins.webp")[0], decoded(tmp_path / "coins.png")[0])


@pytest.mark.parametrize("how", [["-o", "{dir}/out.webp"], ["--ext", ".webp", "--out-dir", "{dir}"]])
def test_a_pillow_without_webp_is_a_usage_error_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: list[str]
) -> None:
    real = features.check
    monkeypatch.setattr(features, "check", lambda name: False if name == "webp" else real(name))
    folder = tmp_path / "out"
    folder.mkdir()
    argv = ["quantize", str(SAMPLES / "coins.png"), "-k", "8", *(part.format(dir=folder) for part in how)]
    result = runner.invoke(app, argv)
    assert result.exit_code == 2
    shown = f"output {folder}/out.webp" if how[0] == "-o" else "--ext .webp"
    assert result.stderr == f"kmimg: error: {shown}: {NO_WEBP}\n"
    assert NO_WEBP == "this Pillow was built without WebP support (libwebp); name it .png or .gif"
    assert list(folder.iterdir()) == []


def test_other_image_formats_names_stay_usage_errors(tmp_path: Path) -> None:
    result = runner.invoke(app, ["quantize", str(SAMPLES / "coins.png"), "-o", str(tmp_path / "x.jpg")])
    assert result.exit_code == 2 and "kmimg writes PNG, GIF or WebP, not .jpg" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_kmimgs_animated_webp_reads_back_whole(tmp_path: Path) -> None:
    """The WebP kmimg wrote is an input like any animated WebP: quantized again to an APNG at
    the same K, it gives the same frames, durations and loop."""
    source = animation(tmp_path)
    quantize(source, tmp_path / "out.webp", "-k", "5")
    again = quantize(tmp_path / "out.webp", tmp_path / "again.png", "-k", "5")
    assert again["frames"] == 7
    first, second = decoded(tmp_path / "out.webp"), decoded(tmp_path / "again.png")
    assert np.array_equal(first[0], second[0]) and first[1:3] == second[1:3]


def test_an_image_too_wide_for_webp_fails_alone_and_leaves_no_file(tmp_path: Path) -> None:
    source = tmp_path / "wide.png"
    Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), (2, 65))[:, :16400]).save(source)
    folder = tmp_path / "out"
    result = runner.invoke(app, ["quantize", str(source), "-k", "4", "-o", str(folder / "wide.webp")])
    assert result.exit_code == 1
    assert result.stderr == (
        f"kmimg: error: {source}: WebP holds at most 16383 pixels a side, not 16400x2: write a .png\n"
    )
    assert not folder.exists() or list(folder.iterdir()) == []
