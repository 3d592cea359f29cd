"""All file I/O of kmimg: decoding inputs to arrays and writing outputs atomically.

Every other module works on numpy arrays. Loading applies the EXIF orientation, takes the first
frame of animated or multi-page files, converts any mode to 8-bit sRGB plus an optional alpha
plane (16-bit samples are scaled, not clipped; ICC profiles applied), and refuses images over a
pixel limit from the header before any pixel is decoded. The format is judged from the content
and only the decoders in :data:`ALLOWED_FORMATS` are ever used. PNG structure is checked by a
chunk walk of its own (CRCs, truncation, decompression bombs in text chunks), which Pillow skips.
Writing goes to a temporary file in the destination folder that is renamed into place, so an
output is either complete or absent.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import io
import itertools
import os
import struct
import sys
import threading
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from kmimg._threads import ordered_map
from kmimg.errors import InputError, KmimgWarning, LimitError, OutputError
from kmimg.types import DEFAULT_MAX_PIXELS

if TYPE_CHECKING:
    from PIL import ImageCms

#: Decoders kmimg opens; anything else is refused even if Pillow could read it.
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")

#: zlib level for PNG outputs: 9 gives the smallest files at a modest cost for palette images.
PNG_COMPRESS_LEVEL = 9

#: zlib level and memLevel of indexed PNGs: on a 12-megapixel k=16 result 7/8 deflates in 0.2 s
#: instead of 1.1 s at 9/9, for 4 % more bytes (the sample images: 1 % more).
INDEXED_PNG_LEVEL = 7
INDEXED_PNG_MEMLEVEL = 8

STDIO = "-"


@dataclass(frozen=True)
class Picture:
    """A decoded image: 8-bit sRGB pixels plus an optional alpha plane.

    ``alpha`` is ``None`` when every pixel is fully opaque (or the format has no alpha).
    """

    rgb: NDArray[np.uint8]
    alpha: NDArray[np.uint8] | None
    source: str
    format: str
    byte_size: int

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])


def read_source(source: str | Path, *, stdin: IO[bytes] | None = None) -> bytes:
    """Read a file's bytes, or standard input's for ``-``.

    Directories, dangling symbolic links and devices are refused with an :class:`InputError`
    (a device such as ``/dev/zero`` would never end).
    """
    if str(source) == STDIO:
        stream = stdin if stdin is not None else _stdin_bytes()
        return stream.read()
    path = Path(source)
    if path.is_symlink() and not path.exists():
        raise InputError("broken symbolic link (its target does not exist)")
    if path.is_dir():
        raise InputError("is a directory")
    if path.exists() and (path.is_block_device() or path.is_char_device() or path.is_socket()):
        raise InputError("not a regular file")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError("no such file") from None
    except PermissionError:
        raise InputError("permission denied") from None
    except OSError as exc:
        raise InputError(exc.strerror or str(exc)) from None


def _stdin_bytes() -> IO[bytes]:
    import sys

    return sys.stdin.buffer


def load_image(
    source: str | Path,
    *,
    data: bytes | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    allow_truncated: bool = False,
) -> Picture:
    """Decode an image file (or ``data`` already read from it) to a :class:`Picture`.

    The format is judged from the content (a JPEG named ``.png`` is a JPEG) and must be one of
    :data:`ALLOWED_FORMATS`. Policies: the first frame of animated or multi-page files; EXIF
    orientation applied; 16-bit samples scaled to 8 bits; an embedded ICC profile applied to give
    sRGB; untagged CMYK converted with Pillow's profile-less formula (Adobe inverted CMYK JPEGs
    included); CIELAB converted under D65; float or 32-bit RGB TIFFs read with tifffile; colours
    under alpha 0 set to black; width x height checked against ``max_pixels`` from the header,
    before any pixel is decoded. PNG files are checked chunk by chunk first (CRCs, truncation,
    compressed text chunks that would inflate past :data:`MAX_TEXT_BYTES`).

    Library warnings raised while decoding (corrupt EXIF data, ...) are re-issued as one-line
    :class:`~kmimg.errors.KmimgWarning` warnings, as is the note that a damaged file was decoded
    with ``allow_truncated``.

    Pillow's module-wide settings (``LOAD_TRUNCATED_IMAGES``, ``MAX_IMAGE_PIXELS``) are changed
    only while a lock is held and restored afterwards, so concurrent threads decode one at a time.

    Raises
    ------
    InputError
        Not an allowed image format, corrupt, truncated (unless ``allow_truncated``), empty,
        zero-sized, NaN/infinite samples.
    LimitError
        Width x height exceeds ``max_pixels``, or a text chunk is a decompression bomb.
    """
    raw = read_source(source) if data is None else data
    if not raw:
        raise InputError("empty file")
    kind = sniff_format(raw)
    if kind is None:
        raise InputError(_not_an_image(raw))
    notes: list[str] = []
    png = _inspect_png(raw, max_pixels) if kind == "PNG" else None
    damage = png.damage if png is not None else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if damage is not None:
                raise _Damaged(damage)
            rgb, alpha, image_format = _decode(raw, kind, max_pixels, png=png, lenient=False)
        except _Damaged as exc:
            if not allow_truncated:
                raise InputError(f"{exc}; --allow-truncated decodes what is there") from None
            try:
                rgb, alpha, image_format = _decode(raw, kind, max_pixels, png=png, lenient=True)
            except _Damaged as again:
                raise InputError(f"{again} (even with --allow-truncated)") from None
            notes.append(f"{exc}; decoded what is there, the rest is filled in (--allow-truncated)")
    notes[:0] = _warning_lines(caught)
    for note in dict.fromkeys(notes):
        warnings.warn(note, KmimgWarning, stacklevel=2)
    return Picture(rgb=rgb, alpha=alpha, source=str(source), format=image_format, byte_size=len(raw))


class _Damaged(Exception):
    """The header was fine but the data is truncated or corrupt (``allow_truncated`` may help)."""


#: Leading bytes of each allowed format, as Pillow's own ``_accept`` functions test them.
_SIGNATURES: tuple[tuple[str, tuple[bytes, ...]], ...] = (
    ("PNG", (b"\x89PNG\r\n\x1a\n",)),
    ("JPEG", (b"\xff\xd8\xff",)),
    ("GIF", (b"GIF87a", b"GIF89a")),
    ("BMP", (b"BM",)),
    ("TIFF", (b"II*\x00", b"MM\x00*", b"II\x00*", b"MM*\x00", b"II+\x00", b"MM\x00+")),
)


def sniff_format(raw: bytes) -> str | None:
    """The allowed format ``raw`` claims to be from its first bytes, or ``None``."""
    for name, prefixes in _SIGNATURES:
        if raw.startswith(prefixes):
            return name
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "WEBP"
    return None


def _not_an_image(raw: bytes) -> str:
    if raw.startswith(b"\x89PNG"):
        return "corrupt PNG signature (was the file transferred in text mode?)"
    head = raw[:512].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml", b"<!doctype svg")) or b"<svg" in head:
        return "SVG/XML text, not a raster image (PNG, JPEG, GIF, BMP, TIFF, WebP)"
    try:
        text = raw[:4096].decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text and all(ch.isprintable() or ch in "\t\r\n" for ch in text):
        return "a text file, not an image (PNG, JPEG, GIF, BMP, TIFF, WebP)"
    return "not a supported image format (PNG, JPEG, GIF, BMP, TIFF, WebP)"


def _decode(
    raw: bytes, kind: str, max_pixels: int, *, png: _PngFacts | None, lenient: bool
) -> tuple[NDArray[np.uint8], NDArray[np.uint8] | None, str]:
    try:
        with _pillow_settings(lenient=lenient), _opened(raw, kind, max_pixels) as image:
            image_format = str(image.format)
            try:
                upright = ImageOps.exif_transpose(image)
            except Exception:  # noqa: BLE001 - a damaged EXIF block only loses the orientation
                warnings.warn("unreadable EXIF orientation ignored", KmimgWarning, stacklevel=1)
                upright = image
            rgb, alpha = _to_rgb_alpha(_to_srgb(upright), png=png)
    except _PillowCannotRead:
        rgb, alpha = _decode_tiff_with_tifffile(raw, max_pixels)
        image_format = "TIFF"
    return rgb, alpha, image_format


class _PillowCannotRead(Exception):
    """Pillow cannot read this TIFF's layout (float RGB, ...): tifffile may."""


