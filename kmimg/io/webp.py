"""WebP output: lossless WebP of the palette's colours, still or animated.

A still image is Pillow's lossless WebP encoder's file (libwebp, ``exact``: the colour under a
fully transparent pixel is kept, as the PNG holds it). An animation is assembled here, as the
GIF and APNG writers assemble theirs: a ``VP8X`` header, an ``ANIM`` chunk (loop count) and one
``ANMF`` chunk per frame, each holding a lossless ``VP8L`` bitstream encoded by libwebp (through
Pillow) for the rectangle of the pixels that changed. libwebp's own animation encoder (Pillow's
``save_all``) is not used: it merges a frame identical to the one before into it (the output
then has fewer frames than the input) and it has no ``exact`` setting.

Container layout: the WebP container specification (RIFF, ``VP8X``, ``ANIM``, ``ANMF``;
https://developers.google.com/speed/webp/docs/riff_container). Pillow is imported only when
a WebP is written.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from kmimg.errors import InputError, UsageError
from kmimg.io.formats import NO_WEBP, webp_supported
from kmimg.io.frames import Rect, bounding_rect
from kmimg.options import DEFAULT_OPTIMIZE

#: libwebp's lossless effort ``(method, quality)`` at each ``--optimize`` level (for lossless
#: WebP both are effort: more time, fewer bytes; the pixels are the same at every level): the
#: pairs of libwebp's lossless presets (``cwebp -z``) 2, 5 (the default: about 0.91x the PNG's
#: bytes in 25-130 ms per 0.2 MP image), 8 and 9 (0.86x, but 4-11 s per image; issue 27,
#: ``benchmarks/webp_bytes.py``).
WEBP_EFFORT = {0: (2, 25), 1: (4, 50), 2: (5, 90), 3: (6, 100)}

#: The largest width or height a WebP holds (14 bits in the ``VP8L`` header).
MAX_SIDE = 16383

#: ``ANMF`` flags: blend (alpha-composite the frame over the canvas) or not (the rectangle
#: replaces the canvas's pixels); the disposal bit (0: none) is never set.
_NO_BLEND, _BLEND = 0x02, 0x00

#: The blended variant of a frame is tried only when at most this share of its rectangle's
#: pixels changed: on benchmarks/animation.py's animations it was smaller only where 70 % or
#: more were unchanged, and trying it costs a second encoding (a panning photo: 1.9x the time).
MAX_CHANGED_TO_BLEND = 0.5

#: ``VP8X`` flags.
_ALPHA, _ANIMATION = 0x10, 0x02


def check_webp_support() -> None:
    """Refuse WebP output (:class:`~kmimg.errors.UsageError`) when Pillow cannot write it."""
    if not webp_supported():
        raise UsageError(NO_WEBP)


def encode_webp(
    indices: NDArray[np.uint8], palette: NDArray[np.uint8], *, optimize: int = DEFAULT_OPTIMIZE
) -> bytes:
    """A lossless WebP of ``indices`` ``(h, w)`` on ``palette`` ``(m, 4)`` RGBA: decoded, every
    pixel is its palette entry's RGBA, the colour under alpha 0 too (the PNG's pixels). Holds
    no metadata (no ICC profile, EXIF or XMP). The bytes depend only on the arguments and
    libwebp's version."""
    check_webp_support()
    _check_size(indices.shape[-2:], optimize)
    return _encode(_pixels(palette[indices], palette), optimize)


def encode_animated_webp(
    indices: NDArray[np.uint8],
    palette: NDArray[np.uint8],
    durations: Sequence[int],
    loop: int | None,
    *,
    optimize: int = DEFAULT_OPTIMIZE,
) -> bytes:
    """An animated lossless WebP of the frames ``indices`` ``(n, h, w)`` on ``palette``
    ``(m, 4)`` RGBA, each frame shown for its duration in milliseconds (at most 16,777,215),
    played ``loop`` times (``0``: forever; ``None``: once; at most 65,535).

    Every frame is written, identical ones too (as one unchanged pixel). A frame after the
    first stores the rectangle holding the pixels that changed (its left and top edges even, as
    WebP needs), either as they are, replacing the canvas, or, when every changed pixel is
    opaque and at most half of the rectangle changed, with the unchanged ones transparent,
    blended over the canvas: whichever is smaller. Decoded, each frame shows exactly ``palette[indices[i]]``.
    """
    if indices.ndim != 3 or len(indices) != len(durations) or not len(indices):
        raise ValueError("indices (n, h, w) and n durations are needed")
    check_webp_support()
    _check_size(indices.shape[1:], optimize)
    chunks: list[bytes] = []
    alpha = bool((palette[:, 3] < 255).any())
    for number, frame in enumerate(indices):
        rect = Rect.full(frame.shape) if number == 0 else _even(_changed(indices[number - 1], frame))
        data, blend = _frame_data(frame, indices[number - 1] if number else None, rect, palette, optimize)
        alpha = alpha or blend == _BLEND
        chunks.append(_anmf(rect, durations[number], blend, data))
    height, width = (int(side) for side in indices.shape[1:])
    header = _chunk(
        b"VP8X",
        struct.pack("<B3x", _ANIMATION | (_ALPHA if alpha else 0)) + _u24(width - 1) + _u24(height - 1),
    )
    plays = 1 if loop is None else min(max(int(loop), 0), 0xFFFF)
    body = b"WEBP" + header + _chunk(b"ANIM", struct.pack("<4xH", plays)) + b"".join(chunks)
    if len(body) > 0xFFFFFFF6:  # RIFF's 32-bit size field
        raise InputError(f"the animated WebP would hold {len(body):,} bytes, over RIFF's 4 GiB: write a .png")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _check_size(shape: tuple[int, ...], optimize: int) -> None:
    if optimize not in WEBP_EFFORT:
        raise ValueError(f"optimize must be 0 to {max(WEBP_EFFORT)}, got {optimize}")
    height, width = int(shape[0]), int(shape[1])
    if width > MAX_SIDE or height > MAX_SIDE:
        raise InputError(f"WebP holds at most {MAX_SIDE} pixels a side, not {width}x{height}: write a .png")


