"""GIF output: a still GIF89a of the palette and the indices kmimg fitted (at most 256 entries;
the fully transparent entry becomes the GIF's transparent index), and animated GIFs
(:func:`encode_animated_gif`: one global palette, every frame, each stored as its changed
rectangle). kmimg writes the blocks; the LZW data is Pillow's GIF encoder's, at the smallest
code size that holds the indices."""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from kmimg._records import frozen
from kmimg.errors import InputError
from kmimg.io.frames import EMPTY, KEEP_RUNS, Rect, bounding_rect, canvas_of, changed_rect, draw, frame_pixels


def encode_indexed_gif(indices: NDArray[np.uint8], palette: NDArray[np.uint8]) -> bytes:
    """A GIF89a of ``indices`` ``(h, w)`` on ``palette`` ``(m, 4)`` RGBA (``m <= 256``): the same
    pixels as :func:`~kmimg.io.png.encode_indexed_png`'s PNG. GIF has one fully transparent
    index and no translucency: a palette with an entry whose alpha is neither 0 nor 255 is an
    :class:`~kmimg.errors.InputError` (``--alpha-threshold`` makes alpha binary first).

    The LZW code size is the smallest that holds the palette (Pillow's writer always codes 8
    bits per index: 6-10 % larger files at 8-64 colours)."""
    clear = check_gif_palette(palette)
    bits = _bits(len(palette))
    frame = _GifFrame(
        Rect.full(indices.shape), _lzw(np.ascontiguousarray(indices, dtype=np.uint8), bits), clear, 0
    )
    return _gif_file(palette, indices.shape, bits, clear, None, [frame], [0])


def check_gif_palette(palette: NDArray[np.uint8]) -> int | None:
    """The GIF transparent index of ``palette`` (its entry of alpha 0), or ``None``; a palette a
    GIF cannot hold is an error (see :func:`encode_indexed_gif`)."""
    if not 1 <= len(palette) <= 256:
        raise ValueError("a GIF palette holds 1 to 256 entries")
    alpha = palette[:, 3]
    if bool(((alpha > 0) & (alpha < 255)).any()):
        raise InputError(
            "GIF has no translucent colours, only one transparent one: "
            "add --alpha-threshold 128, or write a .png"
        )
    clear = np.flatnonzero(alpha == 0)
    if len(clear) > 1:
        raise InputError("GIF has only one transparent palette entry")
    return int(clear[0]) if len(clear) else None


def encode_animated_gif(
    indices: NDArray[np.uint8],
    palette: NDArray[np.uint8],
    durations: Sequence[int],
    loop: int | None,
) -> bytes:
    """An animated GIF89a of the frames ``indices`` ``(n, h, w)`` on one global ``palette``
    ``(m, 4)`` RGBA, each frame shown for its duration (milliseconds, stored in hundredths of a
    second), looping ``loop`` times (``0``: forever; ``None``: no loop extension, played once).

    Every frame is written, identical ones too. Frames after the first store the rectangle of
    the pixels that changed, with the unchanged ones inside it either kept as they are or
    drawn as the transparent index, whichever LZW-compresses smaller (:mod:`kmimg.io.frames`); a
    frame whose pixels must turn transparent is prepared by its predecessor's disposal to
    background. Decoded (by a browser, or Pillow), each frame shows exactly ``indices[i]``.
    """
    clear = check_gif_palette(palette)
    if indices.ndim != 3 or len(indices) != len(durations) or not len(indices):
        raise ValueError("indices (n, h, w) and n durations are needed")
    entries = len(palette)
    spare = clear if clear is not None or entries == 256 else entries  # an unused slot, else none
    return _animated(indices, palette, durations, loop, clear, spare)


def _bits(entries: int) -> int:
    """Bits per index of ``entries`` colours (at least 2: LZW's minimum code size)."""
    return max(2, (entries - 1).bit_length())


@frozen
class _GifFrame:
    rect: Rect
    data: bytes
    transparency: int | None
    disposal: int


