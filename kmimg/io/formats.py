"""Which files kmimg reads: the formats of Pillow's registry it opens, the ones it refuses and
why, the file name endings a folder scan picks up, and the rule for files that hold more than
one image.

Pillow's plugins are imported (all of them: tens of milliseconds) only when a folder is scanned
or when a file is none of the formats :mod:`kmimg.io.decode` knows by its first bytes (PNG,
JPEG, GIF, BMP, TIFF, WebP). Imports no numpy.
"""

from __future__ import annotations

import functools
import io
import os
import struct
from typing import TYPE_CHECKING

from kmimg.errors import InputError, UsageError

if TYPE_CHECKING:
    from PIL import Image

#: Formats of Pillow's registry that kmimg never opens, with the reason given to the user.
REFUSED_FORMATS = {
    "EPS": "EPS/PostScript is refused: decoding it runs the Ghostscript interpreter on the file's program",
    "MPEG": "an MPEG video, not an image (Pillow reads only its header)",
}

#: File name endings a folder scan always picks up: TIFF layouts Pillow cannot read are read
#: with tifffile.
OWN_SUFFIXES = frozenset({".tif", ".tiff"})

#: What Pillow's plugins raise on a hostile or damaged file (the rarer ones from its less used
#: plugins): one line for that input, never an internal error.
PILLOW_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    NotImplementedError,
    struct.error,
)

#: Formats whose files can hold several frames of an animation.
ANIMATED_FORMATS = frozenset({"GIF", "PNG", "WEBP", "FLI", "AVIF"})

#: Formats whose frames beyond the first are not separate images (a PSD's layers are already in
#: its flattened image).
_ONE_PICTURE = frozenset({"PSD"})


def is_postscript(raw: bytes) -> bool:
    """Whether ``raw`` is PostScript or EPS (plain, or the DOS binary EPS header)."""
    return raw.startswith((b"%!PS", b"\xc5\xd0\xd3\xc6")) or raw.lstrip()[:4] == b"%!PS"


@functools.lru_cache(maxsize=1)
def pillow_formats() -> tuple[str, ...]:
    """Pillow's formats kmimg opens: every one registered for reading except the refused ones
    and the stubs (BUFR, GRIB, HDF5, WMF: identified, but no decoder is installed)."""
    from PIL import Image, ImageFile

    Image.init()
    return tuple(
        name
        for name, (factory, _) in Image.OPEN.items()
        if name not in REFUSED_FORMATS
        and not (isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile))
    )


@functools.lru_cache(maxsize=1)
def scan_suffixes() -> frozenset[str]:
    """File name endings (lower case, with the dot) a folder scan picks up: every one Pillow
    registers for a format :func:`pillow_formats` holds, and TIFF's."""
    from PIL import Image

    readable = set(pillow_formats())
    found = {suffix.lower() for suffix, name in Image.registered_extensions().items() if name in readable}
    return frozenset(found | OWN_SUFFIXES)


#: Endings a folder scan takes without Pillow's registry (which imports every Pillow plugin,
#: ~45 ms before the first file of a batch): kmimg reads PNG and TIFF itself.
_OWN_SCAN = frozenset({".png"}) | OWN_SUFFIXES


def is_scan_suffix(suffix: str) -> bool:
    """Whether a folder scan takes a file with this ending (lower case, with the dot): the
    same answer as ``suffix in scan_suffixes()``, Pillow asked only for other endings."""
    return suffix in _OWN_SCAN or suffix in scan_suffixes()


def identify(raw: bytes) -> str | None:
    """The Pillow format of ``raw`` by its content (header only, nothing decoded), or ``None``
    when no decoder kmimg opens recognises it. PostScript/EPS is an :class:`InputError` naming
    the reason; so is a header a decoder recognises but cannot parse."""
    if is_postscript(raw):
        raise InputError(REFUSED_FORMATS["EPS"])
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(raw), formats=pillow_formats()) as image:
            return str(image.format)
    except UnidentifiedImageError:
        return None
    except PILLOW_ERRORS as exc:
        text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
        raise InputError(f"corrupt image file: {text}") from None


