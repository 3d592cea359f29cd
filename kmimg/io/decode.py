"""Decoding inputs to arrays: 8-bit sRGB plus an optional alpha plane.

Loading applies the EXIF orientation, takes one image of a file holding several (the rule and
its warning: :func:`kmimg.io.formats.left_out`), converts any mode to 8-bit sRGB plus an
optional alpha plane (16-bit samples are scaled, not clipped; ICC profiles applied), and
refuses images over a pixel limit from the header before any pixel is decoded. The format is
judged from the content: the formats of :data:`ALLOWED_FORMATS` by their first bytes, every
other one through Pillow's registry (:mod:`kmimg.io.formats`, which refuses EPS/PostScript);
PNG structure is checked first by :mod:`kmimg.io.png`. What native decoders write to file
descriptor 2 while decoding becomes one warning (:mod:`kmimg.io.chatter`).
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from kmimg._records import frozen
from kmimg.errors import InputError, LimitError
from kmimg.io.chatter import captured, summary
from kmimg.io.formats import PILLOW_ERRORS, identify, left_out
from kmimg.io.png import (
    PngFacts,
    PngMetadata,
    check_pixels,
    inspect_png,
    phys_of_dpi,
    png_metadata,
    read_plain_png,
)
from kmimg.notes import Note, collecting, ignoring, warn
from kmimg.options import DEFAULT_MAX_PIXELS

if TYPE_CHECKING:
    from PIL import Image, ImageCms

#: Formats kmimg knows by their first bytes, without importing Pillow's other plugins; every other
#: format Pillow reads is identified through its registry (:func:`kmimg.io.formats.identify`).
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")

STDIO = "-"


@frozen
class Picture:
    """A decoded image: 8-bit sRGB pixels plus an optional alpha plane.

    ``alpha`` is ``None`` when every pixel is fully opaque (or the format has no alpha).
    ``metadata``: what an indexed PNG of it keeps (DPI, text, colour space; see
    :func:`kmimg.io.png.png_metadata` and :func:`pillow_metadata`).
    """

    rgb: NDArray[np.uint8]
    alpha: NDArray[np.uint8] | None
    source: str
    format: str
    byte_size: int
    metadata: PngMetadata = PngMetadata()

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
    try:  # the usual case, a regular file: one stat instead of the seven checks below
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        regular = False
    if not regular:
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

    return sys.stdin.buffer


def load_image(
    source: str | os.PathLike[str] | bytes | IO[bytes] | Image.Image | NDArray[Any],
    *,
    data: bytes | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    allow_truncated: bool = False,
) -> Picture:
    """Decode an image to a :class:`Picture`: a file (or ``data`` already read from it), an
    image file's bytes, a binary file object, a ``PIL.Image.Image`` of any mode, or a numpy
    array (see :func:`picture_of_array`).

    A ``PIL.Image`` goes through the same conversions as a decoded file (EXIF orientation,
    ICC profile, modes and bit depths); its ``format`` is Pillow's, or ``"PIL"``, and
    ``byte_size`` that of its pixels. Anything else is a :class:`TypeError` naming ``image``.

    >>> import kmimg, numpy as np
    >>> picture = kmimg.load_image(np.linspace(0.0, 1.0, 12).reshape(3, 4))  # grey floats in [0, 1]
    >>> picture.rgb.shape, picture.rgb[2, 3].tolist(), picture.alpha
    ((3, 4, 3), [255, 255, 255], None)
    >>> with open("sample_images/coins.png", "rb") as file:
    ...     kmimg.load_image(file).rgb.shape
    (303, 384, 3)

    The format is judged from the content (a JPEG named ``.png`` is a JPEG; a TGA named ``.dat``
    is a TGA): any raster format Pillow reads, and TIFFs through tifffile; EPS/PostScript is
    refused (Ghostscript would run the file's program). Policies: one image of a file holding
    several, with a warning naming what was left out (the largest size of an icon, the first
    frame or page of anything else: :func:`kmimg.io.formats.left_out`); EXIF
    orientation applied; 16-bit samples scaled to 8 bits; an embedded ICC profile applied to give
    sRGB; untagged CMYK converted with Pillow's profile-less formula (Adobe inverted CMYK JPEGs
    included); CIELAB converted under D65; float or 32-bit RGB TIFFs read with tifffile; colours
    under alpha 0 set to black; width x height checked against ``max_pixels`` from the header,
    before any pixel is decoded. PNG files are checked chunk by chunk first (CRCs, truncation,
    compressed text chunks that would inflate past :data:`MAX_TEXT_BYTES`).

    Library warnings raised while decoding (corrupt EXIF data, ...) are re-issued as one-line
    :class:`~kmimg.errors.KmimgWarning` warnings, as is the note that a damaged file was decoded
    with ``allow_truncated``, and what native decoders wrote to file descriptor 2 (at most one
    line, or none when it says nothing to a user: :mod:`kmimg.io.chatter`).

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
    if data is not None:
        raw = data
    elif isinstance(source, (str, os.PathLike)):
        raw = read_source(os.fspath(source))
    else:
        return _load_object(source, max_pixels=max_pixels, allow_truncated=allow_truncated)
    if not raw:
        raise InputError("empty file")
    kind = sniff_format(raw) or _identify(raw)
    png = inspect_png(raw, max_pixels) if kind == "PNG" else None
    damage = png.damage if png is not None else None
    plain = read_plain_png(raw) if png is not None and damage is None else None
    if plain is not None:  # Pillow's pixels, without Pillow (see read_plain_png)
        rgb, alpha = _plain_to_rgb_alpha(plain)
        meta = png_metadata(raw)
        return Picture(
            rgb=rgb, alpha=alpha, source=str(source), format="PNG", byte_size=len(raw), metadata=meta
        )
    rgb, alpha, image_format, notes, meta = _decode_captured(
        raw, kind, max_pixels, png=png, damage=damage, allow_truncated=allow_truncated
    )
    for note in dict.fromkeys(notes):
        warn(note, stacklevel=2)
    meta = png_metadata(raw) if png is not None else meta
    return Picture(
        rgb=rgb, alpha=alpha, source=str(source), format=image_format, byte_size=len(raw), metadata=meta
    )