def _animated(
    indices: NDArray[np.uint8],
    palette: NDArray[np.uint8],
    durations: Sequence[int],
    loop: int | None,
    clear: int | None,
    spare: int | None,
) -> bytes:
    bits = _bits(max(len(palette), (spare or 0) + 1))
    canvas = np.full(indices.shape[1:], EMPTY, dtype=np.int16)
    frames: list[_GifFrame] = []
    previous: tuple[NDArray[np.bool_], Rect] | None = None
    for number, frame in enumerate(indices):
        target = canvas_of(frame, clear)
        if previous is None:
            rect, changed = Rect.full(frame.shape), np.ones(frame.shape, dtype=bool)
        else:
            vanishing = bounding_rect((target == EMPTY) & (canvas != EMPTY))
            if vanishing is not None:  # the previous frame disposes of its (larger) rectangle
                wider = previous[1].union(vanishing)
                frames[-1] = _gif_frame(indices[number - 1], previous[0], wider, clear, spare, bits, 2)
                canvas = canvas.copy()
                wider.crop(canvas)[...] = EMPTY
            rect, changed = changed_rect(target, canvas)
        frames.append(_gif_frame(frame, changed, rect, clear, None if previous is None else spare, bits, 1))
        canvas = canvas.copy()
        draw(canvas, target, changed)
        previous = (changed, rect)
    return _gif_file(palette, indices.shape[1:], bits, clear, loop, frames, durations)


def _gif_frame(
    frame: NDArray[np.uint8],
    changed: NDArray[np.bool_],
    rect: Rect,
    clear: int | None,
    spare: int | None,
    bits: int,
    disposal: int,
) -> _GifFrame:
    """The smallest of the frame's rectangle as it is and with ``spare`` on its unchanged pixels
    (in runs of each length of :data:`~kmimg.io.frames.KEEP_RUNS`)."""
    best = _GifFrame(rect, _lzw(frame_pixels(frame, changed, rect, None), bits), clear, disposal)
    for run in KEEP_RUNS if spare is not None else ():
        kept = _GifFrame(rect, _lzw(frame_pixels(frame, changed, rect, spare, run), bits), spare, disposal)
        best = kept if len(kept.data) < len(best.data) else best
    return best


def _lzw(pixels: NDArray[np.uint8], table_bits: int) -> bytes:
    """GIF image data of ``pixels``: the LZW minimum code size and the data sub-blocks, by
    Pillow's GIF encoder. The code size is the smallest that holds the frame's largest index
    (any frame's may be below the colour table's: GIF sets it per image), where Pillow's own
    writer always codes 8 bits per index."""
    from PIL import Image, ImageFile

    bits = min(table_bits, _bits(int(pixels.max()) + 1))
    height, width = pixels.shape
    image = Image.frombytes("P", (width, height), pixels.tobytes())
    buffer = io.BytesIO()
    ImageFile._save(image, buffer, [ImageFile._Tile("gif", (0, 0, width, height), 0, ("P", bits, 0))])
    return bytes([bits]) + buffer.getvalue() + b"\0"


def _gif_file(
    palette: NDArray[np.uint8],
    shape: tuple[int, ...],
    bits: int,
    clear: int | None,
    loop: int | None,
    frames: list[_GifFrame],
    durations: Sequence[int],
) -> bytes:
    height, width = int(shape[0]), int(shape[1])
    table = np.zeros((1 << bits, 3), dtype=np.uint8)
    table[: len(palette)] = palette[:, :3]
    flags = 0x80 | ((bits - 1) << 4) | (bits - 1)
    parts = [b"GIF89a", struct.pack("<HHBBB", width, height, flags, clear or 0, 0), table.tobytes()]
    if loop is not None:
        parts.append(b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + struct.pack("<H", min(loop, 0xFFFF)) + b"\0")
    for frame, duration in zip(frames, durations, strict=True):
        delay = min(max(0, round(duration / 10)), 0xFFFF)
        packed = (frame.disposal << 2) | (1 if frame.transparency is not None else 0)
        if len(frames) > 1 or frame.transparency is not None:  # a still needs no control block
            parts.append(struct.pack("<BBBBHBB", 0x21, 0xF9, 4, packed, delay, frame.transparency or 0, 0))
        rect = frame.rect
        parts.append(struct.pack("<BHHHHB", 0x2C, rect.left, rect.top, rect.width, rect.height, 0))
        parts.append(frame.data)
    parts.append(b";")
    return b"".join(parts)
