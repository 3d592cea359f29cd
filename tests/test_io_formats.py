"""Every raster format Pillow reads (issue 27): each family generated with Pillow, read by its
content; EPS refused; the rule for files holding several images and its warning; what native
decoders write to file descriptor 2 turned into kmimg's one-line messages."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features
from typer.testing import CliRunner

from kmimg.cli import app
from kmimg.errors import InputError, KmimgWarning, LimitError
from kmimg.io import load_image
from kmimg.io.chatter import captured, summary
from kmimg.io.formats import REFUSED_FORMATS, is_scan_suffix, scan_suffixes

runner = CliRunner()


def photo() -> Image.Image:
    """A small RGB picture with a few flat colours (exact in every lossless format)."""
    pixels = np.zeros((24, 32, 3), dtype=np.uint8)
    pixels[:, :16] = (200, 30, 40)
    pixels[:, 16:] = (20, 120, 220)
    pixels[12:, 8:24] = (250, 250, 250)
    return Image.fromarray(pixels)


def saved(image: Image.Image, format: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format, **params)
    return buffer.getvalue()


def _qoi_writable() -> bool:
    try:
        saved(photo(), "QOI")
    except (KeyError, OSError, ValueError):
        return False
    return True


#: (name, Pillow format to write, the mode written, the format kmimg reports)
FAMILIES = [
    ("tga", "TGA", "RGB", "TGA"),
    ("ppm", "PPM", "RGB", "PPM"),
    ("pgm", "PPM", "L", "PPM"),
    ("pbm", "PPM", "1", "PPM"),
    ("pcx", "PCX", "RGB", "PCX"),
    ("sgi", "SGI", "RGB", "SGI"),
    ("dds", "DDS", "RGBA", "DDS"),
    ("ico", "ICO", "RGB", "ICO"),
    pytest.param(
        "jp2",
        "JPEG2000",
        "RGB",
        "JPEG2000",
        marks=pytest.mark.skipif(not features.check("jpg_2000"), reason="Pillow without OpenJPEG"),
    ),
    pytest.param(
        "qoi", "QOI", "RGB", "QOI", marks=pytest.mark.skipif(not _qoi_writable(), reason="no QOI writer")
    ),
]


@pytest.mark.parametrize(("name", "format", "mode", "reported"), FAMILIES)
def test_each_format_family_is_read(name: str, format: str, mode: str, reported: str) -> None:
    image = photo().convert(mode)
    params: dict[str, object] = {"irreversible": False} if format == "JPEG2000" else {}
    if format == "ICO":
        params["sizes"] = [image.size]
    picture = load_image(f"photo.{name}", data=saved(image, format, **params))
    assert picture.format == reported
    assert (picture.width, picture.height) == image.size
    expected = np.asarray(image.convert("RGB"))
    assert np.abs(picture.rgb.astype(int) - expected).max() <= 1
    assert picture.alpha is None  # opaque everywhere: no alpha plane (DDS's RGBA included)


def test_every_family_in_a_folder_gives_one_output_each(tmp_path: Path) -> None:
    folder = tmp_path / "assets"
    folder.mkdir()
    names = ["tga", "ppm", "pgm", "ico", "pcx", "sgi", "dds"]
    names += ["jp2"] if features.check("jpg_2000") else []
    names += ["qoi"] if _qoi_writable() else []
    formats = {"pgm": ("PPM", "L"), "ppm": ("PPM", "RGB"), "jp2": ("JPEG2000", "RGB"), "dds": ("DDS", "RGBA")}
    for name in names:
        format, mode = formats.get(name, (name.upper(), "RGB"))
        params = {"sizes": [photo().size]} if name == "ico" else {}  # one size: no warning
        (folder / f"photo-{name}.{name}").write_bytes(saved(photo().convert(mode), format, **params))
    (folder / "notes.txt").write_text("not an image")
    result = runner.invoke(app, ["quantize", str(folder), "-k", "4", "--out-dir", str(tmp_path / "out")])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f"photo-{n}-k4.png" for n in names)


def test_the_scan_takes_pillows_registered_suffixes_and_never_eps() -> None:
    suffixes = scan_suffixes()
    assert {".png", ".jpg", ".tif", ".tga", ".ppm", ".pgm", ".pbm", ".ico", ".pcx", ".dds"} <= suffixes
    assert not {".eps", ".ps", ".mpg", ".h5", ".pdf", ".txt"} & suffixes


def test_the_scan_predicate_answers_as_pillows_registry() -> None:
    """is_scan_suffix skips Pillow's registry for PNG and TIFF, with the registry's answer."""
    for suffix in scan_suffixes() | {".txt", ".eps", ".pdf", "", ".png.bak", ".apng", ".jpg"}:
        assert is_scan_suffix(suffix) == (suffix in scan_suffixes()), suffix


def test_a_tga_renamed_dat_and_named_explicitly_is_read_by_content(tmp_path: Path) -> None:
    path = tmp_path / "photo.dat"
    path.write_bytes(saved(photo(), "TGA"))
    assert load_image(path).format == "TGA"
    out = tmp_path / "photo.png"
    result = runner.invoke(app, ["quantize", str(path), "-k", "4", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "data",
    [b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nshowpage\n", b"\xc5\xd0\xd3\xc6" + bytes(28)],
)
def test_eps_and_postscript_are_refused_with_the_reason(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(InputError, match="Ghostscript"):
        load_image("logo.eps", data=data)
    path = tmp_path / "logo.eps"
    path.write_bytes(data)
    good = tmp_path / "good.tga"
    good.write_bytes(saved(photo(), "TGA"))
    argv = ["quantize", str(path), str(good), "-k", "4", "--out-dir", str(tmp_path / "o")]
    result = runner.invoke(app, argv)
    assert result.exit_code == 1
    assert result.stderr == f"kmimg: error: {path}: {REFUSED_FORMATS['EPS']}\n"
    assert (tmp_path / "o" / "good-k4.png").exists()  # the batch went on


def test_a_truncated_tga_is_one_line_and_the_batch_goes_on(tmp_path: Path) -> None:
    data = saved(photo(), "TGA")
    (tmp_path / "cut.tga").write_bytes(data[: len(data) // 2])
    (tmp_path / "good.ppm").write_bytes(saved(photo(), "PPM"))
    result = runner.invoke(app, ["quantize", str(tmp_path), "-k", "4", "--out-dir", str(tmp_path / "o")])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"kmimg: error: {tmp_path / 'cut.tga'}: ")
    assert (tmp_path / "o" / "good-k4.png").exists()


def test_the_pixel_limit_is_checked_before_decoding_a_new_format() -> None:
    with pytest.raises(InputError, match="over the limit of 100"):
        load_image("big.tga", data=saved(photo(), "TGA"), max_pixels=100)


def test_sixteen_bit_pgm_is_scaled_as_other_16_bit_grey() -> None:
    values = np.array([[0, 257, 65535]], dtype=np.uint16)
    data = b"P5 3 1 65535\n" + values.astype(">u2").tobytes()
    picture = load_image("deep.pgm", data=data)
    assert picture.rgb[0, :, 0].tolist() == [0, 1, 255]


# ----------------------------------------------------------------------------- several images


def test_an_icon_gives_its_largest_size_with_a_warning() -> None:
    data = saved(photo().resize((48, 48)), "ICO", sizes=[(16, 16), (32, 32), (48, 48)])
    with pytest.warns(KmimgWarning) as caught:
        picture = load_image("app.ico", data=data)
    assert (picture.width, picture.height) == (48, 48)
    assert [str(w.message) for w in caught] == [
        "ICO holds 3 sizes (48x48, 32x32, 16x16); the largest, 48x48, was used"
    ]


def test_dds_mipmaps_are_named_in_a_warning() -> None:
    data = bytearray(saved(photo().convert("RGBA"), "DDS"))
    flags = struct.unpack_from("<I", data, 8)[0]
    struct.pack_into("<I", data, 8, flags | 0x20000)  # DDSD_MIPMAPCOUNT
    struct.pack_into("<I", data, 28, 6)
    with pytest.warns(KmimgWarning, match="DDS holds 6 mipmap levels; only the full-size image was used"):
        picture = load_image("tex.dds", data=bytes(data))
    assert (picture.width, picture.height) == (32, 24)


def test_a_multipage_tiff_gives_its_first_page_with_a_warning_on_the_command_line(tmp_path: Path) -> None:
    first, second = photo(), photo().transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    path = tmp_path / "scan.tif"
    first.save(path, save_all=True, append_images=[second], compression="tiff_deflate")
    result = runner.invoke(app, ["quantize", str(path), "-k", "4", "-o", str(tmp_path / "out.png")])
    assert result.exit_code == 0
    assert result.stderr == (
        f"kmimg: warning: {path}: TIFF holds 2 images; only the first was used, the other 1 were left out\n"
    )


def test_an_animated_gif_is_kept_whole_by_quantize_and_its_first_frame_said_elsewhere(tmp_path: Path) -> None:
    frames = [photo(), photo().transpose(Image.Transpose.FLIP_TOP_BOTTOM), photo().rotate(180)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=80, loop=0)
    result = runner.invoke(app, ["quantize", str(path), "-k", "4", "-o", str(tmp_path / "out.png")])
    assert result.exit_code == 0
    assert result.stderr == ""
    with Image.open(tmp_path / "out.png") as written:
        assert getattr(written, "n_frames", 1) == 3
    result = runner.invoke(app, ["segment", str(path), "--out-dir", str(tmp_path / "seg")])
    assert result.exit_code == 0
    assert result.stderr == f"kmimg: warning: {path}: animated GIF: only the first of its 3 frames was used\n"


# ----------------------------------------------------------------------------- native chatter


def test_what_is_written_to_fd_2_during_a_capture_is_caught_and_fd_2_restored() -> None:
    before = os.fstat(2)
    with captured() as lines:
        os.write(2, b"TIFFReadDirectory: something odd\nTIFFReadDirectory: something odd\n")
    assert lines == ["TIFFReadDirectory: something odd", "TIFFReadDirectory: something odd"]
    after = os.fstat(2)
    assert (before.st_dev, before.st_ino) == (after.st_dev, after.st_ino)
    with captured() as again:  # the capture file is emptied between decodes
        pass
    assert again == []


def test_native_lines_become_one_short_line_or_nothing() -> None:
    unknown = "TIFFReadDirectory: Warning, Unknown field with tag 50000 (0xc350) encountered."
    assert summary([unknown, ""]) is None
    assert summary(["\x1b[2K\r progress 3/10"]) is None
    error = "ZIPDecode: Decoding error at scanline 0."
    said = summary([error, error, "x" * 300])
    assert said is not None and said.startswith(f"decoder said: {error} (and 1 more)")
    long = summary(["y" * 500])
    assert long is not None and len(long) < 200 and long.endswith("...")


def chatty_tiff() -> bytes:
    """A deflate TIFF whose RowsPerStrip tag has an ASCII type: libtiff prints
    ``TIFFFetchNormalTag: Incompatible type for "RowsPerStrip"`` to fd 2 and fails."""
    data = bytearray(saved(photo(), "TIFF", compression="tiff_adobe_deflate"))
    directory = struct.unpack_from("<I", data, 4)[0]
    for entry in range(struct.unpack_from("<H", data, directory)[0]):
        at = directory + 2 + 12 * entry
        if struct.unpack_from("<H", data, at)[0] == 278:
            struct.pack_into("<H", data, at + 2, 2)
    return bytes(data)


def test_libtiff_chatter_on_fd_2_becomes_the_end_of_kmimgs_one_line(tmp_path: Path) -> None:
    (tmp_path / "chatty.tif").write_bytes(chatty_tiff())
    (tmp_path / "good.tga").write_bytes(saved(photo(), "TGA"))
    for jobs in ("1", "2"):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "kmimg",
                "quantize",
                str(tmp_path / "chatty.tif"),
                str(tmp_path / "good.tga"),
                "-k",
                "4",
                "--out-dir",
                str(tmp_path / f"out{jobs}"),
                "--jobs",
                jobs,
                "-q",
            ],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 1
        lines = done.stderr.splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith(f"kmimg: error: {tmp_path / 'chatty.tif'}: ")
        assert 'decoder said: TIFFFetchNormalTag: Incompatible type for "RowsPerStrip"' in lines[0]


def test_chatter_of_a_decode_that_succeeds_is_one_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    import kmimg.io.decode as decode

    real = decode._to_srgb

    def chatty(image: Image.Image) -> Image.Image:
        os.write(2, b"JPEGLib: Warning, something about the file\n" * 2)
        return real(image)

    monkeypatch.setattr(decode, "_to_srgb", chatty)
    with pytest.warns(KmimgWarning) as caught:
        load_image("x.tga", data=saved(photo(), "TGA"))
    assert [str(w.message) for w in caught] == ["decoder said: JPEGLib: Warning, something about the file"]


def test_icns_sizes_are_counted_in_pixels_with_their_scale() -> None:
    data = saved(Image.new("RGB", (64, 64), (9, 8, 7)), "ICNS")
    with pytest.warns(
        KmimgWarning, match=r"ICNS holds \d+ sizes \(1024x1024, 512x512, .*the largest, 1024x1024"
    ):
        picture = load_image("app.icns", data=data)
    assert (picture.width, picture.height) == (1024, 1024)
    assert (picture.rgb == [9, 8, 7]).all()


def test_an_image_inside_an_icns_meets_the_pixel_limit_before_it_is_decoded() -> None:
    import corpus

    element = corpus.bomb_png(30000, 30000)  # a PNG declaring 900 megapixels, a few bytes long
    body = b"ic08" + struct.pack(">I", 8 + len(element)) + element  # ic08: the 256x256 slot
    data = b"icns" + struct.pack(">I", 8 + len(body)) + body
    with pytest.raises(LimitError, match="an image inside the file is over the limit of 250000000 pixels"):
        load_image("bomb.icns", data=data)


def test_png_and_jpeg_inputs_load_none_of_pillows_other_plugins() -> None:
    samples = Path(__file__).resolve().parent.parent / "sample_images"
    code = (
        "import sys; from kmimg.io import load_image; from kmimg.jobs.paths import expand_inputs\n"
        f"load_image({str(samples / 'flower.jpg')!r}); load_image({str(samples / 'coins.png')!r})\n"
        f"expand_inputs([{str(samples / 'coins.png')!r}], recursive=False)\n"
        "import json; print(json.dumps(sorted(m for m in sys.modules if m.endswith('ImagePlugin'))))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stdout))
    assert "PIL.TgaImagePlugin" not in loaded and "PIL.DdsImagePlugin" not in loaded
    assert loaded <= {f"PIL.{name}ImagePlugin" for name in ("Bmp", "Gif", "Jpeg", "Ppm", "Png")}