def _decode_tiff_with_tifffile(
    raw: bytes, max_pixels: int
) -> tuple[NDArray[np.uint8], NDArray[np.uint8] | None]:
    """The first page of a TIFF Pillow cannot read (float or 32-bit RGB, many samples) with
    tifffile, the TIFF reader scikit-image depends on: grey, grey + alpha, RGB or RGBA samples
    of any integer or float type, scaled to 8 bits like Pillow's modes."""
    unreadable = InputError("corrupt or unsupported TIFF file (the header cannot be read)")
    try:
        import tifffile
    except ImportError:
        raise unreadable from None
    try:
        with tifffile.TiffFile(io.BytesIO(raw)) as tiff:
            page = tiff.pages.first
            width, height = int(page.imagewidth), int(page.imagelength)
            if width <= 0 or height <= 0:
                raise InputError("image has zero width or height")
            _check_pixels(width, height, max_pixels)
            if int(page.samplesperpixel) > 4 or int(np.prod(page.shape)) > 4 * width * height:
                raise unreadable  # more than RGBA: refused before a huge array is allocated
            photometric = int(page.photometric)
            has_alpha = bool(page.extrasamples) and int(page.extrasamples[0]) in (1, 2)
            samples = np.asarray(page.asarray())
    except InputError:
        raise
    except MemoryError:
        raise LimitError("not enough memory to decode this image") from None
    except Exception:  # noqa: BLE001 - tifffile raises many kinds of errors on hostile files
        raise unreadable from None
    if samples.ndim == 2:
        samples = samples[..., None]
    if samples.ndim != 3 or samples.shape[:2] != (height, width) or photometric not in (0, 1, 2):
        raise unreadable
    colours = 3 if photometric == 2 else 1
    if samples.shape[2] < colours:
        raise unreadable
    # the first extra sample is alpha when the file says so (associated alpha taken as is)
    kept = colours + 1 if has_alpha and samples.shape[2] > colours else colours
    eight = _samples_to_8bit(samples[..., :kept])
    if photometric == 0:
        eight[..., :1] = 255 - eight[..., :1]  # WhiteIsZero
    rgb = eight[..., :3] if colours == 3 else _grey_to_rgb(eight[..., 0])
    alpha = np.ascontiguousarray(eight[..., colours]) if kept > colours else None
    return _finish(np.ascontiguousarray(rgb), alpha)


