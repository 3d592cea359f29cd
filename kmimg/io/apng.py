"""Animated PNG (APNG) output: every frame on one ``PLTE`` (and ``tRNS``), the first frame the
PNG's own image (what a viewer without APNG support shows), the others ``fcTL`` + ``fdAT``
chunks. Each frame's data is what :func:`~kmimg.io.png.encode_indexed_png` deflates for its
rectangle, so the bit depth is the smallest that holds the palette.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from kmimg._records import frozen
from kmimg.io.frames import EMPTY, KEEP_RUNS, Rect, canvas_of, changed_rect, draw, frame_pixels, spare_entry
from kmimg.io.png import encode_indexed_png

#: fcTL operations: dispose (none) and blend (source: the rectangle replaces the canvas; over:
#: alpha-composited, so a transparent pixel keeps the canvas).
_DISPOSE_NONE, _BLEND_SOURCE, _BLEND_OVER = 0, 0, 1


@frozen
class _ApngFrame:
    rect: Rect
    data: bytes
    blend: int


def encode_apng(
    indices: NDArray[np.uint8],
    palette: NDArray[np.uint8],
    durations: Sequence[int],
    loop: int | None,
) -> bytes:
    """An APNG of the frames ``indices`` ``(n, h, w)`` on ``palette`` ``(m, 4)`` RGBA, each frame
    shown for its duration in milliseconds, played ``loop`` times (``0``: forever; ``None``:
    once). Every frame is written, identical ones too.

    A frame after the first stores the rectangle of the pixels that changed, either as they are
    (blend "source") or, when every changed pixel is opaque, with the unchanged ones as a fully
    transparent entry (blend "over"), whichever deflates smaller. The transparent entry is the
    palette's own, or one added after the colours when that needs no larger bit depth.
    """
    if indices.ndim != 3 or len(indices) != len(durations) or not len(indices):
        raise ValueError("indices (n, h, w) and n durations are needed")
    entries = len(palette)
    depth = next(bits for bits in (1, 2, 4, 8) if entries <= 1 << bits)
    spare = spare_entry(palette, 1 << depth)
    if spare == entries:
        palette = np.vstack([palette, np.zeros((1, 4), dtype=np.uint8)])
    frames = _frames(indices, palette, spare)
    return _apng_file(palette, indices.shape[1:], frames, durations, loop)


def _frames(indices: NDArray[np.uint8], palette: NDArray[np.uint8], spare: int | None) -> list[_ApngFrame]:
    clear = spare if spare is not None and palette[spare, 3] == 0 else None
    canvas = np.full(indices.shape[1:], EMPTY, dtype=np.int16)
    frames: list[_ApngFrame] = []
    for frame in indices:
        target = canvas_of(frame, clear)
        if not frames:
            rect, changed = Rect.full(frame.shape), np.ones(frame.shape, dtype=bool)
        else:
            rect, changed = changed_rect(target, canvas)
        pixels, blend = frame_pixels(frame, changed, rect, None), _BLEND_SOURCE
        if frames and spare is not None and _blends_over(frame, changed, rect, palette):
            pixels, blend = _smallest(
                pixels, [frame_pixels(frame, changed, rect, spare, run) for run in KEEP_RUNS]
            )
        frames.append(_ApngFrame(rect, _idat(pixels, palette), blend))
        draw(canvas, target, changed)
    return frames


def _smallest(source: NDArray[np.uint8], over: list[NDArray[np.uint8]]) -> tuple[NDArray[np.uint8], int]:
    """The frame's pixels as they are (blend "source") or the "over" variant whose bytes deflate
    smallest, judged by a fast zlib level (one full deflate per frame instead of one per variant)."""
    sizes = [len(zlib.compress(pixels.tobytes(), 1)) for pixels in (source, *over)]
    best = int(np.argmin(sizes))
    return (source, _BLEND_SOURCE) if best == 0 else (over[best - 1], _BLEND_OVER)


def _blends_over(
    frame: NDArray[np.uint8], changed: NDArray[np.bool_], rect: Rect, palette: NDArray[np.uint8]
) -> bool:
    """Whether the frame's rectangle can be alpha-composited over the canvas: every changed
    pixel opaque, and no pixel in the rectangle translucent (it would blend with itself)."""
    alpha = palette[:, 3]
    binary = bool(np.isin(alpha[rect.crop(frame)], (0, 255)).all())
    return binary and bool((alpha[frame[changed]] == 255).all())


def _idat(pixels: NDArray[np.uint8], palette: NDArray[np.uint8]) -> bytes:
    """The zlib stream :func:`encode_indexed_png` writes for ``pixels`` (its IDAT chunks' data)."""
    png = encode_indexed_png(pixels, palette)
    position, data = 8, []
    while position < len(png):
        (length,) = struct.unpack_from(">I", png, position)
        kind = png[position + 4 : position + 8]
        if kind == b"IDAT":
            data.append(png[position + 8 : position + 8 + length])
        position += 12 + length
    return b"".join(data)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _delay(duration: int) -> tuple[int, int]:
    """A duration in milliseconds as fcTL's fraction of a second."""
    duration = max(0, int(duration))
    return (duration, 1000) if duration <= 0xFFFF else (min(round(duration / 10), 0xFFFF), 100)


def _apng_file(
    palette: NDArray[np.uint8],
    shape: tuple[int, ...],
    frames: list[_ApngFrame],
    durations: Sequence[int],
    loop: int | None,
) -> bytes:
    height, width = int(shape[0]), int(shape[1])
    depth = next(bits for bits in (1, 2, 4, 8) if len(palette) <= 1 << bits)
    chunks = [
        _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, 3, 0, 0, 0)),
        _chunk(b"acTL", struct.pack(">II", len(frames), 1 if loop is None else loop)),
        _chunk(b"PLTE", np.ascontiguousarray(palette[:, :3]).tobytes()),
    ]
    translucent = np.flatnonzero(palette[:, 3] < 255)
    if len(translucent):
        chunks.append(_chunk(b"tRNS", palette[: int(translucent.max()) + 1, 3].tobytes()))
    sequence = 0
    for number, (frame, duration) in enumerate(zip(frames, durations, strict=True)):
        rect = frame.rect
        control = struct.pack(
            ">IIIIIHHBB",
            sequence,
            rect.width,
            rect.height,
            rect.left,
            rect.top,
            *_delay(duration),
            _DISPOSE_NONE,
            frame.blend,
        )
        chunks.append(_chunk(b"fcTL", control))
        sequence += 1
        if number == 0:
            chunks.append(_chunk(b"IDAT", frame.data))
        else:
            chunks.append(_chunk(b"fdAT", struct.pack(">I", sequence) + frame.data))
            sequence += 1
    chunks.append(_chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)
