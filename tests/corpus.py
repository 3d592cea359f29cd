"""A generated corpus of odd, broken and hostile image files for the hardening tests (issue 6).

Every file is made here, in memory, from a few lines of code: no committed binaries besides
PngSuite (``tests/data/pngsuite``). ``png_bytes`` is a small PNG encoder of its own so the tests
can write what Pillow will not (16-bit RGB, 1/2/4-bit grey with ``tRNS``, Adam7 interlacing,
zero sizes, lying headers, text-chunk bombs).

Import it from a test module as ``import corpus`` (pytest puts ``tests/`` on ``sys.path``).
"""

from __future__ import annotations

import functools
import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

PNGSUITE = Path(__file__).resolve().parent / "data" / "pngsuite"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# ----------------------------------------------------------------------------- a tiny PNG writer


def chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk with a correct CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(body, zlib.crc32(kind)))


def ihdr(width: int, height: int, bit_depth: int, color_type: int, interlace: int = 0) -> bytes:
    return chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace))


_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _scanlines(samples: np.ndarray, bit_depth: int) -> bytes:
    """Rows of ``samples`` (h, w, c) packed at ``bit_depth``, each after a filter byte 0."""
    rows = []
    for row in samples:
        flat = row.reshape(-1)
        if bit_depth == 16:
            packed = flat.astype(">u2").tobytes()
        elif bit_depth == 8:
            packed = flat.astype(np.uint8).tobytes()
        else:
            per_byte = 8 // bit_depth
            padded = np.zeros(-(-flat.size // per_byte) * per_byte, dtype=np.uint8)
            padded[: flat.size] = flat
            groups = padded.reshape(-1, per_byte).astype(np.uint16)
            shifts = np.arange(per_byte - 1, -1, -1) * bit_depth
            packed = (groups << shifts).sum(axis=1).astype(np.uint8).tobytes()
        rows.append(b"\x00" + packed)
    return b"".join(rows)


def png_bytes(
    samples: np.ndarray,
    *,
    bit_depth: int = 8,
    color_type: int | None = None,
    interlace: bool = False,
    extra: bytes = b"",
    palette: bytes | None = None,
) -> bytes:
    """Encode ``samples`` (h, w) or (h, w, c) as a PNG. ``extra`` chunks go before IDAT."""
    if samples.ndim == 2:
        samples = samples[..., None]
    height, width, channels = samples.shape
    if color_type is None:
        color_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    if interlace:
        data = b"".join(
            _scanlines(samples[y0::dy, x0::dx], bit_depth)
            for x0, y0, dx, dy in _ADAM7
            if samples[y0::dy, x0::dx].size
        )
    else:
        data = _scanlines(samples, bit_depth)
    body = ihdr(width, height, bit_depth, color_type, int(interlace))
    if palette is not None:
        body += chunk(b"PLTE", palette)
    return PNG_SIGNATURE + body + extra + chunk(b"IDAT", zlib.compress(data)) + chunk(b"IEND", b"")


def pillow_bytes(image: Image.Image, format: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **params)
    return buffer.getvalue()


def gradient(height: int = 12, width: int = 16) -> np.ndarray:
    """An RGB gradient with many colours (uint8)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack(
        [x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1), (x + y) * 7 % 256], -1
    ).astype(np.uint8)


# ----------------------------------------------------------------------------- ICC profiles

#: The sRGB primaries adapted to D50, as the ICC sRGB profile states them (columns X, Y, Z).
SRGB_PRIMARIES_D50 = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def rgb_icc_profile(primaries: tuple[tuple[float, float, float], ...], gamma: float = 2.2) -> bytes:
    """A minimal ICC v2 matrix/TRC display profile with the given red, green, blue colorants."""

    def xyz(values: tuple[float, float, float]) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in values)

    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    text = b"desc\0\0\0\0" + struct.pack(">I", 5) + b"test\0" + b"\0" * 8 + b"\0" * 3 + b"\0" * 67
    tags = [
        (b"desc", text),
        (b"wtpt", xyz((0.9642, 1.0, 0.8249))),
        (b"rXYZ", xyz(primaries[0])),
        (b"gXYZ", xyz(primaries[1])),
        (b"bXYZ", xyz(primaries[2])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\0\0\0\0none\0\0\0\0"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data + b"\0" * (-len(data) % 4)
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"\0\0\0\0"
        + bytes([2, 0x10, 0, 0])
        + b"mntrRGB XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 24
        + struct.pack(">I", 0)
        + _s15(0.9642)
        + _s15(1.0)
        + _s15(0.8249)
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def swapped_icc_profile() -> bytes:
    """A profile whose "red" channel is sRGB's green and "green" is sRGB's red."""
    red, green, blue = SRGB_PRIMARIES_D50
    return rgb_icc_profile((green, red, blue))


# ----------------------------------------------------------------------------- hostile files


def bomb_png(width: int, height: int) -> bytes:
    """A few hundred bytes whose header declares ``width`` x ``height`` grey pixels."""
    row_count = min(height, 16)
    rows = zlib.compress(b"\x00" * (row_count * (width + 1)), 9)
    return PNG_SIGNATURE + ihdr(width, height, 8, 0) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


@functools.cache
def text_bomb_png(*, after_pixels: bool, kind: bytes = b"zTXt") -> bytes:
    """A 4x4 PNG whose compressed text chunk inflates to 50 MB (from about 50 KB)."""
    inflated = zlib.compress(b"A" * 50_000_000, 9)
    # keyword, NUL, then zTXt: method 0; iTXt: compressed flag 1, method 0, empty language and
    # translated keyword.
    header = b"Comment\x00\x01\x00\x00\x00" if kind == b"iTXt" else b"Comment\x00\x00"
    body = header + inflated
    text = chunk(kind, body)
    rows = zlib.compress(b"".join(b"\x00" + b"\x80" * 4 for _ in range(4)))
    before, after = (b"", text) if after_pixels else (text, b"")
    return PNG_SIGNATURE + ihdr(4, 4, 8, 0) + before + chunk(b"IDAT", rows) + after + chunk(b"IEND", b"")


def gif_header_bomb() -> bytes:
    """A GIF whose logical screen and first frame claim 65535 x 65535 pixels."""
    screen = b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0, 0, 0)
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, 65535, 65535, 0) + b"\x02\x02\x44\x01\x00"
    return screen + frame + b"\x3b"


def truncations(data: bytes) -> dict[str, bytes]:
    """``data`` cut at several offsets: inside the header, a third, two thirds, just before the end."""
    return {
        "head": data[:20],
        "third": data[: len(data) // 3],
        "two-thirds": data[: 2 * len(data) // 3],
        "end": data[:-12],
    }


def tiff_with_tag(data: bytes, tag: int, value: int) -> bytes:
    """A little-endian TIFF from Pillow with one SHORT/LONG tag of its first IFD set to ``value``."""
    out = bytearray(data)
    assert out[:4] == b"II*\x00"
    (ifd,) = struct.unpack_from("<I", out, 4)
    (count,) = struct.unpack_from("<H", out, ifd)
    for entry in range(ifd + 2, ifd + 2 + 12 * count, 12):
        entry_tag, kind = struct.unpack_from("<HH", out, entry)
        if entry_tag == tag:
            struct.pack_into("<H" if kind == 3 else "<I", out, entry + 8, value)
            return bytes(out)
    raise KeyError(tag)


def tifffile_bytes(values: np.ndarray, **params: object) -> bytes:
    """A TIFF written by tifffile (float or 32-bit RGB, which Pillow can neither write nor read)."""
    import tifffile

    buffer = io.BytesIO()
    tifffile.imwrite(buffer, values, **params)
    return buffer.getvalue()


def float_tiff(values: np.ndarray) -> bytes:
    return pillow_bytes(Image.fromarray(values.astype(np.float32), mode="F"), "TIFF")


# ----------------------------------------------------------------------------- the corpus


def _photo_jpeg(**params: object) -> bytes:
    return pillow_bytes(Image.fromarray(gradient(48, 64)), "JPEG", quality=90, **params)


def _photo_png() -> bytes:
    return pillow_bytes(Image.fromarray(gradient(48, 64)), "PNG")


@functools.cache
def bad_files() -> dict[str, bytes]:
    """Files every command must reject with one line, exit 1 and no output."""
    rng = np.random.default_rng(6)
    files = {
        "empty.png": b"",
        "random.png": rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "notes.png": b"These are my holiday notes, not a picture.\n" * 20,
        "drawing.png": b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" '
        b'height="10"><rect width="10" height="10"/></svg>\n',
        "zero-width.png": PNG_SIGNATURE
        + ihdr(0, 4, 8, 0)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b""),
        "zero-size.gif": b"GIF89a"
        + struct.pack("<HHBBB", 0, 0, 0, 0, 0)
        + b"\x2c"
        + b"\0" * 9
        + b"\x02\x02D\x01\0;",
        "zero-width.bmp": b"BM"
        + struct.pack("<IHHI", 58, 0, 0, 54)
        + struct.pack("<IiiHHIIiiII", 40, 0, 1, 1, 24, 0, 4, 2835, 2835, 0, 0)
        + b"\0" * 4,
        "zero-width.tif": tiff_with_tag(pillow_bytes(Image.new("RGB", (1, 1)), "TIFF"), 256, 0),
        "bomb-30000.png": bomb_png(30000, 30000),
        "bomb-1e10.png": bomb_png(100000, 100000),
        "bomb-text.png": text_bomb_png(after_pixels=True),
        "bomb-screen.gif": gif_header_bomb(),
        "nan.tif": float_tiff(np.array([[0.0, np.nan], [0.5, 1.0]])),
        "inf.tif": float_tiff(np.array([[0.0, np.inf], [0.5, 1.0]])),
        "nan-rgb.tif": tifffile_bytes(np.full((2, 2, 3), np.nan, np.float32), photometric="rgb"),
        # Pillow logs an error line of its own for this one (then refuses it)
        "samples.tif": tiff_with_tag(pillow_bytes(Image.new("RGB", (4, 4)), "TIFF"), 277, 1536),
    }
    for where, cut in truncations(_photo_jpeg()).items():
        files[f"truncated-{where}.jpg"] = cut
    for where, cut in truncations(_photo_png()).items():
        files[f"truncated-{where}.png"] = cut
    return files


@functools.cache
def good_files() -> dict[str, bytes]:
    """Odd but valid files every command must process (exit 0)."""
    rgba = np.dstack([gradient(), np.full((12, 16), 255, np.uint8)])
    rgba[:, :4, 3] = 0
    rgba[:, 4:8, 3] = 128
    return {
        "one-pixel.png": pillow_bytes(Image.new("RGB", (1, 1), (10, 200, 30)), "PNG"),
        "row.png": pillow_bytes(Image.fromarray(gradient(1, 9)), "PNG"),
        "column.png": pillow_bytes(Image.fromarray(gradient(9, 1)), "PNG"),
        "grey16.png": png_bytes(np.arange(48, dtype=np.uint16).reshape(6, 8) * 1365, bit_depth=16),
        "rgb16.png": png_bytes((gradient().astype(np.uint16) * 257), bit_depth=16),
        "alpha.png": pillow_bytes(Image.fromarray(rgba, "RGBA"), "PNG"),
        "cmyk.jpg": pillow_bytes(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG", quality=95),
        "lab.tif": pillow_bytes(Image.new("LAB", (8, 8), (128, 180, 80)), "TIFF"),
        "float.tif": float_tiff(np.linspace(0, 1, 48).reshape(6, 8)),
        "float-rgb.tif": tifffile_bytes(gradient().astype(np.float32) / 255, photometric="rgb"),
        "interlaced.png": png_bytes(gradient(), interlace=True),
        "progressive.jpg": _photo_jpeg(progressive=True),
        "photo.webp": pillow_bytes(Image.fromarray(gradient()), "WEBP", lossless=True),
        "photo.bmp": pillow_bytes(Image.fromarray(gradient()), "BMP"),
        "jpeg-in-disguise.png": _photo_jpeg(),
    }


def write_all(folder: Path, files: dict[str, bytes]) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, data in files.items():
        path = folder / name
        path.write_bytes(data)
        paths[name] = path
    return paths