def _samples_to_8bit(samples: NDArray[np.generic]) -> NDArray[np.uint8]:
    if samples.dtype == np.bool_:
        return np.where(samples, 255, 0).astype(np.uint8)
    if np.issubdtype(samples.dtype, np.floating):
        return _float_to_8bit(samples.astype(np.float64))
    if np.issubdtype(samples.dtype, np.integer):
        bits = samples.dtype.itemsize * 8 - (1 if np.issubdtype(samples.dtype, np.signedinteger) else 0)
        return _scale_to_8bit(samples, float(2**bits - 1))
    raise InputError(f"unsupported TIFF sample type {samples.dtype}")


#: Image modes whose embedded ICC profile is applied, with the mode the sRGB result has.
_ICC_MODES = {"RGB": ("RGB ", "RGB"), "RGBA": ("RGB ", "RGBA"), "CMYK": ("CMYK", "RGB")}


def _to_srgb(image: Image.Image) -> Image.Image:
    """Apply an embedded ICC profile (Display P3, Adobe RGB, a print CMYK profile...) so the
    pixels are sRGB; untagged images are taken as sRGB already.

    A profile that cannot be used (damaged, or for another colour space than the pixels) is
    ignored with a warning. An sRGB profile leaves the pixels unchanged.
    """
    icc = image.info.get("icc_profile")
    if not icc:
        return image
    if image.mode in ("P", "PA") or (image.mode == "RGB" and "transparency" in image.info):
        # colour keys and palettes are resolved first: the transform keeps no image.info
        image = image.convert("RGBA" if _has_alpha(image) else "RGB")
    if image.mode not in _ICC_MODES:
        return image
    space, out_mode = _ICC_MODES[image.mode]
    try:
        from PIL import ImageCms

        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if profile.profile.xcolor_space != space:
            raise ValueError(f"a {profile.profile.xcolor_space.strip()} profile on {image.mode} pixels")
        srgb = ImageCms.createProfile("sRGB")
        transform = ImageCms.buildTransform(profile, srgb, image.mode, out_mode)
        if space == "RGB " and _is_identity(transform, image.mode):
            return image
        converted = ImageCms.applyTransform(image, transform)
    except (ImportError, OSError, ValueError, TypeError) as exc:  # ImageCms.PyCMSError is an OSError
        warnings.warn(f"embedded ICC profile ignored: {_reason(exc)}", KmimgWarning, stacklevel=1)
        return image
    assert converted is not None
    return converted


#: Levels of each channel in the probe that tells an sRGB-equivalent profile (0, 17, ..., 255).
_PROBE_LEVELS = np.arange(0, 256, 17, dtype=np.uint8)