def _identify(raw: bytes) -> str:
    """The format of a file none of :data:`ALLOWED_FORMATS`' signatures matches, from Pillow's
    registry (:func:`kmimg.io.formats.identify`), or an :class:`InputError` saying what it is."""
    with _pillow_settings(lenient=False), ignoring(Warning):  # the decode raises them again
        kind = identify(raw)
    if kind is None:
        raise InputError(_not_an_image(raw))
    return kind


def _decode_captured(
    raw: bytes, kind: str, max_pixels: int, *, png: PngFacts | None, damage: str | None, allow_truncated: bool
) -> tuple[NDArray[np.uint8], NDArray[np.uint8] | None, str, list[str], PngMetadata]:
    """:func:`_decode_noting` with what native decoders write to file descriptor 2 caught
    (:mod:`kmimg.io.chatter`): one more warning when the decode succeeds, the end of the error
    line when it fails."""
    chatter: list[str] = []
    try:
        with captured() as chatter:
            rgb, alpha, image_format, notes, meta = _decode_noting(
                raw, kind, max_pixels, png=png, damage=damage, allow_truncated=allow_truncated
            )
    except InputError as exc:
        said = summary(chatter)
        if said is None:
            raise
        raise InputError(f"{exc}; {said}") from None
    said = summary(chatter)
    return rgb, alpha, image_format, [*notes, *([said] if said else [])], meta


def _decode_noting(
    raw: bytes, kind: str, max_pixels: int, *, png: PngFacts | None, damage: str | None, allow_truncated: bool
) -> tuple[NDArray[np.uint8], NDArray[np.uint8] | None, str, list[str], PngMetadata]:
    """:func:`_decode`, retried leniently for a damaged file when ``allow_truncated``; with the
    warnings raised on the way (Pillow's, this thread's only: :mod:`kmimg.notes`)."""
    notes: list[str] = []
    with collecting() as caught:
        try:
            if damage is not None:
                raise _Damaged(damage)
            rgb, alpha, image_format, meta = _decode(raw, kind, max_pixels, png=png, lenient=False)
        except _Damaged as exc:
            if not allow_truncated:
                raise InputError(f"{exc}; --allow-truncated decodes what is there") from None
            try:
                rgb, alpha, image_format, meta = _decode(raw, kind, max_pixels, png=png, lenient=True)
            except _Damaged as again:
                raise InputError(f"{again} (even with --allow-truncated)") from None
            notes.append(f"{exc}; decoded what is there, the rest is filled in (--allow-truncated)")
    return rgb, alpha, image_format, [*_warning_lines(caught), *notes], meta


def _load_object(image: object, *, max_pixels: int, allow_truncated: bool) -> Picture:
    """:func:`load_image` of what is not a path: bytes, a binary file, a PIL image, an array."""
    if isinstance(image, (bytes, bytearray, memoryview)):
        return load_image(
            "<bytes>", data=bytes(image), max_pixels=max_pixels, allow_truncated=allow_truncated
        )
    if hasattr(image, "read"):
        raw = image.read()
        if not isinstance(raw, bytes):
            raise TypeError("image: a file object must be opened in binary mode ('rb')")
        name = getattr(image, "name", None)
        source = name if isinstance(name, str) else "<file>"
        return load_image(source, data=raw, max_pixels=max_pixels, allow_truncated=allow_truncated)
    if isinstance(image, np.ndarray):
        return picture_of_array(image, max_pixels=max_pixels)
    pil = sys.modules.get("PIL.Image")  # an object cannot be a PIL image unless Pillow is loaded
    if pil is not None and isinstance(image, pil.Image):
        return _picture_of_pil(image, max_pixels=max_pixels)
    raise TypeError(
        "image must be a path, bytes, a binary file, a PIL.Image or a numpy array; "
        f"got {type(image).__name__}"
    )


