"""Plain PNGs' pixel rows without numpy or Pillow, and an early read of a command's one input.

:func:`plain_rows` is the decoder behind :func:`kmimg.io.png.read_plain_png`: zlib and
``kmimg._png`` in C, no numpy, so that it can run before numpy is loaded.

:func:`read_early` starts reading and decoding one PNG on a thread of its own while the command
line is still starting: a ``kmimg quantize photo.png`` spends ~0.1 s importing numpy, Typer and
its own modules on one core, the other core is idle, and decoding a photo of 0.25-2 MP takes
6-40 ms, almost all of it in zlib and the C unfilter, which release the GIL. When the command
then decodes the same bytes (:func:`early_rows` compares the whole file's bytes, so a file that
changed in between, or another file, is decoded as usual), it takes the rows the thread made. The
result is the one :func:`plain_rows` gives for those bytes: the thread only does it sooner.
"""

from __future__ import annotations

import os
import struct
import threading
import zlib
from typing import Final

#: The first bytes of every PNG file.
PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"

#: Chunks a plain PNG may hold besides IHDR, IDAT and IEND: none of them changes a pixel in
#: Pillow's decoding (colour spaces are kmimg's business only through iCCP). tEXt is plain too
#: unless its keyword is one Pillow reads an EXIF or XMP orientation from.
PLAIN_CHUNKS = frozenset((b"gAMA", b"cHRM", b"sRGB", b"pHYs", b"tIME", b"sBIT", b"bKGD", b"tEXt"))
ORIENTING_KEYWORDS = (b"Raw profile type", b"XML:com.adobe.xmp")
#: Channels of each colour type a plain PNG may have: grey, RGB, grey + alpha, RGBA.
PLAIN_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}

#: ``(height, width, channels, rows)``: a plain PNG's pixels, row after row, 8 bits a sample.
Rows = tuple[int, int, int, bytearray]


def plain_rows(raw: bytes) -> Rows | None:
    """The pixels of a plain PNG, or ``None`` (see :func:`kmimg.io.png.read_plain_png`, which
    says what plain means; call it only after :func:`kmimg.io.png.inspect_png` found no damage:
    CRCs and sizes are not checked again)."""
    from kmimg import _png

    position = len(PNG_SIGNATURE)
    header: bytes | None = None
    pixels: list[memoryview] = []
    previous = b""
    view = memoryview(raw)
    while position + 8 <= len(raw):
        length, kind = struct.unpack(">I4s", raw[position : position + 8])
        body = view[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IDAT":
            if header is None or (pixels and previous != b"IDAT"):
                return None
            pixels.append(body)
        elif kind == b"IHDR" and header is None:
            header = bytes(body)
        elif kind == b"IEND":
            break
        elif kind not in PLAIN_CHUNKS or (kind == b"tEXt" and bytes(body).startswith(ORIENTING_KEYWORDS)):
            return None
        previous = kind
    if header is None or len(header) != 13 or not pixels:
        return None
    width, height, depth, color_type, compression, filtering, interlace = struct.unpack(">IIBBBBB", header)
    channels = PLAIN_CHANNELS.get(color_type)
    if depth != 8 or channels is None or compression or filtering or interlace:
        return None
    row_bytes = width * channels
    expected = height * (row_bytes + 1)
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(b"".join(pixels), expected + 1)
    except zlib.error:
        return None
    if len(data) != expected or not inflater.eof or inflater.unused_data:
        return None
    out = bytearray(height * row_bytes)
    if _png.unfilter_rows(data, height, row_bytes, channels, out):
        return None  # a row with an unknown filter type
    return height, width, channels, out


#: The largest file and image read early (``--max-pixels`` lowers the image limit): a wrong
#: guess costs the idle core at most this much work and ~50 MB.
EARLY_MAX_BYTES = 64 << 20
EARLY_MAX_PIXELS = 12_000_000


class _Early:
    """One early read: the thread, then the file's bytes and their rows."""

    def __init__(self, path: str, max_pixels: int) -> None:
        self.raw: bytes | None = None
        self.rows: Rows | None = None
        self.max_pixels = max_pixels
        self.thread = threading.Thread(target=self._read, args=(path,), name="kmimg-early-read", daemon=True)

    def _read(self, path: str) -> None:
        try:
            with open(path, "rb") as file:
                raw = file.read(EARLY_MAX_BYTES + 1)
            if len(raw) > EARLY_MAX_BYTES or raw[:8] != PNG_SIGNATURE or raw[12:16] != b"IHDR":
                return
            width, height = struct.unpack(">II", raw[16:24])
            if width * height > self.max_pixels:
                return
            self.rows = plain_rows(raw)
            self.raw = raw
        except (OSError, ValueError, MemoryError, struct.error):  # the command decodes it itself
            self.rows = None


_early: list[_Early] = []


def read_early(path: str, max_pixels: int | None = None) -> None:
    """Start reading and decoding the PNG ``path`` on a thread (a daemon: a process that ends
    first does not wait for it). Nothing happens when it is not a regular file. An image of
    more than ``max_pixels`` (the command's ``--max-pixels``) or :data:`EARLY_MAX_PIXELS` is
    not decoded early: the command checks the limit before it decodes."""
    try:
        if not os.path.isfile(path):
            return
    except (OSError, ValueError):
        return
    early = _Early(path, EARLY_MAX_PIXELS if max_pixels is None else min(max_pixels, EARLY_MAX_PIXELS))
    _early.append(early)
    early.thread.start()


def early_rows(raw: bytes) -> tuple[bool, Rows | None]:
    """``(True, what plain_rows gives for raw)`` if an early read had these very bytes (waiting
    for it to finish), else ``(False, None)``. Early reads are used once: the first decode of
    the process ends them all."""
    found: tuple[bool, Rows | None] = (False, None)
    while _early:
        early = _early.pop()
        early.thread.join()
        if not found[0] and early.raw is not None and early.raw == raw:
            found = (True, early.rows)
    return found
