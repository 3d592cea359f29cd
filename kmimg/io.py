"""All file I/O of kmimg: decoding inputs to arrays and writing outputs atomically.

Every other module works on numpy arrays. Loading applies the EXIF orientation, takes the first
frame of animated or multi-page files, converts any mode to 8-bit RGB plus an optional alpha
plane (16-bit samples are scaled, not clipped), and refuses images over a pixel limit from the
header before any pixel is decoded. Writing goes to a temporary file in the destination folder
that is renamed into place, so an output is either complete or absent.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from kmimg.errors import InputError, LimitError, OutputError

#: Default upper bound on width x height, overridable with ``--max-pixels``.
DEFAULT_MAX_PIXELS = 250_000_000

#: Decoders kmimg opens; anything else is refused even if Pillow could read it.
ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")

#: zlib level for PNG outputs: 9 gives the smallest files at a modest cost for palette images.
PNG_COMPRESS_LEVEL = 9

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
    """Read a file's bytes, or standard input's for ``-``."""
    if str(source) == STDIO:
        stream = stdin if stdin is not None else _stdin_bytes()
        return stream.read()
    path = Path(source)
    if path.is_dir():
        raise InputError("is a directory")
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
) -> Picture:
    """Decode an image file (or ``data`` already read from it) to a :class:`Picture`.

    Raises
    ------
    InputError
        Not an allowed image format, corrupt, truncated or empty.
    LimitError
        Width x height exceeds ``max_pixels`` (checked from the header, before decoding).
    """
    raw = read_source(source) if data is None else data
    if not raw:
        raise InputError("empty file")
    with _opened(raw, max_pixels) as image:
        image_format = str(image.format)
        rgb, alpha = _to_rgb_alpha(ImageOps.exif_transpose(image))
    return Picture(rgb=rgb, alpha=alpha, source=str(source), format=image_format, byte_size=len(raw))


@contextlib.contextmanager
def _opened(raw: bytes, max_pixels: int) -> Iterator[Image.Image]:
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw), formats=ALLOWED_FORMATS)
        _check_size(image, max_pixels)
        image.seek(0)
        image.load()
    except (UnidentifiedImageError, Image.DecompressionBombError):
        raise InputError("not a supported image (PNG, JPEG, GIF, BMP, TIFF, WebP)") from None
    except LimitError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(f"cannot decode image: {_reason(exc)}") from None
    try:
        yield image
    finally:
        image.close()


def _check_size(image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width <= 0 or height <= 0:
        raise InputError("image has zero width or height")
    if width * height > max_pixels:
        raise LimitError(
            f"image is {width}x{height} = {width * height} pixels, over the limit of "
            f"{max_pixels} (raise it with --max-pixels)"
        )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _to_rgb_alpha(image: Image.Image) -> tuple[NDArray[np.uint8], NDArray[np.uint8] | None]:
    """Convert any Pillow mode to 8-bit RGB and an alpha plane (None if fully opaque)."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        rgb = _grey_to_rgb(_scale_to_8bit(np.asarray(image), 65535.0 if mode != "I" else None))
        return rgb, None
    if mode == "F":
        grey = np.asarray(image, dtype=np.float64)
        return _grey_to_rgb(_float_to_8bit(grey)), None
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info
    converted = image.convert("RGBA" if has_alpha else "RGB")
    pixels = np.asarray(converted)
    if not has_alpha:
        return np.ascontiguousarray(pixels), None
    alpha = np.ascontiguousarray(pixels[..., 3])
    rgb = np.ascontiguousarray(pixels[..., :3])
    if bool((alpha == 255).all()):
        return rgb, None
    rgb[alpha == 0] = 0  # hidden colours under alpha 0 carry no information
    return rgb, alpha


def _scale_to_8bit(values: NDArray[np.generic], full_scale: float | None) -> NDArray[np.uint8]:
    data = values.astype(np.float64)
    if full_scale is None:
        full_scale = 65535.0 if data.max(initial=0) > 255 else 255.0
    return np.clip(np.rint(data * (255.0 / full_scale)), 0, 255).astype(np.uint8)


def _float_to_8bit(values: NDArray[np.float64]) -> NDArray[np.uint8]:
    if not np.isfinite(values).all():
        raise InputError("image has NaN or infinite pixel values")
    top = 1.0 if values.max(initial=0.0) <= 1.0 else 255.0
    return np.clip(np.rint(values * (255.0 / top)), 0, 255).astype(np.uint8)


def _grey_to_rgb(grey: NDArray[np.uint8]) -> NDArray[np.uint8]:
    return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))


def encode_indexed_png(
    indices: NDArray[np.uint8],
    palette: NDArray[np.uint8],
) -> bytes:
    """Encode a palette image as PNG bytes.

    ``palette`` is ``(m, 4)`` RGBA with ``m <= 256``; its alpha column becomes a ``tRNS`` chunk
    when any entry is not opaque. The bit depth is the smallest that holds ``m`` entries
    (1, 2, 4 or 8), and PLTE holds exactly ``m`` entries.
    """
    image = Image.fromarray(np.ascontiguousarray(indices), mode="P")
    image.putpalette(palette[:, :3].tobytes(), rawmode="RGB")
    params: dict[str, object] = {"compress_level": PNG_COMPRESS_LEVEL}
    if bool((palette[:, 3] < 255).any()):
        last = int(np.flatnonzero(palette[:, 3] < 255).max()) + 1
        params["transparency"] = palette[:last, 3].tobytes()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **params)
    return buffer.getvalue()


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
    it was.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    try:
        handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".kmimg-tmp", dir=folder)
    except OSError as exc:
        raise OutputError(f"cannot write in {folder}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp_name, 0o644 & ~_umask())
        os.replace(temp_name, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        if isinstance(exc, OSError):
            raise OutputError(f"cannot write: {exc.strerror or exc}") from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_stdout(data: bytes) -> None:
    """Write bytes to standard output (used for ``-o -`` and ``--json -``)."""
    import sys

    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