def _is_identity(transform: ImageCms.ImageCmsTransform, mode: str) -> bool:
    """Whether an RGB profile's transform to sRGB moves no colour of a 16-level grid (4,096
    colours) by more than one level: the profile is sRGB (or as good as), and applying it
    to every pixel (~0.15 s for 12 megapixels) would only add LittleCMS's rounding noise."""
    from PIL import ImageCms

    grid = np.stack(np.meshgrid(_PROBE_LEVELS, _PROBE_LEVELS, _PROBE_LEVELS, indexing="ij"), axis=-1)
    probe = grid.reshape(64, 64, 3)
    if mode == "RGBA":
        probe = np.dstack([probe, np.full((64, 64), 255, dtype=np.uint8)])
    result = ImageCms.applyTransform(Image.fromarray(probe), transform)  # RGB or RGBA by shape
    assert result is not None
    moved = np.abs(np.asarray(result, dtype=np.int16)[..., :3] - probe[..., :3].astype(np.int16))
    return bool(moved.max() <= 1)


_PILLOW_LOCK = threading.Lock()


@contextlib.contextmanager
def _pillow_settings(*, lenient: bool) -> Iterator[None]:
    """Pillow's module-wide decoder settings for one decode, restored afterwards.

    Pillow's own decompression-bomb check is switched off: :func:`_check_size` applies the
    caller's ``max_pixels`` from the header instead (Pillow would refuse above twice its fixed
    limit, whatever ``--max-pixels`` says).
    """
    with _PILLOW_LOCK:
        saved = ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS
        ImageFile.LOAD_TRUNCATED_IMAGES = lenient
        Image.MAX_IMAGE_PIXELS = None
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS = saved


@contextlib.contextmanager
def _opened(raw: bytes, kind: str, max_pixels: int) -> Iterator[Image.Image]:
    """Open (header only), check the size, then decode the first frame."""
    try:
        image = Image.open(io.BytesIO(raw), formats=(kind,))
    except UnidentifiedImageError:
        if kind == "TIFF":
            raise _PillowCannotRead from None
        raise InputError(f"corrupt or unsupported {kind} file (the header cannot be read)") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as exc:
        raise InputError(f"corrupt {kind} file: {_reason(exc)}") from None
    try:
        _check_size(image, max_pixels)
        try:
            image.seek(0)
            image.load()
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as exc:
            raise _Damaged(f"damaged {kind} data: {_reason(exc)}") from None
        except MemoryError:
            raise LimitError("not enough memory to decode this image") from None
        yield image
    finally:
        image.close()


def _check_size(image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise InputError("image has zero width or height")
    _check_pixels(width, height, max_pixels)


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise LimitError(
            f"image is {width}x{height} = {width * height} pixels, over the limit of "
            f"{max_pixels} (raise it with --max-pixels)"
        )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _warning_lines(caught: list[warnings.WarningMessage]) -> list[str]:
    lines = []
    for record in caught:
        if issubclass(record.category, Image.DecompressionBombWarning):
            continue  # the pixel limit is kmimg's own (--max-pixels), checked before decoding
        text = str(record.message).strip()
        lines.append(text.splitlines()[0] if text else record.category.__name__)
    return lines


# ----------------------------------------------------------------------------- PNG structure

#: Largest decompressed size of one zTXt/iTXt/iCCP chunk (Pillow's own ``MAX_TEXT_CHUNK``).
MAX_TEXT_BYTES = 1 << 20

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: Bit depths the PNG specification allows for each colour type.
_PNG_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}


@dataclass(frozen=True)
class _PngFacts:
    """What the chunk walk learnt: IHDR fields, and damage found after a valid header."""

    bit_depth: int
    color_type: int
    damage: str | None


def _inspect_png(raw: bytes, max_pixels: int) -> _PngFacts:
    """Walk a PNG's chunks without decoding pixels: CRCs, IHDR, size limit, text bombs, IEND.

    Pillow checks neither the CRC of IDAT chunks nor that the file reaches IEND, and inflates
    text chunks that come after the pixel data only after decoding the pixels.
    """
    position = len(_PNG_SIGNATURE)
    header: tuple[int, int] | None = None
    damage: str | None
    has_pixels = False
    while True:
        if position + 8 > len(raw):
            damage = "truncated file (no IEND chunk)"
            break
        length, kind = struct.unpack(">I4s", raw[position : position + 8])
        end = position + 12 + length
        if length > 0x7FFFFFFF or not kind.isalpha():
            raise InputError(f"corrupt PNG file: bad chunk header at byte {position}")
        body = raw[position + 8 : end - 4]
        if end > len(raw):
            if header is None:
                raise InputError("corrupt PNG file: truncated before the image header ends")
            damage = f"truncated file (ends inside the {kind.decode()} chunk at byte {position})"
            break
        (crc,) = struct.unpack(">I", raw[end - 4 : end])
        if zlib.crc32(body, zlib.crc32(kind)) != crc:
            if header is None:
                raise InputError(f"corrupt PNG file: bad CRC in the {kind.decode()} chunk")
            damage = f"corrupt file (bad CRC in the {kind.decode()} chunk at byte {position})"
            break
        if header is None:
            header = _png_header(kind, body, max_pixels)
        elif kind in (b"zTXt", b"iTXt", b"iCCP"):
            _check_inflated_size(kind, body)
        if kind == b"IEND":
            if not has_pixels:
                raise InputError("corrupt PNG file: no image data (IDAT chunk)")
            damage = None
            break
        has_pixels = has_pixels or kind == b"IDAT"
        position = end
    if header is None:
        raise InputError("corrupt PNG file: no image header")
    return _PngFacts(bit_depth=header[0], color_type=header[1], damage=damage)