def picture_of_array(array: NDArray[Any], *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Picture:
    """A :class:`Picture` of an array shaped ``(h, w)`` (grey), ``(h, w, 3)`` (RGB) or
    ``(h, w, 4)`` (RGBA): uint8 as is, uint16 scaled to 8 bits, floats in [0, 1] scaled to
    0-255 and rounded (as a float TIFF is). Raises ``ValueError`` (naming ``image``) for another
    shape, values out of range, or no pixels; ``TypeError`` for another dtype."""
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(f"image must be shaped (h, w), (h, w, 3) or (h, w, 4); got {array.shape}")
    height, width = array.shape[:2]
    if height == 0 or width == 0:
        raise ValueError(f"image has no pixels (shape {array.shape})")
    check_pixels(width, height, max_pixels)
    samples = _array_to_8bit(array)
    if samples.ndim == 2:
        rgb, alpha = _grey_to_rgb(samples), None
    else:
        rgb = np.ascontiguousarray(samples[..., :3])
        alpha = np.ascontiguousarray(samples[..., 3]) if samples.shape[2] == 4 else None
    rgb, alpha = _finish(rgb.copy() if rgb is array else rgb, alpha)
    return Picture(rgb=rgb, alpha=alpha, source="<array>", format="array", byte_size=int(array.nbytes))


def _array_to_8bit(array: NDArray[Any]) -> NDArray[np.uint8]:
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if array.dtype == np.uint16:
        return _scale_to_8bit(array, 65535.0)
    if np.issubdtype(array.dtype, np.floating):
        values = array.astype(np.float64)
        if not np.isfinite(values).all():
            raise ValueError("image has NaN or infinite values")
        if values.min() < 0.0 or values.max() > 1.0:
            raise ValueError(
                f"image: float values must be in [0, 1], got {values.min():g} to {values.max():g}"
            )
        return np.rint(values * 255.0).astype(np.uint8)
    raise TypeError(f"image must be uint8, uint16 or float in [0, 1]; got dtype {array.dtype}")


def _picture_of_pil(image: Image.Image, *, max_pixels: int) -> Picture:
    """A :class:`Picture` of a Pillow image, converted as a decoded file is."""
    from PIL import ImageOps

    _check_size(image, max_pixels)
    with collecting() as caught:
        try:
            upright = ImageOps.exif_transpose(image)
        except Exception:  # noqa: BLE001 - a damaged EXIF block only loses the orientation
            warn("unreadable EXIF orientation ignored", stacklevel=1)
            upright = image
        rgb, alpha = _to_rgb_alpha(_to_srgb(upright))
    for note in dict.fromkeys(_warning_lines(caught)):
        warn(note, stacklevel=3)
    size = int(rgb.nbytes + (0 if alpha is None else alpha.nbytes))
    return Picture(
        rgb=rgb,
        alpha=alpha,
        source="<PIL image>",
        format=str(image.format or "PIL"),
        byte_size=size,
        metadata=pillow_metadata(image),
    )


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
        return "SVG/XML text, not a raster image"
    try:
        text = raw[:4096].decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text and all(ch.isprintable() or ch in "\t\r\n" for ch in text):
        return "a text file, not an image"
    return "not a supported image format (no decoder recognises it)"


def _decode(
    raw: bytes, kind: str, max_pixels: int, *, png: PngFacts | None, lenient: bool
) -> tuple[NDArray[np.uint8], NDArray[np.uint8] | None, str, PngMetadata]:
    from PIL import ImageOps

    try:
        with _pillow_settings(lenient=lenient), _opened(raw, kind, max_pixels) as image:
            image_format = str(image.format)
            meta = pillow_metadata(image)
            try:
                upright = ImageOps.exif_transpose(image)
            except Exception:  # noqa: BLE001 - a damaged EXIF block only loses the orientation
                warn("unreadable EXIF orientation ignored", stacklevel=1)
                upright = image
            rgb, alpha = _to_rgb_alpha(_to_srgb(upright), png=png)
    except _PillowCannotRead:
        rgb, alpha = _decode_tiff_with_tifffile(raw, max_pixels)
        image_format, meta = "TIFF", PngMetadata()
    return rgb, alpha, image_format, meta


def pillow_metadata(image: Image.Image) -> PngMetadata:
    """What an indexed PNG of a Pillow-decoded image keeps: its DPI as ``pHYs`` (JPEG's JFIF
    density or EXIF resolution, TIFF's, BMP's...) and an ``sRGB`` chunk when it had an ICC
    profile (kmimg converted the pixels to sRGB)."""
    dpi = image.info.get("dpi")
    phys = None
    if isinstance(dpi, tuple) and len(dpi) == 2:
        try:
            phys = phys_of_dpi((float(dpi[0]), float(dpi[1])))
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            phys = None
    return PngMetadata(srgb=bool(image.info.get("icc_profile")), phys=phys)


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
            if len(tiff.pages) > 1:
                warn(f"TIFF holds {len(tiff.pages)} images; only the first was used", stacklevel=1)
            width, height = int(page.imagewidth), int(page.imagelength)
            if width <= 0 or height <= 0:
                raise InputError("image has zero width or height")
            check_pixels(width, height, max_pixels)
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
    except ImportError as exc:
        warn(f"embedded ICC profile ignored: {_reason(exc)}", stacklevel=1)
        return image
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if profile.profile.xcolor_space != space:
            raise ValueError(f"a {profile.profile.xcolor_space.strip()} profile on {image.mode} pixels")
        srgb = ImageCms.createProfile("sRGB")
        transform = ImageCms.buildTransform(profile, srgb, image.mode, out_mode)
        if space == "RGB " and _is_identity(transform, image.mode):
            return image
        converted = ImageCms.applyTransform(image, transform)
    except (OSError, ValueError, TypeError, ImageCms.PyCMSError) as exc:  # no OSError in Pillow 13
        warn(f"embedded ICC profile ignored: {_reason(exc)}", stacklevel=1)
        return image
    assert converted is not None
    return converted


#: Levels of each channel in the probe that tells an sRGB-equivalent profile (0, 17, ..., 255).
_PROBE_LEVELS = np.arange(0, 256, 17, dtype=np.uint8)


def _is_identity(transform: ImageCms.ImageCmsTransform, mode: str) -> bool:
    """Whether an RGB profile's transform to sRGB moves no colour of a 16-level grid (4,096
    colours) by more than one level: the profile is sRGB (or as good as), and applying it
    to every pixel (~0.15 s for 12 megapixels) would only add LittleCMS's rounding noise."""
    from PIL import Image, ImageCms

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
    from PIL import Image, ImageFile

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
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(raw), formats=(kind,))
    except UnidentifiedImageError:
        if kind == "TIFF":
            raise _PillowCannotRead from None
        raise InputError(f"corrupt or unsupported {kind} file (the header cannot be read)") from None
    except PILLOW_ERRORS as exc:
        raise InputError(f"corrupt {kind} file: {_reason(exc)}") from None
    try:
        _check_size(image, max_pixels)
        omitted = left_out(image, raw)
        if omitted is not None:
            warn(omitted, stacklevel=1)
        # Images inside this one (an ICNS's PNG or JPEG 2000 elements) meet the pixel limit as
        # Pillow opens them while decoding: it refuses above twice MAX_IMAGE_PIXELS.
        Image.MAX_IMAGE_PIXELS = -(-max_pixels // 2)
        try:
            if kind in ALLOWED_FORMATS:  # elsewhere the image open is the one to read (a PSD's
                image.seek(0)  # composite is its frame 1's predecessor: seeking shows a layer)
            image.load()
        except Image.DecompressionBombError:
            raise LimitError(f"an image inside the file is over the limit of {max_pixels} pixels") from None
        except PILLOW_ERRORS as exc:
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
    check_pixels(width, height, max_pixels)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _warning_lines(caught: list[Note]) -> list[str]:
    # Pillow's bomb warning: the pixel limit is kmimg's own (--max-pixels), checked before decoding.
    if not caught:
        return []
    from PIL import Image

    # Deprecation warnings speak to programmers about Pillow's API, not to users about a file.
    dropped = (Image.DecompressionBombWarning, DeprecationWarning)
    return [text for text, category in caught if not issubclass(category, dropped)]


# ----------------------------------------------------------------------------- modes


def _to_rgb_alpha(
    image: Image.Image, *, png: PngFacts | None = None
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


def _plain_to_rgb_alpha(pixels: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], NDArray[np.uint8] | None]:
    """:func:`_to_rgb_alpha`'s result for the pixels of a plain PNG (grey, grey + alpha, RGB
    or RGBA, as :func:`~kmimg.io.png.read_plain_png` returns them)."""
    channels = pixels.shape[2]
    if channels == 3:
        return pixels, None
    colour = pixels[..., :3] if channels == 4 else _grey_to_rgb(pixels[..., 0])
    alpha = np.ascontiguousarray(pixels[..., channels - 1]) if channels in (2, 4) else None
    return _finish(np.ascontiguousarray(colour), alpha)


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


def _grey_key(transparency: int, mode: str, png: PngFacts | None) -> int:
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