def left_out(image: Image.Image, raw: bytes) -> str | None:
    """What a file holding several images loses when kmimg reads one, as a warning, or ``None``.

    The rule: icons (ICO, ICNS, CUR) give their largest size (Pillow's choice); every other
    file gives its first image (a DDS its full-size level, not its mipmaps; an animation its
    first frame; a multi-page TIFF, an MPO or a DCX its first page).
    """
    kind = str(image.format)
    if kind in ("ICO", "ICNS", "CUR"):
        # ICNS sizes are (width, height, scale): a 512x512 at scale 2 holds 1024x1024 pixels
        scaled = ((size[0] * _scale(size), size[1] * _scale(size)) for size in image.info.get("sizes") or ())
        sizes = sorted(set(scaled), reverse=True)
        if len(sizes) > 1:
            shown = ", ".join(f"{size[0]}x{size[1]}" for size in sizes)
            largest = f"{image.width}x{image.height}"
            return f"{kind} holds {len(sizes)} sizes ({shown}); the largest, {largest}, was used"
        return None
    if kind == "DDS":
        levels = _dds_mipmaps(raw)
        return f"DDS holds {levels} mipmap levels; only the full-size image was used" if levels > 1 else None
    if kind in _ONE_PICTURE:
        return None
    frames = _frame_count(image)
    if frames <= 1:
        return None
    if kind in ANIMATED_FORMATS:
        return f"animated {kind}: only the first of its {frames} frames was used"
    return f"{kind} holds {frames} images; only the first was used, the other {frames - 1} were left out"


def _scale(size: tuple[int, ...]) -> int:
    return int(size[2]) if len(size) > 2 else 1


def _frame_count(image: Image.Image) -> int:
    try:
        return int(getattr(image, "n_frames", 1))
    except Exception:  # noqa: BLE001 - a damaged frame chain only loses the count
        return 1


def _dds_mipmaps(raw: bytes) -> int:
    """The mipmap count of a DDS header (1 when its flags do not declare one)."""
    if len(raw) < 32 or raw[:4] != b"DDS ":
        return 1
    flags, count = struct.unpack_from("<I", raw, 8)[0], struct.unpack_from("<I", raw, 28)[0]
    return int(count) if flags & 0x20000 else 1


#: Name endings of image formats other than the ones kmimg writes: an output so named would hold
#: bytes of another format than its name says.
OTHER_IMAGE_SUFFIXES = frozenset(
    [
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".bmp",
        ".dib",
        ".tif",
        ".tiff",
        ".avif",
        ".heic",
        ".heif",
        ".jxl",
        ".tga",
        ".ppm",
        ".pgm",
        ".pbm",
        ".pnm",
        ".pfm",
        ".ico",
        ".icns",
        ".cur",
        ".pcx",
        ".sgi",
        ".rgb",
        ".rgba",
        ".bw",
        ".dds",
        ".jp2",
        ".j2k",
        ".jpx",
        ".jpf",
        ".jpc",
        ".j2c",
        ".qoi",
        ".psd",
        ".xbm",
        ".xpm",
        ".exr",
        ".hdr",
        ".svg",
        ".pdf",
        ".eps",
        ".ps",
        ".mpo",
        ".blp",
        ".ras",
        ".im",
        ".msp",
        ".fits",
        ".fit",
    ]
)


#: Output formats by name ending (every other name gets a PNG).
OUTPUT_FORMATS = {".gif": "GIF", ".webp": "WEBP"}

#: Why a WebP output is refused by a Pillow built without libwebp.
NO_WEBP = "this Pillow was built without WebP support (libwebp); name it .png or .gif"


def webp_supported() -> bool:
    """Whether this Pillow can write WebP (it was built with libwebp)."""
    from PIL import features

    return bool(features.check("webp"))


def output_format(name: str) -> str:
    """The format an image output named ``name`` is written in: ``GIF`` for ``.gif``, ``WEBP``
    for ``.webp``, else ``PNG``; a name ending like another image format (``.jpg``,
    ``.bmp``...) is a :class:`~kmimg.errors.UsageError`: PNG bytes are never written under
    another format's name. So is ``.webp`` when Pillow was built without WebP support."""
    suffix = os.path.splitext(name)[1].lower()
    if suffix == ".webp" and not webp_supported():
        raise UsageError(f"output {name}: {NO_WEBP}")
    if suffix in OUTPUT_FORMATS:
        return OUTPUT_FORMATS[suffix]
    if suffix in OTHER_IMAGE_SUFFIXES:
        raise UsageError(
            f"output {name}: kmimg writes PNG, GIF or WebP, not {suffix}; name it .png, .gif or .webp"
        )
    return "PNG"


def check_png_name(name: str, option: str) -> None:
    """Refuse (:class:`~kmimg.errors.UsageError`) a PNG-only output (``--swatch``, ``--montage``)
    named like another image format: its bytes would not be what its name says."""
    suffix = os.path.splitext(name)[1].lower()
    if suffix in OTHER_IMAGE_SUFFIXES or suffix in OUTPUT_FORMATS:
        raise UsageError(f"{option} {name}: this output is a PNG, not {suffix}; name it .png")