def _png_header(kind: bytes, body: bytes, max_pixels: int) -> tuple[int, int]:
    if kind != b"IHDR" or len(body) != 13:
        raise InputError("corrupt PNG file: the first chunk is not a valid IHDR")
    width, height, bit_depth, color_type = struct.unpack(">IIBB", body[:10])
    if bit_depth not in _PNG_DEPTHS.get(color_type, ()):
        raise InputError(f"corrupt PNG file: colour type {color_type} with bit depth {bit_depth}")
    if width == 0 or height == 0:
        raise InputError("image has zero width or height")
    _check_pixels(width, height, max_pixels)
    return bit_depth, color_type


def _check_inflated_size(kind: bytes, body: bytes) -> None:
    """Refuse a compressed text or ICC chunk that would inflate past :data:`MAX_TEXT_BYTES`."""
    name_end = body.find(b"\x00")
    if name_end < 0:
        return
    if kind == b"iTXt":
        if body[name_end + 1 : name_end + 2] != b"\x01":
            return  # uncompressed international text: its size is its chunk's size
        rest = body[name_end + 3 :]
        for _ in range(2):  # language tag, translated keyword
            cut = rest.find(b"\x00")
            if cut < 0:
                return
            rest = rest[cut + 1 :]
        compressed = rest
    else:
        compressed = body[name_end + 2 :]
    inflater = zlib.decompressobj()
    try:
        inflater.decompress(compressed, MAX_TEXT_BYTES)
    except zlib.error:
        return  # Pillow ignores undecodable text; a broken ICC profile is dropped later
    if inflater.unconsumed_tail:
        raise LimitError(
            f"a compressed {kind.decode()} chunk inflates to more than {MAX_TEXT_BYTES} bytes "
            "(decompression bomb)"
        )


# ----------------------------------------------------------------------------- modes


def _to_rgb_alpha(
    image: Image.Image, *, png: _PngFacts | None = None
) -> tuple[NDArray[np.uint8], NDArray[np.uint8] | None]:
    """Convert any Pillow mode to 8-bit RGB and an alpha plane (None if fully opaque)."""
    mode = image.mode
    transparency = image.info.get("transparency")
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F", "1", "L"):
        values = np.asarray(image)
        grey = _grey_to_8bit(values, mode)
        alpha = None
        if isinstance(transparency, int) and not isinstance(transparency, bool):
            key = _grey_key(transparency, mode, png)
            alpha = np.where(values.astype(np.int64) == key, 0, 255).astype(np.uint8)
        return _finish(_grey_to_rgb(grey), alpha)
    if mode == "LAB":
        return _lab_to_rgb(np.asarray(image)), None
    if mode == "CMYK":
        # Pillow's formula is the usual profile-less one: R = (255 - C)(255 - K) / 255; an
        # Adobe (inverted) CMYK JPEG has already been un-inverted by Pillow's decoder.
        return np.ascontiguousarray(np.asarray(image.convert("RGB"))), None
    has_alpha = _has_alpha(image)
    target = "RGBA" if has_alpha else "RGB"
    converted = image if image.mode == target else image.convert(target)
    pixels = np.asarray(converted)
    if not has_alpha:
        return np.ascontiguousarray(pixels), None
    return _finish(np.ascontiguousarray(pixels[..., :3]), np.ascontiguousarray(pixels[..., 3]))


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or image.info.get("transparency") is not None


def _finish(
    rgb: NDArray[np.uint8], alpha: NDArray[np.uint8] | None
) -> tuple[NDArray[np.uint8], NDArray[np.uint8] | None]:
    if alpha is None or bool((alpha == 255).all()):
        return rgb, None
    rgb = rgb.copy() if not rgb.flags.writeable else rgb
    rgb[alpha == 0] = 0  # hidden colours under alpha 0 carry no information
    return rgb, alpha


