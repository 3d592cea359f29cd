"""The swatch of a palette: one labelled cell per colour (its block, index, hex code and share),
drawn with Pillow's default font. Pure: colours in, an RGB array out; the caller encodes it
(:func:`kmimg.io.encode_png`) and writes it. Translucent colours are shown over a checkerboard.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from kmimg.palettes.files import hex_code
from kmimg.render.montage import caption_font

_CELL = (112, 64)  # width, height of a colour block
_LABEL = 34
_PAD = 6
_COLUMNS = 8
_FONT_SIZE = 12
_BACKGROUND = (255, 255, 255)
_TEXT = (34, 34, 34)
_CHECKER = ((204, 204, 204), (255, 255, 255))


def draw_swatch(
    colors: NDArray[np.uint8], shares: Sequence[float] | None = None, *, columns: int = _COLUMNS
) -> NDArray[np.uint8]:
    """Draw ``colors`` ``(m, 4)`` RGBA in a grid of ``columns``, each cell labelled with its
    index, hex code and (when given) its share in percent."""
    from PIL import Image, ImageDraw

    count = len(colors)
    columns = max(1, min(columns, count))
    rows = -(-count // columns)
    width, height = _CELL[0] + _PAD, _CELL[1] + _LABEL + _PAD
    canvas = Image.new("RGB", (columns * width + _PAD, rows * height + _PAD), _BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = caption_font(_FONT_SIZE)
    for index, color in enumerate(colors):
        x = _PAD + (index % columns) * width
        y = _PAD + (index // columns) * height
        canvas.paste(Image.fromarray(_block(color)), (x, y))
        label = f"{index}  {hex_code(color)}"
        if shares is not None:
            label += f"\n{100 * shares[index]:.1f} %"
        draw.multiline_text((x + 2, y + _CELL[1] + 3), label, fill=_TEXT, font=font, spacing=2)
    return np.asarray(canvas, dtype=np.uint8)


def _block(color: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """A colour block, composited over a checkerboard when the colour is not opaque."""
    w, h = _CELL
    y, x = np.mgrid[0:h, 0:w]
    checker = np.where((((x // 8) + (y // 8)) % 2 == 0)[..., None], _CHECKER[0], _CHECKER[1])
    alpha = int(color[3]) / 255.0
    mixed = alpha * np.asarray(color[:3], dtype=np.float64) + (1.0 - alpha) * checker
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
