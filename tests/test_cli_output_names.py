"""Outputs say what they hold (issue 27): ``-o x.gif`` writes a real GIF89a of the quantized
pixels; ``-o x.jpg``, ``x.bmp`` and other image formats' names are usage errors, nothing written."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import kmimg
from kmimg.cli import app

runner = CliRunner()
SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"


@pytest.mark.parametrize("name", ["x.jpg", "x.JPEG", "x.bmp", "x.avif", "x.tif", "x.tga"])
def test_another_formats_name_is_a_usage_error_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    target = tmp_path / name
    result = runner.invoke(app, ["quantize", str(SAMPLES / "coins.png"), "-k", "8", "-o", str(target)])
    assert result.exit_code == 2
    suffix = Path(name).suffix.lower()
    assert (
        result.stderr == f"kmimg: error: output {target}: kmimg writes PNG, GIF or WebP, not {suffix}; "
        "name it .png, .gif or .webp\n"
    )
    assert list(tmp_path.iterdir()) == []


def rgba(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGBA"))


def quantize_to(tmp_path: Path, source: Path, name: str, *options: str) -> tuple[int, str, Path]:
    target = tmp_path / name
    result = runner.invoke(app, ["quantize", str(source), "-k", "16", "-o", str(target), *options])
    return result.exit_code, result.stderr, target


def test_gif_output_is_a_gif89a_of_the_same_pixels_as_the_png(tmp_path: Path) -> None:
    for name in ("out.png", "out.gif"):
        code, stderr, _ = quantize_to(tmp_path, SAMPLES / "flower.jpg", name)
        assert code == 0, stderr
    gif = (tmp_path / "out.gif").read_bytes()
    assert gif.startswith(b"GIF89a")
    with Image.open(io.BytesIO(gif)) as image:
        assert image.format == "GIF" and image.mode == "P" and getattr(image, "n_frames", 1) == 1
        assert len(image.getcolors(256) or []) <= 16
    assert np.array_equal(rgba(gif), rgba((tmp_path / "out.png").read_bytes()))


def test_gif_output_keeps_the_transparent_entry(tmp_path: Path) -> None:
    pixels = np.zeros((20, 30, 4), dtype=np.uint8)
    pixels[5:15, 5:25] = (200, 40, 40, 255)
    pixels[8:12, 10:20] = (20, 40, 200, 255)
    source = tmp_path / "logo.png"
    Image.fromarray(pixels).save(source)
    for name in ("logo-q.png", "logo-q.gif"):
        code, stderr, _ = quantize_to(tmp_path, source, name)
        assert code == 0, stderr
    gif = (tmp_path / "logo-q.gif").read_bytes()
    with Image.open(io.BytesIO(gif)) as image:
        assert "transparency" in image.info
    assert np.array_equal(rgba(gif), rgba((tmp_path / "logo-q.png").read_bytes()))
    assert (rgba(gif)[..., 3] == 0).sum() == (pixels[..., 3] == 0).sum()


def test_translucent_colours_cannot_go_into_a_gif(tmp_path: Path) -> None:
    pixels = np.zeros((8, 8, 4), dtype=np.uint8)
    pixels[..., 0] = 200
    pixels[..., 3] = np.arange(8, dtype=np.uint8)[None, :] * 30 + 10
    source = tmp_path / "glow.png"
    Image.fromarray(pixels).save(source)
    code, stderr, target = quantize_to(tmp_path, source, "glow.gif")
    assert code == 1 and not target.exists()
    assert stderr.startswith(f"kmimg: error: {source}: GIF has no translucent colours")
    code, stderr, target = quantize_to(tmp_path, source, "glow.gif", "--alpha-threshold", "128")
    assert code == 0, stderr
    assert target.read_bytes().startswith(b"GIF89a")


def test_the_library_saves_gif_by_name_and_refuses_other_formats(tmp_path: Path) -> None:
    result = kmimg.quantize(str(SAMPLES / "coins.png"), 8)
    result.save(tmp_path / "coins.gif")
    assert (tmp_path / "coins.gif").read_bytes().startswith(b"GIF89a")
    with pytest.raises(ValueError, match=r"not \.jpg"):
        result.save(tmp_path / "coins.jpg")
    assert not (tmp_path / "coins.jpg").exists()


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["palette", str(SAMPLES / "coins.png"), "-k", "4", "--swatch"], "--swatch"),
        (["classify", str(SAMPLES), "-k", "2", "--montage"], "--montage"),
    ],
)
@pytest.mark.parametrize("name", ["s.jpg", "s.gif", "s.webp"])
def test_png_only_side_outputs_refuse_other_formats_names(
    tmp_path: Path, argv: list[str], option: str, name: str
) -> None:
    target = tmp_path / name
    result = runner.invoke(app, [*argv, str(target)])
    assert result.exit_code == 2
    suffix = Path(name).suffix
    assert (
        result.stderr
        == f"kmimg: error: {option} {target}: this output is a PNG, not {suffix}; name it .png\n"
    )
    assert list(tmp_path.iterdir()) == []


def test_ext_names_only_formats_kmimg_writes(tmp_path: Path) -> None:
    """--ext follows -o's rule: .gif writes a GIF, another image format's ending is refused."""
    photo = Path(__file__).resolve().parent.parent / "sample_images" / "coins.png"
    refused = CliRunner().invoke(app, ["quantize", str(photo), "--ext", ".jpg", "--out-dir", str(tmp_path)])
    assert refused.exit_code == 2 and "--ext .jpg" in refused.output
    assert not list(tmp_path.iterdir())
    done = CliRunner().invoke(
        app, ["quantize", str(photo), "-k", "8", "--ext", ".gif", "--out-dir", str(tmp_path)]
    )
    assert done.exit_code == 0, done.output
    assert (tmp_path / "coins.gif").read_bytes().startswith(b"GIF89a")