def _grey_key(transparency: int, mode: str, png: _PngFacts | None) -> int:
    """The decoded grey value a PNG ``tRNS`` key matches.

    Pillow expands 1-, 2- and 4-bit grey to 0-255 but keeps the key in the file's scale.
    """
    if png is not None and png.color_type == 0 and png.bit_depth < 8:
        scaled = transparency * 255 // ((1 << png.bit_depth) - 1)
        return 1 if mode == "1" and scaled else scaled
    if mode == "1":
        return 1 if transparency else 0
    return transparency


def _grey_to_8bit(values: NDArray[np.generic], mode: str) -> NDArray[np.uint8]:
    if mode == "F":
        return _float_to_8bit(values.astype(np.float64))
    if mode == "1":
        return np.where(values, 255, 0).astype(np.uint8)
    if mode == "L":
        return np.ascontiguousarray(values.astype(np.uint8))
    if mode == "I":
        # 32-bit integer samples: 8-bit range kept, 16-bit range scaled, anything wider scaled
        # from the 32-bit range; negative values are black.
        top = float(values.max(initial=0))
        full_scale = 255.0 if top <= 255 else 65535.0 if top <= 65535 else float(2**31 - 1)
        return _scale_to_8bit(values, full_scale)
    return _scale_to_8bit(values, 65535.0)


def _scale_to_8bit(values: NDArray[np.generic], full_scale: float) -> NDArray[np.uint8]:
    data = values.astype(np.float64)
    return np.clip(np.rint(data * (255.0 / full_scale)), 0, 255).astype(np.uint8)


def _float_to_8bit(values: NDArray[np.float64]) -> NDArray[np.uint8]:
    if not np.isfinite(values).all():
        raise InputError("image has NaN or infinite pixel values")
    top = 1.0 if values.max(initial=0.0) <= 1.0 else 255.0
    return np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)


def _grey_to_rgb(grey: NDArray[np.uint8]) -> NDArray[np.uint8]:
    return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))


