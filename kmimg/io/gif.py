"""GIF output of a still indexed image: a GIF89a written by Pillow's GIF writer from the
palette and the indices kmimg fitted (at most 256 entries; the fully transparent entry becomes
the GIF's transparent index)."""

from __future__ import annotations

import io

import numpy as np
from numpy.typing import NDArray

from kmimg.errors import InputError


def encode_indexed_gif(indices: NDArray[np.uint8], palette: NDArray[np.uint8]) -> bytes:
    """A GIF89a of ``indices`` ``(h, w)`` on ``palette`` ``(m, 4)`` RGBA (``m <= 256``): the same
    pixels as :func:`~kmimg.io.png.encode_indexed_png`'s PNG. GIF has one fully transparent
    index and no translucency: a palette with an entry whose alpha is neither 0 nor 255 is an
    :class:`~kmimg.errors.InputError` (``--alpha-threshold`` makes alpha binary first)."""
    from PIL import Image

    entries = len(palette)
    if not 1 <= entries <= 256:
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
    height, width = indices.shape
    image = Image.frombytes("P", (width, height), np.ascontiguousarray(indices, dtype=np.uint8).tobytes())
    image.putpalette(np.ascontiguousarray(palette[:, :3]).tobytes(), "RGB")
    params: dict[str, object] = {"optimize": False}
    if len(clear):
        params["transparency"] = int(clear[0])
    image.info["version"] = b"89a"  # GIF89a also without transparency
    buffer = io.BytesIO()
    image.save(buffer, "GIF", **params)
    return buffer.getvalue()