def _pixels(rgba: NDArray[np.uint8], palette: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """RGBA pixels, or RGB when the palette is opaque (the WebP then holds no alpha)."""
    return np.ascontiguousarray(rgba if bool((palette[:, 3] < 255).any()) else rgba[..., :3])


def _encode(pixels: NDArray[np.uint8], optimize: int, *, exact: bool = True) -> bytes:
    """Pillow's lossless WebP of ``pixels`` (RGB or RGBA), without metadata; ``exact`` keeps
    the colour under alpha 0 (else libwebp stores whatever compresses best there)."""
    from PIL import Image

    method, quality = WEBP_EFFORT[optimize]
    buffer = io.BytesIO()
    image = Image.fromarray(pixels)  # (h, w, 3) uint8 is RGB, (h, w, 4) RGBA
    image.save(buffer, "WEBP", lossless=True, exact=exact, method=method, quality=quality)
    return buffer.getvalue()


def _changed(before: NDArray[np.uint8], frame: NDArray[np.uint8]) -> Rect:
    """The rectangle of the pixels that differ from the frame before (the top-left pixel when
    none does: a frame holds at least one pixel)."""
    return bounding_rect(frame != before) or Rect(0, 0, 1, 1)


def _even(rect: Rect) -> Rect:
    """``rect`` grown left and up to even coordinates (``ANMF`` stores them halved)."""
    left, top = rect.left - rect.left % 2, rect.top - rect.top % 2
    return Rect(left, top, rect.width + rect.left % 2, rect.height + rect.top % 2)


def _frame_data(
    frame: NDArray[np.uint8],
    before: NDArray[np.uint8] | None,
    rect: Rect,
    palette: NDArray[np.uint8],
    optimize: int,
) -> tuple[bytes, int]:
    """The frame's ``VP8L`` chunk for ``rect`` and its blend flag: the pixels as they are, or,
    when every changed pixel is opaque and at most half of them changed, the unchanged ones
    transparent and blended over, if that is smaller."""
    rgba = palette[rect.crop(frame)]
    plain = _bitstream(_encode(_pixels(rgba, palette), optimize))
    if before is None:
        return plain, _NO_BLEND
    changed = rect.crop(frame) != rect.crop(before)
    if changed.mean() > MAX_CHANGED_TO_BLEND or not bool((rgba[changed][:, 3] == 255).all()):
        return plain, _NO_BLEND
    over = rgba.copy()
    over[~changed] = 0
    # the transparent pixels are the unchanged ones, which keep the canvas: their colour is free
    blended = _bitstream(_encode(np.ascontiguousarray(over), optimize, exact=False))
    return (blended, _BLEND) if len(blended) < len(plain) else (plain, _NO_BLEND)


def _bitstream(webp: bytes) -> bytes:
    """The ``VP8L`` chunk (header, data, padding) of a still WebP file."""
    position = 12
    while position + 8 <= len(webp):
        kind, size = webp[position : position + 4], struct.unpack_from("<I", webp, position + 4)[0]
        end = position + 8 + size + (size & 1)
        if kind == b"VP8L":
            return webp[position:end]
        position = end
    raise ValueError("libwebp wrote no lossless bitstream")


def _anmf(rect: Rect, duration: int, blend: int, data: bytes) -> bytes:
    fields = (
        rect.left // 2,
        rect.top // 2,
        rect.width - 1,
        rect.height - 1,
        min(max(int(duration), 0), 0xFFFFFF),
    )
    return _chunk(b"ANMF", b"".join(_u24(value) for value in fields) + bytes([blend]) + data)


def _u24(value: int) -> bytes:
    return struct.pack("<I", value)[:3]


def _chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + (b"\0" if len(body) & 1 else b"")
