"""kmimg.io.load_image on the generated corpus: odd files decoded right, bad ones refused cleanly.

Each test names the issue-6 case it covers. Expected pixels are computed independently of
kmimg (by hand, numpy, or scikit-image), never by calling the code under test twice.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import corpus
import numpy as np
import pytest
from PIL import Image, ImageFile

from kmimg.errors import InputError, KmimgWarning, LimitError
from kmimg.io import Picture, load_image
from kmimg.options import DEFAULT_MAX_PIXELS

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"


def load(data: bytes, **options: object) -> Picture:
    return load_image("test", data=data, **options)  # type: ignore[arg-type]


def rgba_of(picture: Picture) -> np.ndarray:
    alpha = picture.alpha if picture.alpha is not None else np.full(picture.rgb.shape[:2], 255, np.uint8)
    return np.dstack([picture.rgb, alpha])


# ----------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1)], ids=["1x1", "1xN", "Nx1"])
def test_degenerate_shapes_round_trip(shape: tuple[int, int]) -> None:
    pixels = corpus.gradient(*shape)
    picture = load(corpus.pillow_bytes(Image.fromarray(pixels), "PNG"))
    assert picture.rgb.shape == (*shape, 3)
    assert np.array_equal(picture.rgb, pixels)
    assert picture.alpha is None


# ----------------------------------------------------------------------------- bit depths


def test_16bit_grey_png_is_scaled_not_clipped() -> None:
    values = np.array([[0, 257, 1000, 32768, 65280, 65535]], dtype=np.uint16)
    picture = load(corpus.png_bytes(values, bit_depth=16))
    expected = np.rint(values * (255 / 65535)).astype(np.uint8)
    assert np.array_equal(picture.rgb[..., 0], expected)
    assert picture.rgb[0, 3, 0] == 128  # clipping would give 255


def test_16bit_grey_tiff_is_scaled_not_clipped() -> None:
    values = np.array([[0, 1000, 32768, 65535]], dtype=np.uint16)
    picture = load(corpus.pillow_bytes(Image.fromarray(values), "TIFF"))
    assert np.array_equal(picture.rgb[..., 1], np.rint(values * (255 / 65535)).astype(np.uint8))


def test_16bit_rgb_png_is_scaled_within_one_level() -> None:
    # Pillow keeps the high byte of 16-bit RGB(A) PNG samples: floor(v / 256), never more
    # than one level from the exact v * 255 / 65535.
    rng = np.random.default_rng(1)
    values = rng.integers(0, 65536, (5, 7, 3), dtype=np.uint16)
    values[0, 0] = [0, 32768, 65535]
    picture = load(corpus.png_bytes(values, bit_depth=16))
    exact = values * (255 / 65535)
    assert np.abs(picture.rgb - exact).max() <= 1.0
    assert list(picture.rgb[0, 0]) == [0, 128, 255]


def test_16bit_rgb_tiff_is_scaled_within_one_level() -> None:
    tifffile = pytest.importorskip("tifffile")
    values = np.random.default_rng(2).integers(0, 65536, (4, 6, 3), dtype=np.uint16)
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, values, photometric="rgb")
    picture = load(buffer.getvalue())
    assert np.abs(picture.rgb - values * (255 / 65535)).max() <= 1.0


# ----------------------------------------------------------------------------- modes and alpha


def test_mode_1_png() -> None:
    bits = np.array([[0, 1, 1], [1, 0, 0]], dtype=bool)
    picture = load(corpus.pillow_bytes(Image.fromarray(bits), "PNG"))
    assert np.array_equal(picture.rgb[..., 0], np.where(bits, 255, 0))


def test_mode_l_and_la() -> None:
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    assert np.array_equal(load(corpus.pillow_bytes(Image.fromarray(grey), "PNG")).rgb[..., 2], grey)
    alpha = np.full_like(grey, 255)
    alpha[0, 0], alpha[1, 1] = 0, 100
    picture = load(corpus.pillow_bytes(Image.fromarray(np.dstack([grey, alpha]), "LA"), "PNG"))
    assert picture.alpha is not None
    assert np.array_equal(picture.alpha, alpha)
    assert picture.rgb[1, 1, 0] == grey[1, 1]
    assert list(picture.rgb[0, 0]) == [0, 0, 0]  # hidden under alpha 0


def test_palette_with_transparency() -> None:
    image = Image.new("P", (4, 2))
    image.putpalette([255, 0, 255, 10, 20, 30, 200, 200, 0])
    image.putdata([0, 1, 2, 1, 0, 2, 2, 1])
    data = corpus.pillow_bytes(image, "PNG", transparency=bytes([0, 255, 128]))
    picture = load(data)
    assert picture.alpha is not None
    assert list(picture.alpha.ravel()) == [0, 255, 128, 255, 0, 128, 128, 255]
    visible = picture.rgb[picture.alpha > 0]
    assert not (visible == [255, 0, 255]).all(axis=1).any()
    assert (picture.rgb[picture.alpha == 0] == 0).all()


def test_rgba_partial_and_full_transparency() -> None:
    rgba = np.dstack([corpus.gradient(), np.full((12, 16), 255, np.uint8)])
    rgba[:, :4] = [255, 0, 255, 0]
    rgba[:, 4:8, 3] = 77
    picture = load(corpus.pillow_bytes(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert picture.alpha is not None
    assert np.array_equal(picture.alpha, rgba[..., 3])
    assert (picture.rgb[:, :4] == 0).all()
    assert np.array_equal(picture.rgb[:, 4:], rgba[:, 4:, :3])

    hidden = np.zeros((5, 5, 4), np.uint8)
    hidden[..., :3] = [12, 250, 99]
    full = load(corpus.pillow_bytes(Image.fromarray(hidden, "RGBA"), "PNG"))
    assert full.alpha is not None and (full.alpha == 0).all()
    assert (full.rgb == 0).all()


def test_opaque_alpha_is_dropped() -> None:
    rgba = np.dstack([corpus.gradient(), np.full((12, 16), 255, np.uint8)])
    assert load(corpus.pillow_bytes(Image.fromarray(rgba, "RGBA"), "PNG")).alpha is None


@pytest.mark.parametrize("bit_depth", [1, 2, 4])
def test_low_bit_grey_transparency_key_is_scaled(bit_depth: int) -> None:
    # Pillow expands 1/2/4-bit grey to 0-255 but keeps the tRNS key in the file's scale.
    top = (1 << bit_depth) - 1
    samples = np.array([[0, top, top, 0, top]], dtype=np.uint8)
    data = corpus.png_bytes(samples, bit_depth=bit_depth, extra=corpus.chunk(b"tRNS", top.to_bytes(2, "big")))
    picture = load(data)
    assert picture.alpha is not None
    assert list(picture.alpha[0]) == [255, 0, 0, 255, 0]


def test_16bit_grey_transparency_key() -> None:
    samples = np.array([[0, 40000, 65535, 40000]], dtype=np.uint16)
    data = corpus.png_bytes(samples, bit_depth=16, extra=corpus.chunk(b"tRNS", (40000).to_bytes(2, "big")))
    picture = load(data)
    assert picture.alpha is not None
    assert list(picture.alpha[0]) == [255, 0, 255, 0]
    assert list(picture.rgb[0, :, 0]) == [0, 0, 255, 0]


# ----------------------------------------------------------------------------- colour spaces


def test_adobe_cmyk_jpeg_has_right_colours() -> None:
    # Pillow writes CMYK JPEGs as Photoshop does: Adobe APP14 marker, inverted samples.
    data = corpus.pillow_bytes(Image.new("CMYK", (8, 8), (255, 0, 0, 0)), "JPEG", quality=95)
    with Image.open(io.BytesIO(data)) as probe:
        assert "adobe" in probe.info
    picture = load(data)
    assert np.abs(picture.rgb.astype(int) - [0, 255, 255]).max() <= 3  # cyan, not red


def test_cmyk_tiff_has_right_colours() -> None:
    data = corpus.pillow_bytes(Image.new("CMYK", (4, 4), (0, 255, 0, 128)), "TIFF")
    # profile-less CMYK: R = (255 - C)(255 - K) / 255
    expected = [round(255 * 127 / 255), 0, round(255 * 127 / 255)]
    assert np.abs(load(data).rgb.astype(int) - expected).max() <= 1


def test_lab_tiff_has_right_colours() -> None:
    from skimage.color import lab2rgb

    data = corpus.pillow_bytes(Image.new("LAB", (4, 4), (128, 180, 80)), "TIFF")  # a*=52, b*=-48
    expected = lab2rgb(np.array([[[128 * 100 / 255, 52.0, -48.0]]]))[0, 0] * 255
    assert np.abs(load(data).rgb[0, 0] - expected).max() <= 1.0


def test_float_tiff_unit_range_and_byte_range() -> None:
    unit = np.linspace(0, 1, 6).reshape(2, 3)
    assert np.array_equal(load(corpus.float_tiff(unit)).rgb[..., 0], np.rint(unit * 255))
    wide = np.array([[0.0, 127.6, 255.0]])
    assert list(load(corpus.float_tiff(wide)).rgb[0, :, 0]) == [0, 128, 255]


def test_float_rgb_and_rgba_tiff_read_with_tifffile() -> None:
    # Pillow reads only one-channel float TIFFs; tifffile (a scikit-image dependency) the rest.
    rgb = np.random.default_rng(3).random((4, 5, 3)).astype(np.float32)
    picture = load(corpus.tifffile_bytes(rgb, photometric="rgb"))
    assert picture.format == "TIFF"
    assert np.array_equal(picture.rgb, np.rint(rgb.astype(np.float64) * 255))
    alpha = np.linspace(0, 1, 20, dtype=np.float32).reshape(4, 5)
    rgba = corpus.tifffile_bytes(np.dstack([rgb, alpha]), photometric="rgb", extrasamples=["unassalpha"])
    picture = load(rgba)
    assert picture.alpha is not None
    assert np.array_equal(picture.alpha, np.rint(alpha.astype(np.float64) * 255))
    assert (picture.rgb[0, 0] == 0).all()  # alpha 0 there: colour dropped


def test_32bit_rgb_tiff_is_scaled() -> None:
    values = np.array([[[0, 2**31, 2**32 - 1]]], dtype=np.uint32)
    assert load(corpus.tifffile_bytes(values, photometric="rgb")).rgb.tolist() == [[[0, 128, 255]]]


def test_tifffile_path_checks_the_pixel_limit_first() -> None:
    data = corpus.tifffile_bytes(np.zeros((40, 50, 3), np.float32), photometric="rgb")
    with pytest.raises(LimitError, match="50x40 = 2000 pixels"):
        load(data, max_pixels=1999)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_pixels_are_refused(bad: float) -> None:
    with pytest.raises(InputError, match="NaN or infinite"):
        load(corpus.float_tiff(np.array([[0.0, bad]])))


# ----------------------------------------------------------------------------- orientation, frames


@pytest.mark.parametrize(("orientation", "size"), [(6, (20, 40)), (3, (40, 20)), (8, (20, 40))])
def test_exif_orientation_gives_upright_pixels(orientation: int, size: tuple[int, int]) -> None:
    image = Image.new("RGB", (40, 20), (220, 20, 20))
    image.paste((20, 20, 220), (0, 0, 20, 20))  # left half blue
    exif = Image.Exif()
    exif[0x0112] = orientation
    picture = load(corpus.pillow_bytes(image, "JPEG", exif=exif, quality=95))
    assert (picture.width, picture.height) == size
    blue = picture.rgb[..., 2].astype(int) > picture.rgb[..., 0]
    where = {6: blue[:10].all(), 3: blue[:, 20:].all(), 8: blue[20:].all()}
    assert where[orientation]


def test_corrupt_exif_is_one_warning_and_the_image_loads() -> None:
    exif = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x05\x00\x12\x01\x03\x00\x01\x00\x00\x00"
    data = corpus.pillow_bytes(Image.new("RGB", (8, 8), (200, 10, 10)), "JPEG", exif=exif)
    with pytest.warns(KmimgWarning, match="Corrupt EXIF") as caught:
        picture = load(data)
    assert picture.rgb.shape == (8, 8, 3)
    assert all("\n" not in str(w.message) for w in caught)


def _frames() -> list[Image.Image]:
    return [Image.new("RGB", (6, 4), colour) for colour in ((250, 0, 0), (0, 0, 250), (0, 250, 0))]


@pytest.mark.parametrize(
    ("format", "params"), [("GIF", {}), ("PNG", {}), ("TIFF", {}), ("WEBP", {"lossless": True})]
)
def test_animated_and_multipage_files_give_the_first_frame(format: str, params: dict[str, object]) -> None:
    first, *rest = _frames()
    data = corpus.pillow_bytes(first, format, save_all=True, append_images=rest, **params)
    with Image.open(io.BytesIO(data)) as probe:
        assert getattr(probe, "n_frames", 1) == 3  # really animated / multi-page
    said = "TIFF holds 3 images; only the first was used, the other 2 were left out"
    if format != "TIFF":
        said = f"animated {format}: only the first of its 3 frames was used"
    with pytest.warns(KmimgWarning) as caught:
        picture = load(data)
    assert [str(w.message) for w in caught] == [said]
    assert np.abs(picture.rgb.astype(int) - [250, 0, 0]).max() <= 2


def test_gif_transparency() -> None:
    image = Image.new("P", (4, 1))
    image.putpalette([0, 0, 0, 255, 255, 0])
    image.putdata([0, 1, 1, 0])
    picture = load(corpus.pillow_bytes(image, "GIF", transparency=0))
    assert picture.alpha is not None
    assert list(picture.alpha[0]) == [0, 255, 255, 0]


# ----------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("name", "format"),
    [("photo.webp", "WEBP"), ("photo.bmp", "BMP"), ("interlaced.png", "PNG")],
)
def test_lossless_formats_are_exact(name: str, format: str) -> None:
    picture = load(corpus.good_files()[name])
    assert picture.format == format
    assert np.array_equal(picture.rgb, corpus.gradient())


def test_interlaced_png_really_is_interlaced() -> None:
    with Image.open(io.BytesIO(corpus.good_files()["interlaced.png"])) as image:
        assert image.info.get("interlace") == 1


def test_progressive_jpeg() -> None:
    data = corpus.good_files()["progressive.jpg"]
    with Image.open(io.BytesIO(data)) as image:
        assert image.info.get("progressive") == 1
        expected = np.asarray(image.convert("RGB"))
    assert np.array_equal(load(data).rgb, expected)


def test_format_is_judged_by_content_not_name(tmp_path: Path) -> None:
    path = tmp_path / "photo.png"
    path.write_bytes(corpus.good_files()["jpeg-in-disguise.png"])
    assert load_image(path).format == "JPEG"


@pytest.mark.parametrize("format", ["PPM", "TGA", "PCX", "SGI"])
def test_formats_of_pillows_registry_are_read_by_content(format: str) -> None:
    data = corpus.pillow_bytes(Image.new("RGB", (16, 16), (1, 2, 3)), format)
    picture = load(data)
    assert picture.format == format
    assert picture.rgb.shape == (16, 16, 3) and (picture.rgb == [1, 2, 3]).all()


# ----------------------------------------------------------------------------- rejections


REASONS = {
    "empty.png": "empty file",
    "random.png": "not a supported image format",
    "notes.png": "a text file, not an image",
    "drawing.png": "SVG/XML text",
    "zero-width.png": "zero width or height",
    "zero-size.gif": "corrupt or unsupported GIF file",
    "zero-width.bmp": "corrupt or unsupported BMP file",
    "zero-width.tif": "zero width or height",
    "bomb-30000.png": "30000x30000 = 900000000 pixels, over the limit of 250000000",
    "bomb-1e10.png": "10000000000 pixels, over the limit",
    "bomb-text.png": "zTXt chunk inflates to more than 1048576 bytes",
    "bomb-screen.gif": "65535x65535 = 4294836225 pixels",
    "nan.tif": "NaN or infinite",
    "inf.tif": "NaN or infinite",
    "samples.tif": "corrupt or unsupported TIFF file",
    "nan-rgb.tif": "NaN or infinite",
    "truncated-head.jpg": "corrupt or unsupported JPEG",
    "truncated-third.jpg": "corrupt JPEG file",
    "truncated-two-thirds.jpg": "damaged JPEG data: image file is truncated",
    "truncated-end.jpg": "damaged JPEG data: image file is truncated",
    "truncated-head.png": "truncated before the image header ends",
    "truncated-third.png": "truncated file",
    "truncated-two-thirds.png": "truncated file",
    "truncated-end.png": "truncated file (no IEND chunk)",
}


def test_every_bad_file_has_a_reason() -> None:
    assert set(REASONS) == set(corpus.bad_files())


@pytest.mark.parametrize("name", sorted(REASONS))
def test_bad_files_are_refused_with_one_line(name: str) -> None:
    with pytest.raises(InputError) as raised:
        load(corpus.bad_files()[name])
    message = str(raised.value)
    assert REASONS[name] in message
    assert "\n" not in message
    if name.startswith("bomb"):
        assert isinstance(raised.value, LimitError)


@pytest.mark.parametrize("name", ["bomb-30000.png", "bomb-1e10.png", "bomb-text.png", "bomb-screen.gif"])
def test_bombs_are_refused_before_any_pixel_is_decoded(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(self: object) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(LimitError):
        load(corpus.bad_files()[name])


@pytest.mark.parametrize(("after_pixels", "kind"), [(False, b"zTXt"), (True, b"zTXt"), (True, b"iTXt")])
def test_text_chunk_bombs_anywhere(after_pixels: bool, kind: bytes) -> None:
    with pytest.raises(LimitError, match="decompression bomb"):
        load(corpus.text_bomb_png(after_pixels=after_pixels, kind=kind))


def test_max_pixels_is_inclusive_and_adjustable() -> None:
    data = corpus.pillow_bytes(Image.new("RGB", (10, 10)), "PNG")
    assert load(data, max_pixels=100).width == 10
    with pytest.raises(LimitError, match="10x10 = 100 pixels, over the limit of 99"):
        load(data, max_pixels=99)
    jpeg = corpus.pillow_bytes(Image.new("RGB", (10, 10)), "JPEG")
    with pytest.raises(LimitError):
        load(jpeg, max_pixels=99)


def test_max_pixels_above_pillows_own_limit_is_honoured() -> None:
    # Pillow alone refuses more than 2 x MAX_IMAGE_PIXELS (~179 M); --max-pixels decides instead.
    assert Image.MAX_IMAGE_PIXELS is not None
    side = int((2 * Image.MAX_IMAGE_PIXELS) ** 0.5) + 10
    with pytest.raises(LimitError, match=f"over the limit of {side * side - 1}"):
        load(corpus.bomb_png(side, side), max_pixels=side * side - 1)
    assert DEFAULT_MAX_PIXELS > 2 * Image.MAX_IMAGE_PIXELS


def test_pillow_settings_are_restored() -> None:
    before = ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS
    load(corpus.good_files()["photo.bmp"])
    with pytest.warns(KmimgWarning):
        load(corpus.bad_files()["truncated-end.jpg"], allow_truncated=True)
    with pytest.raises(LimitError):
        load(corpus.bad_files()["bomb-30000.png"])
    assert before == (ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS)


@pytest.mark.parametrize(
    "name",
    [
        "truncated-two-thirds.jpg",
        "truncated-end.jpg",
        "truncated-third.png",
        "truncated-two-thirds.png",
        "truncated-end.png",
    ],
)
def test_allow_truncated_decodes_with_one_warning(name: str) -> None:
    with pytest.warns(KmimgWarning, match=r"decoded what is there.*--allow-truncated") as caught:
        picture = load(corpus.bad_files()[name], allow_truncated=True)
    assert len(caught) == 1
    assert (picture.width, picture.height) == (64, 48)


@pytest.mark.parametrize("name", ["truncated-head.jpg", "truncated-head.png", "random.png", "bomb-30000.png"])
def test_allow_truncated_does_not_rescue_a_missing_header(name: str) -> None:
    with pytest.raises(InputError):
        load(corpus.bad_files()[name], allow_truncated=True)


def test_bad_idat_crc_is_damage() -> None:
    data = bytearray(corpus.pillow_bytes(Image.fromarray(corpus.gradient()), "PNG"))
    data[-20] ^= 0xFF  # inside the last IDAT chunk's data
    with pytest.raises(InputError, match="bad CRC in the IDAT chunk"):
        load(bytes(data))


# ----------------------------------------------------------------------------- paths


def test_directory_given_as_a_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        load_image(tmp_path)


def test_dangling_symlink(tmp_path: Path) -> None:
    link = tmp_path / "gone.png"
    link.symlink_to(tmp_path / "missing.png")
    with pytest.raises(InputError, match="broken symbolic link"):
        load_image(link)


def test_missing_file_and_device(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_image(tmp_path / "nope.png")
    if os.path.exists("/dev/zero"):
        with pytest.raises(InputError, match="not a regular file"):
            load_image("/dev/zero")


# ----------------------------------------------------------------------------- ICC profiles


def _primaries() -> Image.Image:
    image = Image.new("RGB", (3, 1))
    image.putdata([(255, 0, 0), (0, 255, 0), (0, 0, 255)])
    return image


@pytest.mark.parametrize("format", ["PNG", "TIFF"])
def test_embedded_icc_profile_is_applied(format: str) -> None:
    # In the swapped profile the file's "red" is sRGB green and its "green" sRGB red.
    data = corpus.pillow_bytes(_primaries(), format, icc_profile=corpus.swapped_icc_profile())
    assert load(data).rgb.tolist() == [[[0, 255, 0], [255, 0, 0], [0, 0, 255]]]


def test_icc_profile_keeps_alpha_and_palette_transparency() -> None:
    rgba = Image.new("RGBA", (2, 1))
    rgba.putdata([(255, 0, 0, 128), (0, 0, 255, 0)])
    picture = load(corpus.pillow_bytes(rgba, "PNG", icc_profile=corpus.swapped_icc_profile()))
    assert picture.alpha is not None and picture.alpha.tolist() == [[128, 0]]
    assert picture.rgb.tolist() == [[[0, 255, 0], [0, 0, 0]]]
    palette = Image.new("P", (2, 1))
    palette.putpalette([255, 0, 0, 0, 0, 255])
    palette.putdata([0, 1])
    data = corpus.pillow_bytes(palette, "PNG", transparency=1, icc_profile=corpus.swapped_icc_profile())
    picture = load(data)
    assert picture.alpha is not None and picture.alpha.tolist() == [[255, 0]]
    assert picture.rgb[0, 0].tolist() == [0, 255, 0]


def test_srgb_profile_changes_nothing() -> None:
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    pixels = corpus.gradient()
    picture = load(corpus.pillow_bytes(Image.fromarray(pixels), "PNG", icc_profile=srgb))
    assert np.array_equal(picture.rgb, pixels)


def test_the_common_srgb_profile_is_not_applied() -> None:
    # china.jpg carries the classic 3,144-byte "sRGB IEC61966-2.1" profile; LittleCMS would move
    # ~0.4 % of colours by one level through it. Taken as sRGB, the pixels are kept as they are.
    with Image.open(SAMPLES / "china.jpg") as china:
        icc = china.info["icc_profile"]
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    picture = load(corpus.pillow_bytes(Image.fromarray(pixels), "PNG", icc_profile=icc))
    assert np.array_equal(picture.rgb, pixels)


def test_a_profile_near_srgb_is_still_applied() -> None:
    # sRGB primaries with a plain 2.2 gamma curve: dark tones differ from sRGB's by several levels.
    icc = corpus.rgb_icc_profile(corpus.SRGB_PRIMARIES_D50, gamma=2.2)
    pixels = np.repeat(np.arange(256, dtype=np.uint8), 3).reshape(16, 16, 3)
    picture = load(corpus.pillow_bytes(Image.fromarray(pixels), "PNG", icc_profile=icc))
    assert np.abs(picture.rgb.astype(int) - pixels).max() > 1


@pytest.mark.parametrize(
    ("image", "icc", "reason"),
    [
        (Image.new("RGB", (4, 4), (10, 20, 30)), b"not a profile at all", "embedded ICC profile ignored"),
        (Image.new("CMYK", (4, 4), (0, 255, 0, 0)), None, "a RGB profile on CMYK pixels"),
    ],
    ids=["damaged", "wrong-colour-space"],
)
def test_unusable_icc_profile_is_one_warning(image: Image.Image, icc: bytes | None, reason: str) -> None:
    profile = icc if icc is not None else corpus.swapped_icc_profile()
    data = corpus.pillow_bytes(image, "TIFF", icc_profile=profile)
    with pytest.warns(KmimgWarning, match=reason):
        picture = load(data)
    assert picture.rgb.shape == (4, 4, 3)


CMYK_PROFILE = Path("/usr/share/color/icc/ghostscript/default_cmyk.icc")


@pytest.mark.skipif(not CMYK_PROFILE.exists(), reason="no CMYK ICC profile on this system")
def test_cmyk_jpeg_with_its_print_profile() -> None:
    # Through a print profile, 100 % cyan is a much duller blue-green than the profile-less
    # formula's (0, 255, 255).
    data = corpus.pillow_bytes(
        Image.new("CMYK", (8, 8), (255, 0, 0, 0)), "JPEG", quality=95, icc_profile=CMYK_PROFILE.read_bytes()
    )
    red, green, blue = load(data).rgb[4, 4].astype(int)
    assert red < 60 and green > 120 and blue > 180
    assert (red, green, blue) != (0, 255, 255)


def test_pillows_own_bomb_limit_neither_warns_nor_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    # With Pillow's limit far below the image, Pillow alone would warn (DecompressionBombWarning,
    # an error under this suite's filterwarnings) or refuse; --max-pixels is the only limit.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)
    picture = load(corpus.pillow_bytes(Image.fromarray(corpus.gradient()), "PNG"))
    assert picture.rgb.shape == (12, 16, 3)
    assert Image.MAX_IMAGE_PIXELS == 10


def test_sniffing_covers_exactly_the_allowed_formats() -> None:
    from kmimg.io import ALLOWED_FORMATS, sniff_format

    image = Image.fromarray(corpus.gradient())
    found = {sniff_format(corpus.pillow_bytes(image, format)) for format in ALLOWED_FORMATS}
    assert found == set(ALLOWED_FORMATS)