def _lab_to_rgb(lab8: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Pillow's LAB pixels to sRGB under D65.

    In Pillow's buffer (what numpy sees) L* is scaled to 0-255 and a*, b* are signed bytes
    (``getpixel`` shows them offset by 128 instead).
    """
    from kmimg.colorspace import lab_to_rgb

    lab = np.empty(lab8.shape, dtype=np.float64)
    lab[..., 0] = lab8[..., 0] * (100.0 / 255.0)
    lab[..., 1:] = lab8[..., 1:].view(np.int8)
    return np.ascontiguousarray(np.rint(lab_to_rgb(lab)).astype(np.uint8))


def encode_indexed_png(
    indices: NDArray[np.uint8],
    palette: NDArray[np.uint8],
) -> bytes:
    """Encode a palette image as PNG bytes.

    ``palette`` is ``(m, 4)`` RGBA with ``m <= 256``; its alpha column becomes a ``tRNS`` chunk
    when any entry is not opaque. The bit depth is the smallest that holds ``m`` entries
    (1, 2, 4 or 8), and PLTE holds exactly ``m`` entries.

    Written directly with zlib rather than through Pillow, which keeps 8 bits per pixel for
    small palettes: packing 2-16 colours into 1, 2 or 4 bits makes the files ~10 % smaller.
    Rows are unfiltered (filters do not help index data) and deflated at
    :data:`INDEXED_PNG_LEVEL`; the bytes depend only on the arguments.
    """
    indices = np.ascontiguousarray(indices, dtype=np.uint8)
    height, width = indices.shape
    entries = len(palette)
    if not 1 <= entries <= 256:
        raise ValueError("a PNG palette holds 1 to 256 entries")
    depth = next(bits for bits in (1, 2, 4, 8) if entries <= 1 << bits)
    rows = _pack_rows(indices, depth)
    raw = np.empty((height, rows.shape[1] + 1), dtype=np.uint8)
    raw[:, 0] = 0  # filter type None on every row
    raw[:, 1:] = rows
    data = _deflate(raw.reshape(-1))
    chunks = [
        _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, 3, 0, 0, 0)),
        _png_chunk(b"PLTE", np.ascontiguousarray(palette[:, :3]).tobytes()),
    ]
    translucent = np.flatnonzero(palette[:, 3] < 255)
    if len(translucent):
        chunks.append(_png_chunk(b"tRNS", palette[: int(translucent.max()) + 1, 3].tobytes()))
    chunks += [_png_chunk(b"IDAT", data), _png_chunk(b"IEND", b"")]
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


#: Bytes per piece when a large image's data is deflated in parallel pieces.
DEFLATE_PIECE = 1 << 20
_WINDOW = 1 << 15


def _deflate(data: NDArray[np.uint8]) -> bytes:
    """One zlib stream of ``data`` at :data:`INDEXED_PNG_LEVEL`, deflated in pieces of
    :data:`DEFLATE_PIECE` bytes on several threads (zlib releases the GIL), as pigz does.

    Each piece starts with the previous piece's last 32 KiB as its dictionary and ends with a
    sync flush, so the pieces concatenate into one valid stream only a few bytes longer than a
    serial one. The pieces are fixed by the data's length, so the bytes never depend on the
    number of threads; data of one piece or less is deflated exactly as before.
    """
    view = data.data
    if len(data) <= DEFLATE_PIECE:
        deflater = _deflater(15)
        return deflater.compress(view) + deflater.flush()

    def piece(start: int) -> bytes:
        stop = start + DEFLATE_PIECE
        deflater = _deflater(-15, bytes(view[max(0, start - _WINDOW) : start]))
        body = deflater.compress(view[start:stop])
        return body + deflater.flush(zlib.Z_FINISH if stop >= len(data) else zlib.Z_SYNC_FLUSH)

    pieces = ordered_map(piece, range(0, len(data), DEFLATE_PIECE))
    header = _deflater(15).flush()[:2]  # CMF and FLG: the same for any data at this level
    return header + b"".join(pieces) + struct.pack(">I", zlib.adler32(view))


def _deflater(window_bits: int, dictionary: bytes = b"") -> zlib._Compress:
    """A compressor at the indexed PNG settings; negative ``window_bits`` makes raw deflate."""
    if dictionary:
        return zlib.compressobj(
            INDEXED_PNG_LEVEL, zlib.DEFLATED, window_bits, INDEXED_PNG_MEMLEVEL, zdict=dictionary
        )
    return zlib.compressobj(INDEXED_PNG_LEVEL, zlib.DEFLATED, window_bits, INDEXED_PNG_MEMLEVEL)


def _pack_rows(indices: NDArray[np.uint8], depth: int) -> NDArray[np.uint8]:
    """Pack each row's indices into ``depth``-bit samples, first pixel in the high bits."""
    if depth == 8:
        return indices
    per_byte = 8 // depth
    height, width = indices.shape
    padded = np.zeros((height, -(-width // per_byte) * per_byte), dtype=np.uint8)
    padded[:, :width] = indices
    groups = padded.reshape(height, -1, per_byte)
    packed = np.zeros(groups.shape[:2], dtype=np.uint8)
    for position in range(per_byte):
        packed |= groups[:, :, position] << np.uint8(depth * (per_byte - 1 - position))
    return packed


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(body, zlib.crc32(kind)))


def encode_png(pixels: NDArray[np.uint8], *, compress_level: int = PNG_COMPRESS_LEVEL) -> bytes:
    """Encode an 8-bit grey ``(h, w)``, RGB or RGBA ``(h, w, c)`` array as PNG bytes.

    ``compress_level`` is zlib's 0-9: photographic content is ~6x faster to write at 6 than at 9
    for ~6 % more bytes.
    """
    image = Image.fromarray(np.ascontiguousarray(pixels))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that it is either complete or untouched.

    The bytes go to a temporary file in the same folder, are flushed to disk, and the file is
    renamed over ``path``; on any failure the temporary file is removed and ``path`` is left as
    it was. Inside :func:`commit_group` the flush and the rename wait for the group's commit.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    try:
        # The name is shortened so that a target near the 255-byte limit still gets a temp file.
        prefix = f".{target.name[:64]}."
        handle, temp_name = _create_temporary(folder, prefix)
    except OSError as exc:
        raise OutputError(f"cannot write in {folder}: {exc.strerror or exc}") from None
    group = _GROUP.get()
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(handle, view) :]
            if group is None:
                os.fsync(handle)
            os.fchmod(handle, 0o644 & ~_umask())
        finally:
            os.close(handle)
        if group is not None:
            group.pending.append(_Pending(temp_name, target, folder))
            return
        os.replace(temp_name, target)
        _sync_folder(folder)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write: {exc.strerror or exc}") from None
        raise


_TEMPORARY_NAMES = itertools.count()


def _create_temporary(folder: Path, prefix: str) -> tuple[int, str]:
    """A new file ``<prefix><pid>-<n>.kmimg-tmp`` in ``folder``, created exclusively (what
    ``tempfile.mkstemp`` does, without its ~10 ms import)."""
    while True:
        name = str(folder / f"{prefix}{os.getpid()}-{next(_TEMPORARY_NAMES)}.kmimg-tmp")
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        try:
            return os.open(name, flags, 0o600), name
        except FileExistsError:
            continue


@dataclass(frozen=True)
class _Pending:
    """A complete temporary file waiting for its group's commit to be renamed to ``target``."""

    temp: str
    target: Path
    folder: Path


@dataclass
class CommitGroup:
    """The files :func:`write_atomic` wrote while the group was open, not yet in place.

    A batch of small outputs would spend most of its time in two ``fsync`` calls per file; a
    group makes them durable together (one ``syncfs`` per file system) before renaming each
    into place and syncing each folder once. The guarantee is the same: a file appears under
    its name only complete and on disk; until the commit it is only a hidden temporary file.
    """

    pending: list[_Pending] = field(default_factory=list)

    def take(self) -> list[_Pending]:
        """The files written since the last call (to tell which task wrote which)."""
        taken, self.pending = self.pending, []
        return taken

    def commit(self, files: list[_Pending]) -> dict[Path, str]:
        """Put ``files`` in place; returns the targets that could not be, with the reason."""
        failed: dict[Path, str] = {}
        if not files:
            return failed
        placed = 0
        try:
            _sync_data(files)
            for entry in files:
                try:
                    os.replace(entry.temp, entry.target)
                except OSError as exc:
                    failed[entry.target] = f"cannot write: {exc.strerror or exc}"
                    with contextlib.suppress(OSError):
                        os.unlink(entry.temp)
                placed += 1
        finally:  # interrupted: what is not in place yet is removed
            self.discard(files[placed:])
        for folder in dict.fromkeys(entry.folder for entry in files):
            _sync_folder(folder)
        return failed

    @staticmethod
    def discard(files: list[_Pending]) -> None:
        for entry in files:
            with contextlib.suppress(OSError):
                os.unlink(entry.temp)


_GROUP: contextvars.ContextVar[CommitGroup | None] = contextvars.ContextVar("kmimg_group", default=None)


@contextlib.contextmanager
def commit_group() -> Iterator[CommitGroup]:
    """Make :func:`write_atomic` defer its flush and rename to the group's :meth:`~CommitGroup.commit`
    in this block; whatever is still pending when the block ends is discarded (removed)."""
    group = CommitGroup()
    token = _GROUP.set(group)
    try:
        yield group
    finally:
        _GROUP.reset(token)
        group.discard(group.take())


def _sync_data(files: list[_Pending]) -> None:
    """Flush the data of the temporary ``files`` to disk: one ``syncfs`` for the file system of
    each folder on Linux (the kernel writes every dirty page of it at once), else one ``fsync``
    per file."""
    unsynced: list[_Pending] = []
    for folder in dict.fromkeys(entry.folder for entry in files):
        try:
            handle = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            handle = -1
        try:
            if handle < 0 or not _syncfs(handle):
                unsynced.extend(entry for entry in files if entry.folder == folder)
        finally:
            if handle >= 0:
                os.close(handle)
    for entry in unsynced:
        with contextlib.suppress(OSError):
            handle = os.open(entry.temp, os.O_RDONLY)
            try:
                os.fsync(handle)
            finally:
                os.close(handle)


def _syncfs(handle: int) -> bool:
    """``syncfs(2)`` on the file system holding ``handle``; False where it is not available."""
    function = _libc_syncfs()
    return function is not None and function(handle) == 0


@functools.lru_cache(maxsize=1)
def _libc_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        syncfs: Callable[[int], int] = ctypes.CDLL(None, use_errno=True).syncfs
        return syncfs
    except (OSError, AttributeError):
        return None


def link_atomic(path: str | Path, source: str | Path) -> None:
    """Make ``path`` a symbolic link to ``source`` (absolute), replacing what was there in one
    rename: ``path`` is the old entry or the new link, never missing, and no temporary link is
    left behind, whatever interrupts it (Ctrl-C included)."""
    target = Path(path)
    temp = target.with_name(f".{target.name[:64]}.kmimg-link")
    try:
        if os.path.lexists(temp):
            temp.unlink()
        temp.symlink_to(Path(source).resolve())
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            if os.path.lexists(temp):
                temp.unlink()
        if isinstance(exc, OSError):
            raise OutputError(f"cannot link {target}: {exc.strerror or exc}") from None
        raise


def _sync_folder(folder: Path) -> None:
    # Make the rename itself durable (a crash right after could otherwise lose the new name);
    # best effort: not every platform or file system lets a folder be opened and synced.
    with contextlib.suppress(OSError, AttributeError):
        handle = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    # Read once: setting and restoring it for every file costs two system calls each.
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_stdout(data: bytes) -> None:
    """Write bytes to standard output (used for ``-o -`` and ``--json -``)."""
    import sys

    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
